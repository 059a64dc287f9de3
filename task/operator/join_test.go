package operator

import (
	"fmt"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// click and view are the two sides of the join tests.
type click struct {
	Key string
	N   int64
}

type view struct {
	Key  string
	Page string
}

func clickKey(c click) string { return c.Key }
func viewKey(v view) string   { return v.Key }
func joinCV(c click, v view) string {
	return fmt.Sprintf("%s:%d-%s", c.Key, c.N, v.Page)
}

// joinStep is one scripted input of a two-input operator.
type joinStep struct {
	input int
	click click
	view  view
	ts    int64
	wm    int64 // a watermark when input < 0
}

func left(k string, n int64, ts int64) joinStep {
	return joinStep{input: 0, click: click{k, n}, ts: ts}
}
func right(k, p string, ts int64) joinStep { return joinStep{input: 1, view: view{k, p}, ts: ts} }
func joinWM(w int64) joinStep              { return joinStep{input: -1, wm: w} }

func runJoin(t *testing.T, op task.Operator, steps []joinStep) {
	t.Helper()
	for _, s := range steps {
		var err error
		switch s.input {
		case 0:
			err = op.ProcessBatch(0, &task.Batch[click]{Values: []click{s.click}, Times: []int64{s.ts}})
		case 1:
			err = op.ProcessBatch(1, &task.Batch[view]{Values: []view{s.view}, Times: []int64{s.ts}})
		default:
			err = op.ProcessWatermark(s.wm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestWindowJoin(t *testing.T) {
	cases := []struct {
		name     string
		assigner WindowAssigner
		steps    []joinStep
		want     []string
		late     int64
	}{{
		name:     "tumbling",
		assigner: Tumbling{Size: 10 * ms},
		steps: []joinStep{
			left("a", 1, 1), left("a", 2, 4), right("a", "x", 5),
			right("b", "y", 6), // no b on the left in [0,10): nothing
			right("a", "w", 9),
			left("b", 3, 12), right("b", "z", 15),
			joinWM(9),       // [0,10): a pairs, left in arrival order, then right
			left("a", 9, 3), // [0,10) fired: dropped
			right("a", "v", 10),
			joinWM(task.MaxWatermark), // [10,20): b 3-z; a has no left record there
		},
		want: []string{"a:1-x @9", "a:1-w @9", "a:2-x @9", "a:2-w @9", "b:3-z @19"},
		late: 1,
	}, {
		name:     "session",
		assigner: Session{Gap: 5 * ms},
		steps: []joinStep{
			left("a", 1, 0),     // [0,5)
			right("a", "x", 8),  // [8,13)
			left("a", 2, 4),     // [4,9) bridges: [0,13)
			right("a", "y", 20), // [20,25)
			joinWM(task.MaxWatermark),
		},
		want: []string{"a:1-x @12", "a:2-x @12"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			backends(t, func(t *testing.T, be state.Backend) {
				out := &collect[string]{}
				op := &WindowJoin[string, click, view, string]{Name: "join", KeyA: clickKey, KeyB: viewKey, KeyCodec: codec.String,
					Assigner: c.assigner, Join: joinCV, ACodec: codec.JSON[click](), BCodec: codec.JSON[view](), Out: out}
				if err := op.Open(testContext(be, &fakeClock{})); err != nil {
					t.Fatal(err)
				}
				runJoin(t, op, c.steps)
				equalLines(t, "joined", out.lines, c.want)
				if op.LateRecords() != c.late {
					t.Errorf("LateRecords() = %d, want %d", op.LateRecords(), c.late)
				}
				if n := op.w.t.event.Len(); n != 0 {
					t.Errorf("%d timers left after the final watermark", n)
				}
			})
		})
	}
}

func TestIntervalJoin(t *testing.T) {
	cases := []struct {
		name         string
		lower, upper time.Duration
		steps        []joinStep
		want         []string
		late         int64
	}{{
		// b joins a when a.ts-2 <= b.ts <= a.ts+1.
		name: "before and after", lower: -2 * ms, upper: 1 * ms,
		steps: []joinStep{
			left("a", 1, 10),    // wants b in [8,11]; cleaned at 11
			right("a", "x", 8),  // wants a in [7,10]: a1 -> x @10; cleaned at 10
			right("a", "y", 12), // wants a in [11,14]: none yet
			left("a", 2, 11),    // wants b in [9,12]: y @12
			right("b", "z", 11), // other key
			joinWM(11),          // drops a@10 (cleanup 11), x@8 (cleanup 10)
			right("a", "w", 11), // at the watermark: late
			right("a", "v", 12), // wants a in [11,14]: a2 @12
			left("a", 3, 9),     // late
			left("a", 4, 13),    // wants b in [11,14]: y@12, v@12
			joinWM(task.MaxWatermark),
		},
		want: []string{"a:1-x @10", "a:2-y @12", "a:2-v @12", "a:4-y @13", "a:4-v @13"},
		late: 2,
	}, {
		// Both bounds after a: b in [a.ts+2, a.ts+4].
		name: "strictly after", lower: 2 * ms, upper: 4 * ms,
		steps: []joinStep{
			right("a", "early", 5), // a in [1,3]: none; kept until 5
			left("a", 1, 3),        // b in [5,7]: early @5
			left("a", 2, 0),        // b in [2,4]: none
			right("a", "p", 4),     // a in [0,2]: a2 @4
			joinWM(4),              // drops a@0 (cleanup 4) and b@4 (cleanup 4)
			right("a", "q", 7),     // a in [3,5]: a1 @7
			joinWM(task.MaxWatermark),
		},
		want: []string{"a:1-early @5", "a:2-p @4", "a:1-q @7"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			backends(t, func(t *testing.T, be state.Backend) {
				out := &collect[string]{}
				op := &IntervalJoin[string, click, view, string]{Name: "ij", KeyA: clickKey, KeyB: viewKey, KeyCodec: codec.String,
					Lower: c.lower, Upper: c.upper, Join: joinCV, ACodec: codec.JSON[click](), BCodec: codec.JSON[view](), Out: out}
				if err := op.Open(testContext(be, &fakeClock{})); err != nil {
					t.Fatal(err)
				}
				runJoin(t, op, c.steps)
				equalLines(t, "joined", out.lines, c.want)
				if op.LateRecords() != c.late {
					t.Errorf("LateRecords() = %d, want %d", op.LateRecords(), c.late)
				}
				if n := op.t.event.Len(); n != 0 {
					t.Errorf("%d cleanup timers left after the final watermark", n)
				}
			})
		})
	}
}

func TestIntervalJoinBadBounds(t *testing.T) {
	op := &IntervalJoin[string, click, view, string]{Name: "ij", KeyA: clickKey, KeyB: viewKey, KeyCodec: codec.String,
		Lower: 5 * ms, Upper: 1 * ms, Join: joinCV, Out: &collect[string]{}}
	err := op.Open(testContext(state.NewHeap(state.KeyGroupRange{Start: 0, End: 128}, 128), &fakeClock{}))
	if err == nil || err.Error() != "ij: interval join lower bound 5ms is above the upper bound 1ms" {
		t.Fatalf("got %v", err)
	}
}
