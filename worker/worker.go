// Package worker is a worker of a job: the process YARN runs in a worker
// container, or a goroutine of loom run's mini cluster. It rebuilds the job
// from the spec the client shipped (or takes the job its process already
// built), starts the partition server its subtasks' outputs to other
// workers go through, registers with the job master over gRPC (proving it
// belongs to the job with the application secret), runs its share of the
// job's physical plan with the engine, reading other workers' subtasks from
// their partition servers, heartbeats progress, counters and backpressure,
// and reports how its share ended.
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/task"
)

// Options say where the worker's job and job master are. OptionsFromEnv
// fills them the way a container sees them.
type Options struct {
	// Dir holds deploy.SpecFile and the shipped *-site.xml files.
	Dir string
	// Job, if set, is the job already built in this process (loom run);
	// Dir is then not read.
	Job *deploy.Job
	// Tune, if set, adjusts the engine options of each execution (loom run
	// adds its checkpoint metrics and bad-record policy); Started hears of
	// each execution once it runs.
	Tune    func(*engine.Options)
	Started func(*engine.Execution)
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
	// LocalDirs are the worker's scratch directories (the container's
	// LOCAL_DIRS, which YARN deletes with the application): spilled
	// shuffle files and LSM state go there; empty means the OS temp dir.
	LocalDirs []string
}

// OptionsFromEnv reads the environment a worker container is launched
// with: deploy.EnvAMAddress, deploy.EnvSecret, deploy.EnvWorkerID from the
// AM, and CONTAINER_ID, NM_HOST from the NodeManager.
func OptionsFromEnv() (Options, error) {
	o := Options{Dir: ".", AMAddress: os.Getenv(deploy.EnvAMAddress), Secret: os.Getenv(deploy.EnvSecret),
		ContainerID: os.Getenv("CONTAINER_ID"), Host: os.Getenv("NM_HOST"), LocalDirs: splitDirs(os.Getenv("LOCAL_DIRS"))}
	if o.AMAddress == "" {
		return o, fmt.Errorf("%s is not set: loom worker runs in containers its ApplicationMaster launches", deploy.EnvAMAddress)
	}
	if o.ContainerID == "" {
		return o, errors.New("CONTAINER_ID is not set: loom worker runs in YARN containers")
	}
	id, err := strconv.Atoi(os.Getenv(deploy.EnvWorkerID))
	if err != nil {
		return o, fmt.Errorf("%s=%q: want the worker's index", deploy.EnvWorkerID, os.Getenv(deploy.EnvWorkerID))
	}
	o.WorkerID = id
	return o, nil
}

// ShareError is how Run reports that the worker's share of the job failed
// (a task's error: the job's root cause).
type ShareError struct {
	Worker int
	Err    error
}

func (e *ShareError) Error() string { return fmt.Sprintf("worker %d: %v", e.Worker, e.Err) }

