package print

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// countingWriter records each Write call.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

func TestPrint(t *testing.T) {
	tests := []struct {
		name        string
		parallelism int
		format      func([]byte, int) []byte
		want        string
	}{
		{"one subtask, no prefix, default format", 1, nil, "1\n2\n3\n"},
		{"prefix is subtask+1", 3, nil, "3> 1\n3> 2\n3> 3\n"},
		{"custom format", 1, func(dst []byte, v int) []byte { return strconv.AppendInt(append(dst, "n="...), int64(v), 10) }, "n=1\nn=2\nn=3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out countingWriter
			w, err := New(Options[int]{Writer: &out, Format: tt.format}).NewWriter(tt.parallelism-1, tt.parallelism)
			if err != nil {
				t.Fatal(err)
			}
			w.Open(&task.Context{})
			b := task.NewBatch[int](3)
			for i := 1; i <= 3; i++ {
				b.Append(task.NoTimestamp, i)
			}
			if err := w.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := w.Write(task.NewBatch[int](1)); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want || out.writes != 1 {
				t.Fatalf("got %q in %d writes, want %q in one", out.String(), out.writes, tt.want)
			}
		})
	}
	if _, err := New(Options[int]{}).NewWriter(2, 2); err == nil {
		t.Fatal("subtask 2 of 2 accepted")
	}
}
