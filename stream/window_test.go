package stream_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// noted is a record type without a codec: pointers have none.
type noted struct {
	User string
	Note *string
}

// hit is the record of the end-to-end window tests.
type hit struct {
	User string
	Ts   int64
}

func hitTime(h hit) int64    { return h.Ts }
func hitUser(h hit) string   { return h.User }
func isReal(h hit) bool      { return h.User != "" }
func formatHit(h hit) string { return fmt.Sprintf("%s@%d", h.User, h.Ts) }

// hits are 400 records of 4 users, 5ms apart and up to 8ms out of order
// (less than the 10ms out-of-orderness of the watermark), plus three records
// far behind the watermark, plus one sentinel far ahead that pushes the
// watermark past every window even when the input never ends.
func hits() (data []hit, late []hit) {
	for i := int64(0); i < 400; i++ {
		data = append(data, hit{User: fmt.Sprintf("u%d", i%4), Ts: i*5 - (i%3)*4 + 8})
		if i == 200 || i == 250 || i == 300 {
			h := hit{User: "u1", Ts: i / 2} // 100, 125, 150: windows long fired
			data = append(data, h)
			late = append(late, h)
		}
	}
	return append(data, hit{Ts: 1_000_000}), late
}

// sliceSource emits data, then ends (bounded) or waits forever (unbounded).
type sliceSource struct {
	data    []hit
	bounded bool
}

func (s *sliceSource) Bounded() bool { return s.bounded }

func (s *sliceSource) NewReader(subtask, parallelism int) (task.SourceReader[hit], error) {
	if parallelism != 1 {
		return nil, fmt.Errorf("sliceSource runs with parallelism 1, not %d", parallelism)
	}
	return &sliceReader{src: s}, nil
}

type sliceReader struct {
	src  *sliceSource
	next int
}

func (r *sliceReader) Open(*task.Context) error { return nil }
func (r *sliceReader) Read(b *task.Batch[hit]) (task.ReadStatus, error) {
	for r.next < len(r.src.data) && b.Len() < cap(b.Values) {
		b.Append(task.NoTimestamp, r.src.data[r.next])
		r.next++
	}
	if r.next == len(r.src.data) {
		if r.src.bounded {
			return task.ReadStatus{End: true}, nil
		}
		return task.ReadStatus{Wait: 5 * time.Millisecond}, nil
	}
	return task.ReadStatus{}, nil
}
func (r *sliceReader) Snapshot() ([]byte, error) { return fmt.Appendf(nil, "%d", r.next), nil }
func (r *sliceReader) Close() error              { return nil }

// lineSink collects formatted records from every subtask.
type lineSink[T any] struct {
	mu     sync.Mutex
	lines  []string
	format func(T) string
}

func (s *lineSink[T]) NewWriter(int, int) (task.SinkWriter[T], error) {
	return lineWriter[T]{s}, nil
}

func (s *lineSink[T]) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.lines)
	slices.Sort(out)
	return out
}

type lineWriter[T any] struct{ s *lineSink[T] }

func (w lineWriter[T]) Open(*task.Context) error { return nil }
func (w lineWriter[T]) Write(b *task.Batch[T]) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	for i, v := range b.Values {
		w.s.lines = append(w.s.lines, fmt.Sprintf("%s ts=%d", w.s.format(v), b.Times[i]))
	}
	return nil
}
func (w lineWriter[T]) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (w lineWriter[T]) NotifyCheckpointComplete(int64) error { return nil }
func (w lineWriter[T]) Finish() error                        { return nil }
func (w lineWriter[T]) Close() error                         { return nil }

func formatCount(r stream.WindowResult[string, int64]) string {
	return fmt.Sprintf("%s [%d,%d) %d", r.Key, r.Window.Start, r.Window.End, r.Value)
}

