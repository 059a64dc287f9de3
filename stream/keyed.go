package stream

import (
	"fmt"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// Keyed is a stream partitioned by key: all records of a key go to the same
// subtask, which keeps the key's state.
type Keyed[K comparable, T any] struct {
	s     *Stream[T]
	key   func(T) K
	codec codec.Codec[K]
}

// KeyedContext is what a keyed function sees: key, time, timers, state.
type KeyedContext[K comparable] = operator.KeyedContext[K]

// KeyedProcessFunction is user logic over a keyed stream.
type KeyedProcessFunction[K comparable, T, OUT any] = operator.KeyedProcessFunction[K, T, OUT]

// KeyBy partitions s by key. K needs a codec (its bytes choose the key
// group); the built-in types have one, others use KeyByCodec.
func KeyBy[T any, K comparable](s *Stream[T], key func(T) K) *Keyed[K, T] {
	c, err := codec.For[K]()
	if err != nil {
		s.env.errorf("KeyBy after %q: %w", s.v.Name, err)
	}
	return KeyByCodec(s, key, c)
}

// KeyByCodec partitions s by key, encoding keys with c.
func KeyByCodec[T any, K comparable](s *Stream[T], key func(T) K, c codec.Codec[K]) *Keyed[K, T] {
	s.env.checkFuncs("KeyBy after "+s.v.Name, key)
	return &Keyed[K, T]{s: s, key: key, codec: c}
}

// Stream is the keyed stream's records.
func (k *Keyed[K, T]) Stream() *Stream[T] { return k.s }

// keyGroupPartitioner routes a record to the subtask owning its key group.
type keyGroupPartitioner[T any, K comparable] struct {
	key   func(T) K
	codec codec.Codec[K]
	maxP  int
	buf   []byte
}

func (p *keyGroupPartitioner[T, K]) Route(v *T, n int) int {
	p.buf = p.codec.Append(p.buf[:0], p.key(*v))
	kg := state.KeyGroupOf(p.buf, p.maxP)
	return state.SubtaskForKeyGroup(p.maxP, n, kg)
}

// connectKeyed feeds k into input of v, hash-partitioned by key group.
func connectKeyed[K comparable, T any](k *Keyed[K, T], v *graph.Vertex, input int) {
	s := k.s
	// The partitioner is made when the job runs, after Resolve fixed the
	// number of key groups.
	connect(s, v, input, graph.Hash, func() task.Partitioner[T] {
		return &keyGroupPartitioner[T, K]{key: k.key, codec: k.codec, maxP: s.env.g.MaxParallelism}
	})
}

// Process runs a KeyedProcessFunction over the keyed stream. newF makes the
// function of each parallel subtask: functions keep state handles and other
// fields, so subtasks must not share one.
func Process[K comparable, T, OUT any](k *Keyed[K, T], name string, newF func() KeyedProcessFunction[K, T, OUT]) *Stream[OUT] {
	v := &graph.Vertex{Name: "Process: " + name, Keyed: true, Inputs: 1, Funcs: k.s.env.checkFuncs(name, newF)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.KeyedProcess[K, T, OUT]{Name: name, KeyOf: k.key, KeyCodec: k.codec, F: newF(), Out: out}, nil
	}
	res := addVertex[OUT](k.s.env, v)
	connectKeyed(k, v, 0)
	return res
}

// AggregateFunction folds records into an accumulator, as Flink's.
// Merge combines two accumulators (needed by session windows). One value
// serves every subtask, so its methods must not keep state of their own.
type AggregateFunction[T, ACC, OUT any] interface {
	Create() ACC
	Add(acc ACC, v T) ACC
	Merge(a, b ACC) ACC
	Result(acc ACC) OUT
}

// AggregateFuncs builds an AggregateFunction from functions.
type AggregateFuncs[T, ACC, OUT any] struct {
	CreateF func() ACC
	AddF    func(ACC, T) ACC
	MergeF  func(ACC, ACC) ACC
	ResultF func(ACC) OUT
}

func (a AggregateFuncs[T, ACC, OUT]) Create() ACC          { return a.CreateF() }
func (a AggregateFuncs[T, ACC, OUT]) Add(acc ACC, v T) ACC { return a.AddF(acc, v) }
func (a AggregateFuncs[T, ACC, OUT]) Merge(x, y ACC) ACC   { return a.MergeF(x, y) }
func (a AggregateFuncs[T, ACC, OUT]) Result(acc ACC) OUT   { return a.ResultF(acc) }

// KV is a key with a value: what keyed aggregations emit.
type KV[K, V any] struct {
	Key   K
	Value V
}

func (kv KV[K, V]) String() string { return fmt.Sprintf("%v\t%v", kv.Key, kv.Value) }

// Count is the aggregate counting records.
func Count[T any]() AggregateFunction[T, int64, int64] { return countAgg[T]{} }

type countAgg[T any] struct{}

func (countAgg[T]) Create() int64            { return 0 }
func (countAgg[T]) Add(acc int64, _ T) int64 { return acc + 1 }
func (countAgg[T]) Merge(a, b int64) int64   { return a + b }
func (countAgg[T]) Result(acc int64) int64   { return acc }

// Sum is the aggregate summing numbers.
func Sum[T int | int64 | float64]() AggregateFunction[T, T, T] { return sumAgg[T]{} }

type sumAgg[T int | int64 | float64] struct{}

func (sumAgg[T]) Create() T        { return 0 }
func (sumAgg[T]) Add(acc T, v T) T { return acc + v }
func (sumAgg[T]) Merge(a, b T) T   { return a + b }
func (sumAgg[T]) Result(acc T) T   { return acc }

// Aggregate folds each key's records with agg. In streaming mode it emits
// the key's updated result after every record; in batch mode (bounded job)
// only the final result per key, at end of input. accCodec may be nil for
// built-in accumulator types.
func Aggregate[K comparable, T, ACC, OUT any](k *Keyed[K, T], name string, agg AggregateFunction[T, ACC, OUT], accCodec codec.Codec[ACC]) *Stream[KV[K, OUT]] {
	env := k.s.env
	syms := env.checkFuncs(name, agg)
	s := Process(k, name, func() KeyedProcessFunction[K, T, KV[K, OUT]] {
		return &aggregateFn[K, T, ACC, OUT]{agg: agg, accCodec: accCodec, final: env.batchMode}
	})
	s.v.Funcs = append(s.v.Funcs, syms...)
	return s
}

// Reduce combines each key's records with f, emitting like Aggregate.
func Reduce[K comparable, T any](k *Keyed[K, T], name string, f func(a, b T) T, c codec.Codec[T]) *Stream[T] {
	env := k.s.env
	syms := env.checkFuncs(name, f)
	s := Process(k, name, func() KeyedProcessFunction[K, T, T] {
		return &reduceFn[K, T]{f: f, c: c, final: env.batchMode}
	})
	s.v.Funcs = append(s.v.Funcs, syms...)
	return s
}

// aggregateFn is Aggregate as a keyed process function.
type aggregateFn[K comparable, T, ACC, OUT any] struct {
	agg      AggregateFunction[T, ACC, OUT]
	accCodec codec.Codec[ACC]
	final    func() bool
	isFinal  bool
	acc      state.ValueState[ACC]
}

func (a *aggregateFn[K, T, ACC, OUT]) Open(ctx *KeyedContext[K]) error {
	a.isFinal = a.final()
	var err error
	a.acc, err = operator.NewValueState[K, ACC](ctx, "acc", a.accCodec)
	return err
}

func (a *aggregateFn[K, T, ACC, OUT]) ProcessElement(v T, ctx *KeyedContext[K], out *Collector[KV[K, OUT]]) error {
	acc, ok, err := a.acc.Value()
	if err != nil {
		return err
	}
	if !ok {
		acc = a.agg.Create()
		if a.isFinal {
			if err := ctx.RegisterEventTimer(task.MaxWatermark); err != nil {
				return err
			}
		}
	}
	acc = a.agg.Add(acc, v)
	if err := a.acc.Update(acc); err != nil {
		return err
	}
	if !a.isFinal {
		out.Collect(KV[K, OUT]{Key: ctx.Key(), Value: a.agg.Result(acc)})
	}
	return nil
}

func (a *aggregateFn[K, T, ACC, OUT]) OnTimer(ts int64, ctx *KeyedContext[K], out *Collector[KV[K, OUT]]) error {
	acc, ok, err := a.acc.Value()
	if err != nil || !ok {
		return err
	}
	out.CollectAt(task.NoTimestamp, KV[K, OUT]{Key: ctx.Key(), Value: a.agg.Result(acc)})
	return a.acc.Clear()
}

// reduceFn is Reduce as a keyed process function.
type reduceFn[K comparable, T any] struct {
	f       func(a, b T) T
	c       codec.Codec[T]
	final   func() bool
	isFinal bool
	val     state.ValueState[T]
}

func (r *reduceFn[K, T]) Open(ctx *KeyedContext[K]) error {
	r.isFinal = r.final()
	var err error
	r.val, err = operator.NewValueState[K, T](ctx, "value", r.c)
	return err
}

func (r *reduceFn[K, T]) ProcessElement(v T, ctx *KeyedContext[K], out *Collector[T]) error {
	cur, ok, err := r.val.Value()
	if err != nil {
		return err
	}
	if ok {
		v = r.f(cur, v)
	} else if r.isFinal {
		if err := ctx.RegisterEventTimer(task.MaxWatermark); err != nil {
			return err
		}
	}
	if err := r.val.Update(v); err != nil {
		return err
	}
	if !r.isFinal {
		out.Collect(v)
	}
	return nil
}

func (r *reduceFn[K, T]) OnTimer(ts int64, ctx *KeyedContext[K], out *Collector[T]) error {
	v, ok, err := r.val.Value()
	if err != nil || !ok {
		return err
	}
	out.CollectAt(task.NoTimestamp, v)
	return r.val.Clear()
}

// ValueState registers value state name in a keyed function's Open. The
// value codec is the built-in one of V; use operator.NewValueState for another.
func ValueState[K comparable, V any](ctx *KeyedContext[K], name string) (state.ValueState[V], error) {
	return operator.NewValueState[K, V](ctx, name, nil)
}

// ListState registers list state name in a keyed function's Open.
func ListState[K comparable, V any](ctx *KeyedContext[K], name string) (state.ListState[V], error) {
	return operator.NewListState[K, V](ctx, name, nil)
}

// MapState registers map state name in a keyed function's Open.
func MapState[K, UK comparable, UV any](ctx *KeyedContext[K], name string) (state.MapState[UK, UV], error) {
	return operator.NewMapState[K, UK, UV](ctx, name, nil, nil)
}
