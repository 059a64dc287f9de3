package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/task"
)

func noop(*task.Context, []any) (task.Operator, error) { return nil, nil }

// chains builds source -> map (forward) -> sink with the given parallelisms;
// part is the partitioning between map and sink.
func chains(t *testing.T, pSrc, pSink int, part graph.Partitioning) *graph.Graph {
	g := graph.New("j")
	add := func(name string, p int, src bool) *graph.Vertex {
		return g.Add(&graph.Vertex{Name: name, Parallelism: p, Source: src, Bounded: true, New: noop,
			OutTypes: []task.Type{task.TypeOf[int]()}})
	}
	s, m, k := add("src", pSrc, true), add("map", pSrc, false), add("sink", pSink, false)
	g.Connect(&graph.Edge{From: s, To: m})
	g.Connect(&graph.Edge{From: m, To: k, Part: part})
	if err := g.Resolve(); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name          string
		pSrc, pSink   int
		part          graph.Partitioning
		slots         int
		wantWorkers   int
		wantPlacement string
		wantCross     int
	}{
		{"one chain over two workers", 4, 4, graph.Default, 2, 2,
			"w0[src-0/0 src-0/1] w1[src-0/2 src-0/3]", 0},
		{"uneven: last worker half full", 3, 3, graph.Default, 2, 2,
			"w0[src-0/0 src-0/1] w1[src-0/2]", 0},
		{"rebalance to a smaller sink crosses workers", 4, 2, graph.Default, 2, 2,
			"w0[src-0/0 sink-0/0 src-0/1 sink-0/1] w1[src-0/2 src-0/3]", 1},
		{"all in one worker: nothing crosses", 4, 2, graph.Hash, 4, 1,
			"w0[src-0/0 sink-0/0 src-0/1 sink-0/1 src-0/2 src-0/3]", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := chains(t, tc.pSrc, tc.pSink, tc.part)
			p, err := New(cs, Options{SlotsPerWorker: tc.slots, Worker: Resources{MemoryMB: 256, VCores: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Workers != tc.wantWorkers {
				t.Errorf("workers %d, want %d", p.Workers, tc.wantWorkers)
			}
			var parts []string
			for w := 0; w < p.Workers; w++ {
				var names []string
				for _, s := range p.Subtasks(w) {
					names = append(names, s.String())
				}
				parts = append(parts, fmt.Sprintf("w%d[%s]", w, strings.Join(names, " ")))
			}
			if got := strings.Join(parts, " "); got != tc.wantPlacement {
				t.Errorf("placement %s\nwant      %s", got, tc.wantPlacement)
			}
			if got := len(p.CrossWorkerEdges()); got != tc.wantCross {
				t.Errorf("%d cross-worker edges, want %d", got, tc.wantCross)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	cs := chains(t, 2, 2, graph.Default)
	if _, err := New(cs, Options{SlotsPerWorker: 0, Worker: Resources{MemoryMB: 1, VCores: 1}}); err == nil {
		t.Error("0 slots per worker accepted")
	}
	if _, err := New(cs, Options{SlotsPerWorker: 1, Worker: Resources{MemoryMB: 0, VCores: 1}}); err == nil {
		t.Error("0 MB workers accepted")
	}
	if _, err := New(graph.New("empty"), Options{SlotsPerWorker: 1, Worker: Resources{MemoryMB: 1, VCores: 1}}); err == nil {
		t.Error("empty job accepted")
	}
}

// TestWorkerChannels: which of a worker's channels leave its process.
func TestWorkerChannels(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		pSrc, pSink, slots    int
		part                  graph.Partitioning
		w                     int
		out, in, gates, local int
	}{
		// src-0/0,1 on worker 0 write to sink 0..3 (2 on worker 1); sink 0,1 read src 0..3.
		{"hash across two workers", 4, 4, 2, graph.Hash, 0, 4, 4, 2, 8},
		{"all in one worker", 4, 4, 4, graph.Hash, 0, 0, 0, 0, 32},
		// A forward edge chains source, map and sink into one task.
		{"forward chains into one task: no channels", 4, 4, 2, graph.Forward, 1, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(chains(t, tc.pSrc, tc.pSink, tc.part), Options{SlotsPerWorker: tc.slots, Worker: Resources{MemoryMB: 1, VCores: 1}})
			if err != nil {
				t.Fatal(err)
			}
			out, in, gates, local := p.WorkerChannels(tc.w)
			if out != tc.out || in != tc.in || gates != tc.gates || local != tc.local {
				t.Errorf("worker %d: out %d in %d gates %d local %d, want %d %d %d %d", tc.w, out, in, gates, local, tc.out, tc.in, tc.gates, tc.local)
			}
		})
	}
}
