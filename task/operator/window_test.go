package operator

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

const ms = time.Millisecond

// sumVals sums ev.Val: the aggregate of the window tests.
type sumVals struct{}

func (sumVals) Create() int64             { return 0 }
func (sumVals) Add(acc int64, e ev) int64 { return acc + e.Val }
func (sumVals) Merge(a, b int64) int64    { return a + b }
func (sumVals) Result(acc int64) int64    { return acc }
func res(key string, start, end, v, ts int64) string {
	return fmt.Sprintf("%s\t%d\t%d\t%d @%d", key, start, end, v, ts)
}
func late(key string, v, ts int64) string { return fmt.Sprintf("%s:%d @%d", key, v, ts) }

func a(v int64) ev { return ev{"a", v} }
func b(v int64) ev { return ev{"b", v} }

func TestWindowAssigners(t *testing.T) {
	cases := []struct {
		name string
		a    WindowAssigner
		ts   int64
		want []Window
	}{
		{"tumbling start", Tumbling{Size: 10 * ms}, 0, []Window{{0, 10}}},
		{"tumbling end-1", Tumbling{Size: 10 * ms}, 9, []Window{{0, 10}}},
		{"tumbling next", Tumbling{Size: 10 * ms}, 10, []Window{{10, 20}}},
		{"tumbling before epoch", Tumbling{Size: 10 * ms}, -1, []Window{{-10, 0}}},
		{"tumbling offset", Tumbling{Size: 10 * ms, Offset: 3 * ms}, 2, []Window{{-7, 3}}},
		{"tumbling offset at start", Tumbling{Size: 10 * ms, Offset: 3 * ms}, 3, []Window{{3, 13}}},
		{"tumbling negative offset", Tumbling{Size: 10 * ms, Offset: -3 * ms}, 7, []Window{{7, 17}}},
		{"sliding", Sliding{Size: 10 * ms, Slide: 5 * ms}, 7, []Window{{5, 15}, {0, 10}}},
		{"sliding on slide", Sliding{Size: 10 * ms, Slide: 5 * ms}, 5, []Window{{5, 15}, {0, 10}}},
		{"sliding 3 per record", Sliding{Size: 9 * ms, Slide: 3 * ms}, 4, []Window{{3, 12}, {0, 9}, {-3, 6}}},
		{"sliding offset", Sliding{Size: 10 * ms, Slide: 5 * ms, Offset: 1 * ms}, 5, []Window{{1, 11}, {-4, 6}}},
		{"session", Session{Gap: 5 * ms}, 42, []Window{{42, 47}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.a.Validate(); err != nil {
				t.Fatal(err)
			}
			got := c.a.AssignWindows(nil, c.ts)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("%v at %d: got %v, want %v", c.a, c.ts, got, c.want)
			}
			for _, w := range got {
				if c.ts < w.Start || c.ts >= w.End {
					t.Fatalf("window %v does not contain %d", w, c.ts)
				}
			}
		})
	}
}

func TestWindowAssignerValidate(t *testing.T) {
	cases := []struct {
		a    WindowAssigner
		want string
	}{
		{Tumbling{}, "tumbling window size 0s: must be at least 1ms"},
		{Tumbling{Size: 10 * ms, Offset: 10 * ms}, "offset 10ms: must be smaller in magnitude than the size 10ms"},
		{Tumbling{Size: 10 * ms, Offset: -10 * ms}, "offset -10ms"},
		{Sliding{Size: 10 * ms}, "sliding window size 10ms, slide 0s"},
		{Sliding{Size: 10 * ms, Slide: 5 * ms, Offset: 5 * ms}, "smaller in magnitude than the slide 5ms"},
		{Session{Gap: time.Microsecond}, "session gap 1µs: must be at least 1ms"},
	}
	for _, c := range cases {
		err := c.a.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error containing %q", c.a, err, c.want)
		}
	}
}

