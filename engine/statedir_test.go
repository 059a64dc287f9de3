package engine

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/task"
)

// TestStateRootSweepsDeadExecutions: a state directory whose LOCK nobody
// holds (its process was killed) is removed by the next execution using the
// same base; one whose LOCK is held (a live execution) stays; an execution's
// own directory goes when it closes.
func TestStateRootSweepsDeadExecutions(t *testing.T) {
	base := t.TempDir()
	dead := filepath.Join(base, "loom-state-job-999999-1")
	if err := os.MkdirAll(filepath.Join(dead, "src-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, "LOCK"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(base, "loom-state-job-999998-1")
	if err := os.MkdirAll(live, 0o755); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Create(filepath.Join(live, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(base, "not-loom")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}

	r, err := openStateRoot(base, "job")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want bool
	}{{dead, false}, {live, true}, {other, true}, {r.dir, true}} {
		if _, err := os.Stat(tc.dir); (err == nil) != tc.want {
			t.Errorf("%s: exists=%v, want %v", tc.dir, err == nil, tc.want)
		}
	}
	// A second execution of this process does not sweep the first's.
	r2, err := openStateRoot(base, "job")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.dir); err != nil {
		t.Errorf("a live execution's state directory was swept: %v", err)
	}
	r2.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.dir); !os.IsNotExist(err) {
		t.Errorf("closed state directory still there: %v", err)
	}
}

// TestDriverNeverDropsMail: with a task's mailbox full, later mail waits in
// order and is delivered as the task reads, including checkpoint-complete;
// a finished task's mail is dropped.
func TestCheckpointerNeverDropsMail(t *testing.T) {
	a, b := checkpoint.TaskID{Task: "a", Subtask: 0}, checkpoint.TaskID{Task: "b", Subtask: 0}
	mbA, mbB := make(chan task.Mail, 2), make(chan task.Mail, 2)
	d := &checkpointer{mail: map[checkpoint.TaskID]chan task.Mail{a: mbA, b: mbB}, outbox: map[checkpoint.TaskID][]task.Mail{}}
	for id := int64(1); id <= 5; id++ {
		d.send(a, task.Mail{Kind: task.MailCheckpointComplete, Checkpoint: id})
		d.send(b, task.Mail{Kind: task.MailCheckpointComplete, Checkpoint: id})
	}
	if n := len(d.outbox[a]); n != 3 {
		t.Fatalf("%d mails held back for a full mailbox, want 3", n)
	}
	var got []int64
	for len(got) < 5 {
		select {
		case m := <-mbA:
			got = append(got, m.Checkpoint)
		default:
			d.flush()
		}
	}
	for i, id := range got {
		if id != int64(i+1) {
			t.Fatalf("task a read checkpoints %v, want 1..5 in order", got)
		}
	}
	if _, ok := d.outbox[a]; ok {
		t.Errorf("outbox of a not empty after delivery: %v", d.outbox[a])
	}
	// b finished: what waited for it is dropped, and nothing more is queued.
	d.forget(b)
	d.send(b, task.Mail{Kind: task.MailCheckpointComplete, Checkpoint: 6})
	if len(d.outbox) != 0 {
		t.Errorf("mail queued for a finished task: %v", d.outbox)
	}
}
