// Package graph is the logical job graph: vertices (operators) with their
// parallelism, edges with their partitioning, and the chaining of one-to-one
// edges into tasks. Every process of a job builds the same graph from the same
// code and flags; Hash identifies it so that processes can check they agree.
package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// Partitioning says how an edge spreads records over the consumer's subtasks.
type Partitioning uint8

const (
	// Default is Forward when both sides have the same parallelism, else Rebalance.
	Default Partitioning = iota
	// Forward sends subtask i's records to subtask i (one-to-one).
	Forward
	// Hash sends each record to the subtask owning its key's key group.
	Hash
	// Rebalance spreads records round-robin.
	Rebalance
	// Broadcast sends every record to every subtask.
	Broadcast
)

func (p Partitioning) String() string {
	return [...]string{"default", "forward", "hash", "rebalance", "broadcast"}[p]
}

// OperatorFactory makes one subtask's operator. outs[i] is an
// task.Output[T] for the vertex's output i, of type OutTypes[i].
type OperatorFactory func(ctx *task.Context, outs []any) (task.Operator, error)

// WriterFactory makes the writer of one producer subtask onto an edge's
// channels. The result is a task.ChannelWriter that is also a
// task.Output[T] of the edge's record type.
type WriterFactory func(ctx context.Context, senders []network.Sender, batchSize, maxParallelism, consumerParallelism int, tm *task.TaskMetrics, out *task.OperatorMetrics) task.ChannelWriter

// Vertex is one operator of the job.
type Vertex struct {
	ID   int
	Name string // readable, e.g. "Map: tokenize"
	// UID identifies the operator's state in checkpoints. It must stay the
	// same across runs of a job for a restore to find the state.
	UID            string
	Parallelism    int // 0: the job default
	MaxParallelism int // 0: the job's
	Source         bool
	Bounded        bool // for sources
	Keyed          bool // uses keyed state: its task gets a state backend
	Inputs         int  // number of logical inputs (0 for a source)
	OutTypes       []task.Type
	// Funcs names the user functions the operator calls (their symbols), so
	// that the graph's hash changes when the code does.
	Funcs []string
	New   OperatorFactory
	// Prepare, if set, runs once per job before any task starts (fresh is
	// false on a restore from a checkpoint): a file sink checks its directory.
	Prepare func(fresh bool) error

	in  []*Edge
	out []*Edge
}

// Edge connects output FromOutput of From to input ToInput of To.
type Edge struct {
	From       *Vertex
	FromOutput int
	To         *Vertex
	ToInput    int
	Part       Partitioning
	NewWriter  WriterFactory
	// NewCodec returns the serializer of the edge's batches, needed when a
	// producer and its consumer run in different processes. It fails for a
	// record type without a codec.
	NewCodec func() (network.BatchCodec, error)
}

// Graph is a job's logical graph.
type Graph struct {
	Name               string
	DefaultParallelism int
	MaxParallelism     int // 0: derived from the largest parallelism
	Vertices           []*Vertex
	Edges              []*Edge
}

// New returns an empty graph.
func New(name string) *Graph { return &Graph{Name: name, DefaultParallelism: 1} }

// Add adds v and gives it an id; a UID left empty is derived from its name
// and position among vertices of the same name.
func (g *Graph) Add(v *Vertex) *Vertex {
	v.ID = len(g.Vertices)
	if v.UID == "" {
		base := uidBase(v.Name)
		n := 0
		for _, o := range g.Vertices {
			if uidBase(o.Name) == base {
				n++
			}
		}
		v.UID = fmt.Sprintf("%s-%d", base, n)
	}
	g.Vertices = append(g.Vertices, v)
	return v
}