// TestWindowAggregate drives a window operator with out-of-order records
// and exact watermarks; every expectation is worked out by hand in the
// comments.
func TestWindowAggregate(t *testing.T) {
	cases := []struct {
		name     string
		assigner WindowAssigner
		lateness time.Duration
		steps    []step
		want     []string
		late     []string
	}{{
		name:     "tumbling",
		assigner: Tumbling{Size: 10 * ms},
		steps: []step{
			// [0,10): a 1+3, b 10; [10,20): a 2.
			recs(a(1), 1, a(2), 12, a(3), 5, b(10), 3),
			wm(9),         // fires [0,10) for a then b (key order)
			recs(a(5), 7), // [0,10) is gone: late
			recs(a(6), 19),
			wm(19),
			wm(task.MaxWatermark),
		},
		want: []string{res("a", 0, 10, 4, 9), res("b", 0, 10, 10, 9), res("a", 10, 20, 8, 19)},
		late: []string{late("a", 5, 7)},
	}, {
		name:     "tumbling with allowed lateness",
		assigner: Tumbling{Size: 10 * ms},
		lateness: 5 * ms,
		steps: []step{
			recs(a(1), 1, a(2), 3),
			wm(9),         // [0,10) = 3
			recs(a(4), 8), // within lateness (cleanup at 14): re-fires with 7
			wm(13),        // nothing: cleanup is at 14
			recs(a(5), 0), // still allowed: 12
			wm(14),        // cleanup
			recs(a(8), 2), // late
			recs(a(16), 21),
			wm(task.MaxWatermark),
		},
		want: []string{res("a", 0, 10, 3, 9), res("a", 0, 10, 7, 9), res("a", 0, 10, 12, 9), res("a", 20, 30, 16, 29)},
		late: []string{late("a", 8, 2)},
	}, {
		name:     "sliding",
		assigner: Sliding{Size: 10 * ms, Slide: 5 * ms},
		steps: []step{
			// 1@3 in [-5,5) [0,10); 2@7 in [0,10) [5,15); 4@12 in [5,15) [10,20).
			recs(a(1), 3, a(2), 7, a(4), 12),
			wm(4),         // [-5,5) = 1
			wm(9),         // [0,10) = 1+2
			recs(a(8), 6), // [0,10) is gone, [5,15) is open: not late
			recs(a(16), 1),
			wm(14), // [5,15) = 2+4+8
			wm(task.MaxWatermark),
		},
		want: []string{res("a", -5, 5, 1, 4), res("a", 0, 10, 3, 9), res("a", 5, 15, 14, 14), res("a", 10, 20, 4, 19)},
		late: []string{late("a", 16, 1)},
	}, {
		name:     "session",
		assigner: Session{Gap: 5 * ms},
		steps: []step{
			recs(a(1), 1, a(2), 10), // [1,6) and [10,15)
			recs(a(4), 4),           // [4,9) merges into [1,9)
			recs(a(8), 9),           // [9,14) touches [1,9) and overlaps [10,15): [1,15)
			recs(b(100), 2),         // b [2,7)
			wm(6),                   // b [2,7) = 100
			recs(b(200), 3),         // [3,8) is not cleaned yet (7 > 6): a new session
			wm(14),                  // b [3,8) at 7, then a [1,15) = 1+2+4+8
			recs(a(3), 2),           // no open session, [2,7) is gone: late
			wm(task.MaxWatermark),
		},
		want: []string{res("b", 2, 7, 100, 6), res("b", 3, 8, 200, 7), res("a", 1, 15, 15, 14)},
		late: []string{late("a", 3, 2)},
	}, {
		name:     "session with allowed lateness",
		assigner: Session{Gap: 5 * ms},
		lateness: 10 * ms,
		steps: []step{
			recs(a(1), 0, a(2), 3), // [0,8)
			wm(7),                  // [0,8) = 3; kept until 17
			recs(a(3), 9),          // [9,14): a new session
			recs(a(4), 6),          // [6,11) bridges both: [0,14), fires at 13
			wm(13),                 // [0,14) = 10
			recs(a(5), 12),         // [12,17) joins [0,14): [0,17) is past due? no, 16 > 13
			wm(30),                 // [0,17) = 15, cleaned at 26
			recs(a(6), 1),          // late
		},
		want: []string{res("a", 0, 8, 3, 7), res("a", 0, 14, 10, 13), res("a", 0, 17, 15, 16)},
		late: []string{late("a", 6, 1)},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			backends(t, func(t *testing.T, be state.Backend) {
				out, lateOut := &collect[WindowResult[string, int64]]{}, &collect[ev]{}
				op := &WindowOperator[string, ev, WindowResult[string, int64]]{
					Name: "sum", KeyOf: evKey, KeyCodec: codec.String, Assigner: c.assigner, AllowedLateness: c.lateness,
					Contents: AggregateWindow[string, ev, int64, int64](sumVals{}, nil), Out: out, Late: lateOut,
				}
				if err := op.Open(testContext(be, &fakeClock{})); err != nil {
					t.Fatal(err)
				}
				run(t, op, c.steps)
				equalLines(t, "results", out.lines, c.want)
				equalLines(t, "late records", lateOut.lines, c.late)
				if op.LateRecords() != int64(len(c.late)) {
					t.Errorf("LateRecords() = %d, want %d", op.LateRecords(), len(c.late))
				}
				if n := op.t.event.Len(); n != 0 {
					t.Errorf("%d timers left after the final watermark, want 0", n)
				}
				if fmt.Sprint(out.wms) != fmt.Sprint(lateOut.wms) || len(out.wms) == 0 {
					t.Errorf("watermarks forwarded: results %v, late output %v", out.wms, lateOut.wms)
				}
			})
		})
	}
}

