package scheduler

import (
	"fmt"
)

// splitStages splits the plan's chains (in topological order) at their
// blocking edges, every edge that is not forward, and orders the stages so
// that each edge goes from a stage to the same or a later one. A forward
// edge between chains is pipelined: its two ends share a stage. Each chain
// gets the earliest stage these rules allow.
//
// A job whose chains would have to be in one stage because of a forward
// edge and in two stages because of a blocking path between them cannot run
// stage by stage: that is an error naming the chains.
func (p *Plan) splitStages() error {
	n := len(p.Chains)
	level := make([]int, n)
	// Raise levels until every edge's rule holds: the least fixed point.
	// A DAG of n chains needs levels below n; a level reaching n means
	// the rules contradict each other.
	for changed := true; changed; {
		changed = false
		for _, e := range p.Edges {
			from, to := e.From, e.To
			if e.Forward {
				m := max(level[from], level[to])
				if level[from] != m || level[to] != m {
					level[from], level[to], changed = m, m, true
				}
			} else if level[to] < level[from]+1 {
				level[to], changed = level[from]+1, true
			}
			if level[from] >= n || level[to] >= n {
				return fmt.Errorf("chains %q and %q are joined by a forward edge and also by a path through a blocking edge, so they would have to run in the same stage and one after the other: run this job with execution.batch-shuffle-mode=pipelined",
					p.Chains[from].Name, p.Chains[to].Name)
			}
		}
	}
	// Number the levels that have chains 0, 1, ...
	top := 0
	for _, l := range level {
		top = max(top, l)
	}
	byLevel := make([][]int, top+1)
	for i, l := range level {
		byLevel[l] = append(byLevel[l], i)
	}
	p.Stages = nil
	for _, idx := range byLevel {
		if len(idx) == 0 {
			continue
		}
		st := Stage{}
		for _, i := range idx {
			p.Chains[i].Stage = len(p.Stages)
			st.Chains = append(st.Chains, p.Chains[i].ID)
		}
		p.Stages = append(p.Stages, st)
	}
	return nil
}
