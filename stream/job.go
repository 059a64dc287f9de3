package stream

import (
	"fmt"
	"sort"
	"sync"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/graph"
)

// Builder builds a job's graph on env, using the flag values its Define bound.
type Builder func(env *Env) error

// Job is a named job a binary offers: `loom run NAME`, later `loom submit NAME`.
type Job struct {
	Name        string
	Description string
	// Define declares the job's flags on fs and returns the builder that
	// reads them. Every process of the job calls it with the same arguments.
	Define func(fs *pflag.FlagSet) Builder
}

var jobs = struct {
	sync.Mutex
	m map[string]Job
}{m: map[string]Job{}}

// Register makes a job available to the binary's commands. It panics on a
// duplicate name: that is a programming error found at start-up.
func Register(j Job) {
	jobs.Lock()
	defer jobs.Unlock()
	if _, dup := jobs.m[j.Name]; dup {
		panic(fmt.Sprintf("stream.Register: job %q registered twice", j.Name))
	}
	if j.Define == nil {
		panic(fmt.Sprintf("stream.Register: job %q has no Define", j.Name))
	}
	jobs.m[j.Name] = j
}

// Jobs lists the registered jobs by name.
func Jobs() []Job {
	jobs.Lock()
	defer jobs.Unlock()
	out := make([]Job, 0, len(jobs.m))
	for _, j := range jobs.m {
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

// Lookup finds a registered job.
func Lookup(name string) (Job, bool) {
	jobs.Lock()
	defer jobs.Unlock()
	j, ok := jobs.m[name]
	return j, ok
}

// NewEnvironment builds job j's graph with the options of cfg: the same code
// path in every process that runs the job (loom run, the client of loom
// submit, the ApplicationMaster and the workers).
func NewEnvironment(j Job, build Builder, cfg *conf.Config) (*Env, error) {
	env := NewEnv(j.Name)
	env.SetParallelism(conf.Parallelism.Get(cfg))
	env.SetMaxParallelism(conf.MaxParallelism.Get(cfg))
	switch conf.RuntimeMode.Get(cfg) {
	case conf.ModeStreaming:
		env.SetRuntimeMode(Streaming)
	case conf.ModeBatch:
		env.SetRuntimeMode(Batch)
	}
	if err := build(env); err != nil {
		return nil, fmt.Errorf("job %s: %w", j.Name, err)
	}
	return env, nil
}

// BuildGraph rebuilds the graph of the registered job name from its flag
// arguments and options, as another process of the same job did.
func BuildGraph(name string, args []string, cfg *conf.Config) (*graph.Graph, error) {
	j, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("job %q is not registered in this binary", name)
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	build := j.Define(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("job %s: flags %q: %w", name, args, err)
	}
	env, err := NewEnvironment(j, build, cfg)
	if err != nil {
		return nil, err
	}
	return env.Graph()
}
