package state

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

const (
	metaMaxP = 16
	metaKeys = 40
)

// world is one backend with the four kinds of state the metamorphic test
// drives, each through its own key context.
type world struct {
	b  Backend
	kc *KeyContext[int64]
	v  ValueState[int64]
	l  ListState[string]
	m  MapState[string, int64]
	tm *Timers[int64]
}

func newWorld(t testing.TB, b Backend) *world {
	t.Helper()
	w := &world{b: b, kc: NewKeyContext(codec.Int64, metaMaxP)}
	w.v = must1[ValueState[int64]](t)(NewValue(b, w.kc, "op/v", codec.Int64))
	w.l = must1[ListState[string]](t)(NewList(b, w.kc, "op/l", codec.String))
	w.m = must1[MapState[string, int64]](t)(NewMap(b, w.kc, "op/m", codec.String, codec.Int64))
	w.tm = must1[*Timers[int64]](t)(NewTimers(b, w.kc, "op/t"))
	return w
}

// read renders everything a key has, through the state interfaces.
func (w *world) read(t testing.TB, key int64) string {
	t.Helper()
	w.kc.SetKey(key)
	v, ok := must2[int64, bool](t)(w.v.Value())
	l := must1[[]string](t)(w.l.Get())
	var m []string
	must(t, w.m.Range(func(k string, v int64) error { m = append(m, fmt.Sprintf("%s:%d", k, v)); return nil }))
	slices.Sort(m)
	empty := must1[bool](t)(w.m.IsEmpty())
	return fmt.Sprintf("key %d: value %d,%v list %q map %v empty %v", key, v, ok, l, m, empty)
}

// readAll renders every key the world owns.
func (w *world) readAll(t testing.TB) []string {
	var out []string
	for k := int64(0); k < metaKeys; k++ {
		w.kc.SetKey(k)
		if w.b.KeyGroups().Contains(w.kc.KeyGroup()) {
			out = append(out, w.read(t, k))
		}
	}
	return out
}

// fire is the timer callback of every world: deterministic, it writes state
// of the timer's key (so the key context must be set) and sometimes
// registers a follow-up timer that may be due at once.
func (w *world) fire(log *[]string) func(Timer[int64]) error {
	return func(tm Timer[int64]) error {
		*log = append(*log, fmt.Sprintf("%d@%d%v", tm.Key, tm.Time, tm.NS))
		if w.kc.Key() != tm.Key {
			return fmt.Errorf("key context has key %d while timer of key %d fires", w.kc.Key(), tm.Key)
		}
		if err := w.v.Update(tm.Time); err != nil {
			return err
		}
		if tm.Time%5 == 0 {
			return w.tm.Register(tm.Time+1, tm.NS)
		}
		return nil
	}
}

func must2[A, B any](t testing.TB) func(a A, b B, err error) (A, B) {
	return func(a A, b B, err error) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

// normalized is a snapshot made comparable across backends: list sequence
// numbers (which differ by backend) become ranks, and entries are sorted.
func normalized(s *memSnapshot) []Entry {
	es := slices.Clone(s.entries)
	slices.SortStableFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.KeyGroup, b.KeyGroup), strings.Compare(a.State, b.State), bytes.Compare(a.Key, b.Key), bytes.Compare(a.UserKey, b.UserKey))
	})
	rank := 0
	for i := range es {
		if es[i].State != "op/l" {
			continue
		}
		if i > 0 && es[i-1].State == "op/l" && bytes.Equal(es[i-1].Key, es[i].Key) {
			rank++
		} else {
			rank = 0
		}
		es[i].UserKey = appendListSeq(nil, uint64(rank))
	}
	return es
}

// TestMetamorphic applies one random sequence of operations to a heap and an
// LSM backend and compares every read; then it snapshots both, checks the
// snapshots agree, restores each into the other kind and into two backends
// splitting the key groups (a rescale), and compares everything again.
func TestMetamorphic(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { metamorphic(t, seed, 3000) })
	}
}

