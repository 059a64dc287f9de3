package blackhole

import (
	"testing"

	"github.com/loom-yarn/loom/task"
)

func TestCountsAllSubtasks(t *testing.T) {
	s := New[string]()
	for sub := 0; sub < 3; sub++ {
		w, err := s.NewWriter(sub, 3)
		if err != nil {
			t.Fatal(err)
		}
		w.Open(&task.Context{})
		b := task.NewBatch[string](4)
		for i := 0; i <= sub; i++ {
			b.Append(task.NoTimestamp, "x")
		}
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if s.Count() != 6 {
		t.Fatalf("Count() = %d, want 6", s.Count())
	}
}
