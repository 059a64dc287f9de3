package operator

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// joinSide is a record of either input of a window join, as Flink's
// TaggedUnion: both inputs share one window operator and one window buffer.
type joinSide[A, B any] struct {
	Right bool // from input 1
	A     A
	B     B
}

type joinSideCodec[A, B any] struct {
	a codec.Codec[A]
	b codec.Codec[B]
}

func (c joinSideCodec[A, B]) Append(dst []byte, v joinSide[A, B]) []byte {
	if v.Right {
		return c.b.Append(append(dst, 1), v.B)
	}
	return c.a.Append(append(dst, 0), v.A)
}

func (c joinSideCodec[A, B]) Decode(src []byte) (joinSide[A, B], int, error) {
	var v joinSide[A, B]
	if len(src) == 0 {
		return v, 0, codec.ErrShort
	}
	var n int
	var err error
	switch src[0] {
	case 0:
		v.A, n, err = c.a.Decode(src[1:])
	case 1:
		v.Right = true
		v.B, n, err = c.b.Decode(src[1:])
	default:
		return v, 0, fmt.Errorf("window join record: side tag %d, want 0 or 1", src[0])
	}
	return v, n + 1, err
}

// WindowJoin is Flink's window join: an inner join of two inputs keyed by the
// same key, per window. When a window fires, Join is called for every pair
// (a, b) of the key's records in it, a in arrival order, then b; results
// carry the window's max timestamp. Late records (all their windows fired)
// are dropped, as in Flink, and counted by LateRecords.
type WindowJoin[K comparable, A, B, OUT any] struct {
	Name     string
	KeyA     func(A) K
	KeyB     func(B) K
	KeyCodec codec.Codec[K]
	Assigner WindowAssigner
	Join     func(A, B) OUT
	// ACodec and BCodec encode buffered records in state (nil: built-in codec).
	ACodec codec.Codec[A]
	BCodec codec.Codec[B]
	Out    task.Output[OUT]

	w    WindowOperator[K, joinSide[A, B], OUT]
	in   *task.Batch[joinSide[A, B]]
	as   []A
	bs   []B
	join func(A, B) OUT
}

// Open implements task.Opener.
func (j *WindowJoin[K, A, B, OUT]) Open(rt *task.Context) error {
	if j.KeyA == nil || j.KeyB == nil || j.Join == nil {
		return fmt.Errorf("%s: window join needs both key selectors and a join function", j.Name)
	}
	ac, bc := j.ACodec, j.BCodec
	var err error
	if ac == nil {
		if ac, err = codec.For[A](); err != nil {
			return fmt.Errorf("%s: left input: %w", j.Name, err)
		}
	}
	if bc == nil {
		if bc, err = codec.For[B](); err != nil {
			return fmt.Errorf("%s: right input: %w", j.Name, err)
		}
	}
	keyA, keyB := j.KeyA, j.KeyB
	j.w = WindowOperator[K, joinSide[A, B], OUT]{
		Name: j.Name,
		KeyOf: func(v joinSide[A, B]) K {
			if v.Right {
				return keyB(v.B)
			}
			return keyA(v.A)
		},
		KeyCodec: j.KeyCodec,
		Assigner: j.Assigner,
		Contents: ProcessWindow[K](j.cross, joinSideCodec[A, B]{a: ac, b: bc}),
		Out:      j.Out,
	}
	j.in = task.NewBatch[joinSide[A, B]](max(rt.BatchSize, 1))
	return j.w.Open(rt)
}

// cross emits Join(a, b) for every pair of a window's records.
func (j *WindowJoin[K, A, B, OUT]) cross(_ K, _ Window, elems []joinSide[A, B], out *Collector[OUT]) error {
	clear(j.as)
	clear(j.bs)
	j.as, j.bs = j.as[:0], j.bs[:0]
	for i := range elems {
		if elems[i].Right {
			j.bs = append(j.bs, elems[i].B)
		} else {
			j.as = append(j.as, elems[i].A)
		}
	}
	for _, a := range j.as {
		for _, b := range j.bs {
			out.Collect(j.Join(a, b))
		}
	}
	return nil
}

// ProcessBatch implements task.Operator: input 0 is the left side, 1 the right.
func (j *WindowJoin[K, A, B, OUT]) ProcessBatch(input int, batch any) error {
	j.in.Reset()
	switch input {
	case 0:
		b, err := task.BatchAs[A](batch, j.Name)
		if err != nil {
			return err
		}
		for i := range b.Values {
			j.in.Append(b.Times[i], joinSide[A, B]{A: b.Values[i]})
		}
	case 1:
		b, err := task.BatchAs[B](batch, j.Name)
		if err != nil {
			return err
		}
		for i := range b.Values {
			j.in.Append(b.Times[i], joinSide[A, B]{Right: true, B: b.Values[i]})
		}
	default:
		return fmt.Errorf("%s: input %d: a join has inputs 0 and 1", j.Name, input)
	}
	return j.w.ProcessBatch(0, j.in)
}

