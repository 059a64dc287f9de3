package stream

import (
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/task/operator"
)

// TimeWindow is a half-open time range [Start, End) in milliseconds (named as
// Flink's, since Window is the function that cuts a stream into windows).
type TimeWindow = operator.Window

// WindowResult is what a window aggregation emits per key and window.
type WindowResult[K, V any] = operator.WindowResult[K, V]

// WindowAssigner decides which windows a record belongs to.
type WindowAssigner = operator.WindowAssigner

// Tumbling, Sliding and Session are the built-in window assigners.
type (
	Tumbling = operator.Tumbling
	Sliding  = operator.Sliding
	Session  = operator.Session
)

// TumblingEventTime assigns records to consecutive windows of size by event
// time. Set the result's Offset to shift the windows (e.g. to a time zone).
func TumblingEventTime(size time.Duration) Tumbling { return Tumbling{Size: size} }

// TumblingProcessingTime assigns records to windows of size by the wall
// clock at their arrival.
func TumblingProcessingTime(size time.Duration) Tumbling {
	return Tumbling{Size: size, Time: operator.ProcessingTime}
}

// SlidingEventTime assigns each record to the size/slide overlapping windows
// of size, one starting every slide, that contain its event time.
func SlidingEventTime(size, slide time.Duration) Sliding { return Sliding{Size: size, Slide: slide} }

// SlidingProcessingTime is SlidingEventTime by the wall clock.
func SlidingProcessingTime(size, slide time.Duration) Sliding {
	return Sliding{Size: size, Slide: slide, Time: operator.ProcessingTime}
}

// SessionEventTime groups a key's records into sessions that end after gap
// without a record of the key, by event time.
func SessionEventTime(gap time.Duration) Session { return Session{Gap: gap} }

// SessionProcessingTime is SessionEventTime by the wall clock.
func SessionProcessingTime(gap time.Duration) Session {
	return Session{Gap: gap, Time: operator.ProcessingTime}
}

// Windowed is a keyed stream cut into windows, waiting for the function
// that turns each window into results (WindowAggregate, WindowReduce,
// WindowProcess).
type Windowed[K comparable, T any] struct {
	k        *Keyed[K, T]
	assigner WindowAssigner
	lateness time.Duration
	built    *graph.Vertex // the window operator, once a function was applied
}

// Window cuts a keyed stream into the windows of assigner.
func Window[K comparable, T any](k *Keyed[K, T], assigner WindowAssigner) *Windowed[K, T] {
	if assigner == nil {
		k.s.env.errorf("Window after %q: no window assigner", k.s.v.Name)
	} else if err := assigner.Validate(); err != nil {
		k.s.env.errorf("Window after %q: %w", k.s.v.Name, err)
	}
	return &Windowed[K, T]{k: k, assigner: assigner}
}

// AllowedLateness keeps each event-time window's state d after it fired: a
// record arriving meanwhile updates the window and fires it again with the
// new result. Records later than that go to LateRecords.
func (w *Windowed[K, T]) AllowedLateness(d time.Duration) *Windowed[K, T] {
	if d < 0 {
		w.k.s.env.errorf("window after %q: allowed lateness %v is negative", w.k.s.v.Name, d)
	}
	w.lateness = d
	return w
}

// LateRecords is the side output of records that arrived after all their
// windows were cleaned up (event time only). Call it after the window
// function was applied; without a consumer, late records are dropped.
func (w *Windowed[K, T]) LateRecords() *Stream[T] {
	if w.built == nil {
		w.k.s.env.errorf("LateRecords after %q: apply WindowAggregate, WindowReduce or WindowProcess first", w.k.s.v.Name)
		return &Stream[T]{env: w.k.s.env, v: w.k.s.v, output: w.k.s.output}
	}
	return &Stream[T]{env: w.k.s.env, v: w.built, output: 1}
}

