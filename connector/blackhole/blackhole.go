// Package blackhole is a sink that drops every record and counts them: the
// sink of benchmarks, where writing would measure the disk instead of loom.
package blackhole

import (
	"fmt"
	"sync/atomic"

	"github.com/loom-yarn/loom/task"
)

// Sink discards records. It implements task.Sink[T].
type Sink[T any] struct {
	count atomic.Int64
}

// New returns a blackhole sink.
func New[T any]() *Sink[T] { return &Sink[T]{} }

// Count is the number of records received by all subtasks so far.
func (s *Sink[T]) Count() int64 { return s.count.Load() }

// NewWriter returns subtask i's writer.
func (s *Sink[T]) NewWriter(subtask, parallelism int) (task.SinkWriter[T], error) {
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("blackhole sink: subtask %d of %d is out of range", subtask, parallelism)
	}
	return &writer[T]{sink: s}, nil
}

type writer[T any] struct {
	sink *Sink[T]
	ctx  *task.Context
}

func (w *writer[T]) Open(ctx *task.Context) error { w.ctx = ctx; return nil }

// Write counts the batch, once per batch.
func (w *writer[T]) Write(b *task.Batch[T]) error {
	n := int64(b.Len())
	w.sink.count.Add(n)
	return nil
}

// Snapshot has nothing to save.
func (w *writer[T]) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (w *writer[T]) NotifyCheckpointComplete(int64) error { return nil }
func (w *writer[T]) Finish() error                        { return nil }
func (w *writer[T]) Close() error                         { return nil }
