package task

import (
	"time"

	"github.com/loom-yarn/loom/state"
)

// Context is what an operator learns about where it runs. One Context is made
// per operator instance; it is used from the task goroutine only.
type Context struct {
	Job            string // job name
	Operator       string // operator name as the user gave it
	UID            string // stable operator id: names its state in checkpoints
	Subtask        int    // index of this parallel instance, from 0
	Parallelism    int
	MaxParallelism int // number of key groups
	Attempt        int // 0 on the first run, counts restarts

	// KeyGroups is the range of key groups this subtask owns.
	KeyGroups state.KeyGroupRange
	// Backend holds the task's keyed state; nil when no operator of the chain is keyed.
	Backend state.Backend
	// Restored is the operator state saved by SnapshotState at the checkpoint
	// being restored, nil on a fresh start.
	Restored []byte
	// Rescaled is set instead of Restored when the checkpoint being
	// restored ran this operator at another parallelism: the state of every
	// subtask of the checkpoint, by its subtask index (nil where one saved
	// none). Every subtask receives all of them and takes its share by a
	// rule of its own that all subtasks agree on; only operators that
	// implement Rescalable are given it (the engine refuses the restore for
	// the others).
	Rescaled [][]byte

	// BadRecords decides what a malformed input record does to the job.
	BadRecords *BadRecordPolicy
	// Metrics counts this operator's records.
	Metrics *OperatorMetrics
	// Timers schedules processing-time callbacks on the task goroutine.
	Timers ProcessingTimers
	// Config gives job options by key (for operators with tunables).
	Config map[string]string
	// BatchSize is the number of records an operator should put in a batch.
	BatchSize int
	// SetIdle, for a source operator, tells downstream tasks that this source
	// is idle (it does not hold back their watermark) or active again.
	SetIdle func(idle bool) error
}

// ProcessingTimers runs callbacks at wall-clock times on the task's own
// goroutine, between batches, so the callback may touch operator state freely.
type ProcessingTimers interface {
	Now() time.Time
	// At schedules fn at t (or as soon as possible if t has passed).
	At(t time.Time, fn func(now time.Time) error)
}

// Rescalable is implemented by operators whose state can be restored at
// another parallelism than it was saved at (Context.Rescaled): sources whose
// positions can be reassigned, sinks whose open files can be adopted.
// Keyed state needs no such operator: it is redistributed by key group.
type Rescalable interface {
	// Rescalable reports whether this operator instance can take its share
	// of Context.Rescaled.
	Rescalable() bool
}

// RescalableConnector is implemented by the sources and sinks whose readers
// and writers take their share of Context.Rescaled in Open.
type RescalableConnector interface {
	RestoresAtAnyParallelism()
}
