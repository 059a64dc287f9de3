// Package scheduler turns a resolved job graph into its physical plan (the
// role of Flink's ExecutionGraph): the chains that run as tasks, the edges
// between them with the channel each producer subtask writes in each
// consumer subtask's input gate, which worker slot runs which subtask, which
// channels cross workers, and, for a bounded job run stage by stage, the
// stages. The plan is computed once, by the client, and shipped in the job
// spec; the job master, the workers and the engine read it and derive
// nothing of their own.
//
// Slots are shared as in Flink's default slot sharing group: slot i runs
// subtask i of every chain, so a job needs as many slots as its largest
// parallelism, and one-to-one (forward) edges between chains stay inside one
// worker. The plan's size grows with the number of chains and subtasks, never
// with the number of channels (an all-to-all edge between two chains of
// parallelism n has n² channels): channels are computed on demand. It is
// pure: no I/O.
package scheduler

import (
	"fmt"

	"github.com/loom-yarn/loom/graph"
)

// Subtask names one parallel instance of a chain.
type Subtask struct {
	Chain string // the chain's id
	Index int
}

func (s Subtask) String() string { return fmt.Sprintf("%s/%d", s.Chain, s.Index) }

// Resources is what one worker container asks its resource provider for.
type Resources struct {
	MemoryMB int64
	VCores   int32
}

// Options shape a plan.
type Options struct {
	// SlotsPerWorker is how many subtasks of each chain one worker runs.
	SlotsPerWorker int
	// Worker is each worker's container.
	Worker Resources
	// Blocking runs a bounded job stage by stage (SplitStages): the
	// records of every non-forward edge are spilled to the producing
	// worker's disk and read by the next stage.
	Blocking bool
}

// Plan is a job's physical plan. It is plain data (JSON in the job spec);
// call Index after decoding one.
type Plan struct {
	// Job and GraphHash identify the graph the plan was made for: a process
	// that rebuilt another graph refuses the plan (Check).
	Job       string `json:"job"`
	GraphHash string `json:"graphHash"`

	Workers        int       `json:"workers"`
	SlotsPerWorker int       `json:"slotsPerWorker"`
	Slots          int       `json:"slots"`
	Worker         Resources `json:"worker"`
	// Chains are the job's tasks in topological order.
	Chains []ChainPlan `json:"chains"`
	// Edges are the edges between chains (edges inside a chain are
	// function calls and have no channels).
	Edges []EdgePlan `json:"edges"`
	// Stages, when set, run the job stage by stage; empty deploys every
	// subtask at once.
	Stages []Stage `json:"stages,omitempty"`

	byID map[string]int
}

// ChainPlan is one chain: its parallel subtasks are the job's tasks.
type ChainPlan struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Parallelism    int    `json:"parallelism"`
	MaxParallelism int    `json:"maxParallelism"`
	Source         bool   `json:"source,omitempty"`
	Keyed          bool   `json:"keyed,omitempty"`
	// Inputs and Outputs index Plan.Edges; Inputs are in the order of the
	// channels of the chain's input gate.
	Inputs  []int `json:"inputs,omitempty"`
	Outputs []int `json:"outputs,omitempty"`
	// GateChannels is the number of channels of each subtask's input gate.
	GateChannels int `json:"gateChannels"`
	// Stage is the stage the chain runs in (0 without stages).
	Stage int `json:"stage"`
}

// EdgePlan is an edge between two chains.
type EdgePlan struct {
	// Index is the edge's position in the graph's edges: its name on the
	// wire, the same in every process.
	Index int32 `json:"index"`
	// From and To index Plan.Chains.
	From int `json:"from"`
	To   int `json:"to"`
	// Forward edges connect subtask i to subtask i only; every other edge
	// connects every producer subtask to every consumer subtask.
	Forward bool   `json:"forward,omitempty"`
	Part    string `json:"part"`
	// Offset is the first of the edge's channels in the consumer's gate;
	// Channels is how many it has there (1 forward, else the producer's
	// parallelism).
	Offset   int `json:"offset"`
	Channels int `json:"channels"`
}

// Stage is a set of chains of a bounded job that run at the same time when
// the job runs stage by stage (blocking shuffle): their edges to later
// stages are blocking, so a stage starts only when every producer of the
// stages before it finished and its results wait on the producers' local
// disks.
type Stage struct {
	// Chains are the ids of the stage's chains, in the graph's order.
	Chains []string `json:"chains"`
}

