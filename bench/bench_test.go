package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/blackhole"
	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
)

const statelessRecords = 4_000_000

// runJob builds a graph on a fresh env, runs it locally and fails b on error.
func runJob(b *testing.B, name string, build func(env *stream.Env), opts engine.Options) {
	env := stream.NewEnv(name)
	build(env)
	g, err := env.Graph()
	if err != nil {
		b.Fatal(err)
	}
	x, err := engine.Start(context.Background(), g, opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := x.Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStateless is (a): generate -> filter -> map -> blackhole, one
// subtask, against a hand-fused loop doing the same work per record.
func BenchmarkStateless(b *testing.B) {
	gen := genEvent(100_000)
	var loom, fused rate
	b.Run("loom", func(b *testing.B) {
		sink := blackhole.New[Event]()
		var r rate
		for i := 0; i < b.N; i++ {
			r = measure(statelessRecords, func() {
				runJob(b, "stateless", func(env *stream.Env) {
					src := stream.FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: statelessRecords, Seed: 7}), nil)
					m := stream.Map(stream.Filter(src, "filter", keep), "map", convert)
					m.SinkTo("blackhole", sink)
				}, engine.Options{})
			})
		}
		loom = r
		b.ReportMetric(r.cpu, "records/s/core")
	})
	b.Run("fused", func(b *testing.B) {
		var r rate
		var sum int64
		for i := 0; i < b.N; i++ {
			r = measure(statelessRecords, func() {
				var rnd datagen.Rand
				for j := int64(0); j < statelessRecords; j++ {
					rnd.Reset(7, j)
					e := gen(j, &rnd)
					if keep(e) {
						sum += convert(e).Price
					}
				}
			})
		}
		fused = r
		b.ReportMetric(r.cpu, "records/s/core")
		_ = sum
	})
	if fused.cpu > 0 {
		fmt.Printf("stateless: loom %.0f records/s/core, hand-fused %.0f records/s/core: loom at %.0f%% of the fused loop\n",
			loom.cpu, fused.cpu, 100*loom.cpu/fused.cpu)
	}
}

const windowRecords = 2_000_000

// eventTime spaces events 1 ms apart (1000 events/s of event time): a
// 10 s tumbling window holds 10,000 events.
func eventTime(e Event) int64 { return e.ID }

// BenchmarkWindowCount is (b): a keyed tumbling event-time window count over
// 100k keys, one subtask, against a hand-fused loop keeping a map per window.
func BenchmarkWindowCount(b *testing.B) {
	const keys = 100_000
	const size = int64(10_000) // 10 s in ms
	gen := genEvent(keys)
	var loom, fused rate
	b.Run("loom", func(b *testing.B) {
		for _, backend := range []string{"heap"} {
			var r rate
			sink := blackhole.New[stream.WindowResult[int64, int64]]()
			for i := 0; i < b.N; i++ {
				r = measure(windowRecords, func() {
					runJob(b, "windows", func(env *stream.Env) {
						src := stream.FromSource(env, "gen", datagen.New(gen, datagen.Options{Count: windowRecords, Seed: 7}),
							stream.BoundedOutOfOrderness(0, eventTime))
						w := stream.Window(stream.KeyBy(src, func(e Event) int64 { return e.Key }), stream.TumblingEventTime(10*time.Second))
						stream.WindowAggregate(w, "count", stream.Count[Event](), nil).SinkTo("blackhole", sink)
					}, engine.Options{StateBackend: backend})
				})
			}
			loom = r
			b.ReportMetric(r.cpu, "records/s/core")
		}
	})
	b.Run("fused", func(b *testing.B) {
		var r rate
		var emitted int64
		for i := 0; i < b.N; i++ {
			r = measure(windowRecords, func() {
				counts := map[int64]int64{}
				window := int64(-1)
				var rnd datagen.Rand
				for j := int64(0); j < windowRecords; j++ {
					rnd.Reset(7, j)
					e := gen(j, &rnd)
					if w := eventTime(e) / size; w != window {
						emitted += int64(len(counts))
						clear(counts)
						window = w
					}
					counts[e.Key]++
				}
				emitted += int64(len(counts))
			})
		}
		fused = r
		b.ReportMetric(r.cpu, "records/s/core")
		_ = emitted
	})
	if fused.cpu > 0 {
		fmt.Printf("window count (100k keys): loom %.0f records/s/core, hand-fused %.0f records/s/core: loom at %.0f%% of the fused loop\n",
			loom.cpu, fused.cpu, 100*loom.cpu/fused.cpu)
	}
}
