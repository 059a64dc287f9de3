package jobmaster

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/internal/benchmem"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/task"
)

// deployScale is a job of the size issue 8 aims at (10,000 workers, 100,000
// subtasks, all-to-all hash edges) or a tenth of it: five chains of equal
// parallelism joined by hash edges, two slots per worker. (Two chains of
// 50,000 would exceed the 32,768 key groups a vertex may have.)
type deployScale struct{ workers int }

const (
	deployChains = 5
	deploySlots  = 2
)

// String names the job in benchmark names (one level: "/" would start
// another in -bench patterns).
func (s deployScale) String() string {
	return fmt.Sprintf("workers=%d", s.workers)
}

// plan builds the job's physical plan as the client does.
func (s deployScale) plan(b *testing.B) *scheduler.Plan {
	noop := func(*task.Context, []any) (task.Operator, error) { return nil, nil }
	g := graph.New("scale")
	var prev *graph.Vertex
	for i := range deployChains {
		v := g.Add(&graph.Vertex{Name: fmt.Sprintf("op%d", i), Parallelism: s.workers * deploySlots, Source: i == 0, Bounded: true,
			Keyed: i > 0, Inputs: min(i, 1), New: noop, OutTypes: []task.Type{task.TypeOf[int]()}})
		if prev != nil {
			g.Connect(&graph.Edge{From: prev, To: v, Part: graph.Hash})
		}
		prev = v
	}
	if err := g.Resolve(); err != nil {
		b.Fatal(err)
	}
	p, err := scheduler.New(g, scheduler.Options{SlotsPerWorker: deploySlots, Worker: scheduler.Resources{MemoryMB: 4096, VCores: 2}})
	if err != nil {
		b.Fatal(err)
	}
	if p.Workers != s.workers {
		b.Fatalf("plan of %d workers, want %d", p.Workers, s.workers)
	}
	return p
}

// cluster names the containers the resource provider hands out: ten per
// node, each worker's partition server on its own port.
type cluster struct{ containers, nodes, addrs []string }

func newCluster(workers int) cluster {
	var c cluster
	for i := range workers {
		node := fmt.Sprintf("node%04d.example.com", i/10)
		c.containers = append(c.containers, fmt.Sprintf("container_1700000000000_0001_01_%06d", i+2))
		c.nodes = append(c.nodes, node)
		c.addrs = append(c.addrs, fmt.Sprintf("%s:%d", node, 40000+i%10))
	}
	return c
}

// deployRun drives a Machine through the first run of a job as the job
// master's loop does, as pure code: start, one allocation per worker, one
// registration per worker (in reverse order, so that the last to register
// is worker 0), up to the deploy; then it makes every worker's answer as
// controlService.Register does. It fails b if the Machine strays from that
// story.
func deployRun(b *testing.B, p *scheduler.Plan, c cluster) []*controlpb.Assignment {
	n := p.Workers
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMachine(MachineConfig{Workers: n, Restarts: 1, RestartDelay: time.Second, RegisterTimeout: time.Minute, HeartbeatTimeout: time.Minute})
	if acts := m.Start(); len(acts) != 1 || acts[0].Kind != ActAsk || acts[0].Count != n {
		b.Fatalf("start: %v, want ask %d", acts, n)
	}
	for i := range n {
		acts := m.ContainerAllocated(c.containers[i], c.nodes[i], now)
		if len(acts) == 0 || acts[0].Kind != ActLaunch || acts[0].Worker != i {
			b.Fatalf("allocation %d: %v, want launch worker=%d", i, acts, i)
		}
	}
	regs := make([]Registration, n)
	var deployed *Action
	for i := n - 1; i >= 0; i-- {
		r, acts, err := m.Register(c.containers[i], c.addrs[i], now)
		if err != nil {
			b.Fatal(err)
		}
		regs[i] = r
		if len(acts) > 0 {
			if i != 0 || len(acts) != 1 || acts[0].Kind != ActDeploy {
				b.Fatalf("registration of worker %d: %v, want a deploy after the last one only", i, acts)
			}
			deployed = &acts[0]
		}
	}
	if deployed == nil || !slices.Equal(deployed.Addresses, c.addrs) {
		b.Fatalf("no deploy with %d addresses by worker index after %d registrations", n, n)
	}
	// The shuffle table is encoded once per run (Master.do on ActDeploy).
	d := &deployment{addrs: deployed.Addresses, table: deploy.EncodeAddresses(deployed.Addresses)}
	asgs := make([]*controlpb.Assignment, n)
	for i, r := range regs {
		asgs[i] = assignment(p, r, d, time.Second)
	}
	return asgs
}

// BenchmarkDeploy measures the job master's side of deploying a
// 10,000-worker job (issue 8: plan and deployment together under 5 s and
// 1 GiB): "machine" is the Machine from Start to ActDeploy plus every
// worker's assignment; "marshal" is the protobuf encoding of every
// assignment, which gRPC does once per worker for Register's answers, each
// carrying the run's shuffle table (every worker's partition server address,
// compressed once): the deploy releases all the waiting answers at once, so
// all are held at once. Run one size
// at a time so that VmHWM is that size's own:
//
//	go test ./jobmaster -run '^$' -bench 'Deploy/^workers=10000$/machine' -benchtime 3x
func BenchmarkDeploy(b *testing.B) {
	for _, s := range []deployScale{{workers: 1_000}, {workers: 10_000}} {
		b.Run(s.String()+"/machine", func(b *testing.B) {
			p, c := s.plan(b), newCluster(s.workers)
			m := benchmem.Start()
			var asgs []*controlpb.Assignment
			for b.Loop() {
				asgs = deployRun(b, p, c)
			}
			if got := len(asgs[s.workers-1].GetSubtasks()); got != deploySlots*deployChains {
				b.Fatalf("the last worker runs %d subtasks, want %d", got, deploySlots*deployChains)
			}
			m.Report(b, asgs)
		})
		b.Run(s.String()+"/marshal", func(b *testing.B) {
			p, c := s.plan(b), newCluster(s.workers)
			asgs := deployRun(b, p, c)
			m := benchmem.Start()
			var sent [][]byte
			for b.Loop() {
				// The deploy answers every waiting registration at once;
				// each answer stays encoded in memory until its
				// connection sent it, so all of them are held here.
				sent = make([][]byte, len(asgs))
				for i, a := range asgs {
					var err error
					if sent[i], err = proto.Marshal(a); err != nil {
						b.Fatal(err)
					}
				}
			}
			var back controlpb.Assignment
			if err := proto.Unmarshal(sent[0], &back); err != nil {
				b.Fatal(err)
			}
			if addrs, err := deploy.DecodeAddresses(back.GetShuffleTable(), s.workers); err != nil || !slices.Equal(addrs, c.addrs) {
				b.Fatalf("worker 0's answer decodes to %d addresses (%v), want %d", len(addrs), err, s.workers)
			}
			total := 0
			for _, d := range sent {
				total += len(d)
			}
			b.ReportMetric(float64(total)/float64(len(sent)), "bytes/worker")
			b.ReportMetric(float64(total)/(1<<20), "MiB-sent")
			m.Report(b, sent)
		})
	}
}
