package nexmark

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/blackhole"
	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
)

// benchEvents is the number of events per benchmark run:
// NEXMARK_BENCH_EVENTS, or 500,000 (under 2 s per query and run on 2
// cores, so that `make bench`, 4 runs each, takes about a minute here).
func benchEvents(b *testing.B) int64 {
	if s := os.Getenv("NEXMARK_BENCH_EVENTS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("NEXMARK_BENCH_EVENTS=%q: want a positive number of events", s)
		}
		return n
	}
	return 500_000
}

// benchBackend is the state backend of the benchmarks: NEXMARK_BENCH_BACKEND
// (heap or lsm), or heap.
func benchBackend() string {
	if s := os.Getenv("NEXMARK_BENCH_BACKEND"); s != "" {
		return s
	}
	return "heap"
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs run b.N times and reports events per wall second and per
// CPU second (events/s/core: the figure the Flink comparison uses).
func measure(b *testing.B, events int64, run func()) {
	b.Helper()
	var wall, cpu time.Duration
	for i := 0; i < b.N; i++ {
		c0, w0 := cpuTime(), time.Now()
		run()
		cpu += cpuTime() - c0
		wall += time.Since(w0)
	}
	total := float64(events) * float64(b.N)
	b.ReportMetric(total/wall.Seconds(), "events/s")
	b.ReportMetric(total/cpu.Seconds(), "events/s/core")
}

// runBench runs build over cfg's events at parallelism 2 into a blackhole,
// as `loom run nexmark-qN --output blackhole -p 2` does, on benchBackend.
func runBench(b *testing.B, cfg Config, build func(*stream.Stream[Event])) {
	env := stream.NewEnv("nexmark-bench")
	env.SetParallelism(2)
	events, err := Events(env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	build(events)
	g, err := env.Graph()
	if err != nil {
		b.Fatal(err)
	}
	x, err := engine.Start(context.Background(), g, engine.Options{StateBackend: benchBackend(), StateDir: b.TempDir()})
	if err == nil {
		err = x.Wait()
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNexmark runs each query over generated events at parallelism 2
// into a blackhole and reports events/s and events/s/core (CPU seconds of
// the whole process, generator included, as the suite measures Flink).
func BenchmarkNexmark(b *testing.B) {
	n := benchEvents(b)
	cfg := Config{Events: n, Seed: 1}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			measure(b, n, func() {
				runBench(b, cfg, func(events *stream.Stream[Event]) {
					q.build(events, results{final: true, dir: Blackhole})
				})
			})
		})
	}
}

// BenchmarkGenerator measures the generator alone: "fused" is one goroutine
// generating event after event (the ceiling of a source), "source" the
// Nexmark source at parallelism 2 straight into a blackhole (the cost every
// query pays before its own work).
func BenchmarkGenerator(b *testing.B) {
	n := benchEvents(b)
	cfg := Config{Events: n, Seed: 1}
	b.Run("fused", func(b *testing.B) {
		g := NewGenerator(cfg)
		var bytes int
		measure(b, n, func() {
			var r datagen.Rand
			for i := int64(0); i < n; i++ {
				r.Reset(cfg.Seed, i)
				e := g.event(i, &r)
				bytes += len(e.Bid.Extra)
			}
		})
		_ = bytes
	})
	b.Run("source", func(b *testing.B) {
		measure(b, n, func() {
			runBench(b, cfg, func(events *stream.Stream[Event]) {
				events.SinkTo("blackhole", blackhole.New[Event]())
			})
		})
	})
}
