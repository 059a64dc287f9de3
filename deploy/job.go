package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/stream"
)

// Defaults for a spec that leaves the worker shape open.
const (
	DefaultWorkerMemoryMB = 512
	DefaultWorkerVCores   = 1
)

// Job is a spec's job rebuilt in this process: its graph, its options and
// its physical plan. The client builds the plan once (NewPlan) and ships it
// in the spec; the job master and every worker rebuild the graph from the
// job's code and use the shipped plan, after checking it was made for the
// graph they built.
type Job struct {
	Spec  *JobSpec
	Conf  *conf.Config
	Graph *graph.Graph
	Plan  *scheduler.Plan
}

// LoadJob reads the spec at path and rebuilds its job (see BuildJob).
func LoadJob(path string) (*Job, error) {
	spec, err := ReadSpec(path)
	if err != nil {
		return nil, err
	}
	return BuildJob(spec)
}

// BuildJob rebuilds the spec's graph and takes its plan: the one the spec
// carries, or, for a spec without one, a new one (NewPlan).
func BuildJob(spec *JobSpec) (*Job, error) {
	cfg, err := conf.FromMap(spec.Conf, "job spec "+SpecFile)
	if err != nil {
		return nil, err
	}
	if spec.Parallelism > 0 && !conf.Parallelism.IsSet(cfg) {
		if err := cfg.Set(conf.Parallelism.Key(), strconv.Itoa(spec.Parallelism), "job spec parallelism"); err != nil {
			return nil, err
		}
	}
	g, err := stream.BuildGraph(spec.Job, spec.Args, cfg)
	if err != nil {
		return nil, err
	}
	plan := spec.Plan
	if plan == nil {
		if plan, err = NewPlan(g, cfg, spec.SlotsPerWorker, scheduler.Resources{MemoryMB: spec.WorkerMemoryMB, VCores: spec.WorkerVCores}); err != nil {
			return nil, err
		}
	} else {
		plan.Index()
		if err := plan.Check(g); err != nil {
			return nil, fmt.Errorf("job spec %s: %w", SpecFile, err)
		}
	}
	return &Job{Spec: spec, Conf: cfg, Graph: g, Plan: plan}, nil
}

// NewPlan makes the physical plan of g over workers of slotsPerWorker slots
// (at least 1) and the given resources (defaults where unset), stage by
// stage when the job's execution.batch-shuffle-mode is blocking. A job that
// is not bounded runs as a streaming job, always pipelined, so blocking
// mode for it is an error naming the option. A job with an edge between
// workers (or stages) whose records have no codec is refused, naming the
// edge and the type, before any container starts.
func NewPlan(g *graph.Graph, cfg *conf.Config, slotsPerWorker int, res scheduler.Resources) (*scheduler.Plan, error) {
	if res.MemoryMB < 1 {
		res.MemoryMB = DefaultWorkerMemoryMB
	}
	if res.VCores < 1 {
		res.VCores = DefaultWorkerVCores
	}
	blocking := conf.BatchShuffleMode.Get(cfg) == conf.ShuffleBlocking
	if blocking {
		mode := conf.RuntimeMode.Get(cfg)
		if mode == conf.ModeStreaming || (mode == conf.ModeAutomatic && !g.Bounded()) {
			why := "execution.runtime-mode is streaming"
			if mode == conf.ModeAutomatic {
				why = "a source of the job is unbounded"
			}
			return nil, fmt.Errorf("job %s: %s=%s needs a bounded job run in batch mode, but %s: streaming jobs always run pipelined; drop the option or set it to %s",
				g.Name, conf.BatchShuffleMode.Key(), conf.ShuffleBlocking, why, conf.ShufflePipelined)
		}
	}
	if blocking && conf.CheckpointInterval.Get(cfg) > 0 {
		return nil, fmt.Errorf("job %s: %s=%v (%s) and %s=%s (%s) do not go together: a job run stage by stage takes no checkpoints and restarts from the start; drop one of them",
			g.Name, conf.CheckpointInterval.Key(), conf.CheckpointInterval.Get(cfg), cfg.Source(conf.CheckpointInterval.Key()),
			conf.BatchShuffleMode.Key(), conf.ShuffleBlocking, cfg.Source(conf.BatchShuffleMode.Key()))
	}
	plan, err := scheduler.New(g, scheduler.Options{SlotsPerWorker: max(1, slotsPerWorker), Worker: res, Blocking: blocking})
	if err != nil {
		return nil, fmt.Errorf("job %s: plan: %w", g.Name, err)
	}
	if err := checkShuffleCodecs(g, plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// checkShuffleCodecs makes the codec of every edge of g whose records cross
// workers or stages under plan.
func checkShuffleCodecs(g *graph.Graph, plan *scheduler.Plan) error {
	var errs []string
	for _, ep := range plan.CrossWorkerEdges() {
		e := g.Edges[ep.Index]
		if _, err := e.NewCodec(); err != nil {
			errs = append(errs, fmt.Sprintf("edge %s -> %s (%s): %v", e.From.Name, e.To.Name, e.Part, err))
		}
	}
	if len(errs) > 0 && len(plan.Stages) > 0 {
		return fmt.Errorf("job %s runs stage by stage (%s=%s), and records of %d of its edges must be written to disk between stages without a codec: %s; or run it with %s=%s on one worker (--slots-per-worker %d)",
			g.Name, conf.BatchShuffleMode.Key(), conf.ShuffleBlocking, len(errs), strings.Join(errs, "; "), conf.BatchShuffleMode.Key(), conf.ShufflePipelined, plan.Slots)
	}
	if len(errs) > 0 {
		return fmt.Errorf("job %s runs on %d workers, and records of %d of its edges must cross between them without a codec: %s; or run it on one worker (--slots-per-worker %d)",
			g.Name, plan.Workers, len(errs), strings.Join(errs, "; "), plan.Slots)
	}
	return nil
}