// windowVertex adds the window operator whose contents newContents makes.
func windowVertex[K comparable, T, OUT any](w *Windowed[K, T], name string, newContents func() operator.WindowContents[K, T, OUT], funcs ...any) *Stream[OUT] {
	env := w.k.s.env
	if w.built != nil {
		env.errorf("window %q: this windowed stream already has a window function (%s): call Window again for another", name, w.built.Name)
	}
	syms := env.checkFuncs(name, funcs...)
	if w.assigner != nil {
		syms = append(syms, "window="+w.assigner.String(), "lateness="+w.lateness.String())
	}
	v := &graph.Vertex{Name: "Window: " + name, Keyed: true, Inputs: 1, Funcs: syms,
		// Output 1 is the late records; addVertex puts OUT first.
		OutTypes: []task.Type{task.TypeOf[T]()}}
	k, assigner, lateness := w.k, w.assigner, w.lateness
	v.New = func(ctx *task.Context, outs []any) (task.Operator, error) {
		out, err := task.OutputAs[OUT](outs[0], name)
		if err != nil {
			return nil, err
		}
		late, err := task.OutputAs[T](outs[1], name)
		if err != nil {
			return nil, err
		}
		return &operator.WindowOperator[K, T, OUT]{Name: name, KeyOf: k.key, KeyCodec: k.codec, Assigner: assigner,
			AllowedLateness: lateness, Contents: newContents(), Out: out, Late: late}, nil
	}
	res := addVertex[OUT](env, v)
	connectKeyed(k, v, 0)
	w.built = v
	return res
}

// WindowAggregate folds each key's records per window with agg and emits
// one WindowResult per key and window when the window fires (again for each
// late record within the allowed lateness). Session windows merge
// accumulators with agg.Merge. accCodec may be nil for built-in types.
func WindowAggregate[K comparable, T, ACC, OUT any](w *Windowed[K, T], name string, agg AggregateFunction[T, ACC, OUT], accCodec codec.Codec[ACC]) *Stream[WindowResult[K, OUT]] {
	accCodec = codecOrFor(w.k.s.env, "window "+name+" accumulator", accCodec)
	return windowVertex(w, name, func() operator.WindowContents[K, T, WindowResult[K, OUT]] {
		return operator.AggregateWindow[K, T, ACC, OUT](agg, accCodec)
	}, agg)
}

// WindowReduce combines each key's records per window with f and emits the
// combined value per key and window. c may be nil for built-in types.
func WindowReduce[K comparable, T any](w *Windowed[K, T], name string, f func(a, b T) T, c codec.Codec[T]) *Stream[WindowResult[K, T]] {
	c = codecOrFor(w.k.s.env, "window "+name+" value", c)
	return windowVertex(w, name, func() operator.WindowContents[K, T, WindowResult[K, T]] {
		return operator.ReduceWindow[K](f, c)
	}, f)
}

// WindowProcess buffers each key's records per window and calls f with all
// of them, in arrival order, when the window fires; what f collects carries
// the window's max timestamp. Buffering costs state per record: prefer
// WindowAggregate when the result can be folded. elemCodec may be nil for
// built-in types.
func WindowProcess[K comparable, T, OUT any](w *Windowed[K, T], name string, f func(key K, win TimeWindow, elems []T, out *Collector[OUT]) error, elemCodec codec.Codec[T]) *Stream[OUT] {
	elemCodec = codecOrFor(w.k.s.env, "window "+name+" records", elemCodec)
	return windowVertex(w, name, func() operator.WindowContents[K, T, OUT] {
		return operator.ProcessWindow[K, T, OUT](f, elemCodec)
	}, f)
}

// codecOrFor returns c, or the built-in codec of T when c is nil; a type
// without one is a graph-building error naming what needs a codec.
func codecOrFor[T any](env *Env, what string, c codec.Codec[T]) codec.Codec[T] {
	if c != nil {
		return c
	}
	c, err := codec.For[T]()
	if err != nil {
		env.errorf("%s: %w", what, err)
	}
	return c
}
