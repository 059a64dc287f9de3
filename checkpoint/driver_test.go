package checkpoint

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/loom-yarn/loom/state"
)

// TestCoordinatorDrivesStorage plays the driver's part for a job of two
// sources and two keyed subtasks: it carries out the coordinator's actions on
// real storage, one of the checkpoints fails, and the job restarts from what
// Load finds, at another parallelism.
func TestCoordinatorDrivesStorage(t *testing.T) {
	const maxPar = 16
	s := NewLocalStorage(t.TempDir())
	tasks := []TaskID{{"src", 0}, {"src", 1}, {"count", 0}, {"count", 1}}
	c, err := New(Config{Interval: time.Second, Timeout: 10 * time.Second, Retain: 2, Tasks: tasks, Sources: tasks[:2]}, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// counts is the keyed state of the job: one entry per key group, valued by
	// the checkpoint id it was last updated at.
	snapshot := func(id int64, task TaskID) TaskSnapshot {
		kgs := state.KeyGroupRange{}
		if task.Task == "count" {
			kgs = keyGroupRange(maxPar, 2, task.Subtask)
		}
		w, err := s.NewTaskWriter(id, task.Task, task.Subtask, 2, kgs)
		if err != nil {
			t.Fatal(err)
		}
		for kg := kgs.Start; kg < kgs.End; kg++ {
			if err := w.WriteEntry(state.Entry{KeyGroup: kg, State: "count/n", Key: []byte{byte(kg)}, Value: []byte(fmt.Sprint(id))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteOperatorState(task.Task, []byte(fmt.Sprintf("%v@%d", task, id))); err != nil {
			t.Fatal(err)
		}
		snap, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	var completed []int64
	failMetadataOf := int64(3)
	var queue []Action
	for tick := 0; tick <= 6; tick++ { // the first tick starts the clock
		queue = append(queue, c.Tick(start.Add(time.Duration(tick)*time.Second))...)
		for len(queue) > 0 {
			a := queue[0]
			queue = queue[1:]
			switch a := a.(type) {
			case Trigger:
				for _, task := range tasks { // barriers reach every task
					queue = append(queue, c.Ack(a.ID, task, snapshot(a.ID, task))...)
				}
			case Finalize:
				md := Metadata{Job: "count", GraphHash: "g1", ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks}
				err := s.WriteMetadata(md)
				if a.ID == failMetadataOf {
					err = fmt.Errorf("injected metadata failure")
				}
				queue = append(queue, c.Finalized(a.ID, err)...)
			case NotifyComplete:
				completed = append(completed, a.ID)
			case Abort:
				if err := s.Discard(a.ID); err != nil {
					t.Fatal(err)
				}
			case Discard:
				if err := s.Discard(a.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !slices.Equal(completed, []int64{1, 2, 4, 5, 6}) {
		t.Fatalf("completed %v, want [1 2 4 5 6] (3 failed its metadata write)", completed)
	}
	complete, incomplete, err := s.IDs()
	if err != nil || !slices.Equal(complete, []int64{5, 6}) || len(incomplete) != 0 {
		t.Fatalf("storage holds %v complete, %v incomplete (%v); want [5 6] and none", complete, incomplete, err)
	}

	// Restart at parallelism 3 from the latest checkpoint.
	md, dir, err := Load(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	if md.ID != 6 || md.GraphHash != "g1" || !md.Timestamp.Equal(start.Add(6*time.Second)) {
		t.Fatalf("loaded checkpoint %d (graph %s, time %v), want 6 at 6s", md.ID, md.GraphHash, md.Timestamp)
	}
	seen := map[int]bool{}
	for i := range 3 {
		r, err := OpenRestore(dir, md, "count", i, keyGroupRange(maxPar, 3, i))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range readAll(t, r.Keyed()) {
			if string(e.Value) != "6" || seen[e.KeyGroup] {
				t.Fatalf("key group %d restored with value %q (seen before: %v)", e.KeyGroup, e.Value, seen[e.KeyGroup])
			}
			seen[e.KeyGroup] = true
		}
		r.Close()
	}
	if len(seen) != maxPar {
		t.Fatalf("restored %d key groups, want %d", len(seen), maxPar)
	}
	c2, err := New(Config{Interval: time.Second, Timeout: time.Second, Retain: 2, Tasks: tasks, Sources: tasks[:2], Retained: complete}, md.ID+1)
	if err != nil {
		t.Fatal(err)
	}
	if c2.NextID() != 7 {
		t.Fatalf("restarted coordinator starts at %d, want 7", c2.NextID())
	}
}
