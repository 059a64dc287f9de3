package jobmaster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/scheduler"
)

// Provider gives the job master the processes its workers run in: YARN
// containers (the ApplicationMaster, yarn.go) or goroutines of this
// process (loom run's mini cluster). The master calls Ask, Launch, Release
// and Progress from its loop; they must not block on the network. The
// provider reports what happened to its containers through Events, from
// any goroutine.
type Provider interface {
	// Run runs the provider until ctx ends (then it returns nil) or it
	// cannot go on (an error; ErrProviderShutdown when the cluster told
	// the job to stop, as YARN does when the application is killed).
	Run(ctx context.Context, ev Events) error
	// Ask sets the number of worker containers wanted beyond those
	// allocated so far, each of res.
	Ask(count int, res scheduler.Resources)
	// Launch starts worker index in the allocated container, with env.
	Launch(container string, worker int, env WorkerEnv)
	// Release stops container (if it runs) and gives it back.
	Release(container string)
	// Progress reports the job's progress, from 0 to 1.
	Progress(p float32)
}

// WorkerEnv is what every worker is launched with: how to reach the job
// master's control service and prove it belongs to the job.
type WorkerEnv struct {
	MasterAddress string
	Secret        string
}

// Events receives what a Provider saw happen to its containers.
type Events interface {
	// Allocated: a container on node is ready for a worker.
	Allocated(container, node string)
	// Completed: a container ended (exit status, diagnostics).
	Completed(container string, exitStatus int32, diagnostics string)
	// LaunchFailed: a worker could not be started in container.
	LaunchFailed(container, reason string)
}

// ErrProviderShutdown is what a Provider's Run returns when the cluster
// told the job to stop (the application was killed).
var ErrProviderShutdown = errors.New("the cluster told the job master to shut down")

// Options configure a job master.
type Options struct {
	// Job is the job, rebuilt in this process (deploy.BuildJob).
	Job *deploy.Job
	// Log receives the master's log.
	Log io.Writer
	// Listen is the address the control service listens on (":0" on
	// YARN: every interface; "127.0.0.1:0", the default, in loom run);
	// Advertise is the host workers reach it at ("" the listener's).
	Listen    string
	Advertise string
	// HeartbeatInterval is how often workers heartbeat; a worker silent for
	// HeartbeatTimeout, or launched and not registered within
	// RegisterTimeout, is lost.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	RegisterTimeout   time.Duration
	// Submitted is when the job was submitted (status timings).
	Submitted time.Time
	// Resume says an earlier job master ran this job and died (a new
	// ApplicationMaster attempt): the first run restores from the latest
	// complete checkpoint, and the job's output is not prepared afresh.
	Resume bool
	// Secret is the application's secret, which workers and the job's
	// user (loom savepoint, loom stop) prove themselves with; empty makes
	// a new one.
	Secret string
	// OnRestart, if set, hears of every restart the master schedules.
	OnRestart func(Restart)
	// OnCheckpoint and OnCheckpointAborted, if set, hear of every
	// checkpoint the master completes or aborts.
	OnCheckpoint        func(id int64, duration time.Duration, bytes int64)
	OnCheckpointAborted func(id int64, reason string)
}

// Restart describes a restart of the job after a failed run.
type Restart struct {
	// Restart counts the restarts from 1, of at most Of.
	Restart, Of int
	Delay       time.Duration
	// Cause is the failure; From is the checkpoint the next run restores
	// from ("" from the start).
	Cause string
	From  string
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 30 * time.Second
	}
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = 2 * time.Minute
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Submitted.IsZero() {
		o.Submitted = time.Now()
	}
}

// Outcome is how a job ended.
type Outcome struct {
	// Status is PhaseSucceeded or PhaseFailed.
	Status      Phase
	Diagnostics string
	// Restarts is the number of restarts the job took.
	Restarts int
}

