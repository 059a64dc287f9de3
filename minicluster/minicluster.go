// Package minicluster runs a job in one process, as Flink's MiniCluster
// does: the real job master (jobmaster.Master) with an in-process resource
// provider instead of YARN, whose "containers" are goroutines running the
// real worker code (worker.Run). Deployment, restarts and the meaning of
// every option are therefore the same in loom run and on YARN; only where a
// worker runs differs. A local job gets one worker with a slot per subtask
// index, so every channel between its tasks stays in memory.
package minicluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/jobmaster"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/worker"
)

// Options configure a mini cluster run.
type Options struct {
	// Log receives the job master's and the workers' logs (nil: dropped).
	Log io.Writer
	// LocalDirs are the workers' scratch directories (spill files, LSM
	// state); empty is the OS temp dir.
	LocalDirs []string
	// Tune and Started are passed to every worker (worker.Options).
	Tune    func(*engine.Options)
	Started func(*engine.Execution)
	// OnRestart hears of every restart the job master schedules.
	OnRestart func(jobmaster.Restart)
	// OnCheckpoint and OnCheckpointAborted hear of every checkpoint the
	// job master completes or aborts.
	OnCheckpoint        func(id int64, duration time.Duration, bytes int64)
	OnCheckpointAborted func(id int64, reason string)
}

// Plan is the physical plan of a local job: one worker whose slots hold
// every subtask.
func Plan(job *deploy.Job) (*scheduler.Plan, error) {
	return deploy.NewPlan(job.Graph, job.Conf, job.Graph.LargestParallelism(), scheduler.Resources{})
}

// Run runs job (whose Plan is set, e.g. by Plan) to its end and returns
// nil when it succeeded, or the root cause of its failure: a task's own
// error when a worker reported one.
func Run(ctx context.Context, job *deploy.Job, opts Options) error {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	m, err := jobmaster.New(jobmaster.Options{Job: job, Log: opts.Log, Listen: "127.0.0.1:0",
		HeartbeatInterval: 200 * time.Millisecond, OnRestart: opts.OnRestart,
		OnCheckpoint: opts.OnCheckpoint, OnCheckpointAborted: opts.OnCheckpointAborted})
	if err != nil {
		return err
	}
	p := &provider{job: job, opts: opts, running: map[string]context.CancelFunc{}, ready: make(chan struct{})}
	out, err := m.Run(ctx, p)
	p.stopAll()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if out.Status == jobmaster.PhaseSucceeded {
		return nil
	}
	if cause := p.lastError(); cause != nil {
		if out.Restarts > 0 {
			return fmt.Errorf("%w (after %d restarts)", cause, out.Restarts)
		}
		return cause
	}
	return errors.New(out.Diagnostics)
}

// provider is the in-process resource provider: an ask is granted at once
// with "containers" that are goroutines; releasing one cancels its worker.
type provider struct {
	job  *deploy.Job
	opts Options

	// ready is closed once Run has the master's events and context.
	ready chan struct{}

	mu      sync.Mutex
	ev      jobmaster.Events
	next    int
	running map[string]context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup
	// failure is the latest error a worker reported as its share's.
	failure error
}

// Run implements jobmaster.Provider.
func (p *provider) Run(ctx context.Context, ev jobmaster.Events) error {
	p.mu.Lock()
	p.ev, p.ctx = ev, ctx
	p.mu.Unlock()
	close(p.ready)
	<-ctx.Done()
	return nil
}

// Ask implements jobmaster.Provider: every container asked for is
// allocated at once, on this host.
func (p *provider) Ask(count int, _ scheduler.Resources) {
	p.mu.Lock()
	ids := make([]string, count)
	for i := range ids {
		ids[i] = fmt.Sprintf("local_container_%d", p.next)
		p.next++
	}
	p.mu.Unlock()
	// Events go back to the master's loop, which is the caller: post them
	// from another goroutine, once Run has the events.
	go func() {
		<-p.ready
		for _, id := range ids {
			p.ev.Allocated(id, "localhost")
		}
	}()
}

// Launch implements jobmaster.Provider: the worker runs as a goroutine
// until it ends or its container is released.
func (p *provider) Launch(container string, index int, env jobmaster.WorkerEnv) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithCancel(p.ctx)
	p.running[container] = cancel
	ev := p.ev
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		err := worker.Run(ctx, worker.Options{Job: p.job, AMAddress: env.MasterAddress, Secret: env.Secret, WorkerID: index,
			ContainerID: container, Host: "127.0.0.1", Log: p.opts.Log, LocalDirs: p.opts.LocalDirs,
			Tune: p.opts.Tune, Started: p.opts.Started})
		status, diag := int32(0), ""
		if err != nil {
			status, diag = 1, err.Error()
			var se *worker.ShareError
			if errors.As(err, &se) {
				p.mu.Lock()
				p.failure = se.Err
				p.mu.Unlock()
			}
		}
		ev.Completed(container, status, diag)
	}()
}

// Release implements jobmaster.Provider.
func (p *provider) Release(container string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cancel, ok := p.running[container]; ok {
		cancel()
		delete(p.running, container)
	}
}

// Progress implements jobmaster.Provider; loom run shows its own.
func (p *provider) Progress(float32) {}

func (p *provider) lastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failure
}

// stopAll cancels every worker still running and waits for all to end.
func (p *provider) stopAll() {
	p.mu.Lock()
	for id, cancel := range p.running {
		cancel()
		delete(p.running, id)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
