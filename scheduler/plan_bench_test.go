package scheduler

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/internal/benchmem"
	"github.com/loom-yarn/loom/task"
)

// scaleJob is the shape of the scale benchmarks: a line of chains of equal
// parallelism joined by all-to-all hash edges, every chain after the source
// keyed. Issue 8 asked for 10,000 workers and 100,000 subtasks as two chains
// of 50,000, but no vertex may exceed 32,768 subtasks (state.MaxMaxParallelism
// key groups, Flink's limit too), so the same totals come from five chains of
// 20,000 with two slots per worker: four hash edges of 20,000 x 20,000
// channels, 1.6e9 channels in all.
type scaleJob struct {
	chains, parallelism, slots int
}

func (s scaleJob) workers() int  { return s.parallelism / s.slots }
func (s scaleJob) subtasks() int { return s.chains * s.parallelism }

// String names the job in benchmark names (one level: "/" would start
// another in -bench patterns).
func (s scaleJob) String() string { return fmt.Sprintf("workers=%d", s.workers()) }

// scaleJobs go from a tenth of the target to the target, so that a cost
// growing faster than the job shows as a ratio above 10.
var scaleJobs = []scaleJob{{chains: 5, parallelism: 2_000, slots: 2}, {chains: 5, parallelism: 20_000, slots: 2}}

// graph builds and resolves the job's logical graph: source -> keyBy ->
// keyed -> keyBy -> keyed ...
func (s scaleJob) graph(b *testing.B) *graph.Graph {
	g := graph.New("scale")
	var prev *graph.Vertex
	for i := range s.chains {
		v := g.Add(&graph.Vertex{Name: fmt.Sprintf("op%d", i), Parallelism: s.parallelism, Source: i == 0, Bounded: true, Keyed: i > 0,
			Inputs: min(i, 1), New: noop, OutTypes: []task.Type{task.TypeOf[int]()}})
		if prev != nil {
			g.Connect(&graph.Edge{From: prev, To: v, Part: graph.Hash})
		}
		prev = v
	}
	if err := g.Resolve(); err != nil {
		b.Fatal(err)
	}
	return g
}

func (s scaleJob) plan(b *testing.B) *Plan {
	p, err := New(s.graph(b), Options{SlotsPerWorker: s.slots, Worker: Resources{MemoryMB: 4096, VCores: 2}})
	if err != nil {
		b.Fatal(err)
	}
	if p.Workers != s.workers() || p.NumSubtasks() != s.subtasks() {
		b.Fatalf("plan of %d workers and %d subtasks, want %d and %d", p.Workers, p.NumSubtasks(), s.workers(), s.subtasks())
	}
	return p
}

// BenchmarkPlan measures the physical plan of a 10,000-worker job with
// all-to-all hash edges (issue 8: plan and deployment together under 5 s
// and 1 GiB): what the client does (build the graph and the plan, encode it
// into the job spec) and what one worker reads from it. Run it with
//
//	go test ./scheduler -run '^$' -bench 'Plan/^workers=10000$' -benchtime 3x
func BenchmarkPlan(b *testing.B) {
	for _, s := range scaleJobs {
		b.Run(s.String()+"/build", func(b *testing.B) {
			m := benchmem.Start()
			var p *Plan
			for b.Loop() {
				p = s.plan(b)
			}
			m.Report(b, p)
		})
		b.Run(s.String()+"/worker", func(b *testing.B) {
			p := s.plan(b)
			w := p.Workers / 2
			// Each of the worker's subtasks reads from and writes to every
			// subtask of its neighbours but the slots' own.
			edges := 2 * (s.chains - 1)
			wantRemote := s.slots * edges * (s.parallelism - s.slots)
			m := benchmem.Start()
			for b.Loop() {
				out, in, _, local := p.WorkerChannels(w)
				if in+out != wantRemote || local != s.slots*edges*s.slots {
					b.Fatalf("worker %d: %d remote input and %d remote output channels, %d local; want %d remote, %d local",
						w, in, out, local, wantRemote, s.slots*edges*s.slots)
				}
			}
			b.ReportMetric(float64(wantRemote), "remote-channels")
			m.Report(b, p)
		})
		b.Run(s.String()+"/json", func(b *testing.B) {
			p := s.plan(b)
			m := benchmem.Start()
			var data []byte
			for b.Loop() {
				var err error
				if data, err = json.Marshal(p); err != nil {
					b.Fatal(err)
				}
			}
			var back Plan
			if err := json.Unmarshal(data, &back); err != nil || back.NumSubtasks() != s.subtasks() {
				b.Fatalf("the plan does not survive JSON: %d subtasks, %v", back.NumSubtasks(), err)
			}
			b.ReportMetric(float64(len(data)), "json-bytes")
			m.Report(b, data)
		})
	}
}