// Master is the job master: one event loop around the pure Machine. Worker
// calls (the control service), provider events and timers become closures
// run one at a time on the loop, which feeds the Machine and carries out
// its actions through the Provider. The same code runs a job on YARN and
// in loom run.
type Master struct {
	opts      Options
	log       *log.Logger
	board     *statusBoard
	provider  Provider
	secret    string
	workerEnv WorkerEnv
	lis       net.Listener

	job      *deploy.Job
	jm       *Machine
	progress float32
	// chainNames are the job's chain names by id, for the status.
	chainNames map[string]string
	// stagesLogged is set once the final stages went to the log.
	stagesLogged bool

	// Loop-owned.
	workerOf map[string]int // container -> worker index, current run
	final    *Action
	// deployments are what the registrations of each run wait for.
	deployments map[int]*deployment
	// stageGates are what the StageFinished calls wait for, by run and
	// the stage they wait to start.
	stageGates map[[2]int]*deployment
	// restore is where each restarted run restores from, decided when the
	// restart was scheduled.
	restore map[int]string
	// ckStorage holds the job's checkpoints, opened when the first run is
	// deployed; ck coordinates the current run's checkpoints (nil when
	// checkpointing is off or between runs).
	ckStorage *checkpoint.Storage
	ck        *runCheckpoints
	// stopSavepoint is the savepoint the job stopped with, once it
	// completed: what a restart restores from, and the job's outcome.
	stopSavepoint string

	events  chan func()
	stopped chan struct{}
}

// New prepares a job master: it runs the job's once-per-job preparation
// (a file sink's output directory) and opens the control service's
// listener, so that Address is known before Run. Close releases the
// listener of a master that never ran.
func New(opts Options) (*Master, error) {
	opts.defaults()
	job := opts.Job
	if err := engine.Prepare(job.Graph, job.Spec.RestoreFrom == "" && !opts.Resume); err != nil {
		return nil, fmt.Errorf("prepare job %s: %w", job.Spec.Job, err)
	}
	lis, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("job master control service listener on %s: %w", opts.Listen, err)
	}
	m := &Master{
		opts: opts, log: log.New(opts.Log, "jobmaster: ", log.LstdFlags|log.Lmicroseconds), board: newStatusBoard(job.Spec.Job, opts.Submitted),
		secret: opts.Secret, lis: lis, job: job,
		workerOf:    map[string]int{},
		deployments: map[int]*deployment{},
		stageGates:  map[[2]int]*deployment{},
		restore:     map[int]string{},
		events:      make(chan func(), 64),
		stopped:     make(chan struct{}),
		chainNames:  map[string]string{},
	}
	if m.secret == "" {
		m.secret = deploy.NewSecret()
	}
	host := opts.Advertise
	if host == "" {
		host, _, _ = net.SplitHostPort(lis.Addr().String())
	}
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	m.workerEnv = WorkerEnv{MasterAddress: net.JoinHostPort(host, port), Secret: m.secret}
	for _, c := range job.Plan.Chains {
		m.chainNames[c.ID] = c.Name
	}
	spec := job.Spec
	m.jm = NewMachine(MachineConfig{
		Workers:           job.Plan.Workers,
		Restarts:          max(0, spec.WorkerRestarts),
		RestartDelay:      time.Duration(spec.RestartDelayMS) * time.Millisecond,
		BackoffMultiplier: spec.BackoffMultiplier,
		MaxRestartDelay:   time.Duration(spec.MaxRestartDelayMS) * time.Millisecond,
		ResetAfter:        time.Duration(spec.ResetAfterMS) * time.Millisecond,
		RegisterTimeout:   opts.RegisterTimeout,
		HeartbeatTimeout:  opts.HeartbeatTimeout,
		Stages:            len(job.Plan.Stages),
		// YARN reports a dead container within a couple of NodeManager
		// and allocate heartbeats (1 s each by default).
		PeerLossGrace: 5 * time.Second,
	})
	m.board.update(func(s *JobStatus) {
		s.Job, s.Workers = spec.Job, nil
		s.Plan = fmt.Sprintf("%d worker(s) x %d slot(s), %d MB / %d vcores each", job.Plan.Workers, job.Plan.SlotsPerWorker, job.Plan.Worker.MemoryMB, job.Plan.Worker.VCores)
	})
	m.log.Printf("job %s: %s; control service on %s", spec.Job, m.board.get().Plan, m.workerEnv.MasterAddress)
	if opts.Resume {
		// The job's runs continue those of the attempt that died.
		m.log.Printf("an earlier ApplicationMaster attempt ran job %s: resuming it", spec.Job)
		m.restore[0] = m.restoreFrom(0)
	}
	return m, nil
}

