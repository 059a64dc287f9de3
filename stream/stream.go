package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// Stream is a typed stream of records: one output of an operator.
type Stream[T any] struct {
	env    *Env
	v      *graph.Vertex
	output int
	codec  codec.Codec[T] // nil: the built-in or derived codec of T
}

// WithCodec sets how this stream's records are encoded when they cross a
// process boundary (the network shuffle between workers). Records of types
// without a built-in or derived codec need it to run distributed.
func (s *Stream[T]) WithCodec(c codec.Codec[T]) *Stream[T] {
	s.codec = c
	return s
}

// Collector receives the records a function emits.
type Collector[T any] = operator.Collector[T]

// WatermarkStrategy gives records their event time and derives watermarks.
type WatermarkStrategy[T any] = operator.WatermarkStrategy[T]

// BoundedOutOfOrderness is the usual strategy: event time from ts, watermark
// trailing the highest time seen by maxDelay.
func BoundedOutOfOrderness[T any](maxDelay time.Duration, ts func(T) int64) *WatermarkStrategy[T] {
	return &WatermarkStrategy[T]{Timestamp: ts, OutOfOrderness: maxDelay}
}

// Env is the environment the stream belongs to.
func (s *Stream[T]) Env() *Env { return s.env }

// Parallelism sets the operator's parallelism.
func (s *Stream[T]) Parallelism(p int) *Stream[T] {
	s.v.Parallelism = p
	return s
}

// UID sets the operator's stable id, under which checkpoints keep its state.
// Set it on stateful operators of long-running jobs so that a changed job
// still finds its state.
func (s *Stream[T]) UID(uid string) *Stream[T] {
	s.v.UID = uid
	return s
}

// newVertex adds an operator vertex consuming the given inputs.
func addVertex[OUT any](e *Env, v *graph.Vertex) *Stream[OUT] {
	v.OutTypes = append([]task.Type{task.TypeOf[OUT]()}, v.OutTypes...)
	e.g.Add(v)
	return &Stream[OUT]{env: e, v: v}
}

// connect adds an edge from s into input of v with partitioning part.
func connect[T any](s *Stream[T], to *graph.Vertex, input int, part graph.Partitioning, newPart func() task.Partitioner[T]) {
	s.env.g.Connect(&graph.Edge{
		From: s.v, FromOutput: s.output, To: to, ToInput: input, Part: part,
		NewCodec: func() (network.BatchCodec, error) {
			c := s.codec
			if c == nil {
				var err error
				if c, err = codec.For[T](); err != nil {
					return nil, fmt.Errorf("records from %s to %s cross processes: %w (or set one with WithCodec)", s.v.Name, to.Name, err)
				}
			}
			return task.NewBatchCodec[T](c), nil
		},
		NewWriter: func(ctx context.Context, senders []network.Sender, batchSize, maxP, consumerP int, tm *task.TaskMetrics, out *task.OperatorMetrics) task.ChannelWriter {
			var p task.Partitioner[T]
			switch {
			case newPart != nil:
				p = newPart()
			case len(senders) == 1:
				p = task.ForwardPartitioner[T]{}
			case part == graph.Broadcast:
				p = nil
			default:
				p = &task.RebalancePartitioner[T]{}
			}
			return task.NewWriter[T](ctx, senders, p, batchSize, tm, out)
		},
	})
}

// FromSource adds a source. wm may be nil for records without event time.
func FromSource[T any](env *Env, name string, src task.Source[T], wm *WatermarkStrategy[T]) *Stream[T] {
	syms := []string{}
	if wm != nil && wm.Timestamp != nil {
		syms = env.checkFuncs(name, wm.Timestamp)
	}
	v := &graph.Vertex{Name: "Source: " + name, Source: true, Bounded: src.Bounded(), Funcs: syms}
	if p, ok := src.(interface{ Prepare(bool) error }); ok {
		v.Prepare = p.Prepare
	}
	if val, ok := src.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			env.errorf("source %q: %w", name, err)
		}
	}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[T](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.Source[T]{Name: name, Connector: src, Strategy: wm, Out: out}, nil
	}
	return addVertex[T](env, v)
}

// oneInput adds an operator with input s forwarded (or rebalanced when the
// parallelism differs).
func oneInput[T, OUT any](s *Stream[T], v *graph.Vertex) *Stream[OUT] {
	v.Inputs = 1
	out := addVertex[OUT](s.env, v)
	connect(s, v, 0, graph.Default, nil)
	return out
}

