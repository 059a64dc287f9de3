package operator

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// keyedTimers is the keyed machinery the window and join operators share:
// the current key, event- and processing-time timers with a namespace (the
// window), and the task callback that fires processing-time timers.
// KeyedProcess keeps its own because its timers have no namespace.
type keyedTimers[K comparable] struct {
	name      string
	rt        *task.Context
	keys      *state.KeyContext[K]
	event     *state.Timers[K]
	proc      *state.Timers[K]
	watermark int64
	armedAt   int64 // processing time the task callback is set for; 0 none
	// onProcessing runs when processing-time timers are due: it fires them
	// and flushes what they emitted.
	onProcessing func(now int64) error
}

func (t *keyedTimers[K]) open(rt *task.Context, name string, keyCodec codec.Codec[K]) error {
	if rt.Backend == nil {
		return fmt.Errorf("%s: keyed operator without a state backend", name)
	}
	if keyCodec == nil {
		return fmt.Errorf("%s: no key codec", name)
	}
	t.name, t.rt = name, rt
	t.keys = state.NewKeyContext[K](keyCodec, rt.MaxParallelism)
	t.watermark = task.NoTimestamp
	var err error
	if t.event, err = state.NewTimers[K](rt.Backend, t.keys, rt.UID+"/$event-timers"); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if t.proc, err = state.NewTimers[K](rt.Backend, t.keys, rt.UID+"/$processing-timers"); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// now is the wall clock in milliseconds.
func (t *keyedTimers[K]) now() int64 { return t.rt.Timers.Now().UnixMilli() }

// register adds a timer of the current key in the given domain.
func (t *keyedTimers[K]) register(d TimeDomain, ts int64, ns state.Namespace) error {
	if d == EventTime {
		return t.event.Register(ts, ns)
	}
	if err := t.proc.Register(ts, ns); err != nil {
		return err
	}
	t.schedule()
	return nil
}

// delete removes a timer of the current key, if it exists.
func (t *keyedTimers[K]) delete(d TimeDomain, ts int64, ns state.Namespace) error {
	if d == EventTime {
		return t.event.Delete(ts, ns)
	}
	return t.proc.Delete(ts, ns)
}

// schedule arms the task callback for the earliest processing-time timer.
// Deleted timers may leave the callback armed early; it then finds nothing
// due and re-arms.
func (t *keyedTimers[K]) schedule() {
	next, ok := t.proc.Peek()
	if !ok || (t.armedAt != 0 && t.armedAt <= next.Time) {
		return
	}
	t.armedAt = next.Time
	t.rt.Timers.At(time.UnixMilli(next.Time), func(now time.Time) error {
		t.armedAt = 0
		if err := t.onProcessing(now.UnixMilli()); err != nil {
			return err
		}
		t.schedule()
		return nil
	})
}
