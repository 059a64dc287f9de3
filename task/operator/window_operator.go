package operator

import (
	"fmt"
	"slices"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// WindowOperator groups a keyed stream's records into windows and emits each
// window's result when it fires, with Flink's semantics:
//
//   - An event-time window fires when the watermark reaches its max timestamp
//     (End-1); results carry that timestamp. Its state is kept AllowedLateness
//     longer (the cleanup time), and a record arriving in that time re-fires
//     the window at once with the updated result.
//   - A record whose windows are all past their cleanup time is late: it goes
//     to Late (output 1 of the vertex) instead of being dropped silently.
//   - Processing-time windows are assigned by the wall clock when a record
//     arrives and fire by the wall clock; they are never late. At the end of
//     a bounded input the windows still open fire in Finish, so a bounded job
//     does not lose its last windows (Flink would drop them).
//   - Session windows (a merging assigner) merge when they overlap or touch;
//     their contents merge with Aggregator.Merge, or by moving the buffered
//     records.
type WindowOperator[K comparable, T, OUT any] struct {
	Name     string
	KeyOf    func(T) K
	KeyCodec codec.Codec[K]
	Assigner WindowAssigner
	// AllowedLateness (event time only) keeps a window's state this long
	// after it fired, for late records to update it.
	AllowedLateness time.Duration
	Contents        WindowContents[K, T, OUT]
	Out             task.Output[OUT]
	// Late receives the records that came after all their windows were
	// cleaned up, with their own timestamps. nil drops them (LateRecords
	// still counts them).
	Late task.Output[T]

	t         keyedTimers[K]
	domain    TimeDomain
	lateness  int64
	c         Collector[OUT]
	late      *task.Batch[T]
	batchSize int
	wins      []Window
	sessions  state.ValueState[[]Window] // merging assigners: a key's open sessions
	lateCount int64
}

// Open implements task.Opener.
func (o *WindowOperator[K, T, OUT]) Open(rt *task.Context) error {
	if o.Assigner == nil || o.Contents == nil || o.KeyOf == nil || o.Out == nil {
		return fmt.Errorf("%s: window operator needs an assigner, contents, a key selector and an output", o.Name)
	}
	if err := o.Assigner.Validate(); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if o.AllowedLateness < 0 {
		return fmt.Errorf("%s: allowed lateness %v is negative", o.Name, o.AllowedLateness)
	}
	if err := o.t.open(rt, o.Name, o.KeyCodec); err != nil {
		return err
	}
	o.t.onProcessing = o.fireProcessing
	o.domain = o.Assigner.Domain()
	if o.domain == EventTime {
		o.lateness = o.AllowedLateness.Milliseconds()
	}
	o.batchSize = max(rt.BatchSize, 1)
	o.c.b = task.NewBatch[OUT](o.batchSize)
	o.late = task.NewBatch[T](o.batchSize)
	if err := o.Contents.open(&o.t, rt.UID); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if o.Assigner.Merging() {
		var err error
		o.sessions, err = state.NewValue[K, []Window](rt.Backend, o.t.keys, rt.UID+"/window-sessions", codec.Slice(WindowCodec))
		if err != nil {
			return fmt.Errorf("%s: %w", o.Name, err)
		}
	}
	// Timers restored from a checkpoint need the task callback armed.
	o.t.schedule()
	return nil
}

// LateRecords is the number of records that arrived after all their windows
// were cleaned up (sent to Late, or dropped when Late is nil).
func (o *WindowOperator[K, T, OUT]) LateRecords() int64 { return o.lateCount }

// ProcessBatch implements task.Operator.
func (o *WindowOperator[K, T, OUT]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, o.Name)
	if err != nil {
		return err
	}
	var now int64
	if o.domain == ProcessingTime {
		now = o.t.now()
	}
	for i, v := range in.Values {
		ts := now
		if o.domain == EventTime {
			ts = in.Times[i]
			if ts == task.NoTimestamp {
				return fmt.Errorf("%s: a record has no event time: give the source a WatermarkStrategy or use AssignTimestamps before event-time windows", o.Name)
			}
		}
		o.t.keys.SetKey(o.KeyOf(v))
		if err := o.processRecord(v, ts); err != nil {
			return fmt.Errorf("%s: key %v, record at %d: %w", o.Name, o.t.keys.Key(), ts, err)
		}
		if o.c.b.Len() >= o.batchSize || o.late.Len() >= o.batchSize {
			if err := o.flush(); err != nil {
				return err
			}
		}
	}
	return o.flush()
}

func (o *WindowOperator[K, T, OUT]) processRecord(v T, ts int64) error {
	if o.Assigner.Merging() {
		return o.processMerging(v, ts)
	}
	o.wins = o.Assigner.AssignWindows(o.wins[:0], ts)
	accepted := false
	for _, w := range o.wins {
		if o.isLate(w) {
			continue
		}
		accepted = true
		fresh, err := o.Contents.add(w, v)
		if err != nil {
			return err
		}
		// A window's timers are set when it gets its first record and stay
		// until it is cleaned; later records only need arming when the window
		// already fired (a late record within the allowed lateness fires it
		// again at once).
		if fresh || (o.domain == EventTime && w.MaxTimestamp() <= o.t.watermark) {
			if err := o.arm(w); err != nil {
				return err
			}
		}
	}
	if !accepted {
		o.sendLate(v, ts)
	}
	return nil
}

