package state

import (
	"cmp"
	"fmt"
)

// Namespace scopes a timer: the window it belongs to, or the zero Namespace
// for timers of the key itself. A key may have one timer per (time,
// namespace).
type Namespace struct{ Start, End int64 }

// Timer is a registered timer: when it fires, for which key and namespace.
type Timer[K comparable] struct {
	Time int64
	Key  K
	NS   Namespace
}

// Timers is a priority queue of event- or processing-time timers of one
// operator. Like Flink's heap timers it lives in memory with either backend,
// and the backend includes it in snapshots (one entry per timer, under its
// key's key group). Used from the task goroutine only.
type Timers[K comparable] struct {
	kc   *KeyContext[K]
	name string
	kgs  KeyGroupRange
	// queue is a binary min-heap by timerLess; index locates each timer in
	// it, which makes Register idempotent and Delete cheap.
	// Elements are pointers that know their position, so that moving one in
	// the heap writes a field instead of updating the index map.
	queue []*queuedTimer[K]
	index map[Timer[K]]*queuedTimer[K]
	seq   int64
}

type queuedTimer[K comparable] struct {
	t        Timer[K]
	keyBytes string // the key's encoding: ties and snapshots need bytes
	kg       int
	pos      int   // index in queue
	seq      int64 // registration order: breaks ties without comparing keys
}

// NewTimers registers a timer queue named name ("<operator uid>/timers") on
// b, for keys of kc, and loads the timers restored for it.
func NewTimers[K comparable](b Backend, kc *KeyContext[K], name string) (*Timers[K], error) {
	ib, existing, found, err := lookup[*Timers[K]](b, kc, name, kindTimers)
	if err != nil || found {
		return existing, err
	}
	r := ib.registry()
	t := &Timers[K]{kc: kc, name: name, kgs: r.kgs, index: map[Timer[K]]*queuedTimer[K]{}}
	if lb, ok := ib.(*lsmBackend); ok {
		if _, err := lb.claimID(name); err != nil {
			return nil, fmt.Errorf("register timers %q: %w", name, err)
		}
	}
	es, err := ib.takeRestored(name)
	if err != nil {
		return nil, err
	}
	if err := t.restore(es); err != nil {
		return nil, fmt.Errorf("restore timers %q: %w", name, err)
	}
	r.add(name, kindTimers, kc, t, t)
	return t, nil
}

// Register adds a timer at ts in namespace ns for the current key;
// registering a timer that exists does nothing. It fails when no key is set
// or the key is not this subtask's.
func (t *Timers[K]) Register(ts int64, ns Namespace) error {
	if err := t.kc.check(t.name, t.kgs); err != nil {
		return err
	}
	tm := Timer[K]{Time: ts, Key: t.kc.key, NS: ns}
	if _, ok := t.index[tm]; ok {
		return nil
	}
	t.push(&queuedTimer[K]{t: tm, keyBytes: string(t.kc.keyBytes), kg: t.kc.keyGroup})
	return nil
}

// Delete removes the current key's timer at ts in ns, if there is one.
func (t *Timers[K]) Delete(ts int64, ns Namespace) error {
	if err := t.kc.check(t.name, t.kgs); err != nil {
		return err
	}
	if q, ok := t.index[Timer[K]{Time: ts, Key: t.kc.key, NS: ns}]; ok {
		t.removeAt(q.pos)
	}
	return nil
}

// Peek is the next timer to fire; ok is false when there is none.
func (t *Timers[K]) Peek() (Timer[K], bool) {
	if len(t.queue) == 0 {
		return Timer[K]{}, false
	}
	return t.queue[0].t, true
}

// Len is the number of registered timers.
func (t *Timers[K]) Len() int { return len(t.queue) }

