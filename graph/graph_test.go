package graph

import (
	"errors"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

func noop(*task.Context, []any) (task.Operator, error) { return nil, nil }

// builder makes small graphs for table tests.
type builder struct{ g *Graph }

func (b builder) v(name string, p int, src bool) *Vertex {
	return b.g.Add(&Vertex{Name: name, Parallelism: p, Source: src, Bounded: src, New: noop,
		OutTypes: []task.Type{task.TypeOf[string]()}})
}

func (b builder) e(from, to *Vertex, part Partitioning) *Edge {
	e := &Edge{From: from, To: to, Part: part}
	b.g.Connect(e)
	return e
}

func chainNames(cs []*Chain) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Name)
	}
	return strings.Join(s, " | ")
}

func TestChains(t *testing.T) {
	tests := []struct {
		name  string
		build func(b builder)
		want  string
	}{
		{"forward same parallelism chains", func(b builder) {
			s, m, k := b.v("src", 2, true), b.v("map", 2, false), b.v("sink", 2, false)
			b.e(s, m, Default)
			b.e(m, k, Default)
		}, "src -> map -> sink"},
		{"parallelism change breaks the chain", func(b builder) {
			s, m, k := b.v("src", 2, true), b.v("map", 4, false), b.v("sink", 4, false)
			b.e(s, m, Default)
			b.e(m, k, Default)
		}, "src | map -> sink"},
		{"hash edge breaks the chain", func(b builder) {
			s, m := b.v("src", 2, true), b.v("count", 2, false)
			m.Keyed = true
			b.e(s, m, Hash)
		}, "src | count"},
		{"fan-out is not chained", func(b builder) {
			s, a, c := b.v("src", 1, true), b.v("a", 1, false), b.v("b", 1, false)
			b.e(s, a, Default)
			b.e(s, c, Default)
		}, "src | a | b"},
		{"union (two inputs) is not chained", func(b builder) {
			s1, s2, u := b.v("s1", 1, true), b.v("s2", 1, true), b.v("union", 1, false)
			b.e(s1, u, Default)
			b.e(s2, u, Default)
		}, "s1 | s2 | union"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := builder{New("job")}
			tc.build(b)
			if err := b.g.Resolve(); err != nil {
				t.Fatal(err)
			}
			if got := chainNames(b.g.Chains()); got != tc.want {
				t.Errorf("chains %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name  string
		build func(b builder)
		want  string
	}{
		{"empty", func(b builder) {}, "the job graph is empty"},
		{"forward with different parallelism", func(b builder) {
			b.e(b.v("src", 2, true), b.v("map", 3, false), Forward)
		}, "forward edge src -> map joins parallelism 2 to 3"},
		{"keyed operator fed without KeyBy", func(b builder) {
			s, k := b.v("src", 2, true), b.v("count", 2, false)
			k.Keyed = true
			b.e(s, k, Rebalance)
		}, "operator count is keyed but its input from src is rebalance-partitioned"},
		{"duplicate uid", func(b builder) {
			s, m := b.v("src", 1, true), b.v("map", 1, false)
			m.UID = s.UID
			b.e(s, m, Default)
		}, "have the same uid"},
		{"no source", func(b builder) {
			m := b.v("map", 1, false)
			b.e(m, b.v("sink", 1, false), Default)
		}, "has no input"},
		{"parallelism above max parallelism", func(b builder) {
			b.g.MaxParallelism = 4
			b.e(b.v("src", 8, true), b.v("sink", 8, false), Default)
		}, "parallelism 8 exceeds max parallelism 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := builder{New("job")}
			tc.build(b)
			err := b.g.Resolve()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Resolve() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := New("j").Resolve(); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty graph: %v, want ErrEmpty", err)
	}
}

func TestHashChangesWithTheJob(t *testing.T) {
	mk := func(p int, fn string) string {
		b := builder{New("job")}
		s, m := b.v("src", p, true), b.v("map", p, false)
		m.Funcs = []string{fn}
		b.e(s, m, Default)
		if err := b.g.Resolve(); err != nil {
			t.Fatal(err)
		}
		return b.g.Hash()
	}
	base := mk(2, "main.f")
	if mk(2, "main.f") != base {
		t.Error("the same graph hashed differently")
	}
	if mk(3, "main.f") == base {
		t.Error("a parallelism change kept the hash")
	}
	if mk(2, "main.g") == base {
		t.Error("another function kept the hash")
	}
}
