package am

import (
	"fmt"
	"os"
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
// the plan placing its subtasks on workers. The AM and every worker build it
// the same way, so they agree on chain ids and on who runs what.
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

// BuildJob rebuilds the spec's graph and plans it over workers of
// spec.SlotsPerWorker slots. A job with an edge between workers whose
// records have no codec is refused (see CheckShuffleCodecs).
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
	slots := spec.SlotsPerWorker
	if slots < 1 {
		slots = 1
	}
	res := scheduler.Resources{MemoryMB: spec.WorkerMemoryMB, VCores: spec.WorkerVCores}
	if res.MemoryMB < 1 {
		res.MemoryMB = DefaultWorkerMemoryMB
	}
	if res.VCores < 1 {
		res.VCores = DefaultWorkerVCores
	}
	chains := g.Chains()
	plan, err := scheduler.NewPlan(chains, slots, res)
	if err != nil {
		return nil, fmt.Errorf("job %s: plan: %w", spec.Job, err)
	}
	if err := PlanStages(g, cfg, plan); err != nil {
		return nil, err
	}
	if err := CheckShuffleCodecs(spec.Job, plan, chains); err != nil {
		return nil, err
	}
	return &Job{Spec: spec, Conf: cfg, Graph: g, Plan: plan}, nil
}

// PlanStages applies the job's execution.batch-shuffle-mode to plan: in
// blocking mode the job's chains are split into stages (scheduler.SplitStages)
// that run one after another; in pipelined mode plan is left as it is. A
// job that is not bounded runs as a streaming job, always pipelined, so
// blocking mode for it is an error naming the option. The client and the
// AM both call it.
func PlanStages(g *graph.Graph, cfg *conf.Config, plan *scheduler.Plan) error {
	if conf.BatchShuffleMode.Get(cfg) != conf.ShuffleBlocking {
		return nil
	}
	mode := conf.RuntimeMode.Get(cfg)
	if mode == conf.ModeStreaming || (mode == conf.ModeAutomatic && !g.Bounded()) {
		why := "execution.runtime-mode is streaming"
		if mode == conf.ModeAutomatic {
			why = "a source of the job is unbounded"
		}
		return fmt.Errorf("job %s: %s=%s needs a bounded job run in batch mode, but %s: streaming jobs always run pipelined; drop the option or set it to %s",
			g.Name, conf.BatchShuffleMode.Key(), conf.ShuffleBlocking, why, conf.ShufflePipelined)
	}
	stages, err := scheduler.SplitStages(g.Chains())
	if err != nil {
		return fmt.Errorf("job %s: %w", g.Name, err)
	}
	plan.Stages = stages
	return nil
}

// CheckShuffleCodecs makes the codec of every edge of job whose records
// cross workers under plan, so that a record type without one is reported
// before any container starts, naming the edge and the type (the client
// and the AM both check).
func CheckShuffleCodecs(job string, plan *scheduler.Plan, chains []*graph.Chain) error {
	var errs []string
	for _, e := range scheduler.CrossWorkerEdges(plan, chains) {
		if _, err := e.NewCodec(); err != nil {
			errs = append(errs, fmt.Sprintf("edge %s -> %s (%s): %v", e.From.Name, e.To.Name, e.Part, err))
		}
	}
	if len(errs) > 0 && len(plan.Stages) > 0 {
		return fmt.Errorf("job %s runs stage by stage (%s=%s), and records of %d of its edges must be written to disk between stages without a codec: %s; or run it with %s=%s on one worker (--slots-per-worker %d)",
			job, conf.BatchShuffleMode.Key(), conf.ShuffleBlocking, len(errs), strings.Join(errs, "; "), conf.BatchShuffleMode.Key(), conf.ShufflePipelined, plan.Slots)
	}
	if len(errs) > 0 {
		return fmt.Errorf("job %s runs on %d workers, and records of %d of its edges must cross between them without a codec: %s; or run it on one worker (--slots-per-worker %d)",
			job, plan.Workers, len(errs), strings.Join(errs, "; "), plan.Slots)
	}
	return nil
}

// UseLocalHadoopConf points HADOOP_CONF_DIR at dir (a container's working
// directory, holding the *-site.xml files the client shipped) unless it is
// set already, so HDFS and YARN clients find the cluster.
func UseLocalHadoopConf(dir string) {
	if os.Getenv("HADOOP_CONF_DIR") == "" {
		os.Setenv("HADOOP_CONF_DIR", dir)
	}
}