// Unwrap returns the task's error.
func (e *ShareError) Unwrap() error { return e.Err }

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
	job := opts.Job
	if job == nil {
		dir, err := filepath.Abs(opts.Dir)
		if err != nil {
			return err
		}
		spec, err := deploy.ReadSpec(filepath.Join(dir, deploy.SpecFile))
		if err != nil {
			return err
		}
		// The cluster's Hadoop configuration when the NodeManager passes
		// one, else the client's, shipped into this directory.
		hdfs.UseContainerDefaults(dir, spec.User)
		if job, err = deploy.BuildJob(spec); err != nil {
			return err
		}
	}
	scfg, ccfg := networkConfig(job.Conf)
	// The data plane admits only the job's processes, as the control plane.
	scfg.Secret, ccfg.Secret = opts.Secret, opts.Secret
	scfg.SpillDirs = opts.LocalDirs
	lis, shuffleAddr, err := listenShuffle(opts.Host)
	if err != nil {
		return err
	}
	srv := network.NewPartitionServer(scfg)
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(opts.AMAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("ApplicationMaster address %s (%s): %w", opts.AMAddress, deploy.EnvAMAddress, err)
	}
	defer conn.Close()
	client := controlpb.NewControlClient(conn)
	callCtx := deploy.WithSecret(ctx, opts.Secret)

	lg.Printf("partition server on %s; registering with the AM at %s", shuffleAddr, opts.AMAddress)
	asg, err := register(callCtx, client, opts, shuffleAddr)
	if err != nil {
		return err
	}
	if int(asg.GetWorker()) != opts.WorkerID {
		return fmt.Errorf("the AM assigned worker %d to container %s, launched as worker %d (%s)", asg.GetWorker(), opts.ContainerID, opts.WorkerID, deploy.EnvWorkerID)
	}
	addrs, err := deploy.DecodeAddresses(asg.GetShuffleTable(), job.Plan.Workers)
	if err != nil {
		return fmt.Errorf("job %s: %w", job.Spec.Job, err)
	}
	worker := int(asg.GetWorker())
	if mine := job.Plan.Subtasks(worker); len(mine) != len(asg.GetSubtasks()) {
		return fmt.Errorf("the AM assigned %d subtasks to worker %d, whose share of job %s's plan is %d: the AM and this worker disagree on the job", len(asg.GetSubtasks()), worker, job.Spec.Job, len(mine))
	}
	lg.Printf("deployed by the AM as worker %d of run %d: %d subtasks; partition servers of %d workers; %s", worker, asg.GetRun(), len(asg.GetSubtasks()), len(addrs),
		networkBound(job, worker, scfg, ccfg))
	if from := asg.GetRestoreFrom(); from != "" {
		lg.Printf("restoring from %s", from)
	}

	// lifeCtx lasts until the worker is done serving: heartbeats cancel it
	// when the AM says stop or is lost, which also cancels the subtasks.
	lifeCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	names := map[string]string{}
	for _, c := range job.Plan.Chains {
		names[c.Name] = c.ID
	}
	interval := time.Duration(asg.GetHeartbeatIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = time.Second
	}
	var current atomic.Pointer[engine.Execution]
	var hbWG sync.WaitGroup
	hbWG.Add(1)
	go func() {
		defer hbWG.Done()
		heartbeats(lifeCtx, client, callCtx, opts, current.Load, names, interval, cancel, lg)
	}()
	defer hbWG.Wait()
	defer cancel(nil)

	// A job deployed all at once is one stage; a bounded job in blocking
	// shuffle mode runs its stages one after another, each when the AM says
	// every worker finished the one before.
	eo := engineOptions(job, worker, asg.GetRestoreFrom(), opts.LocalDirs)
	if opts.Tune != nil {
		opts.Tune(&eo)
	}
	blocking := len(job.Plan.Stages) > 0
	started := opts.Started
	if eo.CheckpointInterval > 0 && !blocking {
		// The job master coordinates the checkpoints of all workers.
		link := newCheckpointLink(client, callCtx, opts, asg.GetRun(), lg)
		eo.Coordinated = link
		hbWG.Add(1)
		go func() {
			defer hbWG.Done()
			link.send(lifeCtx)
		}()
		started = func(x *engine.Execution) {
			hbWG.Add(1)
			go func() {
				defer hbWG.Done()
				link.commands(lifeCtx, x)
			}()
			if opts.Started != nil {
				opts.Started(x)
			}
		}
	}
	var runErr error
	for stage := 0; stage < job.Plan.NumStages() && runErr == nil; stage++ {
		if stage > 0 {
			start := time.Now()
			if err := awaitStage(deploy.WithSecret(lifeCtx, opts.Secret), client, opts, stage-1); err != nil {
				if cause := context.Cause(lifeCtx); cause != nil && ctx.Err() == nil {
					return cause
				}
				if ctx.Err() != nil {
					return fmt.Errorf("worker %d cancelled: %w", opts.WorkerID, context.Cause(ctx))
				}
				lg.Printf("waiting for stage %d: %v", stage, err)
				return err
			}
			lg.Printf("stage %d started, %v after this worker finished stage %d", stage, time.Since(start).Round(time.Millisecond), stage-1)
		}
		runErr = runStage(lifeCtx, job, eo, srv, ccfg, int64(asg.GetRun()), addrs, blocking, stage, &current, started, lg)
	}
	if cause := context.Cause(lifeCtx); errors.Is(cause, ErrStopped) || errors.Is(cause, errAMLost) {
		return cause
	}
	if ctx.Err() != nil {
		return fmt.Errorf("worker %d cancelled: %w", opts.WorkerID, context.Cause(ctx))
	}
	if err := report(callCtx, client, opts, runErr, lg); err != nil || runErr != nil {
		return err
	}
	// Subtasks of other workers may still be reading what this one's
	// produced: serve them until they have it all, or the AM says stop.
	start := time.Now()
	if err := srv.Drain(lifeCtx); err != nil {
		lg.Printf("stopped serving after %v: %v", time.Since(start).Round(time.Millisecond), err)
		return nil
	}
	lg.Printf("all output delivered to the other workers, %v after finishing", time.Since(start).Round(time.Millisecond))
	return nil
}