// New builds the physical plan of a resolved graph.
func New(g *graph.Graph, o Options) (*Plan, error) {
	if o.SlotsPerWorker < 1 {
		return nil, fmt.Errorf("slots per worker %d: must be at least 1", o.SlotsPerWorker)
	}
	if o.Worker.MemoryMB < 1 || o.Worker.VCores < 1 {
		return nil, fmt.Errorf("worker resources %d MB, %d vcores: both must be positive", o.Worker.MemoryMB, o.Worker.VCores)
	}
	chains := g.Chains()
	if len(chains) == 0 {
		return nil, graph.ErrEmpty
	}
	p := &Plan{Job: g.Name, GraphHash: g.Hash(), SlotsPerWorker: o.SlotsPerWorker, Worker: o.Worker}
	// The one place where vertices are mapped to their chains.
	chainOfVertex := map[*graph.Vertex]int{}
	for i, c := range chains {
		for _, v := range c.Vertices {
			chainOfVertex[v] = i
		}
		head := c.Vertices[0]
		p.Chains = append(p.Chains, ChainPlan{ID: c.ID, Name: c.Name, Parallelism: c.Parallelism, MaxParallelism: head.MaxParallelism,
			Source: head.Source, Keyed: c.Keyed})
		p.Slots = max(p.Slots, c.Parallelism)
	}
	edgeIndex := make(map[*graph.Edge]int32, len(g.Edges))
	for i, e := range g.Edges {
		edgeIndex[e] = int32(i)
	}
	for i, c := range chains {
		for _, e := range c.Inputs {
			from, ok := chainOfVertex[e.From]
			if !ok {
				return nil, fmt.Errorf("edge %s -> %s: the producer is in none of the job's chains", e.From.Name, e.To.Name)
			}
			ep := EdgePlan{Index: edgeIndex[e], From: from, To: i, Forward: e.Part == graph.Forward, Part: e.Part.String(),
				Offset: p.Chains[i].GateChannels, Channels: chains[from].Parallelism}
			if ep.Forward {
				if chains[from].Parallelism != c.Parallelism {
					return nil, fmt.Errorf("forward edge %s -> %s joins parallelism %d to %d", e.From.Name, e.To.Name, chains[from].Parallelism, c.Parallelism)
				}
				ep.Channels = 1
			}
			p.Chains[i].GateChannels += ep.Channels
			p.Chains[i].Inputs = append(p.Chains[i].Inputs, len(p.Edges))
			p.Chains[from].Outputs = append(p.Chains[from].Outputs, len(p.Edges))
			p.Edges = append(p.Edges, ep)
		}
	}
	// Outputs in the order the producing chain lists them (graph.Chain.Outputs),
	// so that a producer's writers follow its own order in every process.
	for i, c := range chains {
		byEdge := map[int32]int{}
		for _, k := range p.Chains[i].Outputs {
			byEdge[p.Edges[k].Index] = k
		}
		outs := make([]int, 0, len(c.Outputs))
		for _, e := range c.Outputs {
			k, ok := byEdge[edgeIndex[e]]
			if !ok {
				return nil, fmt.Errorf("edge %s -> %s: the consumer is in none of the job's chains", e.From.Name, e.To.Name)
			}
			outs = append(outs, k)
		}
		p.Chains[i].Outputs = outs
	}
	p.Workers = (p.Slots + o.SlotsPerWorker - 1) / o.SlotsPerWorker
	if o.Blocking {
		if err := p.splitStages(); err != nil {
			return nil, err
		}
	}
	p.Index()
	return p, nil
}

// Index builds the plan's lookup tables; New calls it, and so must whoever
// decodes a plan.
func (p *Plan) Index() {
	p.byID = make(map[string]int, len(p.Chains))
	for i, c := range p.Chains {
		p.byID[c.ID] = i
	}
}

// Check reports whether the plan was made for g (the graph this process
// rebuilt from the job's code and flags): the same job and graph hash.
func (p *Plan) Check(g *graph.Graph) error {
	if p.Job != g.Name || p.GraphHash != g.Hash() {
		return fmt.Errorf("the job's plan was made for job %s with graph %s, but this process built job %s with graph %s: the binary, the job's flags or its options differ between the client and this process",
			p.Job, p.GraphHash, g.Name, g.Hash())
	}
	return nil
}