// processMerging adds a record to the key's sessions: its window merges with
// every open session it overlaps or touches.
func (o *WindowOperator[K, T, OUT]) processMerging(v T, ts int64) error {
	o.wins = o.Assigner.AssignWindows(o.wins[:0], ts)
	open, _, err := o.sessions.Value()
	if err != nil {
		return err
	}
	for _, proposed := range o.wins {
		merged := proposed
		// Open sessions never touch each other, but a new window may bridge
		// two of them; grow until no other session touches the result.
		var from []Window
		for changed := true; changed; {
			changed = false
			for _, s := range open {
				if s.intersects(merged) && !slices.Contains(from, s) {
					from = append(from, s)
					merged = merged.cover(s)
					changed = true
				}
			}
		}
		if o.isLate(merged) {
			// Only possible when the record touches no open session.
			o.sendLate(v, ts)
			continue
		}
		rest := open[:0:0]
		for _, s := range open {
			if !slices.Contains(from, s) {
				rest = append(rest, s)
			}
		}
		if !(len(from) == 1 && from[0] == merged) {
			for _, s := range from {
				if err := o.disarm(s); err != nil {
					return err
				}
			}
			others := slices.DeleteFunc(slices.Clone(from), func(s Window) bool { return s == merged })
			if err := o.Contents.merge(merged, others); err != nil {
				return err
			}
		}
		open = append(rest, merged)
		if _, err := o.Contents.add(merged, v); err != nil {
			return err
		}
		if err := o.arm(merged); err != nil {
			return err
		}
	}
	return o.sessions.Update(open)
}

// isLate reports whether w's state is already gone (event time only).
func (o *WindowOperator[K, T, OUT]) isLate(w Window) bool {
	return o.domain == EventTime && cleanupTime(w, o.lateness) <= o.t.watermark
}

// arm registers w's timers after a record was added to it: the firing
// timer, or an immediate firing when the watermark has already passed the
// window (a late record within the allowed lateness), and the cleanup timer.
func (o *WindowOperator[K, T, OUT]) arm(w Window) error {
	maxTs := w.MaxTimestamp()
	if o.domain == EventTime && maxTs <= o.t.watermark {
		if err := o.emit(w); err != nil {
			return err
		}
	} else if err := o.t.register(o.domain, maxTs, w.ns()); err != nil {
		return err
	}
	if ct := cleanupTime(w, o.lateness); ct != maxTs {
		return o.t.register(o.domain, ct, w.ns())
	}
	return nil
}

// disarm removes the timers of a session that merges into another.
func (o *WindowOperator[K, T, OUT]) disarm(w Window) error {
	if err := o.t.delete(o.domain, w.MaxTimestamp(), w.ns()); err != nil {
		return err
	}
	return o.t.delete(o.domain, cleanupTime(w, o.lateness), w.ns())
}

func (o *WindowOperator[K, T, OUT]) emit(w Window) error {
	o.c.ts = w.MaxTimestamp()
	if err := o.Contents.emit(o.t.keys.Key(), w, &o.c); err != nil {
		return fmt.Errorf("window %v: %w", w, err)
	}
	return nil
}

func (o *WindowOperator[K, T, OUT]) sendLate(v T, ts int64) {
	o.lateCount++
	if o.Late != nil {
		o.late.Append(ts, v)
	}
}

// onTimer fires a window at its max timestamp and drops its state at its
// cleanup time (both at once without allowed lateness).
func (o *WindowOperator[K, T, OUT]) onTimer(tm state.Timer[K]) error {
	w := Window(tm.NS)
	if tm.Time == w.MaxTimestamp() {
		if err := o.emit(w); err != nil {
			return err
		}
	}
	if tm.Time == cleanupTime(w, o.lateness) {
		if err := o.Contents.clear(w); err != nil {
			return err
		}
		if o.sessions != nil {
			open, _, err := o.sessions.Value()
			if err != nil {
				return err
			}
			open = slices.DeleteFunc(open, func(s Window) bool { return s == w })
			if len(open) == 0 {
				err = o.sessions.Clear()
			} else {
				err = o.sessions.Update(open)
			}
			if err != nil {
				return err
			}
		}
	}
	if o.c.b.Len() >= o.batchSize {
		return o.flushResults()
	}
	return nil
}

// ProcessWatermark fires the event-time windows the watermark passed, then
// forwards it on both outputs.
func (o *WindowOperator[K, T, OUT]) ProcessWatermark(wm int64) error {
	if wm > o.t.watermark {
		o.t.watermark = wm
	}
	if err := o.t.event.AdvanceTo(wm, o.onTimer); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := o.flush(); err != nil {
		return err
	}
	if o.Late != nil {
		if err := o.Late.Watermark(wm); err != nil {
			return err
		}
	}
	return o.Out.Watermark(wm)
}

func (o *WindowOperator[K, T, OUT]) fireProcessing(now int64) error {
	if err := o.t.proc.AdvanceTo(now, o.onTimer); err != nil {
		return fmt.Errorf("%s: %w", o.Name, err)
	}
	return o.flush()
}

// Finish fires the processing-time windows still open at end of input.
func (o *WindowOperator[K, T, OUT]) Finish() error {
	return o.fireProcessing(task.MaxWatermark)
}

func (o *WindowOperator[K, T, OUT]) flushResults() error {
	if o.c.b.Len() == 0 {
		return nil
	}
	err := o.Out.Push(o.c.b)
	o.c.b.Reset()
	return err
}

func (o *WindowOperator[K, T, OUT]) flush() error {
	if err := o.flushResults(); err != nil {
		return err
	}
	if o.late.Len() == 0 {
		return nil
	}
	err := o.Late.Push(o.late)
	o.late.Reset()
	return err
}
