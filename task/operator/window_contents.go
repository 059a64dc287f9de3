package operator

import (
	"fmt"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
)

// Aggregator folds records into an accumulator; stream.AggregateFunction
// satisfies it. Merge combines the accumulators of two session windows that
// merge.
type Aggregator[T, ACC, OUT any] interface {
	Create() ACC
	Add(acc ACC, v T) ACC
	Merge(a, b ACC) ACC
	Result(acc ACC) OUT
}

// WindowContents is what a window operator keeps per key and window, and how
// it turns that into results: an accumulator (AggregateWindow, ReduceWindow:
// one value per window, updated per record) or the records themselves
// (ProcessWindow: the function sees them all when the window fires). Its
// methods work on the key the operator has set.
type WindowContents[K comparable, T, OUT any] interface {
	open(t *keyedTimers[K], uid string) error
	// add adds v to window w; fresh reports that w had no contents before.
	add(w Window, v T) (fresh bool, err error)
	// merge folds the contents of from into into and clears them.
	merge(into Window, from []Window) error
	// emit sends the window's result to out; nothing for an empty window.
	emit(key K, w Window, out *Collector[OUT]) error
	clear(w Window) error
}

// AggregateWindow keeps one accumulator per window and emits
// WindowResult{key, window, agg.Result(acc)}. accCodec encodes accumulators
// in state (nil: the built-in codec of ACC).
func AggregateWindow[K comparable, T, ACC, R any](agg Aggregator[T, ACC, R], accCodec codec.Codec[ACC]) WindowContents[K, T, WindowResult[K, R]] {
	return &aggregating[K, T, ACC, R]{agg: agg, accCodec: accCodec}
}

type aggregating[K comparable, T, ACC, R any] struct {
	agg      Aggregator[T, ACC, R]
	accCodec codec.Codec[ACC]
	accs     state.MapState[Window, ACC]
}

func (a *aggregating[K, T, ACC, R]) open(t *keyedTimers[K], uid string) error {
	if a.accCodec == nil {
		var err error
		if a.accCodec, err = codec.For[ACC](); err != nil {
			return fmt.Errorf("window accumulator: %w", err)
		}
	}
	var err error
	a.accs, err = state.NewMap[K, Window, ACC](t.rt.Backend, t.keys, uid+"/window-acc", WindowCodec, a.accCodec)
	return err
}

func (a *aggregating[K, T, ACC, R]) add(w Window, v T) (bool, error) {
	acc, ok, err := a.accs.Get(w)
	if err != nil {
		return false, err
	}
	if !ok {
		acc = a.agg.Create()
	}
	return !ok, a.accs.Put(w, a.agg.Add(acc, v))
}

func (a *aggregating[K, T, ACC, R]) merge(into Window, from []Window) error {
	acc, ok, err := a.accs.Get(into)
	if err != nil {
		return err
	}
	if !ok {
		acc = a.agg.Create()
	}
	for _, w := range from {
		o, ok, err := a.accs.Get(w)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		acc = a.agg.Merge(acc, o)
		if err := a.accs.Remove(w); err != nil {
			return err
		}
	}
	return a.accs.Put(into, acc)
}

func (a *aggregating[K, T, ACC, R]) emit(key K, w Window, out *Collector[WindowResult[K, R]]) error {
	acc, ok, err := a.accs.Get(w)
	if err != nil || !ok {
		return err
	}
	out.Collect(WindowResult[K, R]{Key: key, Window: w, Value: a.agg.Result(acc)})
	return nil
}

func (a *aggregating[K, T, ACC, R]) clear(w Window) error { return a.accs.Remove(w) }

// ReduceWindow keeps one value per window, combining records with f, and
// emits WindowResult{key, window, value}. c encodes values in state (nil: the
// built-in codec of T).
func ReduceWindow[K comparable, T any](f func(a, b T) T, c codec.Codec[T]) WindowContents[K, T, WindowResult[K, T]] {
	return &reducing[K, T]{f: f, c: c}
}

type reducing[K comparable, T any] struct {
	f    func(a, b T) T
	c    codec.Codec[T]
	vals state.MapState[Window, T]
}

func (r *reducing[K, T]) open(t *keyedTimers[K], uid string) error {
	if r.c == nil {
		var err error
		if r.c, err = codec.For[T](); err != nil {
			return fmt.Errorf("window reduce value: %w", err)
		}
	}
	var err error
	r.vals, err = state.NewMap[K, Window, T](t.rt.Backend, t.keys, uid+"/window-value", WindowCodec, r.c)
	return err
}