// Close releases the control service's listener; Run closes it itself.
func (m *Master) Close() { m.lis.Close() }

// Address is the control service's address, as workers reach it.
func (m *Master) Address() string { return m.workerEnv.MasterAddress }

// Status is the job's current status (what /status serves).
func (m *Master) Status() JobStatus { return m.board.get() }

// Run serves the control service and runs the job through provider until
// the job ends (its Outcome), ctx ends (ctx's error) or the provider fails
// (its error; ErrProviderShutdown when the cluster killed the job).
func (m *Master) Run(ctx context.Context, provider Provider) (*Outcome, error) {
	m.provider = provider
	grpcSrv := deploy.NewControlServer(m.secret)
	controlpb.RegisterControlServer(grpcSrv, &controlService{m: m})
	go grpcSrv.Serve(m.lis)
	// The call that ended the job (the last worker's Finished) is answered
	// before the service stops: a worker without the answer would retry
	// until it is killed. Calls still waiting end at once (m.stopped).
	defer func() {
		done := make(chan struct{})
		go func() { grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			grpcSrv.Stop()
		}
	}()

	pctx, stopProvider := context.WithCancel(ctx)
	defer stopProvider()
	providerDone := make(chan error, 1)
	go func() { providerDone <- provider.Run(pctx, events{m}) }()

	final, err := m.loop(ctx, providerDone)
	close(m.stopped)
	stopProvider()
	if final == nil {
		if errors.Is(err, ErrProviderShutdown) || ctx.Err() != nil {
			m.board.update(func(s *JobStatus) { s.State = PhaseKilled.String() })
		}
		return nil, err
	}
	return &Outcome{Status: final.Status, Diagnostics: final.Diagnostics, Restarts: m.jm.Restarts()}, nil
}

// loop runs until the Machine finishes the job (final action returned),
// ctx ends, or the provider gives up.
func (m *Master) loop(ctx context.Context, providerDone <-chan error) (*Action, error) {
	m.do(m.jm.Start())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var ckTick <-chan time.Time
	if m.checkpointing() {
		t := time.NewTicker(min(conf.CheckpointInterval.Get(m.job.Conf)/4+time.Millisecond, 100*time.Millisecond))
		defer t.Stop()
		ckTick = t.C
	}
	defer m.stopCheckpoints("the job master stopped")
	for m.final == nil {
		select {
		case now := <-ckTick:
			m.tickCheckpoints(now)
		case <-ctx.Done():
			m.jm.Kill()
			return nil, ctx.Err()
		case err := <-providerDone:
			if err == nil {
				err = errors.New("the resource provider stopped")
			}
			if errors.Is(err, ErrProviderShutdown) {
				m.jm.Kill()
			}
			return nil, err
		case f := <-m.events:
			f()
		case now := <-tick.C:
			m.do(m.jm.Tick(now))
		}
	}
	return m.final, nil
}

// events feeds a provider's reports into the loop.
type events struct{ m *Master }

func (e events) Allocated(container, node string) {
	e.m.post(func() {
		e.m.log.Printf("allocated %s on %s", container, node)
		e.m.do(e.m.jm.ContainerAllocated(container, node, time.Now()))
	})
}

func (e events) Completed(container string, exitStatus int32, diagnostics string) {
	e.m.post(func() {
		e.m.log.Printf("container %s completed: exit status %d: %s", container, exitStatus, strings.TrimSpace(diagnostics))
		e.m.do(e.m.jm.ContainerCompleted(container, exitStatus, diagnostics))
	})
}

func (e events) LaunchFailed(container, reason string) {
	e.m.post(func() {
		e.m.log.Printf("launch %s: %s", container, reason)
		e.m.do(e.m.jm.LaunchFailed(container, reason))
	})
}

