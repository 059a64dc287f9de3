package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/task"
)

// buildChains makes a graph from a spec like "src:2 map:2 sink:1" (name and
// parallelism; names starting with "src" are sources) and edges like
// "src>map:fwd map>sink:hash", and returns it resolved.
func buildGraph(t *testing.T, vertices, edges string) *graph.Graph {
	t.Helper()
	g := graph.New("j")
	byName := map[string]*graph.Vertex{}
	for _, spec := range strings.Fields(vertices) {
		var name string
		var p int
		name, ps, _ := strings.Cut(spec, ":")
		if _, err := fmt.Sscan(ps, &p); err != nil {
			t.Fatalf("vertex %q: %v", spec, err)
		}
		byName[name] = g.Add(&graph.Vertex{Name: name, Parallelism: p, Source: strings.HasPrefix(name, "src"), Bounded: true,
			New: noop, OutTypes: []task.Type{task.TypeOf[int]()}})
	}
	parts := map[string]graph.Partitioning{"fwd": graph.Forward, "hash": graph.Hash, "rebalance": graph.Rebalance, "broadcast": graph.Broadcast}
	inputs := map[*graph.Vertex]int{}
	for _, spec := range strings.Fields(edges) {
		ft, part, _ := strings.Cut(spec, ":")
		from, to, _ := strings.Cut(ft, ">")
		e := &graph.Edge{From: byName[from], To: byName[to], Part: parts[part], ToInput: inputs[byName[to]]}
		inputs[byName[to]]++
		if e.From == nil || e.To == nil {
			t.Fatalf("edge %q: unknown vertex", spec)
		}
		g.Connect(e)
	}
	for v, n := range inputs {
		v.Inputs = n
	}
	if err := g.Resolve(); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestSplitStages(t *testing.T) {
	tests := []struct {
		name            string
		vertices, edges string
		want            string // stages as [chain ids]
		wantErr         string
	}{
		{"one chain is one stage", "src:4 map:4 sink:4", "src>map:fwd map>sink:fwd",
			"[src-0]", ""},
		{"wordcount: source chain, then the keyed count", "src:4 split:4 count:4", "src>split:fwd split>count:hash",
			"[src-0] [count-0]", ""},
		{"three stages through two shuffles", "src:2 agg:4 sink:1", "src>agg:hash agg>sink:rebalance",
			"[src-0] [agg-0] [sink-0]", ""},
		{"two sources share the first stage", "src1:2 src2:3 join:2", "src1>join:hash src2>join:hash",
			"[src1-0 src2-0] [join-0]", ""},
		{"an unchained forward edge stays in its stage", "src:2 a:2 b:2 sink:1", "src>a:fwd src>b:fwd a>sink:hash b>sink:hash",
			"[src-0 a-0 b-0] [sink-0]", ""},
		{"a forward edge pulls its producer into the later stage", "src1:2 src2:2 x:2 j:2", "src1>x:hash x>j:fwd src2>j:fwd",
			"[src1-0] [src2-0 x-0 j-0]", ""},
		{"broadcast is blocking too", "src:1 b:3", "src>b:broadcast", "[src-0] [b-0]", ""},
		{"forward and blocking paths between the same chains", "src:2 c:2 b:2", "src>b:fwd src>c:hash c>b:hash",
			"", "joined by a forward edge and also by a path through a blocking edge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(buildGraph(t, tc.vertices, tc.edges), Options{SlotsPerWorker: 1, Worker: Resources{MemoryMB: 1, VCores: 1}, Blocking: true})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "execution.batch-shuffle-mode") {
					t.Errorf("error %q does not name the option to change", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			stages := p.Stages
			var got []string
			for _, s := range stages {
				got = append(got, "["+strings.Join(s.Chains, " ")+"]")
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("stages %s, want %s", g, tc.want)
			}
			for i, s := range stages {
				for _, c := range s.Chains {
					if p.StageOf(c) != i {
						t.Errorf("StageOf(%s) = %d, want %d", c, p.StageOf(c), i)
					}
				}
			}
			if p.NumStages() != len(stages) {
				t.Errorf("NumStages %d, want %d", p.NumStages(), len(stages))
			}
		})
	}
	p, err := New(buildGraph(t, "src:2 agg:2", "src>agg:hash"), Options{SlotsPerWorker: 1, Worker: Resources{MemoryMB: 1, VCores: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if p.NumStages() != 1 || p.StageOf("src-0") != 0 || p.StageOf("agg-0") != 0 || p.StageOf("unknown") != -1 {
		t.Error("a plan without stages must run everything in one stage")
	}
}