func uidBase(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// Connect adds an edge.
func (g *Graph) Connect(e *Edge) {
	g.Edges = append(g.Edges, e)
	e.From.out = append(e.From.out, e)
	e.To.in = append(e.To.in, e)
}

// InEdges returns the edges into v, in the order they were connected.
func (v *Vertex) InEdges() []*Edge { return v.in }

// OutEdges returns the edges out of v.
func (v *Vertex) OutEdges() []*Edge { return v.out }

// ErrEmpty is returned for a graph without operators.
var ErrEmpty = errors.New("the job graph is empty: the job defined no sources and sinks")

// Resolve applies defaults (parallelism, max parallelism, default
// partitioning) and validates the graph. It must run before Chains or Hash.
func (g *Graph) Resolve() error {
	if len(g.Vertices) == 0 {
		return ErrEmpty
	}
	if g.DefaultParallelism < 1 {
		return fmt.Errorf("job %s: default parallelism %d: must be at least 1", g.Name, g.DefaultParallelism)
	}
	maxP := 0
	for _, v := range g.Vertices {
		if v.Parallelism == 0 {
			v.Parallelism = g.DefaultParallelism
		}
		if v.Parallelism < 0 {
			return fmt.Errorf("operator %s: parallelism %d: must be at least 1", v.Name, v.Parallelism)
		}
		maxP = max(maxP, v.Parallelism)
	}
	if g.MaxParallelism == 0 {
		g.MaxParallelism = state.DefaultMaxParallelism(maxP)
	}
	seen := map[string]*Vertex{}
	hasSource := false
	for _, v := range g.Vertices {
		if o, dup := seen[v.UID]; dup {
			return fmt.Errorf("operators %q and %q have the same uid %q: give one of them another uid", o.Name, v.Name, v.UID)
		}
		seen[v.UID] = v
		if v.MaxParallelism == 0 {
			v.MaxParallelism = g.MaxParallelism
		}
		if v.Parallelism > v.MaxParallelism {
			return fmt.Errorf("operator %s: parallelism %d exceeds max parallelism %d (the number of key groups); raise pipeline.max-parallelism", v.Name, v.Parallelism, v.MaxParallelism)
		}
		if v.Source {
			hasSource = true
			if len(v.in) > 0 {
				return fmt.Errorf("source %s has inputs", v.Name)
			}
		} else if len(v.in) == 0 {
			return fmt.Errorf("operator %s has no input", v.Name)
		}
		if v.New == nil {
			return fmt.Errorf("operator %s has no implementation", v.Name)
		}
	}
	if !hasSource {
		return fmt.Errorf("job %s has no source", g.Name)
	}
	for _, e := range g.Edges {
		if e.Part == Default {
			if e.From.Parallelism == e.To.Parallelism {
				e.Part = Forward
			} else {
				e.Part = Rebalance
			}
		}
		if e.Part == Forward && e.From.Parallelism != e.To.Parallelism {
			return fmt.Errorf("forward edge %s -> %s joins parallelism %d to %d: use rebalance or equal parallelism", e.From.Name, e.To.Name, e.From.Parallelism, e.To.Parallelism)
		}
		if e.To.Keyed && e.Part != Hash && !(e.To.Parallelism == 1 && e.Part != Broadcast) {
			// A keyed operator must see all records of a key in one subtask.
			return fmt.Errorf("operator %s is keyed but its input from %s is %s-partitioned: use KeyBy", e.To.Name, e.From.Name, e.Part)
		}
	}
	return nil
}

// LargestParallelism is the largest parallelism of the graph's vertices
// (at least 1): the slots a job needs when one worker runs all of it.
func (g *Graph) LargestParallelism() int {
	n := 1
	for _, v := range g.Vertices {
		n = max(n, v.Parallelism)
	}
	return n
}

// Hash identifies the graph: operators, uids, parallelism, types, functions
// and edges. Two processes with the same hash run the same job.
func (g *Graph) Hash() string { return g.hash(true) }

// StateHash identifies the graph as its checkpoints see it: Hash without
// the operators' parallelism, which a restore may change (state is
// redistributed by key group, and by the operators that can redistribute
// theirs). Operators, uids, types, functions, edges and the number of key
// groups must stay the same.
func (g *Graph) StateHash() string { return g.hash(false) }

// ChainStateHashes identify each chain's operators as a checkpoint's state
// sees them, by chain id (its head's uid): the chain's operators with
// their uids, types, functions, keying and number of key groups, without
// parallelism. A restore matches a checkpoint's state to the job's
// operators by these when the whole graph changed: a chain with the same
// id and hash takes its state back, one that changed is refused, a chain
// the checkpoint does not know starts empty, and state of a chain the job
// no longer has is refused unless the user allows non-restored state.
// Matching is by chain, so a change of chaining (an operator added next to
// others, a new branch out of a chain) changes the chains it touches.
func (g *Graph) ChainStateHashes() map[string]string {
	out := map[string]string{}
	for _, c := range g.Chains() {
		h := sha256.New()
		fmt.Fprintf(h, "chain %s maxp %d\n", c.ID, g.MaxParallelism)
		for _, v := range c.Vertices {
			fmt.Fprintf(h, "v %q maxp=%d src=%v bounded=%v keyed=%v in=%d", v.UID, v.MaxParallelism, v.Source, v.Bounded, v.Keyed, v.Inputs)
			for _, t := range v.OutTypes {
				fmt.Fprintf(h, " out=%s", t.Name())
			}
			for _, f := range v.Funcs {
				fmt.Fprintf(h, " fn=%s", f)
			}
			fmt.Fprintln(h)
		}
		out[c.ID] = hex.EncodeToString(h.Sum(nil))[:16]
	}
	return out
}

func (g *Graph) hash(parallelism bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "job %s maxp %d\n", g.Name, g.MaxParallelism)
	for _, v := range g.Vertices {
		p := v.Parallelism
		if !parallelism {
			p = 0
		}
		fmt.Fprintf(h, "v %d %q %q p=%d maxp=%d src=%v bounded=%v keyed=%v in=%d", v.ID, v.Name, v.UID, p, v.MaxParallelism, v.Source, v.Bounded, v.Keyed, v.Inputs)
		for _, t := range v.OutTypes {
			fmt.Fprintf(h, " out=%s", t.Name())
		}
		for _, f := range v.Funcs {
			fmt.Fprintf(h, " fn=%s", f)
		}
		fmt.Fprintln(h)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(h, "e %d.%d -> %d.%d %s\n", e.From.ID, e.FromOutput, e.To.ID, e.ToInput, e.Part)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Bounded reports whether every source of the graph is bounded.
func (g *Graph) Bounded() bool {
	for _, v := range g.Vertices {
		if v.Source && !v.Bounded {
			return false
		}
	}
	return true
}

// Chain is a sequence of vertices joined by one-to-one edges, run as one task
// per subtask: records pass between them by function call.
type Chain struct {
	ID          string // uid of the head
	Name        string
	Vertices    []*Vertex
	Parallelism int
	// Inputs are the edges into the head from other chains, in order.
	Inputs []*Edge
	// Outputs are the edges from any vertex of the chain to other chains.
	Outputs []*Edge
	Keyed   bool
}

// Chainable reports whether e joins its two vertices into one task: a forward
// edge from the producer's main output, its only consumer, into an operator
// with no other input.
func Chainable(e *Edge) bool {
	return e.Part == Forward && e.FromOutput == 0 && len(e.To.in) == 1 && !e.To.Source &&
		e.From.Parallelism == e.To.Parallelism && countOut(e.From, 0) == 1
}

func countOut(v *Vertex, output int) int {
	n := 0
	for _, e := range v.out {
		if e.FromOutput == output {
			n++
		}
	}
	return n
}

// Chains groups the resolved graph's vertices into chains, in topological order.
func (g *Graph) Chains() []*Chain {
	var chains []*Chain
	inChain := map[*Vertex]bool{}
	for _, v := range g.topo() {
		if inChain[v] {
			continue
		}
		c := &Chain{ID: v.UID, Parallelism: v.Parallelism, Inputs: v.in}
		for cur := v; cur != nil; {
			c.Vertices = append(c.Vertices, cur)
			inChain[cur] = true
			c.Keyed = c.Keyed || cur.Keyed
			var next *Vertex
			for _, e := range cur.out {
				if Chainable(e) {
					next = e.To
				} else {
					c.Outputs = append(c.Outputs, e)
				}
			}
			cur = next
		}
		names := make([]string, len(c.Vertices))
		for i, cv := range c.Vertices {
			names[i] = cv.Name
		}
		c.Name = strings.Join(names, " -> ")
		chains = append(chains, c)
	}
	return chains
}

// topo orders vertices so that every edge goes forward; ties keep ids order.
func (g *Graph) topo() []*Vertex {
	indeg := map[*Vertex]int{}
	for _, e := range g.Edges {
		indeg[e.To]++
	}
	var ready, order []*Vertex
	for _, v := range g.Vertices {
		if indeg[v] == 0 {
			ready = append(ready, v)
		}
	}
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return ready[i].ID < ready[j].ID })
		v := ready[0]
		ready = ready[1:]
		order = append(order, v)
		for _, e := range v.out {
			indeg[e.To]--
			if indeg[e.To] == 0 {
				ready = append(ready, e.To)
			}
		}
	}
	return order
}
