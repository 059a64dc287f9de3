package task

import (
	"fmt"
	"reflect"
)

// Type is the typed glue for one record type, made where the type is known
// (the user API) and used by the untyped engine to connect operators.
type Type interface {
	// Name is the Go type name; it is part of the graph's identity.
	Name() string
	// ChainLink returns an Output[T] that hands batches to next.ProcessBatch(input, ...)
	// in the same goroutine, counting them as out's output and in's input.
	ChainLink(next Operator, input int, out, in *OperatorMetrics) any
	// Fanout returns an Output[T] pushing to every output in outs (each an Output[T]).
	Fanout(outs []any) any
	// Discard returns an Output[T] that drops records (an unused side output).
	Discard() any
}

// TypeOf returns the Type of T.
func TypeOf[T any]() Type { return typeOf[T]{} }

type typeOf[T any] struct{}

func (typeOf[T]) Name() string {
	return reflect.TypeFor[T]().String()
}

func (typeOf[T]) ChainLink(next Operator, input int, out, in *OperatorMetrics) any {
	l := &chainLink[T]{next: next, input: input, out: out, in: in}
	if in != nil {
		l.name = in.Operator
	}
	return l
}

func (typeOf[T]) Fanout(outs []any) any {
	f := &fanout[T]{}
	for _, o := range outs {
		f.outs = append(f.outs, o.(Output[T]))
	}
	return f
}

func (typeOf[T]) Discard() any { return discard[T]{} }

// chainLink is the edge between two chained operators: a direct call. It is
// also where a panic of the next operator is recovered, so that the task's
// error names that operator rather than the head of the chain; the recovery
// costs one open-coded defer per batch, never one per record.
type chainLink[T any] struct {
	next    Operator
	input   int
	out, in *OperatorMetrics
	name    string // next's name (in.Operator), for a PanicError
}

func (l *chainLink[T]) Push(b *Batch[T]) (err error) {
	if b.Len() == 0 {
		return nil
	}
	n := int64(b.Len())
	l.out.RecordsOut.Add(n)
	l.in.RecordsIn.Add(n)
	defer catchPanic(&err, l.name, "")
	return l.next.ProcessBatch(l.input, b)
}

// Watermark implements Output; event-time timers of next fire in this call.
func (l *chainLink[T]) Watermark(wm int64) (err error) {
	defer catchPanic(&err, l.name, "")
	return l.next.ProcessWatermark(wm)
}

type fanout[T any] struct{ outs []Output[T] }

func (f *fanout[T]) Push(b *Batch[T]) error {
	for _, o := range f.outs {
		if err := o.Push(b); err != nil {
			return err
		}
	}
	return nil
}

func (f *fanout[T]) Watermark(wm int64) error {
	for _, o := range f.outs {
		if err := o.Watermark(wm); err != nil {
			return err
		}
	}
	return nil
}

type discard[T any] struct{}

func (discard[T]) Push(*Batch[T]) error  { return nil }
func (discard[T]) Watermark(int64) error { return nil }

// OutputAs returns o as an Output[T], or an error naming both types when the
// graph connected mismatched operators (a bug in the API layer, not user input).
func OutputAs[T any](o any, operator string) (Output[T], error) {
	out, ok := o.(Output[T])
	if !ok {
		return nil, fmt.Errorf("operator %s: output is %T, want Output[%s]", operator, o, reflect.TypeFor[T]())
	}
	return out, nil
}

// BatchAs returns batch as a *Batch[T], or an error naming both types.
func BatchAs[T any](batch any, operator string) (*Batch[T], error) {
	b, ok := batch.(*Batch[T])
	if !ok {
		return nil, fmt.Errorf("operator %s: got %T, want *Batch[%s]", operator, batch, reflect.TypeFor[T]())
	}
	return b, nil
}
