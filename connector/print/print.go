// Package print is a sink that writes each record as a line to standard
// output or another writer, for debugging and demos. With parallelism above
// one, lines carry the subtask as "N> " like Flink's print sink.
package print

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/loom-yarn/loom/task"
)

// Options configure a print sink.
type Options[T any] struct {
	// Writer receives the lines (default os.Stdout). It is shared by all
	// subtasks; the sink writes to it once per batch under a lock.
	Writer io.Writer
	// Format appends a record's text to dst (default: fmt.Append(dst, v)).
	Format func(dst []byte, v T) []byte
}

// Sink writes records as lines. It implements task.Sink[T].
type Sink[T any] struct {
	w      io.Writer
	format func(dst []byte, v T) []byte
	mu     sync.Mutex // serializes batches of different subtasks
}

// New returns a print sink.
func New[T any](opts Options[T]) *Sink[T] {
	s := &Sink[T]{w: opts.Writer, format: opts.Format}
	if s.w == nil {
		s.w = os.Stdout
	}
	if s.format == nil {
		s.format = func(dst []byte, v T) []byte { return fmt.Append(dst, v) }
	}
	return s
}

// NewWriter returns subtask i's writer.
func (s *Sink[T]) NewWriter(subtask, parallelism int) (task.SinkWriter[T], error) {
	if parallelism < 1 || subtask < 0 || subtask >= parallelism {
		return nil, fmt.Errorf("print sink: subtask %d of %d is out of range", subtask, parallelism)
	}
	w := &writer[T]{sink: s}
	if parallelism > 1 {
		w.prefix = strconv.AppendInt(nil, int64(subtask+1), 10)
		w.prefix = append(w.prefix, "> "...)
	}
	return w, nil
}

type writer[T any] struct {
	sink   *Sink[T]
	prefix []byte
	buf    []byte
	ctx    *task.Context
}

func (w *writer[T]) Open(ctx *task.Context) error { w.ctx = ctx; return nil }

// Write formats the whole batch and writes it in one call.
func (w *writer[T]) Write(b *task.Batch[T]) error {
	buf := w.buf[:0]
	for _, v := range b.Values {
		buf = append(buf, w.prefix...)
		buf = w.sink.format(buf, v)
		buf = append(buf, '\n')
	}
	w.buf = buf
	if len(buf) > 0 {
		w.sink.mu.Lock()
		_, err := w.sink.w.Write(buf)
		w.sink.mu.Unlock()
		if err != nil {
			return fmt.Errorf("print sink: write: %w", err)
		}
	}
	return nil
}

// Snapshot has nothing to save: printed lines cannot be taken back.
func (w *writer[T]) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (w *writer[T]) NotifyCheckpointComplete(int64) error { return nil }
func (w *writer[T]) Finish() error                        { return nil }
func (w *writer[T]) Close() error                         { return nil }
