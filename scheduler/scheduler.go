// Package scheduler turns a job graph into an execution plan: which worker
// slot runs which subtask, and how many worker containers to ask YARN for.
//
// Slots are shared as in Flink's default slot sharing group: slot i runs
// subtask i of every chain, so a job needs as many slots as its largest
// parallelism, and one-to-one (forward) edges between chains stay inside one
// worker. A bounded job may instead run stage by stage (SplitStages): the
// same placement, one stage's subtasks at a time. It is pure: no I/O, the
// AM and tests drive it.
package scheduler

import (
	"fmt"
	"sort"

	"github.com/loom-yarn/loom/graph"
)

// Subtask names one parallel instance of a chain.
type Subtask struct {
	Chain string // the chain's id
	Index int
}

func (s Subtask) String() string { return fmt.Sprintf("%s/%d", s.Chain, s.Index) }

// Resources is what one worker container asks YARN for.
type Resources struct {
	MemoryMB int64
	VCores   int32
}

// Plan places every subtask of a job into a slot of a worker.
type Plan struct {
	Workers        int
	SlotsPerWorker int
	Slots          int
	Worker         Resources
	// Subtasks lists each worker's subtasks, by worker index.
	Subtasks [][]Subtask
	// Stages, when set, run the job stage by stage (blocking shuffle; see
	// SplitStages); empty deploys every subtask at once. Slot i runs subtask
	// i of every chain either way, so the job needs as many slots as its
	// largest stage's parallelism, and in a blocking job a slot runs one
	// stage's subtasks at a time.
	Stages []Stage
}

// WorkerOf returns the worker running s.
func (p *Plan) WorkerOf(s Subtask) int { return s.Index / p.SlotsPerWorker }

// NewPlan places the chains of a resolved graph.
func NewPlan(chains []*graph.Chain, slotsPerWorker int, worker Resources) (*Plan, error) {
	if slotsPerWorker < 1 {
		return nil, fmt.Errorf("slots per worker %d: must be at least 1", slotsPerWorker)
	}
	if len(chains) == 0 {
		return nil, graph.ErrEmpty
	}
	if worker.MemoryMB < 1 || worker.VCores < 1 {
		return nil, fmt.Errorf("worker resources %d MB, %d vcores: both must be positive", worker.MemoryMB, worker.VCores)
	}
	slots := 0
	for _, c := range chains {
		slots = max(slots, c.Parallelism)
	}
	p := &Plan{SlotsPerWorker: slotsPerWorker, Slots: slots, Worker: worker}
	p.Workers = (slots + slotsPerWorker - 1) / slotsPerWorker
	p.Subtasks = make([][]Subtask, p.Workers)
	for _, c := range chains {
		for i := 0; i < c.Parallelism; i++ {
			s := Subtask{Chain: c.ID, Index: i}
			w := p.WorkerOf(s)
			p.Subtasks[w] = append(p.Subtasks[w], s)
		}
	}
	for _, ss := range p.Subtasks {
		sort.Slice(ss, func(i, j int) bool {
			if ss[i].Index != ss[j].Index {
				return ss[i].Index < ss[j].Index
			}
			return ss[i].Chain < ss[j].Chain
		})
	}
	return p, nil
}

// CrossWorkerEdges lists the edges between chains whose records travel
// between workers under p (any non-forward edge when there is more than one
// worker), or between stages through a worker's disk (any non-forward edge
// of a plan with stages): the network shuffle serializes them, so the
// client and the AM check that each has a codec.
func CrossWorkerEdges(p *Plan, chains []*graph.Chain) []*graph.Edge {
	if p.Workers <= 1 && len(p.Stages) == 0 {
		return nil
	}
	var out []*graph.Edge
	for _, c := range chains {
		for _, e := range c.Outputs {
			if e.Part != graph.Forward {
				out = append(out, e)
			}
		}
	}
	return out
}