// ProcessWatermark implements task.Operator.
func (j *WindowJoin[K, A, B, OUT]) ProcessWatermark(wm int64) error { return j.w.ProcessWatermark(wm) }

// Finish implements task.Finisher (processing-time windows still open fire).
func (j *WindowJoin[K, A, B, OUT]) Finish() error { return j.w.Finish() }

// LateRecords counts the records of either side dropped as late.
func (j *WindowJoin[K, A, B, OUT]) LateRecords() int64 { return j.w.LateRecords() }

// Interval join timer namespaces: which side's buffer a cleanup timer clears.
var (
	leftCleanup  = state.Namespace{Start: 0, End: 0}
	rightCleanup = state.Namespace{Start: 1, End: 1}
)

// IntervalJoin is Flink's interval join in event time: for two inputs keyed
// by the same key it emits Join(a, b) for every a and b of a key with
// a.ts+Lower <= b.ts <= a.ts+Upper, as soon as both have arrived, with the
// larger of their timestamps. Each side's records are buffered by timestamp
// until the watermark shows no partner can still arrive. A record at or
// behind the watermark is late: it is dropped, as in Flink, and counted by
// LateRecords.
type IntervalJoin[K comparable, A, B, OUT any] struct {
	Name         string
	KeyA         func(A) K
	KeyB         func(B) K
	KeyCodec     codec.Codec[K]
	Lower, Upper time.Duration
	Join         func(A, B) OUT
	// ACodec and BCodec encode buffered records in state (nil: built-in codec).
	ACodec codec.Codec[A]
	BCodec codec.Codec[B]
	Out    task.Output[OUT]

	t            keyedTimers[K]
	lower, upper int64
	left         state.MapState[int64, []A]
	right        state.MapState[int64, []B]
	c            Collector[OUT]
	batchSize    int
	lateCount    int64
}

// Open implements task.Opener.
func (j *IntervalJoin[K, A, B, OUT]) Open(rt *task.Context) error {
	if j.KeyA == nil || j.KeyB == nil || j.Join == nil || j.Out == nil {
		return fmt.Errorf("%s: interval join needs both key selectors, a join function and an output", j.Name)
	}
	j.lower, j.upper = j.Lower.Milliseconds(), j.Upper.Milliseconds()
	if j.lower > j.upper {
		return fmt.Errorf("%s: interval join lower bound %v is above the upper bound %v", j.Name, j.Lower, j.Upper)
	}
	ac, bc := j.ACodec, j.BCodec
	var err error
	if ac == nil {
		if ac, err = codec.For[A](); err != nil {
			return fmt.Errorf("%s: left input: %w", j.Name, err)
		}
	}
	if bc == nil {
		if bc, err = codec.For[B](); err != nil {
			return fmt.Errorf("%s: right input: %w", j.Name, err)
		}
	}
	if err := j.t.open(rt, j.Name, j.KeyCodec); err != nil {
		return err
	}
	j.t.onProcessing = func(int64) error { return nil } // event time only
	if j.left, err = state.NewMap[K, int64, []A](rt.Backend, j.t.keys, rt.UID+"/interval-left", codec.Int64, codec.Slice(ac)); err != nil {
		return fmt.Errorf("%s: %w", j.Name, err)
	}
	if j.right, err = state.NewMap[K, int64, []B](rt.Backend, j.t.keys, rt.UID+"/interval-right", codec.Int64, codec.Slice(bc)); err != nil {
		return fmt.Errorf("%s: %w", j.Name, err)
	}
	j.batchSize = max(rt.BatchSize, 1)
	j.c.b = task.NewBatch[OUT](j.batchSize)
	return nil
}

// LateRecords counts the records of either side dropped as late.
func (j *IntervalJoin[K, A, B, OUT]) LateRecords() int64 { return j.lateCount }

// ProcessBatch implements task.Operator: input 0 is the left side, 1 the right.
func (j *IntervalJoin[K, A, B, OUT]) ProcessBatch(input int, batch any) error {
	switch input {
	case 0:
		if err := intervalSide(j, batch, "left", j.KeyA, j.addLeft); err != nil {
			return err
		}
	case 1:
		if err := intervalSide(j, batch, "right", j.KeyB, j.addRight); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: input %d: a join has inputs 0 and 1", j.Name, input)
	}
	return j.flush()
}