// runStage runs this worker's subtasks of stage (all of them for a job
// deployed at once) with the engine and waits for them to end. In blocking
// mode their outputs to later stages are spilled to local disk.
func runStage(ctx context.Context, job *deploy.Job, eo engine.Options, srv *network.PartitionServer, ccfg network.ClientConfig, attempt int64,
	addrs []string, blocking bool, stage int, current *atomic.Pointer[engine.Execution], started func(*engine.Execution), lg *log.Logger) error {
	eo.Stage = stage
	n := 0
	for _, s := range job.Plan.Subtasks(eo.Worker) {
		if job.Plan.StageOf(s.Chain) == stage {
			n++
		}
	}
	if blocking {
		if n == 0 {
			lg.Printf("stage %d: no subtasks on this worker", stage)
			return nil
		}
		lg.Printf("stage %d: running %d subtasks", stage, n)
	}
	// One client per stage: closing it when the stage's inputs ended lets
	// the producers' servers release what was sent.
	netClient := network.NewPartitionClient(ccfg)
	defer netClient.Close()
	eo.Shuffle = &engine.Shuffle{Server: srv, Client: netClient, Attempt: attempt, Addresses: addrs}
	x, err := engine.Start(ctx, job.Graph, eo)
	if err != nil {
		return err
	}
	current.Store(x)
	if started != nil {
		started(x)
	}
	return x.Wait()
}

