// Package stream is loom's user API: typed streams built into a job graph.
//
// A job is Go code that builds its graph on an Env:
//
//	env := stream.NewEnv("wordcount")
//	lines := stream.FromSource(env, "read", file.Text(input), nil)
//	words := stream.FlatMap(lines, "split", splitWords)
//	counts := stream.Aggregate(stream.KeyBy(words, identity), "count", stream.Count[string]())
//	counts.SinkTo("write", file.Sink(output, formatCount))
//
// Every process of a job (the local runner, and on YARN the ApplicationMaster
// and each worker) runs the same code with the same flags and so builds the
// same graph; user functions never cross a process boundary. Functions must
// therefore be rebuildable: named functions, or closures created while the job
// builds its graph. A function made at run time by reflection cannot be
// rebuilt and is rejected when the graph is built.
package stream

import (
	"errors"
	"fmt"

	"github.com/loom-yarn/loom/graph"
)

// RuntimeMode says how keyed aggregations emit results, as Flink's
// execution.runtime-mode: Streaming emits an updated result per record,
// Batch only the final result per key at end of input.
type RuntimeMode uint8

const (
	// Automatic is Batch when every source is bounded, else Streaming.
	Automatic RuntimeMode = iota
	// Streaming emits updates continuously.
	Streaming
	// Batch emits final results at end of input.
	Batch
)

// Env collects a job's graph as the job's code builds it.
type Env struct {
	g    *graph.Graph
	mode RuntimeMode
	errs []error
}

// NewEnv returns an environment for the job named name.
func NewEnv(name string) *Env { return &Env{g: graph.New(name)} }

// SetParallelism sets the default parallelism of the job's operators.
func (e *Env) SetParallelism(p int) { e.g.DefaultParallelism = p }

// Parallelism is the job's default parallelism.
func (e *Env) Parallelism() int { return e.g.DefaultParallelism }

// SetMaxParallelism sets the number of key groups (0 derives it).
func (e *Env) SetMaxParallelism(p int) { e.g.MaxParallelism = p }

// SetRuntimeMode sets how keyed aggregations emit.
func (e *Env) SetRuntimeMode(m RuntimeMode) { e.mode = m }

// Name is the job's name.
func (e *Env) Name() string { return e.g.Name }

// errorf records a graph-building error; Graph reports them all.
func (e *Env) errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, args...))
}

// Graph returns the resolved job graph, or every error met while building it.
func (e *Env) Graph() (*graph.Graph, error) {
	if len(e.errs) > 0 {
		return nil, fmt.Errorf("job %s: %w", e.g.Name, errors.Join(e.errs...))
	}
	if err := e.g.Resolve(); err != nil {
		return nil, err
	}
	return e.g, nil
}

// batchMode reports whether keyed aggregations emit only final results. The
// graph is complete when operators open, so this is decided then.
func (e *Env) batchMode() bool {
	switch e.mode {
	case Batch:
		return true
	case Streaming:
		return false
	}
	return e.g.Bounded()
}
