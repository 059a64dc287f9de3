package stream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
)

func pairHits(a, b hit) string    { return fmt.Sprintf("%s %d-%d", a.User, a.Ts, b.Ts) }
func identityStr(s string) string { return s }

// TestJoinsThroughEngine joins the test records with themselves by user,
// through the engine (two inputs, hash-partitioned, parallelism 2): per
// 100ms window, and within 30ms of each other. The expectations are the
// pairs counted directly from the data; the far-late records match nothing.
func TestJoinsThroughEngine(t *testing.T) {
	data, lateHits := hits()
	var real []hit
	for _, h := range data {
		if isReal(h) && !slices.Contains(lateHits, h) {
			real = append(real, h)
		}
	}
	var wantWindow, wantInterval []string
	for _, x := range real {
		for _, y := range real {
			if x.User != y.User {
				continue
			}
			if x.Ts/100 == y.Ts/100 {
				wantWindow = append(wantWindow, fmt.Sprintf("%s ts=%d", pairHits(x, y), x.Ts/100*100+99))
			}
			if y.Ts >= x.Ts-30 && y.Ts <= x.Ts+30 {
				wantInterval = append(wantInterval, fmt.Sprintf("%s ts=%d", pairHits(x, y), max(x.Ts, y.Ts)))
			}
		}
	}
	slices.Sort(wantWindow)
	slices.Sort(wantInterval)
	for _, backend := range []string{"heap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			windowed := &lineSink[string]{format: identityStr}
			interval := &lineSink[string]{format: identityStr}
			env := stream.NewEnv("joins-test")
			env.SetParallelism(2)
			src := stream.FromSource(env, "hits", &sliceSource{data: data, bounded: true},
				stream.BoundedOutOfOrderness(10*time.Millisecond, hitTime)).Parallelism(1)
			left := stream.KeyBy(stream.Filter(src, "left", isReal), hitUser)
			right := stream.KeyBy(stream.Filter(src, "right", isReal), hitUser)
			stream.WindowJoin(left, right, stream.TumblingEventTime(100*time.Millisecond), "per window", pairHits, codec.JSON[hit](), codec.JSON[hit]()).
				SinkTo("windowed", windowed)
			stream.IntervalJoin(left, right, -30*time.Millisecond, 30*time.Millisecond, "within 30ms", pairHits, codec.JSON[hit](), codec.JSON[hit]()).
				SinkTo("interval", interval)
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
			if err := x.Wait(); err != nil {
				t.Fatal(err)
			}
			if got := windowed.sorted(); strings.Join(got, "\n") != strings.Join(wantWindow, "\n") {
				t.Errorf("window join: got %d pairs, want %d\n got  %q\n want %q", len(got), len(wantWindow), got, wantWindow)
			}
			if got := interval.sorted(); strings.Join(got, "\n") != strings.Join(wantInterval, "\n") {
				t.Errorf("interval join: got %d pairs, want %d\n got  %q\n want %q", len(got), len(wantInterval), got, wantInterval)
			}
		})
	}
}