// TestWindowedBoundedAndUnbounded runs one windowed job over the same records
// read as a bounded text file, a bounded input and an unbounded input, on
// both state backends: the
// results and the late records must be the same, and match a count made
// directly from the data.
func TestWindowedBoundedAndUnbounded(t *testing.T) {
	data, lateHits := hits()
	counts := map[string]int{}
	for _, h := range data {
		if isReal(h) && !slices.Contains(lateHits, h) {
			start := h.Ts / 100 * 100
			counts[fmt.Sprintf("%s [%d,%d) %%d ts=%d", h.User, start, start+100, start+99)]++
		}
	}
	var want, wantLate []string
	for f, n := range counts {
		want = append(want, fmt.Sprintf(f, n))
	}
	for _, h := range lateHits {
		wantLate = append(wantLate, fmt.Sprintf("%s ts=%d", formatHit(h), h.Ts))
	}
	slices.Sort(want)
	slices.Sort(wantLate)

	// The same records as a text file, one "user,ts" line each.
	var text strings.Builder
	for _, h := range data {
		fmt.Fprintf(&text, "%s,%d\n", h.User, h.Ts)
	}
	hitsFile := filepath.Join(t.TempDir(), "hits.txt")
	if err := os.WriteFile(hitsFile, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, backend := range []string{"heap", "lsm"} {
		for _, input := range []string{"file", "bounded", "unbounded"} {
			bounded := input != "unbounded"
			t.Run(backend+"/"+input, func(t *testing.T) {
				results := &lineSink[stream.WindowResult[string, int64]]{format: formatCount}
				late := &lineSink[hit]{format: formatHit}
				env := stream.NewEnv("windowed-test")
				env.SetParallelism(2)
				var src *stream.Stream[hit]
				if input == "file" {
					lines := stream.FromSource(env, "hits file", file.Text(hitsFile),
						stream.BoundedOutOfOrderness(10*time.Millisecond, lineTime)).Parallelism(1)
					src = stream.TryMap(lines, "parse", parseHit).Parallelism(1)
				} else {
					src = stream.FromSource(env, "hits", &sliceSource{data: data, bounded: bounded},
						stream.BoundedOutOfOrderness(10*time.Millisecond, hitTime)).Parallelism(1)
				}
				w := stream.Window(stream.KeyBy(stream.Filter(src, "drop sentinel", isReal), hitUser),
					stream.TumblingEventTime(100*time.Millisecond))
				stream.WindowAggregate(w, "count", stream.Count[hit](), nil).SinkTo("results", results)
				w.LateRecords().SinkTo("late", late)
				g, err := env.Graph()
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				x, err := engine.Start(ctx, g, engine.Options{BatchSize: 16, StateBackend: backend, StateDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if bounded {
					if err := x.Wait(); err != nil {
						t.Fatal(err)
					}
				} else {
					// An unbounded job never ends: stop it once every result is in.
					for len(results.sorted()) < len(want) || len(late.sorted()) < len(wantLate) {
						select {
						case <-x.Done():
							t.Fatalf("unbounded job ended: %v", x.Wait())
						case <-ctx.Done():
							t.Fatalf("timed out with %d of %d results", len(results.sorted()), len(want))
						case <-time.After(10 * time.Millisecond):
						}
					}
					cancel()
					<-x.Done()
				}
				if got := results.sorted(); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("results:\n got  %q\n want %q", got, want)
				}
				if got := late.sorted(); strings.Join(got, "\n") != strings.Join(wantLate, "\n") {
					t.Errorf("late records: got %q, want %q", got, wantLate)
				}
			})
		}
	}
}

func TestWindowGraphErrors(t *testing.T) {
	cases := []struct {
		name  string
		build func(env *stream.Env)
		want  string
	}{
		{"late records before a window function", func(env *stream.Env) {
			w := stream.Window(stream.KeyBy(stream.FromSource(env, "hits", &sliceSource{bounded: true}, nil), hitUser),
				stream.TumblingEventTime(time.Second))
			w.LateRecords()
		}, "LateRecords after \"Source: hits\": apply WindowAggregate, WindowReduce or WindowProcess first"},
		{"zero window size", func(env *stream.Env) {
			stream.Window(stream.KeyBy(stream.FromSource(env, "hits", &sliceSource{bounded: true}, nil), hitUser),
				stream.TumblingEventTime(0))
		}, "tumbling window size 0s: must be at least 1ms"},
		{"record type without codec", func(env *stream.Env) {
			notes := stream.Map(stream.FromSource(env, "hits", &sliceSource{bounded: true}, nil), "note", func(h hit) noted { return noted{User: h.User} })
			w := stream.Window(stream.KeyBy(notes, func(n noted) string { return n.User }), stream.SessionEventTime(time.Second))
			stream.WindowProcess(w, "list", func(string, stream.TimeWindow, []noted, *stream.Collector[int]) error { return nil }, nil)
		}, "window list records: codec: no codec for stream_test.noted field Note of type *string"},
		{"interval bounds", func(env *stream.Env) {
			k := stream.KeyBy(stream.FromSource(env, "hits", &sliceSource{bounded: true}, nil), hitUser)
			stream.IntervalJoin(k, k, time.Second, 0, "ij", func(a, b hit) int { return 0 }, nil, nil)
		}, "interval join \"ij\": lower bound 1s is above the upper bound 0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := stream.NewEnv("bad")
			c.build(env)
			_, err := env.Graph()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// parseHit reads a "user,ts" line of the hits file.
func parseHit(line string) (hit, error) {
	user, ts, ok := strings.Cut(line, ",")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil {
		return hit{}, fmt.Errorf("bad hit line %q", line)
	}
	return hit{User: user, Ts: n}, nil
}

// lineTime is the event time of a "user,ts" line.
func lineTime(line string) int64 {
	h, _ := parseHit(line)
	return h.Ts
}
