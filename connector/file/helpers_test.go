package file

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// readAll drains subtask i of p of src with batches of batchCap records.
func readAll[T any](t *testing.T, src task.Source[T], subtask, p, batchCap int, ctx *task.Context) ([]T, error) {
	t.Helper()
	r, err := src.NewReader(subtask, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if ctx == nil {
		ctx = &task.Context{}
	}
	if err := r.Open(ctx); err != nil {
		return nil, err
	}
	return drain(t, r, batchCap)
}

func drain[T any](t *testing.T, r task.SourceReader[T], batchCap int) ([]T, error) {
	t.Helper()
	var out []T
	b := task.NewBatch[T](batchCap)
	for calls := 0; ; calls++ {
		if calls > 1<<22 {
			t.Fatal("reader never ends")
		}
		b.Reset()
		st, err := r.Read(b)
		if err != nil {
			return out, err
		}
		if b.Len() > batchCap {
			t.Fatalf("Read appended %d records into a batch of capacity %d", b.Len(), batchCap)
		}
		for i, ts := range b.Times {
			if ts != task.NoTimestamp {
				t.Fatalf("record %d has timestamp %d, want NoTimestamp", i, ts)
			}
		}
		out = append(out, b.Values...)
		if st.End {
			if b.Len() != 0 {
				t.Fatalf("End returned with %d records", b.Len())
			}
			return out, nil
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// splitLines is the reference: the lines of content as a line reader must
// return them.
func splitLines(content string) []string {
	if content == "" {
		return nil
	}
	lines := bytes.Split([]byte(content), []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(bytes.TrimSuffix(l, []byte("\r")))
	}
	return out
}