// AdvanceTo fires, in time order, every timer with Time <= now: it removes
// the timer, makes its key the key context's current key, and calls fire.
// fire may register and delete timers; those due by now fire in this call.
// Timers due at the same time fire in namespace order, then in the order
// they were registered (restored timers in key-group and key order), so a
// run with the same input is deterministic. The first error from fire stops
// AdvanceTo and is returned with the timer it came from.
func (t *Timers[K]) AdvanceTo(now int64, fire func(Timer[K]) error) error {
	for len(t.queue) > 0 && t.queue[0].t.Time <= now {
		q := t.queue[0]
		t.removeAt(0)
		t.kc.setEncoded(q.t.Key, q.keyBytes, q.kg)
		if err := fire(q.t); err != nil {
			return fmt.Errorf("fire timer %q at %d for key %v: %w", t.name, q.t.Time, q.t.Key, err)
		}
	}
	return nil
}

func timerLess[K comparable](a, b *queuedTimer[K]) bool {
	if c := cmp.Compare(a.t.Time, b.t.Time); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.t.NS.Start, b.t.NS.Start); c != 0 {
		return c < 0
	}
	if c := cmp.Compare(a.t.NS.End, b.t.NS.End); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

func (t *Timers[K]) push(q *queuedTimer[K]) {
	t.seq++
	q.seq = t.seq
	q.pos = len(t.queue)
	t.queue = append(t.queue, q)
	t.index[q.t] = q
	t.up(q.pos)
}

func (t *Timers[K]) removeAt(i int) {
	delete(t.index, t.queue[i].t)
	last := len(t.queue) - 1
	if i != last {
		t.queue[i] = t.queue[last]
		t.queue[i].pos = i
	}
	t.queue[last] = nil
	t.queue = t.queue[:last]
	if i < last {
		if !t.up(i) {
			t.down(i)
		}
	}
}

func (t *Timers[K]) swap(i, j int) {
	t.queue[i], t.queue[j] = t.queue[j], t.queue[i]
	t.queue[i].pos = i
	t.queue[j].pos = j
}

// up moves element i toward the root and reports whether it moved.
func (t *Timers[K]) up(i int) bool {
	start := i
	for i > 0 {
		parent := (i - 1) / 2
		if !timerLess(t.queue[i], t.queue[parent]) {
			break
		}
		t.swap(i, parent)
		i = parent
	}
	return i != start
}

func (t *Timers[K]) down(i int) {
	n := len(t.queue)
	for {
		least := i
		if l := 2*i + 1; l < n && timerLess(t.queue[l], t.queue[least]) {
			least = l
		}
		if r := 2*i + 2; r < n && timerLess(t.queue[r], t.queue[least]) {
			least = r
		}
		if least == i {
			return
		}
		t.swap(i, least)
		i = least
	}
}

func (t *Timers[K]) snapshotRun() (*entryRun, error) {
	run := &entryRun{state: t.name, ents: make([]runEntry, 0, len(t.queue))}
	var uk []byte
	for i := range t.queue {
		q := t.queue[i]
		uk = appendTimerUserKey(uk[:0], q.t.Time, q.t.NS)
		run.add(q.kg, []byte(q.keyBytes), uk, nil)
	}
	run.sort()
	return run, nil
}

func (t *Timers[K]) restore(es []Entry) error {
	for _, e := range es {
		if len(e.UserKey) != timerKeyLen || len(e.Value) != 0 {
			return fmt.Errorf("entry of key %x is not a timer (user key %d bytes, value %d bytes): was the state not timers before?", e.Key, len(e.UserKey), len(e.Value))
		}
		k, err := t.kc.decodeKey(t.name, e.Key)
		if err != nil {
			return err
		}
		ts, ns := decodeTimerUserKey(e.UserKey)
		tm := Timer[K]{Time: ts, Key: k, NS: ns}
		if _, ok := t.index[tm]; !ok {
			t.push(&queuedTimer[K]{t: tm, keyBytes: string(e.Key), kg: e.KeyGroup})
		}
	}
	return nil
}
