package stream

import (
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// KeyedCoProcessFunction is user logic over two keyed streams sharing a key.
type KeyedCoProcessFunction[K comparable, A, B, OUT any] = operator.KeyedCoProcessFunction[K, A, B, OUT]

// Connect joins two streams keyed by the same key type into one operator:
// records of both go to the subtask owning their key, where newF's function
// sees them with the key's state and timers (Flink's connect + KeyedCoProcess).
func Connect[K comparable, A, B, OUT any](a *Keyed[K, A], b *Keyed[K, B], name string, newF func() KeyedCoProcessFunction[K, A, B, OUT]) *Stream[OUT] {
	env := a.s.env
	if b.s.env != env {
		env.errorf("connect %q: the two streams belong to different jobs", name)
	}
	v := &graph.Vertex{Name: "CoProcess: " + name, Keyed: true, Inputs: 2, Funcs: env.checkFuncs(name, newF, a.key, b.key)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.KeyedCoProcess[K, A, B, OUT]{Name: name, KeyOfA: a.key, KeyOfB: b.key, KeyCodec: a.codec, F: newF(), Out: out}, nil
	}
	res := addVertex[OUT](env, v)
	connectKeyed(a, v, 0)
	connectKeyed(b, v, 1)
	return res
}

// CoMap merges two streams of different types into one by mapping each.
func CoMap[A, B, OUT any](a *Stream[A], b *Stream[B], name string, f1 func(A) OUT, f2 func(B) OUT) *Stream[OUT] {
	env := a.env
	if b.env != env {
		env.errorf("comap %q: the two streams belong to different jobs", name)
	}
	v := &graph.Vertex{Name: "CoMap: " + name, Inputs: 2, Funcs: env.checkFuncs(name, f1, f2)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.CoMap[A, B, OUT]{Name: name, F1: f1, F2: f2, Out: out}, nil
	}
	res := addVertex[OUT](env, v)
	connect(a, v, 0, graph.Default, nil)
	connect(b, v, 1, graph.Default, nil)
	return res
}
