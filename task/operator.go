package task

// Output is where an operator sends its results: the next operator of the
// chain, or a writer onto the channels of the downstream tasks.
// Push does not take ownership of b: the caller may reuse b once Push returns.
type Output[T any] interface {
	Push(b *Batch[T]) error
	// Watermark forwards event-time progress. Every operator forwards the
	// watermarks it receives, after firing what they make due.
	Watermark(wm int64) error
}

// Operator is one step of a task's chain. The task calls it from its single
// goroutine only, so an operator needs no locks.
//
// Lifecycle: Open -> (ProcessBatch | ProcessWatermark | Snapshot |
// NotifyCheckpointComplete)* -> Finish (end of input only) -> Close (always).
// The optional interfaces below add the calls an operator needs.
type Operator interface {
	// ProcessBatch handles a *Batch[T] arriving on input (0 or 1 for two-input
	// operators; the input index of the graph edge otherwise).
	ProcessBatch(input int, batch any) error
	// ProcessWatermark handles the task's combined watermark and must forward it.
	ProcessWatermark(wm int64) error
}

// Opener is an operator that prepares itself before the first record:
// registers state, restores operator state, opens files.
type Opener interface {
	Open(ctx *Context) error
}

// Finisher is an operator with work at end of input: flushing buffers,
// emitting final results, publishing files. Finish runs after the final
// watermark and before the task forwards end of input.
type Finisher interface {
	Finish() error
}

// Closer releases resources. Close runs on success and on failure; after a
// failure it must not publish anything.
type Closer interface {
	Close() error
}

// Snapshotter is an operator with non-keyed state (a source's position, a
// sink's in-progress files). Snapshot runs when the barrier of checkpoint id
// passes the operator; the bytes come back to Restore on recovery. Keyed state
// is snapshotted by the task's state backend and needs no code here.
type Snapshotter interface {
	SnapshotState(checkpointID int64) ([]byte, error)
}

// CheckpointListener hears that a checkpoint completed everywhere, the moment
// to commit side effects (for example to publish files written up to it).
type CheckpointListener interface {
	NotifyCheckpointComplete(checkpointID int64) error
}
