package operator

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/runtime"
	"github.com/loom-yarn/loom/state"
)

// TimeDomain says which clock fired a timer.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark passes them.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire by the wall clock.
	ProcessingTime
)

// KeyedContext is what a keyed function sees while it handles a record or a
// timer: the current key, time, timers, and the state of the current key.
type KeyedContext[K comparable] struct {
	uid       string
	keys      *state.KeyContext[K]
	backend   state.Backend
	event     *state.Timers[K]
	proc      *state.Timers[K]
	rt        *runtime.Context
	ts        int64
	watermark int64
	domain    TimeDomain
	schedule  func() // re-arms the processing-time callback
}

// Key is the key of the record or timer being handled.
func (c *KeyedContext[K]) Key() K { return c.keys.Key() }

// Timestamp is the event time of the record being handled, or the time of
// the timer firing.
func (c *KeyedContext[K]) Timestamp() int64 { return c.ts }

// Watermark is the operator's current event time.
func (c *KeyedContext[K]) Watermark() int64 { return c.watermark }

// Domain says which clock fired the current timer (in OnTimer).
func (c *KeyedContext[K]) Domain() TimeDomain { return c.domain }

// ProcessingTime is the wall clock in milliseconds since the epoch.
func (c *KeyedContext[K]) ProcessingTime() int64 { return c.rt.Timers.Now().UnixMilli() }

// RegisterEventTimer asks for OnTimer when the watermark reaches ts, for
// the current key. Registering a timer twice is one timer.
func (c *KeyedContext[K]) RegisterEventTimer(ts int64) error {
	return c.event.Register(ts, state.Namespace{})
}

// DeleteEventTimer cancels an event-time timer of the current key.
func (c *KeyedContext[K]) DeleteEventTimer(ts int64) error {
	return c.event.Delete(ts, state.Namespace{})
}

// RegisterProcessingTimer asks for OnTimer at wall-clock time ts (ms), for the current key.
func (c *KeyedContext[K]) RegisterProcessingTimer(ts int64) error {
	if err := c.proc.Register(ts, state.Namespace{}); err != nil {
		return err
	}
	c.schedule()
	return nil
}

// DeleteProcessingTimer cancels a processing-time timer of the current key.
func (c *KeyedContext[K]) DeleteProcessingTimer(ts int64) error {
	return c.proc.Delete(ts, state.Namespace{})
}

// Subtask is the index of the parallel instance.
func (c *KeyedContext[K]) Subtask() int { return c.rt.Subtask }

// NewValueState registers value state name for this operator.
func NewValueState[K comparable, V any](c *KeyedContext[K], name string, vc codec.Codec[V]) (state.ValueState[V], error) {
	if vc == nil {
		var err error
		if vc, err = codec.For[V](); err != nil {
			return nil, fmt.Errorf("value state %q: %w", name, err)
		}
	}
	return state.NewValue[K, V](c.backend, c.keys, c.uid+"/"+name, vc)
}

// NewListState registers list state name for this operator.
func NewListState[K comparable, V any](c *KeyedContext[K], name string, vc codec.Codec[V]) (state.ListState[V], error) {
	if vc == nil {
		var err error
		if vc, err = codec.For[V](); err != nil {
			return nil, fmt.Errorf("list state %q: %w", name, err)
		}
	}
	return state.NewList[K, V](c.backend, c.keys, c.uid+"/"+name, vc)
}

// NewMapState registers map state name for this operator.
func NewMapState[K, UK comparable, UV any](c *KeyedContext[K], name string, ukc codec.Codec[UK], uvc codec.Codec[UV]) (state.MapState[UK, UV], error) {
	var err error
	if ukc == nil {
		if ukc, err = codec.For[UK](); err != nil {
			return nil, fmt.Errorf("map state %q key: %w", name, err)
		}
	}
	if uvc == nil {
		if uvc, err = codec.For[UV](); err != nil {
			return nil, fmt.Errorf("map state %q value: %w", name, err)
		}
	}
	return state.NewMap[K, UK, UV](c.backend, c.keys, c.uid+"/"+name, ukc, uvc)
}

// KeyedProcessFunction is user logic over a keyed stream, as Flink's.
type KeyedProcessFunction[K comparable, T, OUT any] interface {
	// Open registers state; it runs once per subtask before any record.
	Open(ctx *KeyedContext[K]) error
	// ProcessElement handles one record of the current key.
	ProcessElement(v T, ctx *KeyedContext[K], out *Collector[OUT]) error
	// OnTimer handles a timer of the current key firing at ts.
	OnTimer(ts int64, ctx *KeyedContext[K], out *Collector[OUT]) error
}