// intervalSide adds the records of one side's batch: each record that is not
// late is buffered under its key and matched against the other side's.
func intervalSide[K comparable, A, B, OUT, V any](j *IntervalJoin[K, A, B, OUT], batch any, side string, keyOf func(V) K, add func(V, int64) error) error {
	b, err := task.BatchAs[V](batch, j.Name)
	if err != nil {
		return err
	}
	for i, v := range b.Values {
		ts, ok, err := j.accept(b.Times[i])
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		j.t.keys.SetKey(keyOf(v))
		if err := add(v, ts); err != nil {
			return fmt.Errorf("%s: %s key %v, record at %d: %w", j.Name, side, j.t.keys.Key(), ts, err)
		}
		if err := j.maybeFlush(); err != nil {
			return err
		}
	}
	return nil
}

// accept checks a record's timestamp: an error without one, false when late.
func (j *IntervalJoin[K, A, B, OUT]) accept(ts int64) (int64, bool, error) {
	if ts == task.NoTimestamp {
		return 0, false, fmt.Errorf("%s: a record has no event time: give the source a WatermarkStrategy or use AssignTimestamps before an interval join", j.Name)
	}
	// Flink takes ts < watermark as late; ts == watermark would then find
	// the partner buffers the watermark already cleaned, and miss matches
	// silently. A watermark says no record at or before it is expected.
	if j.t.watermark != task.NoTimestamp && ts <= j.t.watermark {
		j.lateCount++
		return 0, false, nil
	}
	return ts, true, nil
}

func (j *IntervalJoin[K, A, B, OUT]) addLeft(a A, ts int64) error {
	bucket, _, err := j.left.Get(ts)
	if err != nil {
		return err
	}
	if err := j.left.Put(ts, append(bucket, a)); err != nil {
		return err
	}
	lo, hi := ts+j.lower, ts+j.upper
	err = j.right.Range(func(rts int64, bs []B) error {
		if rts < lo || rts > hi {
			return nil
		}
		for _, b := range bs {
			j.c.CollectAt(max(ts, rts), j.Join(a, b))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// No right record at or after the watermark can match a once the
	// watermark passes ts+upper.
	cleanup := ts
	if j.upper > 0 {
		cleanup = ts + j.upper
	}
	return j.t.register(EventTime, cleanup, leftCleanup)
}

func (j *IntervalJoin[K, A, B, OUT]) addRight(b B, ts int64) error {
	bucket, _, err := j.right.Get(ts)
	if err != nil {
		return err
	}
	if err := j.right.Put(ts, append(bucket, b)); err != nil {
		return err
	}
	// b matches a when a.ts is in [ts-upper, ts-lower].
	lo, hi := ts-j.upper, ts-j.lower
	err = j.left.Range(func(lts int64, as []A) error {
		if lts < lo || lts > hi {
			return nil
		}
		for _, a := range as {
			j.c.CollectAt(max(ts, lts), j.Join(a, b))
		}
		return nil
	})
	if err != nil {
		return err
	}
	cleanup := ts
	if j.lower < 0 {
		cleanup = ts - j.lower
	}
	return j.t.register(EventTime, cleanup, rightCleanup)
}

// onTimer drops the buffer bucket a cleanup timer was registered for.
func (j *IntervalJoin[K, A, B, OUT]) onTimer(tm state.Timer[K]) error {
	if tm.NS == leftCleanup {
		ts := tm.Time
		if j.upper > 0 {
			ts -= j.upper
		}
		return j.left.Remove(ts)
	}
	ts := tm.Time
	if j.lower < 0 {
		ts += j.lower
	}
	return j.right.Remove(ts)
}

// ProcessWatermark implements task.Operator: it drops the buffers no
// future record can join and forwards the watermark.
func (j *IntervalJoin[K, A, B, OUT]) ProcessWatermark(wm int64) error {
	if wm > j.t.watermark {
		j.t.watermark = wm
	}
	if err := j.t.event.AdvanceTo(wm, j.onTimer); err != nil {
		return fmt.Errorf("%s: %w", j.Name, err)
	}
	return j.Out.Watermark(wm)
}

func (j *IntervalJoin[K, A, B, OUT]) maybeFlush() error {
	if j.c.b.Len() >= j.batchSize {
		return j.flush()
	}
	return nil
}

func (j *IntervalJoin[K, A, B, OUT]) flush() error {
	if j.c.b.Len() == 0 {
		return nil
	}
	err := j.Out.Push(j.c.b)
	j.c.b.Reset()
	return err
}
