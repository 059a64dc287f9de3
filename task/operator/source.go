package operator

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/task"
)

// WatermarkStrategy says how a source (or a mid-stream assigner) gives
// records their event time and derives watermarks, as Flink's does.
type WatermarkStrategy[T any] struct {
	// Timestamp returns a record's event time in milliseconds since the epoch.
	Timestamp func(T) int64
	// OutOfOrderness is how late a record may arrive behind the highest
	// timestamp seen: the watermark trails that timestamp by this much.
	OutOfOrderness time.Duration
	// Idleness marks the source idle after this long without records, so it
	// does not hold back the watermark downstream. 0 never does.
	Idleness time.Duration
}

// watermarks generates watermarks for one subtask.
type watermarks[T any] struct {
	s      *WatermarkStrategy[T]
	maxTs  int64
	lastWM int64
}

func newWatermarks[T any](s *WatermarkStrategy[T]) *watermarks[T] {
	return &watermarks[T]{s: s, maxTs: task.NoTimestamp, lastWM: task.NoTimestamp}
}

// assign sets the timestamps of b and returns the new watermark, if it advanced.
func (w *watermarks[T]) assign(b *task.Batch[T]) (int64, bool) {
	if w.s == nil || w.s.Timestamp == nil {
		return 0, false
	}
	for i := range b.Values {
		ts := w.s.Timestamp(b.Values[i])
		b.Times[i] = ts
		if ts > w.maxTs {
			w.maxTs = ts
		}
	}
	if w.maxTs == task.NoTimestamp {
		return 0, false
	}
	wm := w.maxTs - w.s.OutOfOrderness.Milliseconds() - 1
	if wm > w.lastWM {
		w.lastWM = wm
		return wm, true
	}
	return 0, false
}

// Source is the head of a source task: it reads batches from a connector's
// reader, assigns event times, and emits watermarks after each batch.
type Source[T any] struct {
	Name      string
	Connector task.Source[T]
	Strategy  *WatermarkStrategy[T]
	Out       task.Output[T]

	ctx        *task.Context
	reader     task.SourceReader[T]
	batch      *task.Batch[T]
	wm         *watermarks[T]
	idle       bool
	lastRecord time.Time
	ended      bool
}

// Open implements task.Opener.
func (s *Source[T]) Open(ctx *task.Context) error {
	s.ctx = ctx
	r, err := s.Connector.NewReader(ctx.Subtask, ctx.Parallelism)
	if err != nil {
		return err
	}
	s.reader = r
	if err := r.Open(ctx); err != nil {
		return err
	}
	s.batch = task.NewBatch[T](max(ctx.BatchSize, 1))
	s.wm = newWatermarks(s.Strategy)
	s.lastRecord = time.Now()
	return nil
}

// Rescalable implements task.Rescalable: the connector's readers can take
// their share of positions saved at another parallelism.
func (s *Source[T]) Rescalable() bool {
	_, ok := any(s.Connector).(task.RescalableConnector)
	return ok
}

// Step implements task.SourceOperator.
func (s *Source[T]) Step() (task.ReadStatus, error) {
	if s.ended {
		return task.ReadStatus{End: true}, nil
	}
	b := s.batch
	b.Reset()
	st, err := s.reader.Read(b)
	if err != nil {
		return st, fmt.Errorf("%s: %w", s.Name, err)
	}
	if n := b.Len(); n > 0 {
		if s.idle && s.ctx.SetIdle != nil {
			s.idle = false
			if err := s.ctx.SetIdle(false); err != nil {
				return st, err
			}
		}
		s.lastRecord = time.Now()
		s.ctx.Metrics.RecordsIn.Add(int64(n))
		wm, advanced := s.wm.assign(b)
		if err := s.Out.Push(b); err != nil {
			return st, err
		}
		if advanced {
			if err := s.Out.Watermark(wm); err != nil {
				return st, err
			}
		}
	} else if st.Wait > 0 && s.Strategy != nil && s.Strategy.Idleness > 0 && !s.idle && s.ctx.SetIdle != nil &&
		time.Since(s.lastRecord) >= s.Strategy.Idleness {
		s.idle = true
		if err := s.ctx.SetIdle(true); err != nil {
			return st, err
		}
	}
	if st.End {
		s.ended = true
	}
	return st, nil
}

