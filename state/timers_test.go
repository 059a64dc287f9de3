package state

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/internal/scenario"
)

// TestTimerScenarios runs the scripts in testdata/timers*.txt
// (internal/scenario's scripts) against the timers of both backends, which
// must print the same. Each command prints what it caused, one line each:
//
//	key K                     make K the current key
//	register T [NS-NE]        register a timer for the current key
//	delete T [NS-NE]          delete one
//	peek | len                show the next timer / the count
//	advance T [chain=D]       fire timers due by T; with chain, each fired
//	                          timer of the zero namespace registers one at
//	                          its time + D in namespace 1-1
//	snapshot                  snapshot the backend, print its entries
//	restore S E               replace the backend by a new one owning key
//	                          groups [S,E), restored from the last snapshot
//
// Keys are strings over 4 key groups: "a" is in key group 0, "b" and "c" in 1,
// "d" in 3 (the scripts' snapshot lines show it). Run with -rewrite to
// regenerate the expectations, then review the diff.
func TestTimerScenarios(t *testing.T) {
	forEachBackend(t, func(t *testing.T, mk backendMaker) {
		scenario.Run(t, "testdata/timers*.txt", func(t *testing.T) func(string) []string {
			s := &timerScenario{t: t, mk: mk}
			s.open(KeyGroupRange{Start: 0, End: scenarioMaxP}, nil)
			return s.run
		})
	})
}

const scenarioMaxP = 4

type timerScenario struct {
	t    *testing.T
	mk   backendMaker
	kc   *KeyContext[string]
	tm   *Timers[string]
	b    Backend
	snap *memSnapshot
}

func (s *timerScenario) open(kgs KeyGroupRange, from *memSnapshot) {
	s.b = s.mk(s.t, kgs, scenarioMaxP)
	if from != nil {
		must(s.t, s.b.Restore(from.reader(kgs)))
	}
	s.kc = NewKeyContext(codec.String, scenarioMaxP)
	s.tm = must1[*Timers[string]](s.t)(NewTimers(s.b, s.kc, "op/timers"))
}

func (s *timerScenario) run(line string) []string {
	t := s.t
	c := scenario.ParseCommand(line)
	arg := func(i int) string {
		if i >= len(c.Args) {
			t.Fatalf("%s needs argument %d", c.Name, i+1)
		}
		return c.Args[i]
	}
	num := func(i int) int64 {
		n, err := strconv.ParseInt(arg(i), 10, 64)
		if err != nil {
			t.Fatalf("argument %d of %s: %v", i+1, c.Name, err)
		}
		return n
	}
	ns := func(i int) Namespace {
		if i >= len(c.Args) {
			return Namespace{}
		}
		var n Namespace
		if _, err := fmt.Sscanf(c.Args[i], "%d-%d", &n.Start, &n.End); err != nil {
			t.Fatalf("namespace %q: %v", c.Args[i], err)
		}
		return n
	}
	show := func(tm Timer[string]) string {
		return fmt.Sprintf("%s@%d ns=%d-%d", tm.Key, tm.Time, tm.NS.Start, tm.NS.End)
	}
	var out []string
	switch c.Name {
	case "key":
		s.kc.SetKey(arg(0))
	case "register":
		if err := s.tm.Register(num(0), ns(1)); err != nil {
			out = append(out, "error: "+err.Error())
		}
	case "delete":
		if err := s.tm.Delete(num(0), ns(1)); err != nil {
			out = append(out, "error: "+err.Error())
		}
	case "peek":
		if tm, ok := s.tm.Peek(); ok {
			out = append(out, show(tm))
		} else {
			out = append(out, "none")
		}
	case "len":
		out = append(out, strconv.Itoa(s.tm.Len()))
	case "advance":
		var chain int64
		if err := c.Scan(1, map[string]any{"chain": &chain}); err != nil {
			t.Fatal(err)
		}
		err := s.tm.AdvanceTo(num(0), func(tm Timer[string]) error {
			out = append(out, "fire "+show(tm))
			if s.kc.Key() != tm.Key {
				return fmt.Errorf("key context is %q", s.kc.Key())
			}
			if chain != 0 && tm.NS == (Namespace{}) {
				return s.tm.Register(tm.Time+chain, Namespace{Start: 1, End: 1})
			}
			return nil
		})
		if err != nil {
			out = append(out, "error: "+err.Error())
		}
	case "snapshot":
		s.snap = snapshotOf(t, s.b)
		for _, e := range s.snap.entries {
			k, _, err := codec.String.Decode(e.Key)
			must(t, err)
			ts, n := decodeTimerUserKey(e.UserKey)
			out = append(out, fmt.Sprintf("kg=%d %s@%d ns=%d-%d", e.KeyGroup, k, ts, n.Start, n.End))
		}
	case "restore":
		if s.snap == nil {
			t.Fatal("restore before snapshot")
		}
		s.open(KeyGroupRange{Start: int(num(0)), End: int(num(1))}, s.snap)
	default:
		t.Fatalf("unknown command %q", c.Name)
	}
	return out
}

// TestTimersAgainstModel checks the timer heap against a plain set: random
// registers, deletes and advances must fire exactly the model's due timers,
// in (time, namespace, registration) order.
func TestTimersAgainstModel(t *testing.T) {
	b := NewHeap(KeyGroupRange{Start: 0, End: 8}, 8)
	kc := NewKeyContext(codec.Int64, 8)
	tm := must1[*Timers[int64]](t)(NewTimers(b, kc, "op/t"))
	model := map[Timer[int64]]int{} // timer -> registration number
	registered := 0
	rng := rand.New(rand.NewPCG(7, 7))
	now := int64(0)
	for i := 0; i < 20000; i++ {
		key := rng.Int64N(10)
		ts := now + rng.Int64N(40)
		ns := Namespace{Start: rng.Int64N(2)}
		kc.SetKey(key)
		switch rng.IntN(4) {
		case 0, 1:
			must(t, tm.Register(ts, ns))
			if _, ok := model[Timer[int64]{Time: ts, Key: key, NS: ns}]; !ok {
				registered++
				model[Timer[int64]{Time: ts, Key: key, NS: ns}] = registered
			}
		case 2:
			must(t, tm.Delete(ts, ns))
			delete(model, Timer[int64]{Time: ts, Key: key, NS: ns})
		case 3:
			now += rng.Int64N(10)
			var due []Timer[int64]
			for m := range model {
				if m.Time <= now {
					due = append(due, m)
				}
			}
			slices.SortFunc(due, func(a, b Timer[int64]) int {
				return cmp.Or(cmp.Compare(a.Time, b.Time), cmp.Compare(a.NS.Start, b.NS.Start), cmp.Compare(model[a], model[b]))
			})
			var fired []Timer[int64]
			must(t, tm.AdvanceTo(now, func(x Timer[int64]) error { fired = append(fired, x); return nil }))
			if !slices.Equal(fired, due) {
				t.Fatalf("op %d: advance to %d fired %v, want %v", i, now, fired, due)
			}
			for _, d := range due {
				delete(model, d)
			}
		}
		if tm.Len() != len(model) {
			t.Fatalf("op %d: Len %d, model has %d", i, tm.Len(), len(model))
		}
	}
}
