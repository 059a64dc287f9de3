package operator

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// collect is an Output that records what an operator emits, one line per
// record ("value @ts"), so tests compare against hand-written lines.
type collect[T any] struct {
	lines []string
	wms   []int64
}

func (c *collect[T]) Push(b *task.Batch[T]) error {
	for i, v := range b.Values {
		c.lines = append(c.lines, fmt.Sprintf("%v @%d", v, b.Times[i]))
	}
	return nil
}

func (c *collect[T]) Watermark(wm int64) error {
	c.wms = append(c.wms, wm)
	return nil
}

// fakeClock is a ProcessingTimers whose time moves only when a test says so.
type fakeClock struct {
	now     time.Time
	pending []fakeTimer
	seq     int
}

type fakeTimer struct {
	at  time.Time
	seq int
	fn  func(time.Time) error
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) At(t time.Time, fn func(time.Time) error) {
	c.seq++
	c.pending = append(c.pending, fakeTimer{at: t, seq: c.seq, fn: fn})
}

// advance moves the clock to ms and runs the callbacks due, like the task loop.
func (c *fakeClock) advance(t *testing.T, ms int64) {
	t.Helper()
	c.now = time.UnixMilli(ms)
	for {
		sort.Slice(c.pending, func(i, j int) bool {
			if c.pending[i].at.Equal(c.pending[j].at) {
				return c.pending[i].seq < c.pending[j].seq
			}
			return c.pending[i].at.Before(c.pending[j].at)
		})
		if len(c.pending) == 0 || c.pending[0].at.After(c.now) {
			return
		}
		next := c.pending[0]
		c.pending = c.pending[1:]
		if err := next.fn(c.now); err != nil {
			t.Fatal(err)
		}
	}
}

// backends runs f against each state backend.
func backends(t *testing.T, f func(t *testing.T, b state.Backend)) {
	for _, name := range []string{"heap", "lsm"} {
		t.Run(name, func(t *testing.T) {
			kgs := state.KeyGroupRange{Start: 0, End: 128}
			var b state.Backend
			if name == "heap" {
				b = state.NewHeap(kgs, 128)
			} else {
				var err error
				if b, err = state.NewLSM(t.TempDir(), kgs, 128); err != nil {
					t.Fatal(err)
				}
			}
			defer b.Close()
			f(t, b)
		})
	}
}

func testContext(b state.Backend, clock *fakeClock) *task.Context {
	return &task.Context{Job: "test", Operator: "op", UID: "op-0", Parallelism: 1, MaxParallelism: 128,
		KeyGroups: state.KeyGroupRange{Start: 0, End: 128}, Backend: b, Metrics: &task.OperatorMetrics{},
		Timers: clock, BatchSize: 2}
}

// ev is the test record: a key and a number.
type ev struct {
	Key string
	Val int64
}

func (e ev) String() string { return fmt.Sprintf("%s:%d", e.Key, e.Val) }

func evKey(e ev) string { return e.Key }

// step is one scripted input: records (one batch) or a watermark.
type step struct {
	recs []ev
	ts   []int64
	wm   int64 // used when recs is nil
}

func recs(pairs ...any) step {
	var s step
	for i := 0; i < len(pairs); i += 2 {
		s.recs = append(s.recs, pairs[i].(ev))
		s.ts = append(s.ts, int64(pairs[i+1].(int)))
	}
	return s
}

func wm(w int64) step { return step{wm: w} }

func run(t *testing.T, op task.Operator, steps []step) {
	t.Helper()
	for _, s := range steps {
		var err error
		if s.recs != nil {
			err = op.ProcessBatch(0, &task.Batch[ev]{Values: s.recs, Times: s.ts})
		} else {
			err = op.ProcessWatermark(s.wm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}