// awaitStage reports that this worker finished stage and waits until the
// AM starts the next one (every worker finished stage), retrying while the
// AM is unreachable. The AM refusing or aborting the wait (the run failed)
// ends it with the AM's reason.
func awaitStage(ctx context.Context, client controlpb.ControlClient, opts Options, stage int) error {
	deadline := time.Now().Add(opts.AMTimeout)
	for {
		_, err := client.StageFinished(ctx, &controlpb.StageFinishedRequest{ContainerId: opts.ContainerID, Stage: int32(stage)})
		if err == nil {
			return nil
		}
		if status.Code(err) != codes.Unavailable || time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("report stage %d finished to the ApplicationMaster at %s: %s", stage, opts.AMAddress, describe(err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// splitDirs splits a comma-separated list of directories (LOCAL_DIRS,
// which YARN spreads over the node's disks and deletes with the
// application).
func splitDirs(list string) []string {
	var dirs []string
	for _, d := range strings.Split(list, ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// listenShuffle opens the partition server's listener on host (the
// container's node, $NM_HOST; loopback when unset) with a port the OS picks,
// and returns the address other workers reach it at.
func listenShuffle(host string) (net.Listener, string, error) {
	if host == "" {
		host = "127.0.0.1"
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		// The node's name may not resolve to an address of this machine
		// (NAT, an alias): listen on every interface, advertise the name.
		var err2 error
		if lis, err2 = net.Listen("tcp", ":0"); err2 != nil {
			return nil, "", fmt.Errorf("partition server listener on %s (%v) or any interface: %w", host, err, err2)
		}
	}
	return lis, net.JoinHostPort(host, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)), nil
}

// networkConfig is the network shuffle's configuration from the job's
// options: the buffers that bound a worker's network memory.
func networkConfig(cfg *conf.Config) (network.ServerConfig, network.ClientConfig) {
	timeout := conf.BufferTimeout.Get(cfg)
	if timeout == 0 {
		timeout = network.FlushEveryElement // as in Flink: 0 sends every element at once
	}
	floating := conf.NetworkFloatingBuffers.Get(cfg)
	if floating == 0 {
		floating = -1 // none; the client's 0 means its default
	}
	return network.ServerConfig{
			BufferSize:             int(conf.NetworkBufferSize.Get(cfg)),
			BuffersPerSubpartition: conf.NetworkMaxBuffersPerChannel.Get(cfg),
			BufferTimeout:          timeout,
		}, network.ClientConfig{
			ExclusiveBuffers: conf.NetworkBuffersPerChannel.Get(cfg),
			FloatingBuffers:  floating,
		}
}

// networkBound describes the most memory the worker's network buffers can
// take: every output channel to another worker holds at most
// BuffersPerSubpartition buffers, every input gate with remote channels at
// most ExclusiveBuffers per remote channel plus FloatingBuffers. A batch
// larger than a buffer makes one larger buffer, so the bound assumes
// batches smaller than BufferSize.
func networkBound(job *deploy.Job, worker int, s network.ServerConfig, c network.ClientConfig) string {
	outs, ins, gates, _ := job.Plan.WorkerChannels(worker)
	floating := max(c.FloatingBuffers, 0)
	buffers := outs*s.BuffersPerSubpartition + ins*c.ExclusiveBuffers + gates*floating
	return fmt.Sprintf("network memory at most %d buffers of %d bytes = %d KiB (%d output channels to other workers x %d, %d remote input channels x %d, %d gates x %d floating)",
		buffers, s.BufferSize, buffers*s.BufferSize>>10, outs, s.BuffersPerSubpartition, ins, c.ExclusiveBuffers, gates, floating)
}

// register announces the worker and its partition server, retrying while
// the AM is unreachable; the answer comes when every worker of the run
// registered. A refusal (wrong secret, not a worker of the current run, the
// run failed meanwhile) is final.
func register(ctx context.Context, client controlpb.ControlClient, opts Options, shuffleAddr string) (*controlpb.Assignment, error) {
	deadline := time.Now().Add(opts.AMTimeout)
	for {
		asg, err := client.Register(ctx, &controlpb.RegisterRequest{ContainerId: opts.ContainerID, Worker: int32(opts.WorkerID), Host: opts.Host,
			ShuffleAddress: shuffleAddr})
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
			_, err = client.Failed(ctx, &controlpb.FailedRequest{ContainerId: opts.ContainerID, Error: runErr.Error(),
				PeerLost: errors.Is(runErr, network.ErrPeerLost)})
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
		return &ShareError{Worker: opts.WorkerID, Err: runErr}
	}
	lg.Printf("worker %d finished", opts.WorkerID)
	return nil
}

var errAMLost = errors.New("lost the ApplicationMaster")

// heartbeats reports progress until ctx ends; it cancels the run when the
// AM says stop or stays unreachable for opts.AMTimeout.
func heartbeats(ctx context.Context, client controlpb.ControlClient, callCtx context.Context, opts Options, current func() *engine.Execution,
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
		req := heartbeat(opts.ContainerID, current(), chainIDs)
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

// heartbeat collects the counters of the worker's current execution (its
// latest stage), nil before the first one started.
func heartbeat(container string, x *engine.Execution, chainIDs map[string]string) *controlpb.HeartbeatRequest {
	if x == nil {
		return &controlpb.HeartbeatRequest{ContainerId: container}
	}
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
			BackpressuredMs: tm.BackpressuredNanos.Load() / int64(time.Millisecond), ElapsedMs: p.Elapsed.Milliseconds()}
		if ops := tm.Operators; len(ops) > 0 {
			st.RecordsIn = ops[0].RecordsIn.Load()
			st.RecordsOut = ops[len(ops)-1].RecordsOut.Load()
		}
		req.Subtasks = append(req.Subtasks, st)
	}
	return req
}

// engineOptions are the engine settings of the job's options for worker's
// share of its plan, restoring from restoreFrom ("" for none). The job
// master prepared the job once. The caller adds the stage and the shuffle.
func engineOptions(job *deploy.Job, worker int, restoreFrom string, localDirs []string) engine.Options {
	cfg := job.Conf
	eo := engine.Options{
		BatchSize:                   conf.BatchSize.Get(cfg),
		ChannelCapacity:             conf.ChannelCapacity.Get(cfg),
		StateBackend:                conf.StateBackend.Get(cfg),
		StateDir:                    conf.LSMDir.Get(cfg),
		CheckpointDir:               conf.CheckpointDir.Get(cfg),
		CheckpointInterval:          conf.CheckpointInterval.Get(cfg),
		CheckpointTimeout:           conf.CheckpointTimeout.Get(cfg),
		CheckpointMinPause:          conf.CheckpointMinPause.Get(cfg),
		CheckpointsRetain:           conf.CheckpointsRetained.Get(cfg),
		CheckpointMaxConcurrent:     conf.CheckpointMaxConcurrent.Get(cfg),
		CheckpointTolerableFailures: conf.CheckpointTolerableFailures.Get(cfg),
		RestoreFrom:                 restoreFrom,
		BadRecords:                  &task.BadRecordPolicy{Skip: conf.OnBadRecord.Get(cfg) == conf.BadRecordSkip},
		Config:                      cfg.Map(),
		Plan:                        job.Plan,
		Worker:                      worker,
		Prepared:                    true,
	}
	if eo.StateDir == "" && len(localDirs) > 0 {
		eo.StateDir = localDirs[worker%len(localDirs)]
	}
	return eo
}

// describe renders a gRPC error as its message, with the code when the
// message alone would not say what went wrong.
func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s (%s)", s.Message(), s.Code())
	}
	return err.Error()
}