// Map applies f to every record.
func Map[T, U any](s *Stream[T], name string, f func(T) U) *Stream[U] {
	return mapStream(s, name, &operator.Map[T, U]{Name: name, F: f}, f)
}

// TryMap applies f to every record; an error fails the job.
func TryMap[T, U any](s *Stream[T], name string, f func(T) (U, error)) *Stream[U] {
	return mapStream(s, name, &operator.Map[T, U]{Name: name, TryF: f}, f)
}

func mapStream[T, U any](s *Stream[T], name string, proto *operator.Map[T, U], f any) *Stream[U] {
	v := &graph.Vertex{Name: "Map: " + name, Funcs: s.env.checkFuncs(name, f)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[U](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.Map[T, U]{Name: name, F: proto.F, TryF: proto.TryF, Out: out}, nil
	}
	return oneInput[T, U](s, v)
}

// Filter keeps the records for which f is true.
func Filter[T any](s *Stream[T], name string, f func(T) bool) *Stream[T] {
	v := &graph.Vertex{Name: "Filter: " + name, Funcs: s.env.checkFuncs(name, f)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[T](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.Filter[T]{Name: name, F: f, Out: out}, nil
	}
	return oneInput[T, T](s, v)
}

// FlatMap calls f for every record; f emits any number of records.
func FlatMap[T, U any](s *Stream[T], name string, f func(T, *Collector[U]) error) *Stream[U] {
	v := &graph.Vertex{Name: "FlatMap: " + name, Funcs: s.env.checkFuncs(name, f)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[U](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.FlatMap[T, U]{Name: name, F: f, Out: out, BatchSize: max(ctx.BatchSize, 1)}, nil
	}
	return oneInput[T, U](s, v)
}

// AssignTimestamps gives records event times and emits watermarks mid-stream,
// replacing upstream watermarks.
func AssignTimestamps[T any](s *Stream[T], name string, wm *WatermarkStrategy[T]) *Stream[T] {
	v := &graph.Vertex{Name: "Timestamps: " + name, Funcs: s.env.checkFuncs(name, wm.Timestamp)}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[T](outs[0], name)
		if err != nil {
			return nil, err
		}
		return operator.NewTimestampAssigner[T](name, wm, out), nil
	}
	return oneInput[T, T](s, v)
}

// Union merges streams of one type into one.
func Union[T any](first *Stream[T], more ...*Stream[T]) *Stream[T] {
	e := first.env
	v := &graph.Vertex{Name: "Union", Inputs: 1}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[T](outs[0], "union")
		if err != nil {
			return nil, err
		}
		return &operator.Identity[T]{Name: "union", Out: out}, nil
	}
	res := addVertex[T](e, v)
	for _, s := range append([]*Stream[T]{first}, more...) {
		connect(s, v, 0, graph.Default, nil)
	}
	return res
}

// Rebalance spreads the stream round-robin over the next operator's subtasks.
func Rebalance[T any](s *Stream[T]) *Stream[T] { return partitioned(s, graph.Rebalance) }

// Broadcast sends every record to every subtask of the next operator.
func Broadcast[T any](s *Stream[T]) *Stream[T] { return partitioned(s, graph.Broadcast) }

// partitioned inserts a pass-through operator fed with the given partitioning.
func partitioned[T any](s *Stream[T], part graph.Partitioning) *Stream[T] {
	name := part.String()
	v := &graph.Vertex{Name: "Partition: " + name, Inputs: 1}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[T](outs[0], name)
		if err != nil {
			return nil, err
		}
		return &operator.Identity[T]{Name: name, Out: out}, nil
	}
	res := addVertex[T](s.env, v)
	connect(s, v, 0, part, nil)
	return res
}

// SinkTo writes the stream to a sink.
func (s *Stream[T]) SinkTo(name string, sink task.Sink[T]) *Sink {
	v := &graph.Vertex{Name: "Sink: " + name, Inputs: 1}
	if p, ok := sink.(interface{ Prepare(bool) error }); ok {
		v.Prepare = p.Prepare
	}
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		return &operator.Sink[T]{Name: name, Connector: sink}, nil
	}
	s.env.g.Add(v)
	connect(s, v, 0, graph.Default, nil)
	return &Sink{v: v}
}

// Sink is a sink operator, to set its parallelism or uid.
type Sink struct{ v *graph.Vertex }

// Parallelism sets the sink's parallelism.
func (s *Sink) Parallelism(p int) *Sink {
	s.v.Parallelism = p
	return s
}

// UID sets the sink's stable id.
func (s *Sink) UID(uid string) *Sink {
	s.v.UID = uid
	return s
}
