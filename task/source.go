package task

import "time"

// Source is a connector's factory for the readers of its parallel subtasks.
type Source[T any] interface {
	// Bounded reports whether the input ends (files, a counted generator) or
	// not (a stream). A job is bounded when all its sources are.
	Bounded() bool
	// NewReader returns the reader of subtask i of n. The split of the input
	// among subtasks must be deterministic, so that every process and every
	// restart agrees on it.
	NewReader(subtask, parallelism int) (SourceReader[T], error)
}

// SourceReader reads one subtask's share of a source. All calls come from the
// task goroutine.
type SourceReader[T any] interface {
	// Open starts reading; ctx.Restored holds the bytes of an earlier Snapshot
	// when the job restarts from a checkpoint.
	Open(ctx *Context) error
	// Read appends at most cap(b.Values)-len(b.Values) records (at least one
	// slot is free) and says what comes next.
	Read(b *Batch[T]) (ReadStatus, error)
	// Snapshot returns the reader's position. It is called between two Reads;
	// restoring it must resume with the first record not yet returned.
	Snapshot() ([]byte, error)
	Close() error
}

// ReadStatus is a reader's answer after Read. The zero value means "call again".
type ReadStatus struct {
	// End is set when a bounded input is exhausted; Read is not called again.
	End bool
	// Wait asks the task to call Read again after this long at the latest
	// (nothing is available now). The task serves its mailbox meanwhile.
	Wait time.Duration
}

// Sink is a connector's factory for the writers of its parallel subtasks.
type Sink[T any] interface {
	NewWriter(subtask, parallelism int) (SinkWriter[T], error)
}

// SinkWriter writes one subtask's records. All calls come from the task goroutine.
type SinkWriter[T any] interface {
	// Open prepares writing; ctx.Restored holds the bytes of an earlier
	// Snapshot on restore: the writer must discard what it wrote after it.
	Open(ctx *Context) error
	Write(b *Batch[T]) error
	// Snapshot flushes and returns what recovery needs (files and lengths).
	Snapshot(checkpointID int64) ([]byte, error)
	// NotifyCheckpointComplete may commit what was written up to that checkpoint.
	NotifyCheckpointComplete(checkpointID int64) error
	// Finish flushes and publishes everything at end of input.
	Finish() error
	// Close releases resources; after a failure it publishes nothing.
	Close() error
}