// ChainIndex returns the index in Chains of the chain with id, or -1.
func (p *Plan) ChainIndex(id string) int {
	if i, ok := p.byID[id]; ok {
		return i
	}
	return -1
}

// WorkerOf returns the worker running subtask i of any chain.
func (p *Plan) WorkerOf(i int) int { return i / p.SlotsPerWorker }

// Subtasks lists the subtasks worker w runs, by slot and then chain (in
// topological order).
func (p *Plan) Subtasks(w int) []Subtask {
	var out []Subtask
	for i := w * p.SlotsPerWorker; i < (w+1)*p.SlotsPerWorker; i++ {
		for _, c := range p.Chains {
			if i < c.Parallelism {
				out = append(out, Subtask{Chain: c.ID, Index: i})
			}
		}
	}
	return out
}

// NumSubtasks counts the subtasks of the job.
func (p *Plan) NumSubtasks() int {
	n := 0
	for _, c := range p.Chains {
		n += c.Parallelism
	}
	return n
}

// Channel is the channel of producer's records in a consumer's gate on e.
func (e *EdgePlan) Channel(producer int) int {
	if e.Forward {
		return e.Offset
	}
	return e.Offset + producer
}

// Peers returns the range [lo, hi) of subtasks on the other end of e from
// subtask i, whose parallelism on that end is n: subtask i alone for a
// forward edge, all n otherwise.
func (e *EdgePlan) Peers(i, n int) (lo, hi int) {
	if e.Forward {
		return i, i + 1
	}
	return 0, n
}

// Spilled reports whether e's records go through the producer's disk: a
// non-forward edge of a job run stage by stage.
func (p *Plan) Spilled(e *EdgePlan) bool { return len(p.Stages) > 0 && !e.Forward }

// Remote reports whether the channel from producer to consumer on e leaves
// the producer's process: the two subtasks run on different workers, or in
// different stages.
func (p *Plan) Remote(e *EdgePlan, producer, consumer int) bool {
	return p.WorkerOf(producer) != p.WorkerOf(consumer) || p.Spilled(e)
}

// WorkerChannels counts the channels of worker w's subtasks that leave its
// process (to other workers or, stage by stage, through its disk): output
// channels, input channels, and the input gates that have at least one
// remote channel; and the channels that stay in memory. It is what bounds a
// worker's network memory, walked as the engine connects them.
func (p *Plan) WorkerChannels(w int) (remoteOut, remoteIn, remoteGates, local int) {
	for _, st := range p.Subtasks(w) {
		cp := &p.Chains[p.ChainIndex(st.Chain)]
		i := st.Index
		for _, k := range cp.Outputs {
			ep := &p.Edges[k]
			lo, hi := ep.Peers(i, p.Chains[ep.To].Parallelism)
			for j := lo; j < hi; j++ {
				if p.Remote(ep, i, j) {
					remoteOut++
				} else {
					local++
				}
			}
		}
		remote := 0
		for _, k := range cp.Inputs {
			ep := &p.Edges[k]
			lo, hi := ep.Peers(i, p.Chains[ep.From].Parallelism)
			for j := lo; j < hi; j++ {
				if p.Remote(ep, j, i) {
					remote++
				} else {
					local++
				}
			}
		}
		if remote > 0 {
			remoteIn += remote
			remoteGates++
		}
	}
	return remoteOut, remoteIn, remoteGates, local
}

// CrossWorkerEdges lists the edges whose records travel between workers
// (any non-forward edge when there is more than one worker) or between
// stages through a worker's disk: the network shuffle serializes them, so
// the client and the job master check that each has a codec.
func (p *Plan) CrossWorkerEdges() []*EdgePlan {
	if p.Workers <= 1 && len(p.Stages) == 0 {
		return nil
	}
	var out []*EdgePlan
	for i := range p.Edges {
		if !p.Edges[i].Forward {
			out = append(out, &p.Edges[i])
		}
	}
	return out
}

// StageOf returns the index of the stage running chain: 0 for every chain of
// a job that runs all at once, -1 for an unknown chain.
func (p *Plan) StageOf(chain string) int {
	i := p.ChainIndex(chain)
	if i < 0 {
		return -1
	}
	return p.Chains[i].Stage
}

// NumStages is the number of stages the job runs in: 1 when all its tasks
// are deployed at once.
func (p *Plan) NumStages() int { return max(1, len(p.Stages)) }