// ProcessBatch implements task.Operator; a source has no input.
func (s *Source[T]) ProcessBatch(int, any) error {
	return fmt.Errorf("%s: a source has no input", s.Name)
}

// ProcessWatermark forwards the final watermark the task sends at end of input.
func (s *Source[T]) ProcessWatermark(wm int64) error { return s.Out.Watermark(wm) }

// SnapshotState implements task.Snapshotter: the reader's position.
func (s *Source[T]) SnapshotState(int64) ([]byte, error) { return s.reader.Snapshot() }

// Close implements task.Closer.
func (s *Source[T]) Close() error {
	if s.reader == nil {
		return nil
	}
	return s.reader.Close()
}

// Sink writes records through a connector's writer.
type Sink[T any] struct {
	Name      string
	Connector task.Sink[T]
	writer    task.SinkWriter[T]
}

// Open implements task.Opener.
func (s *Sink[T]) Open(ctx *task.Context) error {
	w, err := s.Connector.NewWriter(ctx.Subtask, ctx.Parallelism)
	if err != nil {
		return err
	}
	s.writer = w
	return w.Open(ctx)
}

// Rescalable implements task.Rescalable: the connector's writers can adopt
// what writers of another parallelism left.
func (s *Sink[T]) Rescalable() bool {
	_, ok := any(s.Connector).(task.RescalableConnector)
	return ok
}

// ProcessBatch implements task.Operator.
func (s *Sink[T]) ProcessBatch(_ int, batch any) error {
	b, err := task.BatchAs[T](batch, s.Name)
	if err != nil {
		return err
	}
	return s.writer.Write(b)
}

// ProcessWatermark implements task.Operator; sinks end the chain.
func (s *Sink[T]) ProcessWatermark(int64) error { return nil }

// SnapshotState implements task.Snapshotter.
func (s *Sink[T]) SnapshotState(id int64) ([]byte, error) { return s.writer.Snapshot(id) }

// NotifyCheckpointComplete implements task.CheckpointListener.
func (s *Sink[T]) NotifyCheckpointComplete(id int64) error {
	return s.writer.NotifyCheckpointComplete(id)
}

// Finish implements task.Finisher.
func (s *Sink[T]) Finish() error { return s.writer.Finish() }

// Close implements task.Closer.
func (s *Sink[T]) Close() error {
	if s.writer == nil {
		return nil
	}
	return s.writer.Close()
}

// TimestampAssigner gives records event times mid-stream and emits its own
// watermarks; upstream watermarks are dropped, except the final one.
type TimestampAssigner[T any] struct {
	name string
	wm   *watermarks[T]
	out  task.Output[T]
	buf  *task.Batch[T]
}

// NewTimestampAssigner returns an assigner applying s.
func NewTimestampAssigner[T any](name string, s *WatermarkStrategy[T], out task.Output[T]) *TimestampAssigner[T] {
	return &TimestampAssigner[T]{name: name, wm: newWatermarks(s), out: out}
}

// ProcessBatch implements task.Operator.
func (a *TimestampAssigner[T]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, a.name)
	if err != nil {
		return err
	}
	if a.buf == nil {
		a.buf = task.NewBatch[T](in.Len())
	}
	// Copy: the input batch belongs to the sender.
	a.buf.Reset()
	a.buf.Values = append(a.buf.Values, in.Values...)
	a.buf.Times = append(a.buf.Times, in.Times...)
	wm, advanced := a.wm.assign(a.buf)
	if err := a.out.Push(a.buf); err != nil {
		return err
	}
	if advanced {
		return a.out.Watermark(wm)
	}
	return nil
}

// ProcessWatermark forwards only the end-of-input watermark.
func (a *TimestampAssigner[T]) ProcessWatermark(wm int64) error {
	if wm == task.MaxWatermark {
		return a.out.Watermark(wm)
	}
	return nil
}