func metamorphic(t *testing.T, seed uint64, ops int) {
	all := KeyGroupRange{Start: 0, End: metaMaxP}
	rng := rand.New(rand.NewPCG(seed, seed))
	h := newWorld(t, NewHeap(all, metaMaxP))
	t.Cleanup(func() { h.b.Close() })
	l := newWorld(t, newTestLSM(t, all, metaMaxP))
	worlds := []*world{h, l}

	now := int64(0)
	for i := 0; i < ops; i++ {
		key := rng.Int64N(metaKeys)
		op := rng.IntN(16)
		arg := rng.Int64N(50)
		uk := fmt.Sprint("u", rng.IntN(6))
		ns := Namespace{Start: arg % 3, End: arg%3 + 10}
		var outs [2]string
		for wi, w := range worlds {
			w.kc.SetKey(key)
			var out string
			var err error
			switch op {
			case 0:
				err = w.v.Update(arg)
			case 1:
				err = w.v.Clear()
			case 2, 3:
				err = w.l.Add(fmt.Sprint("e", arg))
			case 4:
				err = w.l.Update([]string{"x", fmt.Sprint(arg)}[:arg%3])
			case 5:
				err = w.l.Clear()
			case 6, 7:
				err = w.m.Put(uk, arg)
			case 8:
				err = w.m.Remove(uk)
			case 9:
				if arg == 0 {
					err = w.m.Clear()
				}
				var v int64
				var ok bool
				v, ok, err = w.m.Get(uk)
				out = fmt.Sprint(v, ok)
			case 10, 11:
				err = w.tm.Register(now+arg, ns)
			case 12:
				err = w.tm.Delete(now+arg, ns)
			case 13:
				var log []string
				err = w.tm.AdvanceTo(now+arg/5, w.fire(&log))
				p, ok := w.tm.Peek()
				out = fmt.Sprint(log, p, ok, w.tm.Len())
			default:
				out = w.read(t, key)
			}
			if err != nil {
				t.Fatalf("op %d (%d) on %s: %v", i, op, w.b.Name(), err)
			}
			outs[wi] = out
		}
		if outs[0] != outs[1] {
			t.Fatalf("op %d (%d) key %d: heap read %q, lsm read %q", i, op, key, outs[0], outs[1])
		}
		if op == 13 {
			now += arg / 5
		}
	}
	want := h.readAll(t)
	if got := l.readAll(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the ops, lsm differs from heap:\n%s", diff(want, got))
	}

	snapH, snapL := snapshotOf(t, h.b), snapshotOf(t, l.b)
	normH := normalized(snapH)
	if got := normalized(snapL); !reflect.DeepEqual(got, normH) {
		t.Fatalf("snapshots differ: heap %d entries, lsm %d", len(normH), len(got))
	}
	wantTimers := drainCopy(t, snapH, all)

	for _, from := range []struct {
		name string
		snap *memSnapshot
	}{{"heap", snapH}, {"lsm", snapL}} {
		for _, bm := range backendMakers {
			// Whole range: the other backend kind (and the same kind).
			r := newWorldFrom(t, bm.make, from.snap, all)
			if got := r.readAll(t); !reflect.DeepEqual(got, want) {
				t.Fatalf("restore %s snapshot into %s:\n%s", from.name, bm.name, diff(want, got))
			}
			if got := normalized(snapshotOf(t, r.b)); !reflect.DeepEqual(got, normH) {
				t.Fatalf("restore %s snapshot into %s: its snapshot differs", from.name, bm.name)
			}
			// Adds after a restore go after the restored elements.
			for k := int64(0); k < metaKeys; k++ {
				h.kc.SetKey(k)
				r.kc.SetKey(k)
				must(t, r.l.Add("post"))
				want := append(must1[[]string](t)(h.l.Get()), "post")
				if got := must1[[]string](t)(r.l.Get()); !reflect.DeepEqual(got, want) {
					t.Fatalf("restore %s into %s: key %d list after Add = %q, want %q", from.name, bm.name, k, got, want)
				}
			}

			// Rescale: two subtasks share the key groups.
			var got []string
			var gotEntries []Entry
			for sub := 0; sub < 2; sub++ {
				kgs := RangeForSubtask(metaMaxP, 2, sub)
				r := newWorldFrom(t, bm.make, from.snap, kgs)
				got = append(got, r.readAll(t)...)
				gotEntries = append(gotEntries, normalized(snapshotOf(t, r.b))...)
			}
			slices.SortFunc(got, compareByKey)
			if !reflect.DeepEqual(got, sortedByKey(want)) {
				t.Fatalf("rescale %s snapshot into 2 %s backends:\n%s", from.name, bm.name, diff(sortedByKey(want), got))
			}
			if !reflect.DeepEqual(gotEntries, normH) {
				t.Fatalf("rescale %s snapshot into 2 %s backends: snapshots differ", from.name, bm.name)
			}
			var timers []string
			for sub := 0; sub < 2; sub++ {
				timers = append(timers, drainCopy(t, from.snap, RangeForSubtask(metaMaxP, 2, sub))...)
			}
			slices.Sort(timers)
			if !reflect.DeepEqual(timers, wantTimers) {
				t.Fatalf("rescale %s into %s: timers fire as %v, want %v", from.name, bm.name, timers, wantTimers)
			}
		}
	}
}

// drainCopy restores snap's key groups kgs into a fresh heap backend and
// fires all its timers, returning them sorted.
func drainCopy(t *testing.T, snap *memSnapshot, kgs KeyGroupRange) []string {
	w := newWorldFrom(t, backendMakers[0].make, snap, kgs)
	var log []string
	must(t, w.tm.AdvanceTo(math.MaxInt64-1, w.fire(&log)))
	if w.tm.Len() != 0 {
		t.Fatalf("%d timers left after AdvanceTo(max)", w.tm.Len())
	}
	slices.Sort(log)
	return log
}

func newWorldFrom(t *testing.T, mk backendMaker, snap *memSnapshot, kgs KeyGroupRange) *world {
	t.Helper()
	b := mk(t, kgs, metaMaxP)
	must(t, b.Restore(snap.reader(kgs)))
	return newWorld(t, b)
}

func compareByKey(a, b string) int {
	var ka, kb int
	fmt.Sscanf(a, "key %d", &ka)
	fmt.Sscanf(b, "key %d", &kb)
	return ka - kb
}

func sortedByKey(s []string) []string {
	s = slices.Clone(s)
	slices.SortFunc(s, compareByKey)
	return s
}

func diff(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "want %s\n got %s\n", w, g)
		}
	}
	return b.String()
}