// joinElems lists a window's records: what WindowProcess functions see.
func joinElems(key string, w Window, elems []ev, out *Collector[string]) error {
	vals := make([]string, len(elems))
	for i, e := range elems {
		vals[i] = fmt.Sprint(e.Val)
	}
	out.Collect(fmt.Sprintf("%s %v %s", key, w, strings.Join(vals, ",")))
	return nil
}

func TestWindowProcessAndReduce(t *testing.T) {
	steps := []step{
		recs(a(1), 0, a(2), 3), // [0,8)
		recs(a(3), 10),         // [10,15)
		recs(a(4), 7),          // [7,12) bridges both: [0,15) holds 1,2 then 3 then 4
		wm(14),
		recs(a(5), 1), // late: [0,15) was cleaned at 14
		recs(a(6), 20, a(7), 22),
		wm(task.MaxWatermark), // [20,27)
	}
	t.Run("process", func(t *testing.T) {
		backends(t, func(t *testing.T, be state.Backend) {
			out := &collect[string]{}
			op := &WindowOperator[string, ev, string]{Name: "list", KeyOf: evKey, KeyCodec: codec.String,
				Assigner: Session{Gap: 5 * ms}, Contents: ProcessWindow[string, ev, string](joinElems, codec.JSON[ev]()), Out: out}
			if err := op.Open(testContext(be, &fakeClock{})); err != nil {
				t.Fatal(err)
			}
			run(t, op, steps)
			equalLines(t, "results", out.lines, []string{"a [0, 15) 1,2,3,4 @14", "a [20, 27) 6,7 @26"})
			if op.LateRecords() != 1 {
				t.Errorf("LateRecords() = %d, want 1 (no late output: counted only)", op.LateRecords())
			}
		})
	})
	t.Run("reduce", func(t *testing.T) {
		backends(t, func(t *testing.T, be state.Backend) {
			out := &collect[WindowResult[string, ev]]{}
			maxVal := func(x, y ev) ev {
				if y.Val > x.Val {
					return y
				}
				return x
			}
			op := &WindowOperator[string, ev, WindowResult[string, ev]]{Name: "max", KeyOf: evKey, KeyCodec: codec.String,
				Assigner: Session{Gap: 5 * ms}, Contents: ReduceWindow[string](maxVal, codec.JSON[ev]()), Out: out}
			if err := op.Open(testContext(be, &fakeClock{})); err != nil {
				t.Fatal(err)
			}
			run(t, op, steps)
			equalLines(t, "results", out.lines, []string{"a\t0\t15\ta:4 @14", "a\t20\t27\ta:7 @26"})
		})
	})
}

