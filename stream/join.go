package stream

import (
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// joinVertex adds a two-input keyed operator fed by a (input 0) and b
// (input 1), both partitioned by the same key type.
func joinVertex[K comparable, A, B, OUT any](a *Keyed[K, A], b *Keyed[K, B], v *graph.Vertex) *Stream[OUT] {
	env := a.s.env
	if b.s.env != env {
		env.errorf("join %s: its inputs belong to different environments", v.Name)
	}
	v.Keyed, v.Inputs = true, 2
	res := addVertex[OUT](env, v)
	connectKeyed(a, v, 0)
	connectKeyed(b, v, 1)
	return res
}

// WindowJoin joins a and b per key and window (an inner join, as Flink's
// window join): when a window fires, join is called for every pair of the
// key's records in it, a's in arrival order, then b's; results carry the
// window's max timestamp. Records arriving after their window fired are
// dropped. ac and bc encode the buffered records and may be nil for built-in
// types.
func WindowJoin[K comparable, A, B, OUT any](a *Keyed[K, A], b *Keyed[K, B], assigner WindowAssigner, name string, join func(A, B) OUT, ac codec.Codec[A], bc codec.Codec[B]) *Stream[OUT] {
	env := a.s.env
	if err := assigner.Validate(); err != nil {
		env.errorf("window join %q: %w", name, err)
	}
	ac = codecOrFor(env, "window join "+name+" left records", ac)
	bc = codecOrFor(env, "window join "+name+" right records", bc)
	syms := append(env.checkFuncs(name, join), "window="+assigner.String())
	v := &graph.Vertex{Name: "WindowJoin: " + name, Funcs: syms}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.WindowJoin[K, A, B, OUT]{Name: name, KeyA: a.key, KeyB: b.key, KeyCodec: a.codec,
			Assigner: assigner, Join: join, ACodec: ac, BCodec: bc, Out: out}, nil
	}
	return joinVertex[K, A, B, OUT](a, b, v)
}

// IntervalJoin joins a and b per key in event time: join(x, y) for every x of
// a and y of b with x.ts+lower <= y.ts <= x.ts+upper, emitted as soon as both
// arrived, with the larger of the two timestamps. Each side is kept in state
// until the watermark passes the interval; records at or behind the
// watermark are dropped. ac and bc may be nil for built-in types.
func IntervalJoin[K comparable, A, B, OUT any](a *Keyed[K, A], b *Keyed[K, B], lower, upper time.Duration, name string, join func(A, B) OUT, ac codec.Codec[A], bc codec.Codec[B]) *Stream[OUT] {
	env := a.s.env
	if lower > upper {
		env.errorf("interval join %q: lower bound %v is above the upper bound %v", name, lower, upper)
	}
	ac = codecOrFor(env, "interval join "+name+" left records", ac)
	bc = codecOrFor(env, "interval join "+name+" right records", bc)
	syms := append(env.checkFuncs(name, join), "interval=["+lower.String()+","+upper.String()+"]")
	v := &graph.Vertex{Name: "IntervalJoin: " + name, Funcs: syms}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.IntervalJoin[K, A, B, OUT]{Name: name, KeyA: a.key, KeyB: b.key, KeyCodec: a.codec,
			Lower: lower, Upper: upper, Join: join, ACodec: ac, BCodec: bc, Out: out}, nil
	}
	return joinVertex[K, A, B, OUT](a, b, v)
}
