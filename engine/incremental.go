package engine

import (
	"fmt"
	"os"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// An LSM backend's checkpoints are incremental (checkpoint/incremental.go):
// at the barrier the task writes its operator state and has the backend
// link its tables into a local directory, the synchronous phase; the upload
// of the new tables, the task file's completion and the acknowledgement
// follow on a goroutine of their own while the task processes records.
// A task has at most one upload in flight: the next snapshot, and the end
// of its input, wait for it, so that the lineage of uploads is used by one
// goroutine at a time and a finishing task acknowledges before it reports
// that it finished.

// snapshotIncremental takes checkpoint id incrementally: write runs now,
// the upload afterwards.
func (c *taskCheckpointer) snapshotIncremental(id int64, msg ackMsg, write func(task.StateWriter) error) {
	w, err := c.inc.Begin(id)
	if err == nil {
		if err = write(w); err != nil {
			w.Abort()
		}
	}
	if err != nil {
		msg.decline = err.Error()
		c.ack(msg)
		return
	}
	done := make(chan struct{})
	c.uploading = done
	go func() {
		defer close(done)
		snap, err := w.Finish(c.ctx)
		if err != nil {
			msg.decline = err.Error()
		} else {
			msg.snap = snap
		}
		c.ack(msg)
	}()
}

// waitUpload waits until the latest snapshot's upload ended: even when the
// run is cancelled, since the lineage takes one snapshot at a time (the
// upload stops copying once the run's context is done). It is called on
// the task goroutine.
func (c *taskCheckpointer) waitUpload() {
	if c.uploading != nil {
		<-c.uploading
	}
}

// openKeyedState opens the keyed state backend of subtask i of chain c
// (owning kgs of maxP), restored from restore when it is set. The heap
// backend restores entries, or the LSM files of an incremental checkpoint
// through a temporary LSM store; the LSM backend opens a new store, fills
// it with entries, or opens the checkpoint's files as its store. When the
// job checkpoints (ckp) and the backend can do so incrementally, inc is the
// lineage of its uploads, reusing the tables it kept from restore.
func (x *Execution) openKeyedState(c *graph.Chain, i int, kgs state.KeyGroupRange, maxP int,
	restore *checkpoint.Restore, ckp *checkpointer) (b state.Backend, inc *checkpoint.Incremental, err error) {
	switch x.opts.StateBackend {
	case "", "heap":
		b = state.NewHeap(kgs, maxP)
		if restore == nil {
			return b, nil, nil
		}
		scratch := ""
		if restore.Incremental() {
			root, err := x.openStateRoot()
			if err != nil {
				b.Close()
				return nil, nil, fmt.Errorf("task %s subtask %d: %w", c.Name, i, err)
			}
			scratch = root.Dir(c.ID, i) + ".restore"
			os.RemoveAll(scratch)
		}
		if err := restore.RestoreInto(b, scratch, maxP); err != nil {
			b.Close()
			return nil, nil, err
		}
		return b, nil, nil
	case "lsm":
		root, err := x.openStateRoot()
		if err != nil {
			return nil, nil, fmt.Errorf("task %s subtask %d: %w", c.Name, i, err)
		}
		dir := root.Dir(c.ID, i)
		if restore == nil {
			if b, err = state.NewLSM(dir, kgs, maxP); err != nil {
				return nil, nil, fmt.Errorf("task %s subtask %d: open LSM state in %s: %w", c.Name, i, dir, err)
			}
		} else if b, err = restore.OpenLSM(dir, maxP); err != nil {
			return nil, nil, err
		}
		if _, ok := b.(state.Incremental); ok && ckp != nil {
			inc = checkpoint.NewIncremental(ckp.storage, c.ID, i, c.Parallelism, kgs, dir)
			if restore != nil {
				inc.Reuse(restore)
			}
		}
		return b, inc, nil
	default:
		return nil, nil, fmt.Errorf("state.backend %q: want heap or lsm", x.opts.StateBackend)
	}
}

// openStateRoot returns the execution's directory of local state, made on
// first use.
func (x *Execution) openStateRoot() (*stateRoot, error) {
	if x.stateRoot == nil {
		base := x.opts.StateDir
		if base == "" {
			base = os.TempDir()
		}
		r, err := openStateRoot(base, x.g.Name)
		if err != nil {
			return nil, err
		}
		x.stateRoot = r
	}
	return x.stateRoot, nil
}
