// Package worker is the process YARN runs in a worker container: it rebuilds
// the job from the spec the client shipped, registers with the
// ApplicationMaster over gRPC (proving it belongs to the job with the
// application secret), runs the subtasks the AM assigns with the engine,
// heartbeats their progress and counters, and reports how they ended.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/am"
	"github.com/loom-yarn/loom/am/proto/controlpb"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/runtime"
)

// Options say where the worker's job and AM are. OptionsFromEnv fills them
// the way a container sees them.
type Options struct {
	// Dir holds am.SpecFile and the shipped *-site.xml files.
	Dir string
	// AMAddress is the AM's control service (host:port); Secret the
	// application secret; WorkerID the index the AM launched it as.
	AMAddress string
	Secret    string
	WorkerID  int
	// ContainerID and Host identify the worker's container and node.
	ContainerID string
	Host        string
	// Log receives the worker's log (its container's worker.err).
	Log io.Writer
	// AMTimeout is how long the worker keeps running while it cannot reach
	// the AM, before it gives up (the AM is gone: nobody would use its
	// output).
	AMTimeout time.Duration
}

// OptionsFromEnv reads the environment a worker container is launched
// with: am.EnvAMAddress, am.EnvSecret, am.EnvWorkerID from the AM, and
// CONTAINER_ID, NM_HOST from the NodeManager.
func OptionsFromEnv() (Options, error) {
	o := Options{Dir: ".", AMAddress: os.Getenv(am.EnvAMAddress), Secret: os.Getenv(am.EnvSecret),
		ContainerID: os.Getenv("CONTAINER_ID"), Host: os.Getenv("NM_HOST")}
	if o.AMAddress == "" {
		return o, fmt.Errorf("%s is not set: loom worker runs in containers its ApplicationMaster launches", am.EnvAMAddress)
	}
	if o.ContainerID == "" {
		return o, errors.New("CONTAINER_ID is not set: loom worker runs in YARN containers")
	}
	id, err := strconv.Atoi(os.Getenv(am.EnvWorkerID))
	if err != nil {
		return o, fmt.Errorf("%s=%q: want the worker's index", am.EnvWorkerID, os.Getenv(am.EnvWorkerID))
	}
	o.WorkerID = id
	return o, nil
}

// ErrStopped is returned when the AM told the worker to stop (the job
// restarts without it or ended).
var ErrStopped = errors.New("stopped by the ApplicationMaster")

// Run is the worker: it registers, runs its subtasks to the end and reports
// the outcome. It returns nil after the AM acknowledged a clean finish.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.AMTimeout <= 0 {
		opts.AMTimeout = time.Minute
	}
	lg := log.New(opts.Log, "worker: ", log.LstdFlags|log.Lmicroseconds)
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	am.UseLocalHadoopConf(dir)
	job, err := am.LoadJob(filepath.Join(dir, am.SpecFile))
	if err != nil {
		return err
	}

	conn, err := grpc.NewClient(opts.AMAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("ApplicationMaster address %s (%s): %w", opts.AMAddress, am.EnvAMAddress, err)
	}
	defer conn.Close()
	client := controlpb.NewControlClient(conn)
	callCtx := am.WithSecret(ctx, opts.Secret)

	asg, err := register(callCtx, client, opts)
	if err != nil {
		return err
	}
	if int(asg.GetWorker()) != opts.WorkerID {
		return fmt.Errorf("the AM assigned worker %d to container %s, launched as worker %d (%s)", asg.GetWorker(), opts.ContainerID, opts.WorkerID, am.EnvWorkerID)
	}
	runs := map[subtaskKey]bool{}
	for _, s := range asg.GetSubtasks() {
		runs[subtaskKey{s.GetChain(), int(s.GetIndex())}] = true
	}
	lg.Printf("registered with the AM at %s as worker %d of run %d: %d subtasks", opts.AMAddress, asg.GetWorker(), asg.GetRun(), len(runs))

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	eo := engineOptions(job)
	eo.Runs = func(chain string, i int) bool { return runs[subtaskKey{chain, i}] }
	x, err := engine.Start(runCtx, job.Graph, eo)
	if err != nil {
		return report(callCtx, client, opts, err, lg)
	}

	names := map[string]string{}
	for _, c := range job.Graph.Chains() {
		names[c.Name] = c.ID
	}
	interval := time.Duration(asg.GetHeartbeatIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		heartbeats(runCtx, client, callCtx, opts, x, names, interval, cancel, lg)
	}()
	runErr := x.Wait()
	cancel(nil)
	hbWG.Wait()
	if cause := context.Cause(runCtx); errors.Is(cause, ErrStopped) || errors.Is(cause, errAMLost) {
		return cause
	}
	if ctx.Err() != nil {
		return fmt.Errorf("worker %d cancelled: %w", opts.WorkerID, context.Cause(ctx))
	}
	return report(callCtx, client, opts, runErr, lg)
}