// KeyedProcess runs a KeyedProcessFunction: it sets the current key for each
// record, drives event-time timers from watermarks and processing-time timers
// from the task's clock.
type KeyedProcess[K comparable, T, OUT any] struct {
	Name     string
	KeyOf    func(T) K
	KeyCodec codec.Codec[K]
	F        KeyedProcessFunction[K, T, OUT]
	Out      runtime.Output[OUT]

	ctx       KeyedContext[K]
	c         Collector[OUT]
	batchSize int
	armedAt   int64 // processing time the task callback is set for; 0 none
}

// Open implements runtime.Opener.
func (p *KeyedProcess[K, T, OUT]) Open(rt *runtime.Context) error {
	if rt.Backend == nil {
		return fmt.Errorf("%s: keyed operator without a state backend", p.Name)
	}
	keys := state.NewKeyContext[K](p.KeyCodec, rt.MaxParallelism)
	ev, err := state.NewTimers[K](rt.Backend, keys, rt.UID+"/$event-timers")
	if err != nil {
		return err
	}
	pr, err := state.NewTimers[K](rt.Backend, keys, rt.UID+"/$processing-timers")
	if err != nil {
		return err
	}
	p.ctx = KeyedContext[K]{uid: rt.UID, keys: keys, backend: rt.Backend, event: ev, proc: pr, rt: rt,
		watermark: runtime.NoTimestamp, schedule: p.scheduleProcessing}
	p.batchSize = max(rt.BatchSize, 1)
	p.c.b = runtime.NewBatch[OUT](p.batchSize)
	if err := p.F.Open(&p.ctx); err != nil {
		return fmt.Errorf("%s: open: %w", p.Name, err)
	}
	// Timers restored from a checkpoint need their callback armed.
	p.scheduleProcessing()
	return nil
}

// ProcessBatch implements runtime.Operator.
func (p *KeyedProcess[K, T, OUT]) ProcessBatch(_ int, batch any) error {
	in, err := runtime.BatchAs[T](batch, p.Name)
	if err != nil {
		return err
	}
	for i, v := range in.Values {
		p.ctx.keys.SetKey(p.KeyOf(v))
		p.ctx.ts = in.Times[i]
		p.c.ts = in.Times[i]
		if err := p.F.ProcessElement(v, &p.ctx, &p.c); err != nil {
			return fmt.Errorf("%s: key %v: %w", p.Name, p.ctx.keys.Key(), err)
		}
		if p.c.b.Len() >= p.batchSize {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	return p.flush()
}

func (p *KeyedProcess[K, T, OUT]) flush() error {
	if p.c.b.Len() == 0 {
		return nil
	}
	err := p.Out.Push(p.c.b)
	p.c.b.Reset()
	return err
}

func (p *KeyedProcess[K, T, OUT]) fire(domain TimeDomain) func(t state.Timer[K]) error {
	return func(t state.Timer[K]) error {
		p.ctx.ts = t.Time
		p.ctx.domain = domain
		if domain == EventTime {
			p.c.ts = t.Time
		} else {
			p.c.ts = runtime.NoTimestamp
		}
		if err := p.F.OnTimer(t.Time, &p.ctx, &p.c); err != nil {
			return fmt.Errorf("%s: timer at %d for key %v: %w", p.Name, t.Time, t.Key, err)
		}
		if p.c.b.Len() >= p.batchSize {
			return p.flush()
		}
		return nil
	}
}

// ProcessWatermark fires the event-time timers the watermark passed, then forwards it.
func (p *KeyedProcess[K, T, OUT]) ProcessWatermark(wm int64) error {
	p.ctx.watermark = wm
	if err := p.ctx.event.AdvanceTo(wm, p.fire(EventTime)); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	return p.Out.Watermark(wm)
}

// scheduleProcessing arms the task callback for the earliest processing timer.
func (p *KeyedProcess[K, T, OUT]) scheduleProcessing() {
	t, ok := p.ctx.proc.Peek()
	if !ok || (p.armedAt != 0 && p.armedAt <= t.Time) {
		return
	}
	p.armedAt = t.Time
	p.ctx.rt.Timers.At(time.UnixMilli(t.Time), func(now time.Time) error {
		p.armedAt = 0
		if err := p.ctx.proc.AdvanceTo(now.UnixMilli(), p.fire(ProcessingTime)); err != nil {
			return err
		}
		p.scheduleProcessing()
		return p.flush()
	})
}
