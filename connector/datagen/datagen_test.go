package datagen

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/task"
)

type rec struct {
	I    int64
	A    uint64
	B    int
	F    float64
	Word string
}

var words = []string{"alpha", "beta", "gamma", "delta"}

func gen(i int64, r *Rand) rec {
	return rec{I: i, A: r.Uint64(), B: r.Intn(1000), F: r.Float64(), Word: words[r.Intn(len(words))]}
}

// readSubtask reads subtask s of p to the end (or max records).
func readSubtask(t *testing.T, src *Source[rec], s, p, batchCap int, restored []byte, max int) ([]rec, []byte) {
	t.Helper()
	return readWith(t, src, s, p, &task.Context{Restored: restored}, batchCap, max)
}

// readWith is readSubtask with the reader opened with ctx.
func readWith(t *testing.T, src *Source[rec], s, p int, ctx *task.Context, batchCap, max int) ([]rec, []byte) {
	t.Helper()
	r, err := src.NewReader(s, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Open(ctx); err != nil {
		t.Fatal(err)
	}
	var out []rec
	b := task.NewBatch[rec](batchCap)
	for len(out) < max {
		b.Reset()
		st, err := r.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Values...)
		if st.End {
			break
		}
	}
	snap, _ := r.Snapshot()
	return out, snap
}

func TestDeterministicAcrossParallelism(t *testing.T) {
	src := New(gen, Options{Count: 1000, Seed: 42})
	ref, _ := readSubtask(t, src, 0, 1, 64, nil, 1<<30)
	if len(ref) != 1000 {
		t.Fatalf("p=1 generated %d records, want 1000", len(ref))
	}
	for i, r := range ref {
		if r.I != int64(i) {
			t.Fatalf("record %d has index %d", i, r.I)
		}
	}
	for _, p := range []int{2, 3, 7} {
		var all []rec
		for s := 0; s < p; s++ {
			part, _ := readSubtask(t, src, s, p, 10, nil, 1<<30)
			for _, r := range part {
				if int(r.I)%p != s {
					t.Fatalf("p=%d: subtask %d generated index %d", p, s, r.I)
				}
			}
			all = append(all, part...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].I < all[j].I })
		if fmt.Sprint(all) != fmt.Sprint(ref) {
			t.Fatalf("p=%d generates other records than p=1", p)
		}
	}
	other, _ := readSubtask(t, New(gen, Options{Count: 1000, Seed: 43}), 0, 1, 64, nil, 1<<30)
	if fmt.Sprint(other) == fmt.Sprint(ref) {
		t.Fatal("seed 43 generates the same records as seed 42")
	}
}

func TestRestoreResumes(t *testing.T) {
	src := New(gen, Options{Count: 100, Seed: 1})
	for _, p := range []int{1, 3} {
		for s := 0; s < p; s++ {
			want, _ := readSubtask(t, src, s, p, 8, nil, 1<<30)
			first, snap := readSubtask(t, src, s, p, 5, nil, 5)
			rest, _ := readSubtask(t, src, s, p, 8, snap, 1<<30)
			if got := append(first, rest...); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("p=%d s=%d: restored run differs:\n got %v\nwant %v", p, s, got, want)
			}
		}
	}
	r, _ := src.NewReader(1, 3)
	if err := r.Open(&task.Context{Restored: []byte{4}}); err == nil { // index 2 belongs to subtask 2
		t.Fatal("restoring another subtask's index succeeded")
	}
}

func TestBoundedAndUnbounded(t *testing.T) {
	if !New(gen, Options{Count: 1}).Bounded() || New(gen, Options{}).Bounded() {
		t.Fatal("Bounded must follow Count > 0")
	}
	got, _ := readSubtask(t, New(gen, Options{}), 1, 2, 100, nil, 1000)
	if len(got) != 1000 || got[999].I != 1999 {
		t.Fatalf("unbounded: %d records, last index %d", len(got), got[len(got)-1].I)
	}
	// Fewer records than subtasks: the extra subtask ends at once.
	got, _ = readSubtask(t, New(gen, Options{Count: 2}), 2, 3, 10, nil, 1<<30)
	if len(got) != 0 {
		t.Fatalf("subtask 2 of 3 with Count 2 generated %v", got)
	}
}

type fakeTimers struct{ now time.Time }

func (f *fakeTimers) Now() time.Time                          { return f.now }
func (f *fakeTimers) At(time.Time, func(now time.Time) error) {}

