package operator

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
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
	rt        *task.Context
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

// keyedCore is what every keyed operator with user callbacks shares: the
// key context, the two timer services, the output collector.
type keyedCore[K comparable, OUT any] struct {
	name      string
	ctx       KeyedContext[K]
	c         Collector[OUT]
	out       task.Output[OUT]
	batchSize int
	armedAt   int64 // processing time the task callback is set for; 0 none
	onTimer   func(ts int64, ctx *KeyedContext[K], out *Collector[OUT]) error
}

func (p *keyedCore[K, OUT]) open(name string, rt *task.Context, kc codec.Codec[K], out task.Output[OUT],
	onTimer func(int64, *KeyedContext[K], *Collector[OUT]) error) error {
	if rt.Backend == nil {
		return fmt.Errorf("%s: keyed operator without a state backend", name)
	}
	keys := state.NewKeyContext[K](kc, rt.MaxParallelism)
	ev, err := state.NewTimers[K](rt.Backend, keys, rt.UID+"/$event-timers")
	if err != nil {
		return err
	}
	pr, err := state.NewTimers[K](rt.Backend, keys, rt.UID+"/$processing-timers")
	if err != nil {
		return err
	}
	p.name, p.out, p.onTimer = name, out, onTimer
	p.ctx = KeyedContext[K]{uid: rt.UID, keys: keys, backend: rt.Backend, event: ev, proc: pr, rt: rt,
		watermark: task.NoTimestamp, schedule: p.scheduleProcessing}
	p.batchSize = max(rt.BatchSize, 1)
	p.c.b = task.NewBatch[OUT](p.batchSize)
	return nil
}

// each calls fn for every record of b with its key set as current.
func each[K comparable, T, OUT any](p *keyedCore[K, OUT], b *task.Batch[T], keyOf func(T) K, fn func(T, *KeyedContext[K], *Collector[OUT]) error) error {
	for i, v := range b.Values {
		p.ctx.keys.SetKey(keyOf(v))
		p.ctx.ts = b.Times[i]
		p.c.ts = b.Times[i]
		if err := fn(v, &p.ctx, &p.c); err != nil {
			return fmt.Errorf("%s: key %v: %w", p.name, p.ctx.keys.Key(), err)
		}
		if p.c.b.Len() >= p.batchSize {
			if err := p.flush(); err != nil {
				return err
			}
		}
	}
	return p.flush()
}

func (p *keyedCore[K, OUT]) flush() error {
	if p.c.b.Len() == 0 {
		return nil
	}
	err := p.out.Push(p.c.b)
	p.c.b.Reset()
	return err
}

func (p *keyedCore[K, OUT]) fire(domain TimeDomain) func(t state.Timer[K]) error {
	return func(t state.Timer[K]) error {
		p.ctx.ts = t.Time
		p.ctx.domain = domain
		if domain == EventTime {
			p.c.ts = t.Time
		} else {
			p.c.ts = task.NoTimestamp
		}
		if err := p.onTimer(t.Time, &p.ctx, &p.c); err != nil {
			return fmt.Errorf("%s: timer at %d for key %v: %w", p.name, t.Time, t.Key, err)
		}
		if p.c.b.Len() >= p.batchSize {
			return p.flush()
		}
		return nil
	}
}

// ProcessWatermark fires the event-time timers the watermark passed, then forwards it.
func (p *keyedCore[K, OUT]) ProcessWatermark(wm int64) error {
	p.ctx.watermark = wm
	if err := p.ctx.event.AdvanceTo(wm, p.fire(EventTime)); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	return p.out.Watermark(wm)
}