// restoreFrom is the checkpoint a restarted run restores from: the latest
// complete checkpoint of the job when checkpointing is on, else (or when
// none completed yet) --from-checkpoint, else nothing: the job reruns from
// the start. The first run restores from --from-checkpoint.
func (m *Master) restoreFrom(run int) string {
	if m.stopSavepoint != "" {
		m.log.Printf("run %d restores from the savepoint the job stops with (%s)", run, m.stopSavepoint)
		return m.stopSavepoint
	}
	from := m.job.Spec.RestoreFrom
	cfg := m.job.Conf
	if conf.CheckpointInterval.Get(cfg) > 0 {
		root := strings.TrimSuffix(conf.CheckpointDir.Get(cfg), "/") + "/" + m.job.Graph.Name
		md, dir, err := checkpoint.Load(root)
		if err == nil {
			for _, why := range md.Skipped {
				m.log.Printf("run %d: %s: restoring an earlier checkpoint", run, why)
			}
			m.log.Printf("run %d restores from checkpoint %d (%s)", run, md.ID, dir)
			return dir
		}
		if !errors.Is(err, checkpoint.ErrNoCheckpoint) {
			m.log.Printf("run %d: no checkpoint can be restored: %v", run, err)
		}
	}
	if from != "" {
		m.log.Printf("run %d restores from %s", run, from)
	} else {
		m.log.Printf("run %d starts from the beginning", run)
	}
	return from
}

// post runs f on the loop; it is dropped once the loop stopped.
func (m *Master) post(f func()) {
	select {
	case m.events <- f:
	case <-m.stopped:
	}
}