func TestRatePacing(t *testing.T) {
	clock := &fakeTimers{now: time.Unix(1000, 0)}
	// 200 records/s over 2 subtasks: 100/s each, one every 10ms.
	src := New(gen, Options{Rate: 200, Seed: 3})
	r, _ := src.NewReader(0, 2)
	if err := r.Open(&task.Context{Timers: clock}); err != nil {
		t.Fatal(err)
	}
	b := task.NewBatch[rec](1000)
	steps := []struct {
		advance  time.Duration
		wantRecs int
		wantWait time.Duration
	}{
		{0, 1, 0},                     // the first record is due at once
		{0, 0, 10 * time.Millisecond}, // the next in 10ms
		{4 * time.Millisecond, 0, 6 * time.Millisecond},
		{96 * time.Millisecond, 10, 0}, // at 100ms records 1..10 are due, in one batch
		{time.Second, 100, 0},          // a second later: 100 more
		{time.Hour, 1000, 0},           // far behind: limited by the batch
	}
	for i, st := range steps {
		clock.now = clock.now.Add(st.advance)
		b.Reset()
		status, err := r.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len() != st.wantRecs || status.Wait != st.wantWait {
			t.Fatalf("step %d: %d records, wait %v; want %d, %v", i, b.Len(), status.Wait, st.wantRecs, st.wantWait)
		}
	}
}

func TestRand(t *testing.T) {
	a, b := NewRand(7, 100), NewRand(7, 100)
	for i := 0; i < 10; i++ {
		if a.Uint64() != b.Uint64() {
			t.Fatal("same (seed, index) gives different sequences")
		}
	}
	first := func(seed uint64, index int64) uint64 { r := NewRand(seed, index); return r.Uint64() }
	if first(7, 100) == first(7, 101) || first(7, 100) == first(8, 100) {
		t.Fatal("neighbouring indices or seeds collide")
	}
	r := NewRand(1, 1)
	counts := make([]int, 10)
	for i := 0; i < 100000; i++ {
		n := r.Intn(10)
		if n < 0 || n >= 10 {
			t.Fatalf("Intn(10) = %d", n)
		}
		counts[n]++
		if f := r.Float64(); f < 0 || f >= 1 {
			t.Fatalf("Float64() = %v", f)
		}
	}
	for d, c := range counts {
		if c < 9000 || c > 11000 {
			t.Fatalf("Intn(10) returned %d %d times in 100000: not uniform", d, c)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { r.Reset(1, 2); r.Uint64() }); allocs != 0 {
		t.Fatalf("Rand allocates %v times", allocs)
	}
}

func BenchmarkDatagen(b *testing.B) {
	src := New(func(i int64, r *Rand) int64 { return i ^ int64(r.Uint64()) }, Options{Seed: 1})
	rd, _ := src.NewReader(0, 1)
	rd.Open(&task.Context{})
	batch := task.NewBatch[int64](1024)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		batch.Reset()
		rd.Read(batch)
		n += batch.Len()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// readRescaled reads subtask s of p to its end (or max records) after a
// restore from the given states of a checkpoint at another parallelism.
func readRescaled(t *testing.T, src *Source[rec], s, p int, states [][]byte, max int) ([]rec, []byte) {
	t.Helper()
	return readWith(t, src, s, p, &task.Context{Rescaled: states}, 7, max)
}

// TestRescaleGeneratesEveryIndexOnce: a checkpoint taken at parallelism 4
// (each subtask at another position) restored at 1, 2, 3, 6 and 9, and then
// rescaled once more, generates every index not yet generated exactly once,
// and the same records as an uninterrupted run.
func TestRescaleGeneratesEveryIndexOnce(t *testing.T) {
	const count = 1000
	src := New(gen, Options{Count: count, Seed: 7})
	ref, _ := readSubtask(t, src, 0, 1, 64, nil, 1<<30)
	for _, to := range []int{1, 2, 3, 6, 9} {
		var got []rec
		states := make([][]byte, 4)
		for s := range 4 {
			part, snap := readSubtask(t, src, s, 4, 5, nil, 10*s+3)
			got, states[s] = append(got, part...), snap
		}
		// Restored at `to`, each subtask reads a little and is checkpointed
		// again; then the job is rescaled to 5 and runs to the end.
		again := make([][]byte, to)
		for s := range to {
			part, snap := readRescaled(t, src, s, to, states, 17)
			got, again[s] = append(got, part...), snap
		}
		for s := range 5 {
			part, _ := readRescaled(t, src, s, 5, again, 1<<30)
			got = append(got, part...)
		}
		sort.Slice(got, func(i, j int) bool { return got[i].I < got[j].I })
		if fmt.Sprint(got) != fmt.Sprint(ref) {
			t.Fatalf("4 -> %d -> 5: %d records, want every one of the %d once", to, len(got), count)
		}
	}
}

// TestRateMustBeFinite: an infinite or NaN rate is refused when the reader
// is made, instead of a pacing that never lets a record through (issue 10,
// item 8: totals --rate Inf hung).
func TestRateMustBeFinite(t *testing.T) {
	gen := func(i int64, _ *Rand) int64 { return i }
	for _, rate := range []float64{math.Inf(1), math.Inf(-1), math.NaN(), -1} {
		_, err := New(gen, Options{Count: 10, Rate: rate}).NewReader(0, 1)
		if err == nil || !strings.Contains(err.Error(), "want a finite number") {
			t.Errorf("rate %g: %v, want refused", rate, err)
		}
	}
}
