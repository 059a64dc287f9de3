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
// spec.SlotsPerWorker slots. A job whose records would have to cross
// workers (a shuffle; not supported yet) is refused, naming the edges.
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
	if edges := scheduler.CrossWorkerEdges(plan, chains); len(edges) > 0 {
		var names []string
		for _, e := range edges {
			names = append(names, fmt.Sprintf("%s -> %s (%s)", e.From.Name, e.To.Name, e.Part))
		}
		return nil, fmt.Errorf("job %s needs %d workers (parallelism %d, %d slots per worker), but its edge %s would carry records between workers, and loom has no network shuffle yet: run it with --slots-per-worker %d (one worker) or use loom run",
			spec.Job, plan.Workers, plan.Slots, slots, strings.Join(names, ", "), plan.Slots)
	}
	return &Job{Spec: spec, Conf: cfg, Graph: g, Plan: plan}, nil
}

// UseLocalHadoopConf points HADOOP_CONF_DIR at dir (a container's working
// directory, holding the *-site.xml files the client shipped) unless it is
// set already, so HDFS and YARN clients find the cluster.
func UseLocalHadoopConf(dir string) {
	if os.Getenv("HADOOP_CONF_DIR") == "" {
		os.Setenv("HADOOP_CONF_DIR", dir)
	}
}
