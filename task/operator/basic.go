// Package operator holds loom's built-in operators: sources, stateless
// transformations, keyed processing, windows, joins and sinks. Each operator
// is typed; the user API (package stream) creates them through factories and
// the engine drives them through the untyped task.Operator interface.
package operator

import (
	"fmt"
	"slices"

	"github.com/loom-yarn/loom/task"
)

// Map applies F (or TryF, which may fail) to every record.
type Map[T, U any] struct {
	Name string
	F    func(T) U
	TryF func(T) (U, error)
	Out  task.Output[U]
	buf  *task.Batch[U]
}

// ProcessBatch implements task.Operator.
func (m *Map[T, U]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, m.Name)
	if err != nil {
		return err
	}
	if m.buf == nil {
		m.buf = task.NewBatch[U](in.Len())
	}
	out := m.buf
	out.Reset()
	if m.F != nil {
		vals := slices.Grow(out.Values, len(in.Values))[:len(in.Values)]
		for i, v := range in.Values {
			vals[i] = m.F(v)
		}
		out.Values = vals
	} else {
		for _, v := range in.Values {
			u, err := m.TryF(v)
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			out.Values = append(out.Values, u)
		}
	}
	out.Times = append(out.Times, in.Times...)
	return m.Out.Push(out)
}

// ProcessWatermark implements task.Operator.
func (m *Map[T, U]) ProcessWatermark(wm int64) error { return m.Out.Watermark(wm) }

// Filter keeps the records for which F is true.
type Filter[T any] struct {
	Name string
	F    func(T) bool
	Out  task.Output[T]
	buf  *task.Batch[T]
}

// ProcessBatch implements task.Operator.
func (f *Filter[T]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, f.Name)
	if err != nil {
		return err
	}
	if f.buf == nil {
		f.buf = task.NewBatch[T](in.Len())
	}
	out := f.buf
	out.Reset()
	n := len(in.Values)
	vals := slices.Grow(out.Values, n)[:n]
	times := slices.Grow(out.Times, n)[:n]
	k := 0
	for i, v := range in.Values {
		if f.F(v) {
			vals[k] = v
			times[k] = in.Times[i]
			k++
		}
	}
	out.Values, out.Times = vals[:k], times[:k]
	if out.Len() == 0 {
		return nil
	}
	return f.Out.Push(out)
}

// ProcessWatermark implements task.Operator.
func (f *Filter[T]) ProcessWatermark(wm int64) error { return f.Out.Watermark(wm) }

// Collector receives the records a FlatMap or process function emits.
type Collector[U any] struct {
	b *task.Batch[U]
	// ts is the timestamp given to collected records: the input record's.
	ts int64
}

// Collect emits v with the timestamp of the record being processed.
func (c *Collector[U]) Collect(v U) { c.b.Append(c.ts, v) }

// CollectAt emits v with event time ts (milliseconds).
func (c *Collector[U]) CollectAt(ts int64, v U) { c.b.Append(ts, v) }

// FlatMap calls F for every record; F emits zero or more records.
type FlatMap[T, U any] struct {
	Name      string
	F         func(T, *Collector[U]) error
	Out       task.Output[U]
	BatchSize int
	c         Collector[U]
}

// ProcessBatch implements task.Operator.
func (f *FlatMap[T, U]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, f.Name)
	if err != nil {
		return err
	}
	if f.c.b == nil {
		f.c.b = task.NewBatch[U](max(f.BatchSize, in.Len()))
	}
	f.c.b.Reset()
	for i, v := range in.Values {
		f.c.ts = in.Times[i]
		if err := f.F(v, &f.c); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if f.c.b.Len() >= f.BatchSize {
			if err := f.Out.Push(f.c.b); err != nil {
				return err
			}
			f.c.b.Reset()
		}
	}
	if f.c.b.Len() == 0 {
		return nil
	}
	return f.Out.Push(f.c.b)
}

// ProcessWatermark implements task.Operator.
func (f *FlatMap[T, U]) ProcessWatermark(wm int64) error { return f.Out.Watermark(wm) }

// Identity forwards every input unchanged: the operator of a union.
type Identity[T any] struct {
	Name string
	Out  task.Output[T]
}

// ProcessBatch implements task.Operator.
func (o *Identity[T]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, o.Name)
	if err != nil {
		return err
	}
	return o.Out.Push(in)
}

// ProcessWatermark implements task.Operator.
func (o *Identity[T]) ProcessWatermark(wm int64) error { return o.Out.Watermark(wm) }