type subtaskKey struct {
	chain string
	index int
}

// register announces the worker, retrying while the AM is unreachable; a
// refusal (wrong secret, not a worker of the current run) is final.
func register(ctx context.Context, client controlpb.ControlClient, opts Options) (*controlpb.Assignment, error) {
	deadline := time.Now().Add(opts.AMTimeout)
	for {
		asg, err := client.Register(ctx, &controlpb.RegisterRequest{ContainerId: opts.ContainerID, Worker: int32(opts.WorkerID), Host: opts.Host})
		if err == nil {
			return asg, nil
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("register with the ApplicationMaster at %s: %s", opts.AMAddress, describe(err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// report tells the AM how the worker's share ended: finished (runErr nil)
// or failed with runErr's text, the job's root cause.
func report(ctx context.Context, client controlpb.ControlClient, opts Options, runErr error, lg *log.Logger) error {
	deadline := time.Now().Add(opts.AMTimeout)
	for {
		var err error
		if runErr == nil {
			_, err = client.Finished(ctx, &controlpb.FinishedRequest{ContainerId: opts.ContainerID})
		} else {
			_, err = client.Failed(ctx, &controlpb.FailedRequest{ContainerId: opts.ContainerID, Error: runErr.Error()})
		}
		if err == nil || status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			if err != nil {
				lg.Printf("report to the AM: %s", describe(err))
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if runErr != nil {
		return fmt.Errorf("worker %d: %w", opts.WorkerID, runErr)
	}
	lg.Printf("worker %d finished", opts.WorkerID)
	return nil
}

var errAMLost = errors.New("lost the ApplicationMaster")

// heartbeats reports progress until ctx ends; it cancels the run when the
// AM says stop or stays unreachable for opts.AMTimeout.
func heartbeats(ctx context.Context, client controlpb.ControlClient, callCtx context.Context, opts Options, x *engine.Execution,
	chainIDs map[string]string, interval time.Duration, cancel context.CancelCauseFunc, lg *log.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := heartbeat(opts.ContainerID, x, chainIDs)
		hctx, hcancel := context.WithTimeout(callCtx, interval*5)
		resp, err := client.Heartbeat(hctx, req)
		hcancel()
		if err != nil {
			if time.Since(lastOK) > opts.AMTimeout {
				lg.Printf("no answer from the AM for %v: stopping (%s)", opts.AMTimeout, describe(err))
				cancel(fmt.Errorf("%w at %s for %v: %s", errAMLost, opts.AMAddress, opts.AMTimeout, describe(err)))
				return
			}
			continue
		}
		lastOK = time.Now()
		if resp.GetStop() {
			lg.Printf("the AM says stop: %s", resp.GetReason())
			cancel(fmt.Errorf("%w: %s", ErrStopped, resp.GetReason()))
			return
		}
	}
}

// heartbeat collects the execution's counters.
func heartbeat(container string, x *engine.Execution, chainIDs map[string]string) *controlpb.HeartbeatRequest {
	p := x.Progress()
	req := &controlpb.HeartbeatRequest{ContainerId: container, RecordsIn: p.RecordsIn, RecordsOut: p.RecordsOut,
		RunningTasks: int32(p.RunningTasks), TotalTasks: int32(p.TotalTasks)}
	running := true
	select {
	case <-x.Done():
		running = false
	default:
	}
	for _, tm := range x.TaskMetrics() {
		st := &controlpb.SubtaskStatus{Chain: chainIDs[tm.Task], Name: tm.Task, Index: int32(tm.Subtask), Running: running,
			BackpressuredMs: tm.BackpressuredNanos.Load() / int64(time.Millisecond)}
		if ops := tm.Operators; len(ops) > 0 {
			st.RecordsIn = ops[0].RecordsIn.Load()
			st.RecordsOut = ops[len(ops)-1].RecordsOut.Load()
		}
		req.Subtasks = append(req.Subtasks, st)
	}
	return req
}

// engineOptions are the engine settings of the job's options, for a
// worker's share: the AM prepared the job once, and checkpoints are not
// coordinated across workers yet, so they stay off.
func engineOptions(job *am.Job) engine.Options {
	cfg := job.Conf
	return engine.Options{
		BatchSize:       conf.BatchSize.Get(cfg),
		ChannelCapacity: conf.ChannelCapacity.Get(cfg),
		StateBackend:    conf.StateBackend.Get(cfg),
		StateDir:        conf.LSMDir.Get(cfg),
		BadRecords:      &runtime.BadRecordPolicy{Skip: conf.OnBadRecord.Get(cfg) == conf.BadRecordSkip},
		Config:          cfg.Map(),
		Prepared:        true,
	}
}

// describe renders a gRPC error as its message, with the code when the
// message alone would not say what went wrong.
func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s (%s)", s.Message(), s.Code())
	}
	return err.Error()
}