// TestProcessingTimeWindows moves a fake wall clock: windows come from the
// clock at arrival, fire by it, and the ones open at end of input fire in Finish.
func TestProcessingTimeWindows(t *testing.T) {
	backends(t, func(t *testing.T, be state.Backend) {
		clock := &fakeClock{now: time.UnixMilli(1000)}
		out := &collect[WindowResult[string, int64]]{}
		op := &WindowOperator[string, ev, WindowResult[string, int64]]{
			Name: "sum", KeyOf: evKey, KeyCodec: codec.String, Assigner: Tumbling{Size: 10 * ms, Time: ProcessingTime},
			AllowedLateness: time.Hour, // ignored in processing time
			Contents:        AggregateWindow[string, ev, int64, int64](sumVals{}, nil), Out: out,
		}
		if err := op.Open(testContext(be, clock)); err != nil {
			t.Fatal(err)
		}
		// Event times are ignored: these records have none.
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		batch := func(es ...ev) *task.Batch[ev] {
			b := task.NewBatch[ev](len(es))
			for _, e := range es {
				b.Append(task.NoTimestamp, e)
			}
			return b
		}
		must(op.ProcessBatch(0, batch(a(1), a(2))))
		clock.advance(t, 1005)
		must(op.ProcessBatch(0, batch(b(4))))
		equalLines(t, "before 1009", out.lines, nil)
		clock.advance(t, 1010)
		equalLines(t, "at 1010", out.lines, []string{res("a", 1000, 1010, 3, 1009), res("b", 1000, 1010, 4, 1009)})
		clock.advance(t, 1012)
		must(op.ProcessBatch(0, batch(a(8))))
		must(op.ProcessWatermark(task.MaxWatermark)) // does not fire processing-time windows
		equalLines(t, "after the final watermark", out.lines[2:], nil)
		must(op.Finish())
		equalLines(t, "after Finish", out.lines[2:], []string{res("a", 1010, 1020, 8, 1019)})
		if n := op.t.proc.Len(); n != 0 {
			t.Errorf("%d processing timers left after Finish", n)
		}
	})
}

func TestWindowRecordWithoutTimestamp(t *testing.T) {
	op := &WindowOperator[string, ev, WindowResult[string, int64]]{
		Name: "sum", KeyOf: evKey, KeyCodec: codec.String, Assigner: Tumbling{Size: 10 * ms},
		Contents: AggregateWindow[string, ev, int64, int64](sumVals{}, nil), Out: &collect[WindowResult[string, int64]]{},
	}
	if err := op.Open(testContext(state.NewHeap(state.KeyGroupRange{Start: 0, End: 128}, 128), &fakeClock{})); err != nil {
		t.Fatal(err)
	}
	err := op.ProcessBatch(0, &task.Batch[ev]{Values: []ev{a(1)}, Times: []int64{task.NoTimestamp}})
	if err == nil || !strings.Contains(err.Error(), "sum: a record has no event time") {
		t.Fatalf("got %v, want an error naming the operator and the missing event time", err)
	}
}

func TestWindowCodecs(t *testing.T) {
	for _, w := range []Window{{0, 10}, {-10, 0}, {-1 << 62, 1 << 62}} {
		b := WindowCodec.Append(nil, w)
		got, n, err := WindowCodec.Decode(b)
		if err != nil || n != 16 || got != w {
			t.Fatalf("%v: decoded %v, %d bytes, %v", w, got, n, err)
		}
	}
	// Encodings order like the windows: the LSM backend keeps them by time.
	if x, y := string(WindowCodec.Append(nil, Window{-5, 5})), string(WindowCodec.Append(nil, Window{0, 10})); x >= y {
		t.Fatal("window encodings are not ordered by start")
	}
	if _, _, err := WindowCodec.Decode(make([]byte, 15)); err == nil {
		t.Fatal("decoded a short window")
	}
	k := elemKey{W: Window{3, 8}, Seq: 7}
	got, n, err := elemKeyCodec{}.Decode(elemKeyCodec{}.Append(nil, k))
	if err != nil || n != 24 || got != k {
		t.Fatalf("elemKey: decoded %v, %d bytes, %v", got, n, err)
	}
}
