package scheduler

import (
	"fmt"

	"github.com/loom-yarn/loom/graph"
)

// Stage is a set of chains of a bounded job that run at the same time when
// the job runs stage by stage (blocking shuffle): their edges to later
// stages are blocking, so a stage starts only when every producer of the
// stages before it finished and its results wait on the producers' local
// disks.
type Stage struct {
	// Chains are the ids of the stage's chains, in the graph's order.
	Chains []string
}

// SplitStages splits chains (in the graph's topological order, as
// graph.Chains returns them) at their blocking edges, every edge that is not
// forward, and orders the stages so that each edge goes from a stage to the
// same or a later one. A forward edge between chains is pipelined: its two
// ends share a stage. Each chain gets the earliest stage these rules allow.
//
// A job whose chains would have to be in one stage because of a forward
// edge and in two stages because of a blocking path between them cannot run
// stage by stage: that is an error naming the chains.
func SplitStages(chains []*graph.Chain) ([]Stage, error) {
	if len(chains) == 0 {
		return nil, graph.ErrEmpty
	}
	chainOf := map[*graph.Vertex]int{}
	for i, c := range chains {
		for _, v := range c.Vertices {
			chainOf[v] = i
		}
	}
	level := make([]int, len(chains))
	// Raise levels until every edge's rule holds: the least fixed point.
	// A DAG of n chains needs levels below n; a level reaching n means
	// the rules contradict each other.
	for changed := true; changed; {
		changed = false
		for i, c := range chains {
			for _, e := range c.Outputs {
				to, ok := chainOf[e.To]
				if !ok {
					return nil, fmt.Errorf("edge %s -> %s: the consumer is in none of the job's chains", e.From.Name, e.To.Name)
				}
				if e.Part == graph.Forward {
					m := max(level[i], level[to])
					if level[i] != m || level[to] != m {
						level[i], level[to], changed = m, m, true
					}
				} else if level[to] < level[i]+1 {
					level[to], changed = level[i]+1, true
				}
				if level[i] >= len(chains) || level[to] >= len(chains) {
					return nil, fmt.Errorf("chains %q and %q are joined by a forward edge and also by a path through a blocking edge, so they would have to run in the same stage and one after the other: run this job with execution.batch-shuffle-mode=pipelined", c.Name, chains[to].Name)
				}
			}
		}
	}
	// Number the levels that have chains 0, 1, ...
	top := 0
	for _, l := range level {
		top = max(top, l)
	}
	byLevel := make([][]string, top+1)
	for i, c := range chains {
		byLevel[level[i]] = append(byLevel[level[i]], c.ID)
	}
	var stages []Stage
	for _, ids := range byLevel {
		if len(ids) > 0 {
			stages = append(stages, Stage{Chains: ids})
		}
	}
	return stages, nil
}

// StageOf returns the index of the stage running chain under p: 0 for
// every chain of a job that runs all at once (p.Stages empty), -1 for a
// chain in no stage.
func (p *Plan) StageOf(chain string) int {
	if len(p.Stages) == 0 {
		return 0
	}
	for i, s := range p.Stages {
		for _, c := range s.Chains {
			if c == chain {
				return i
			}
		}
	}
	return -1
}

// NumStages is the number of stages the job runs in: 1 when all its tasks
// are deployed at once.
func (p *Plan) NumStages() int { return max(1, len(p.Stages)) }