// call runs f on the loop and waits for it, for the control service.
func (m *Master) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case m.events <- func() { f(); close(done) }:
	case <-m.stopped:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-m.stopped:
		// The loop may have run f just before stopping (the call that
		// finished the job).
		select {
		case <-done:
			return nil
		default:
			return errStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errStopped = errors.New("the ApplicationMaster is shutting down")

// do carries out the Machine's actions and refreshes the status board.
func (m *Master) do(acts []Action) {
	for _, a := range acts {
		m.log.Printf("action: %s", a)
		switch a.Kind {
		case ActAsk:
			m.provider.Ask(a.Count, m.job.Plan.Worker)
		case ActLaunch:
			m.workerOf[a.Container] = a.Worker
			m.provider.Launch(a.Container, a.Worker, m.workerEnv)
		case ActRelease:
			m.provider.Release(a.Container)
			delete(m.workerOf, a.Container)
		case ActDeploy:
			d := m.deployment(a.Run)
			d.addrs, d.table = a.Addresses, deploy.EncodeAddresses(a.Addresses)
			d.restoreFrom = m.job.Spec.RestoreFrom
			if from, ok := m.restore[a.Run]; ok {
				d.restoreFrom = from
			}
			d.close(nil)
			if m.checkpointing() {
				m.startCheckpoints(a.Run)
			}
			if d.restoreFrom != "" {
				m.board.restored(a.Run, d.restoreFrom)
			}
			what := "every task"
			if n := len(m.job.Plan.Stages); n > 0 {
				what = fmt.Sprintf("stage 0 of %d", n)
			}
			m.log.Printf("all %d workers of run %d registered: deploying %s; partition servers %s", len(a.Addresses), a.Run, what, listSome(a.Addresses, 16))
		case ActStartStage:
			m.stageGate(a.Run, a.Stage).close(nil)
			m.log.Printf("every worker finished stage %d of run %d: starting stage %d (%s)", a.Stage-1, a.Run, a.Stage, strings.Join(m.job.Plan.Stages[a.Stage].Chains, ", "))
		case ActScheduleRestart:
			m.stopCheckpoints(m.jm.LastFailure())
			m.abortDeployments(m.jm.LastFailure())
			m.board.update(func(s *JobStatus) { s.Errors = append(s.Errors, m.jm.LastFailure()) })
			m.board.clearWorkers()
			// Where the next run restores from is decided now, and said.
			next := m.jm.Run() + 1
			m.restore[next] = m.restoreFrom(next)
			if f := m.opts.OnRestart; f != nil {
				f(Restart{Restart: m.jm.Restarts(), Of: m.job.Spec.WorkerRestarts, Delay: a.Delay, Cause: m.jm.LastFailure(), From: m.restore[next]})
			}
			time.AfterFunc(a.Delay, func() { m.post(func() { m.do(m.jm.RestartDue()) }) })
		case ActFinish:
			a := a
			if m.stopSavepoint != "" && a.Status == PhaseSucceeded {
				a.Diagnostics = "stopped with savepoint " + m.stopSavepoint + ": " + a.Diagnostics
			}
			m.final = &a
			m.stopCheckpoints(a.Diagnostics)
			m.abortDeployments(a.Diagnostics)
		}
	}
	if p := m.jm.Progress(); p != m.progress {
		m.progress = p
		m.provider.Progress(p)
	}
	m.refreshBoard()
}

// deployment is the answer the registrations of one run wait for: closed
// when the run is deployed (addrs set) or ends before (err set).
type deployment struct {
	done        chan struct{}
	closed      bool // loop-owned
	addrs       []string
	table       []byte // addrs encoded once for every assignment
	restoreFrom string
	err         error
}

func (d *deployment) close(err error) {
	if !d.closed {
		d.err, d.closed = err, true
		close(d.done)
	}
}

// deployment returns the deployment of run, making it on first sight.
func (m *Master) deployment(run int) *deployment {
	d := m.deployments[run]
	if d == nil {
		d = &deployment{done: make(chan struct{})}
		m.deployments[run] = d
	}
	return d
}

// abortDeployments answers the registrations still waiting (their run
// ended) with cause, and forgets the runs.
func (m *Master) abortDeployments(cause string) {
	for run, d := range m.deployments {
		d.close(fmt.Errorf("run %d of the job ended before all its workers registered: %s", run, cause))
		delete(m.deployments, run)
	}
	for k, d := range m.stageGates {
		d.close(fmt.Errorf("run %d of the job ended before stage %d started: %s", k[0], k[1], cause))
		delete(m.stageGates, k)
	}
}

// stageGate returns what the workers waiting to start stage of run wait
// for, making it on first sight.
func (m *Master) stageGate(run, stage int) *deployment {
	k := [2]int{run, stage}
	d := m.stageGates[k]
	if d == nil {
		d = &deployment{done: make(chan struct{})}
		m.stageGates[k] = d
	}
	return d
}

func (m *Master) refreshBoard() {
	jm := m.jm
	m.board.update(func(s *JobStatus) {
		s.State, s.Run, s.Restarts, s.LastFailure = jm.Phase().String(), jm.Run(), jm.Restarts(), jm.LastFailure()
		s.Progress = jm.Progress()
		s.Workers = s.Workers[:0]
		for _, w := range jm.Workers() {
			s.Workers = append(s.Workers, WorkerStatus{WorkerInfo: w})
		}
		if at := jm.AllRunningAt(); !at.IsZero() && s.Timings.AllWorkersRunning == 0 {
			s.Timings.AllWorkersRunning = sinceSubmitAt(s.submitted, at)
			m.log.Printf("all %d workers running, %.2fs after submission", len(s.Workers), s.Timings.AllWorkersRunning)
		}
		if stages := m.job.Plan.Stages; len(stages) > 0 {
			s.Stages = s.Stages[:0]
			for i, st := range jm.Stages() {
				ss := StageStatus{Index: i, State: st.State}
				for _, id := range stages[i].Chains {
					ss.Chains = append(ss.Chains, m.chainNames[id])
				}
				if !st.Started.IsZero() {
					ss.Started = sinceSubmitAt(s.submitted, st.Started)
				}
				if !st.Finished.IsZero() {
					ss.Finished = sinceSubmitAt(s.submitted, st.Finished)
				}
				s.Stages = append(s.Stages, ss)
			}
		}
		if m.final != nil {
			s.Diagnostics = m.final.Diagnostics
			s.Timings.Finished = sinceSubmit(s.submitted)
			if len(s.Stages) > 0 && !m.stagesLogged {
				// The status page goes away with the AM: its log keeps
				// how the stages ran.
				m.stagesLogged = true
				if b, err := json.Marshal(s.Stages); err == nil {
					m.log.Printf("stages of run %d: %s", s.Run, b)
				}
			}
		}
	})
}

// listSome joins the first n of items, saying how many more there are: a
// log line for 10,000 workers would otherwise be hundreds of kilobytes.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