// scheduleProcessing arms the task callback for the earliest processing timer.
func (p *keyedCore[K, OUT]) scheduleProcessing() {
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

// KeyedProcess runs a KeyedProcessFunction: it sets the current key for each
// record, drives event-time timers from watermarks and processing-time timers
// from the task's clock.
type KeyedProcess[K comparable, T, OUT any] struct {
	Name     string
	KeyOf    func(T) K
	KeyCodec codec.Codec[K]
	F        KeyedProcessFunction[K, T, OUT]
	Out      task.Output[OUT]
	keyedCore[K, OUT]
}

// Open implements task.Opener.
func (p *KeyedProcess[K, T, OUT]) Open(rt *task.Context) error {
	if err := p.open(p.Name, rt, p.KeyCodec, p.Out, p.F.OnTimer); err != nil {
		return err
	}
	if err := p.F.Open(&p.ctx); err != nil {
		return fmt.Errorf("%s: open: %w", p.Name, err)
	}
	// Timers restored from a checkpoint need their callback armed.
	p.scheduleProcessing()
	return nil
}

// ProcessBatch implements task.Operator.
func (p *KeyedProcess[K, T, OUT]) ProcessBatch(_ int, batch any) error {
	in, err := task.BatchAs[T](batch, p.Name)
	if err != nil {
		return err
	}
	return each(&p.keyedCore, in, p.KeyOf, p.F.ProcessElement)
}

// KeyedCoProcessFunction is user logic over two keyed streams connected by a
// common key, as Flink's: both sides share the key's state and timers.
type KeyedCoProcessFunction[K comparable, A, B, OUT any] interface {
	Open(ctx *KeyedContext[K]) error
	ProcessElement1(v A, ctx *KeyedContext[K], out *Collector[OUT]) error
	ProcessElement2(v B, ctx *KeyedContext[K], out *Collector[OUT]) error
	OnTimer(ts int64, ctx *KeyedContext[K], out *Collector[OUT]) error
}

// KeyedCoProcess runs a KeyedCoProcessFunction over inputs 0 (A) and 1 (B).
type KeyedCoProcess[K comparable, A, B, OUT any] struct {
	Name     string
	KeyOfA   func(A) K
	KeyOfB   func(B) K
	KeyCodec codec.Codec[K]
	F        KeyedCoProcessFunction[K, A, B, OUT]
	Out      task.Output[OUT]
	keyedCore[K, OUT]
}

// Open implements task.Opener.
func (p *KeyedCoProcess[K, A, B, OUT]) Open(rt *task.Context) error {
	if err := p.open(p.Name, rt, p.KeyCodec, p.Out, p.F.OnTimer); err != nil {
		return err
	}
	if err := p.F.Open(&p.ctx); err != nil {
		return fmt.Errorf("%s: open: %w", p.Name, err)
	}
	p.scheduleProcessing()
	return nil
}

// ProcessBatch implements task.Operator.
func (p *KeyedCoProcess[K, A, B, OUT]) ProcessBatch(input int, batch any) error {
	if input == 0 {
		in, err := task.BatchAs[A](batch, p.Name)
		if err != nil {
			return err
		}
		return each(&p.keyedCore, in, p.KeyOfA, p.F.ProcessElement1)
	}
	in, err := task.BatchAs[B](batch, p.Name)
	if err != nil {
		return err
	}
	return each(&p.keyedCore, in, p.KeyOfB, p.F.ProcessElement2)
}

// CoMap maps two streams of different types into one, without keys.
type CoMap[A, B, OUT any] struct {
	Name string
	F1   func(A) OUT
	F2   func(B) OUT
	Out  task.Output[OUT]
	buf  *task.Batch[OUT]
}

// ProcessBatch implements task.Operator.
func (m *CoMap[A, B, OUT]) ProcessBatch(input int, batch any) error {
	if m.buf == nil {
		m.buf = task.NewBatch[OUT](64)
	}
	m.buf.Reset()
	if input == 0 {
		in, err := task.BatchAs[A](batch, m.Name)
		if err != nil {
			return err
		}
		for _, v := range in.Values {
			m.buf.Values = append(m.buf.Values, m.F1(v))
		}
		m.buf.Times = append(m.buf.Times, in.Times...)
	} else {
		in, err := task.BatchAs[B](batch, m.Name)
		if err != nil {
			return err
		}
		for _, v := range in.Values {
			m.buf.Values = append(m.buf.Values, m.F2(v))
		}
		m.buf.Times = append(m.buf.Times, in.Times...)
	}
	return m.Out.Push(m.buf)
}

// ProcessWatermark implements task.Operator.
func (m *CoMap[A, B, OUT]) ProcessWatermark(wm int64) error { return m.Out.Watermark(wm) }