func (r *reducing[K, T]) add(w Window, v T) (bool, error) {
	cur, ok, err := r.vals.Get(w)
	if err != nil {
		return false, err
	}
	if ok {
		v = r.f(cur, v)
	}
	return !ok, r.vals.Put(w, v)
}

func (r *reducing[K, T]) merge(into Window, from []Window) error {
	acc, have, err := r.vals.Get(into)
	if err != nil {
		return err
	}
	for _, w := range from {
		v, ok, err := r.vals.Get(w)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if have {
			acc = r.f(acc, v)
		} else {
			acc, have = v, true
		}
		if err := r.vals.Remove(w); err != nil {
			return err
		}
	}
	if !have {
		return nil
	}
	return r.vals.Put(into, acc)
}

func (r *reducing[K, T]) emit(key K, w Window, out *Collector[WindowResult[K, T]]) error {
	v, ok, err := r.vals.Get(w)
	if err != nil || !ok {
		return err
	}
	out.Collect(WindowResult[K, T]{Key: key, Window: w, Value: v})
	return nil
}

func (r *reducing[K, T]) clear(w Window) error { return r.vals.Remove(w) }

// WindowFunc sees all records of a key's window, in arrival order, when the
// window fires. elems is only valid during the call. Records it collects get
// the window's max timestamp as event time.
type WindowFunc[K comparable, T, OUT any] func(key K, w Window, elems []T, out *Collector[OUT]) error

// ProcessWindow buffers a window's records in state and calls f with all of
// them when the window fires. elemCodec encodes records in state (nil: the
// built-in codec of T).
func ProcessWindow[K comparable, T, OUT any](f WindowFunc[K, T, OUT], elemCodec codec.Codec[T]) WindowContents[K, T, OUT] {
	return &buffering[K, T, OUT]{f: f, c: elemCodec}
}

// buffering keeps each record under (window, position) and the number of
// records per window, so that adding is one write (no read-modify-write of a
// growing list) and firing reads the records back in order.
type buffering[K comparable, T, OUT any] struct {
	f      WindowFunc[K, T, OUT]
	c      codec.Codec[T]
	elems  state.MapState[elemKey, T]
	counts state.MapState[Window, int64]
	buf    []T
}

func (b *buffering[K, T, OUT]) open(t *keyedTimers[K], uid string) error {
	if b.c == nil {
		var err error
		if b.c, err = codec.For[T](); err != nil {
			return fmt.Errorf("window buffer: %w", err)
		}
	}
	var err error
	if b.elems, err = state.NewMap[K, elemKey, T](t.rt.Backend, t.keys, uid+"/window-elems", elemKeyCodec{}, b.c); err != nil {
		return err
	}
	b.counts, err = state.NewMap[K, Window, int64](t.rt.Backend, t.keys, uid+"/window-count", WindowCodec, codec.Int64)
	return err
}

func (b *buffering[K, T, OUT]) add(w Window, v T) (bool, error) {
	n, _, err := b.counts.Get(w)
	if err != nil {
		return false, err
	}
	if err := b.elems.Put(elemKey{W: w, Seq: n}, v); err != nil {
		return false, err
	}
	return n == 0, b.counts.Put(w, n+1)
}

// load reads window w's records into b.buf.
func (b *buffering[K, T, OUT]) load(w Window) error {
	clear(b.buf)
	b.buf = b.buf[:0]
	n, _, err := b.counts.Get(w)
	if err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		v, ok, err := b.elems.Get(elemKey{W: w, Seq: i})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("window %v: record %d of %d is missing from state", w, i, n)
		}
		b.buf = append(b.buf, v)
	}
	return nil
}

func (b *buffering[K, T, OUT]) merge(into Window, from []Window) error {
	n, _, err := b.counts.Get(into)
	if err != nil {
		return err
	}
	for _, w := range from {
		if err := b.load(w); err != nil {
			return err
		}
		for _, v := range b.buf {
			if err := b.elems.Put(elemKey{W: into, Seq: n}, v); err != nil {
				return err
			}
			n++
		}
		if err := b.clear(w); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	return b.counts.Put(into, n)
}

func (b *buffering[K, T, OUT]) emit(key K, w Window, out *Collector[OUT]) error {
	if err := b.load(w); err != nil {
		return err
	}
	if len(b.buf) == 0 {
		return nil
	}
	return b.f(key, w, b.buf, out)
}

func (b *buffering[K, T, OUT]) clear(w Window) error {
	n, ok, err := b.counts.Get(w)
	if err != nil || !ok {
		return err
	}
	for i := int64(0); i < n; i++ {
		if err := b.elems.Remove(elemKey{W: w, Seq: i}); err != nil {
			return err
		}
	}
	return b.counts.Remove(w)
}
