package am

import (
	"context"
	"encoding/json"
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
	"time"

	"github.com/loom-yarn/loom/am/proto/controlpb"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/yarn"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// Options configure the ApplicationMaster process.
type Options struct {
	// Dir is the container's working directory, holding SpecFile and the
	// shipped *-site.xml files ("" is the current directory).
	Dir string
	// Log receives the AM's log (its container's am.err).
	Log io.Writer
	// HeartbeatInterval is how often workers heartbeat; a worker silent for
	// HeartbeatTimeout, or launched and not registered within
	// RegisterTimeout, is lost.
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	RegisterTimeout   time.Duration
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
}

// Heartbeat pacing towards the RM: quick while containers are wanted, so
// workers start fast; Hadoop's usual 1 s otherwise.
const (
	rmIntervalBusy = 100 * time.Millisecond
	rmIntervalIdle = time.Second
	// workerPriority is the priority of worker container asks.
	workerPriority = 1
)

// errRMShutdown: the RM told this attempt to go away (the application was
// killed or the attempt is considered dead).
var errRMShutdown = errors.New("the ResourceManager told the ApplicationMaster to shut down")

// Run is the ApplicationMaster: it registers with the RM, runs the job of
// the spec in its working directory on worker containers, and unregisters
// with the outcome. It returns nil when it unregistered (whatever the job's
// outcome) or was killed, and an error when it could not reach the RM.
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	lg := log.New(opts.Log, "am: ", log.LstdFlags|log.Lmicroseconds)
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	UseLocalHadoopConf(dir)
	submitted := submitTime()

	// Listeners first: the registration names them.
	host := os.Getenv("NM_HOST")
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return fmt.Errorf("find this host's name: %w", err)
		}
	}
	ctlLn, err := net.Listen("tcp", ":0")
	if err != nil {
		return fmt.Errorf("control service listener: %w", err)
	}
	webLn, err := net.Listen("tcp", ":0")
	if err != nil {
		ctlLn.Close()
		return fmt.Errorf("status page listener: %w", err)
	}
	ctlPort := ctlLn.Addr().(*net.TCPAddr).Port
	trackingURL := fmt.Sprintf("http://%s/", net.JoinHostPort(host, strconv.Itoa(webLn.Addr().(*net.TCPAddr).Port)))

	board := newStatusBoard(submitted)
	web := serveStatus(webLn, board, lg)
	defer web.Close()

	ycfg, err := yarn.LoadConfig("")
	if err != nil {
		ctlLn.Close()
		return err
	}
	token, err := yarn.AMRMTokenFromEnv()
	if err != nil {
		ctlLn.Close()
		return err
	}
	amrm := yarn.NewAMRMClient(ycfg, token)
	defer amrm.Close()
	regCtx, cancelReg := context.WithTimeout(ctx, time.Minute)
	_, err = amrm.Register(regCtx, host, int32(ctlPort), trackingURL)
	cancelReg()
	if err != nil {
		ctlLn.Close()
		return fmt.Errorf("register with the ResourceManager at %s: %w", ycfg.SchedulerAddress, err)
	}
	board.update(func(s *JobStatus) { s.Timings.Registered = sinceSubmit(submitted) })
	lg.Printf("registered with the ResourceManager at %s, %.2fs after submission; tracking URL %s, control service on port %d", ycfg.SchedulerAddress, sinceSubmit(submitted), trackingURL, ctlPort)

	m := &master{
		opts: opts, log: lg, board: board, amrm: amrm, trackingURL: trackingURL,
		containers:  map[string]*yarnpb.ContainerProto{},
		workerOf:    map[string]int{},
		deployments: map[int]*deployment{},
		stageGates:  map[[2]int]*deployment{},
		events:      make(chan func(), 64),
		stopped:     make(chan struct{}),
		secret:      NewSecret(),
	}
	spec, setupErr := m.setup(dir, net.JoinHostPort(host, strconv.Itoa(ctlPort)))
	if spec != nil {
		defer m.deleteStaging(spec)
	}
	if setupErr != nil {
		ctlLn.Close()
		lg.Printf("job setup failed: %v", setupErr)
		board.update(func(s *JobStatus) { s.State, s.Diagnostics = PhaseFailed.String(), setupErr.Error() })
		return m.finish(yarnpb.FinalApplicationStatusProto_APP_FAILED, setupErr.Error())
	}

	grpcSrv := NewControlServer(m.secret)
	controlpb.RegisterControlServer(grpcSrv, &controlService{m: m})
	go grpcSrv.Serve(ctlLn)
	defer grpcSrv.Stop()

	m.nm = yarn.NewNMClient(amrm.NMTokens)
	defer m.nm.Close()
	rmCtx, stopRM := context.WithCancel(ctx)
	m.rm = &rmLoop{amrm: amrm, alloc: yarn.NewAllocator(), wake: make(chan struct{}, 1), log: lg,
		onUpdate: func(u *yarn.Update) { m.post(func() { m.onUpdate(u) }) }}
	rmDone := make(chan error, 1)
	go func() { rmDone <- m.rm.Run(rmCtx) }()

	final, loopErr := m.loop(ctx, rmDone)
	close(m.stopped)
	stopRM()
	switch {
	case final != nil:
		status := yarnpb.FinalApplicationStatusProto_APP_FAILED
		if final.Status == PhaseSucceeded {
			status = yarnpb.FinalApplicationStatusProto_APP_SUCCEEDED
		}
		diag := "loom job " + spec.Job + ": " + final.Diagnostics
		lg.Printf("job %s, %.2fs after submission: %s", final.Status, sinceSubmit(submitted), diag)
		return m.finish(status, diag)
	case errors.Is(loopErr, errRMShutdown) || ctx.Err() != nil:
		lg.Printf("killed (%v): stopping without unregistering; YARN stops the workers", context.Cause(ctx))
		board.update(func(s *JobStatus) { s.State = PhaseKilled.String() })
		return nil
	default:
		lg.Printf("giving up: %v", loopErr)
		return m.finish(yarnpb.FinalApplicationStatusProto_APP_FAILED, "loom ApplicationMaster: "+loopErr.Error())
	}
}

// master is the AM's event loop around the JobMaster: RM updates, worker
// calls and timers become closures run one at a time on the loop goroutine,
// which feeds the JobMaster and carries out its actions.
type master struct {
	opts        Options
	log         *log.Logger
	board       *statusBoard
	amrm        *yarn.AMRMClient
	nm          *yarn.NMClient
	rm          *rmLoop
	trackingURL string
	secret      string

	job      *Job
	jm       *JobMaster
	launch   *WorkerLaunch
	progress float32
	// chainNames are the job's chain names by id, for the status.
	chainNames map[string]string
	// stagesLogged is set once the final stages went to the log.
	stagesLogged bool

	// Loop-owned.
	containers map[string]*yarnpb.ContainerProto
	workerOf   map[string]int // container -> worker index, current run
	final      *Action
	// deployments are what the registrations of each run wait for.
	deployments map[int]*deployment
	// stageGates are what the StageFinished calls wait for, by run and
	// the stage they wait to start.
	stageGates map[[2]int]*deployment

	events  chan func()
	stopped chan struct{}
}

// setup rebuilds the job, runs its once-per-job preparation (a file sink's
// output directory) and prepares the worker launch.
func (m *master) setup(dir, amAddress string) (*JobSpec, error) {
	spec, err := ReadSpec(filepath.Join(dir, SpecFile))
	if err != nil {
		return nil, err
	}
	if spec.User != "" && os.Getenv("HADOOP_USER_NAME") == "" {
		os.Setenv("HADOOP_USER_NAME", spec.User)
	}
	job, err := BuildJob(spec)
	if err != nil {
		return spec, err
	}
	m.job = job
	m.chainNames = map[string]string{}
	for _, c := range job.Graph.Chains() {
		m.chainNames[c.ID] = c.Name
	}
	if err := engine.Prepare(job.Graph, true); err != nil {
		return spec, fmt.Errorf("prepare job %s: %w", spec.Job, err)
	}
	// The spec is not among its own Resources: the AM adds it, as HDFS has it.
	specRes, err := stagedFile(spec.Staging, SpecFile)
	if err != nil {
		return spec, err
	}
	spec.Resources = append(spec.Resources, specRes)
	creds, err := ContainerCredentials()
	if err != nil {
		return spec, fmt.Errorf("read the AM container's credentials: %w", err)
	}
	if m.launch, err = NewWorkerLaunch(spec, m.secret, amAddress, creds); err != nil {
		return spec, err
	}
	m.jm = NewJobMaster(JobMasterConfig{
		Workers:          job.Plan.Workers,
		Restarts:         max(0, spec.WorkerRestarts),
		RestartDelay:     time.Duration(spec.RestartDelayMS) * time.Millisecond,
		RegisterTimeout:  m.opts.RegisterTimeout,
		HeartbeatTimeout: m.opts.HeartbeatTimeout,
		Stages:           len(job.Plan.Stages),
	})
	m.board.update(func(s *JobStatus) {
		s.Job, s.Workers = spec.Job, nil
		s.Plan = fmt.Sprintf("%d worker(s) x %d slot(s), %d MB / %d vcores each", job.Plan.Workers, job.Plan.SlotsPerWorker, job.Plan.Worker.MemoryMB, job.Plan.Worker.VCores)
	})
	m.log.Printf("job %s: %s", spec.Job, m.board.get().Plan)
	return spec, nil
}

// loop runs until the JobMaster finishes the job (final action returned),
// ctx ends, or the RM heartbeat gives up.
func (m *master) loop(ctx context.Context, rmDone <-chan error) (*Action, error) {
	m.do(m.jm.Start())
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for m.final == nil {
		select {
		case <-ctx.Done():
			m.jm.Kill()
			return nil, ctx.Err()
		case err := <-rmDone:
			if err == nil {
				err = errors.New("the allocate heartbeat stopped")
			}
			if errors.Is(err, errRMShutdown) {
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

// post runs f on the loop; it is dropped once the loop stopped.
func (m *master) post(f func()) {
	select {
	case m.events <- f:
	case <-m.stopped:
	}
}

// call runs f on the loop and waits for it, for the control service.
func (m *master) call(ctx context.Context, f func()) error {
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

// onUpdate feeds an allocate response into the JobMaster.
func (m *master) onUpdate(u *yarn.Update) {
	now := time.Now()
	for _, c := range u.Allocated {
		id := yarn.FormatContainerID(c.GetId())
		m.containers[id] = c
		m.log.Printf("allocated %s on %s", id, yarn.NodeAddr(c.GetNodeId()))
		m.do(m.jm.ContainerAllocated(id, yarn.NodeAddr(c.GetNodeId()), now))
	}
	for _, st := range u.Completed {
		id := yarn.FormatContainerID(st.GetContainerId())
		m.log.Printf("container %s completed: exit status %d: %s", id, st.GetExitStatus(), strings.TrimSpace(st.GetDiagnostics()))
		m.do(m.jm.ContainerCompleted(id, st.GetExitStatus(), st.GetDiagnostics()))
		delete(m.containers, id)
	}
}

// do carries out the JobMaster's actions and refreshes the status board.
func (m *master) do(acts []Action) {
	for _, a := range acts {
		m.log.Printf("action: %s", a)
		switch a.Kind {
		case ActAsk:
			res := m.job.Plan.Worker
			m.rm.apply(func(al *yarn.Allocator) {
				al.SetAsk(yarn.Ask{Priority: workerPriority, MemoryMB: res.MemoryMB, VCores: res.VCores, Count: int32(a.Count)})
			})
		case ActLaunch:
			m.workerOf[a.Container] = a.Worker
			m.startContainer(a)
		case ActRelease:
			if c, ok := m.containers[a.Container]; ok {
				id := c.GetId()
				m.rm.apply(func(al *yarn.Allocator) { al.Release(id) })
			}
			delete(m.workerOf, a.Container)
		case ActDeploy:
			d := m.deployment(a.Run)
			d.addrs = a.Addresses
			d.close(nil)
			what := "every task"
			if n := len(m.job.Plan.Stages); n > 0 {
				what = fmt.Sprintf("stage 0 of %d", n)
			}
			m.log.Printf("all %d workers of run %d registered: deploying %s; partition servers %s", len(a.Addresses), a.Run, what, strings.Join(a.Addresses, ", "))
		case ActStartStage:
			m.stageGate(a.Run, a.Stage).close(nil)
			m.log.Printf("every worker finished stage %d of run %d: starting stage %d (%s)", a.Stage-1, a.Run, a.Stage, strings.Join(m.job.Plan.Stages[a.Stage].Chains, ", "))
		case ActScheduleRestart:
			m.abortDeployments(m.jm.LastFailure())
			m.board.update(func(s *JobStatus) { s.Errors = append(s.Errors, m.jm.LastFailure()) })
			m.board.clearWorkers()
			time.AfterFunc(a.Delay, func() { m.post(func() { m.do(m.jm.RestartDue()) }) })
		case ActFinish:
			a := a
			m.final = &a
			m.abortDeployments(a.Diagnostics)
		}
	}
	if p := m.jm.Progress(); p != m.progress {
		m.progress = p
		m.rm.apply(func(al *yarn.Allocator) { al.SetProgress(p) })
	}
	m.refreshBoard()
}

// deployment is the answer the registrations of one run wait for: closed
// when the run is deployed (addrs set) or ends before (err set).
type deployment struct {
	done   chan struct{}
	closed bool // loop-owned
	addrs  []string
	err    error
}

func (d *deployment) close(err error) {
	if !d.closed {
		d.err, d.closed = err, true
		close(d.done)
	}
}

// deployment returns the deployment of run, making it on first sight.
func (m *master) deployment(run int) *deployment {
	d := m.deployments[run]
	if d == nil {
		d = &deployment{done: make(chan struct{})}
		m.deployments[run] = d
	}
	return d
}

// abortDeployments answers the registrations still waiting (their run
// ended) with cause, and forgets the runs.
func (m *master) abortDeployments(cause string) {
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
func (m *master) stageGate(run, stage int) *deployment {
	k := [2]int{run, stage}
	d := m.stageGates[k]
	if d == nil {
		d = &deployment{done: make(chan struct{})}
		m.stageGates[k] = d
	}
	return d
}

// startContainer launches a worker through its NodeManager without holding
// up the loop; a refusal comes back as an event.
func (m *master) startContainer(a Action) {
	c := m.containers[a.Container]
	launch := m.launch.Context(a.Worker)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.nm.StartContainer(ctx, c, launch); err != nil {
			m.log.Printf("launch worker %d in %s: %v", a.Worker, a.Container, err)
			m.post(func() { m.do(m.jm.LaunchFailed(a.Container, err.Error())) })
			return
		}
		m.log.Printf("started worker %d in %s on %s", a.Worker, a.Container, a.Node)
	}()
}

func (m *master) refreshBoard() {
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

// finish unregisters with the RM.
func (m *master) finish(status yarnpb.FinalApplicationStatusProto, diagnostics string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.amrm.Finish(ctx, status, diagnostics, m.trackingURL); err != nil {
		return fmt.Errorf("unregister from the ResourceManager (%s): %w", status, err)
	}
	m.log.Printf("unregistered: %s", status)
	return nil
}

// deleteStaging removes the application's staging directory (the binary,
// spec and configuration the client uploaded), bounded in time since a kill
// leaves the AM little of it.
func (m *master) deleteStaging(spec *JobSpec) {
	if spec.Staging == "" {
		return
	}
	done := make(chan error, 1)
	go func() {
		fsys, p, err := hdfs.For(spec.Staging)
		if err == nil {
			err = fsys.RemoveAll(p)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			m.log.Printf("delete staging directory %s: %v", spec.Staging, err)
			return
		}
		m.log.Printf("deleted staging directory %s", spec.Staging)
	case <-time.After(10 * time.Second):
		m.log.Printf("delete staging directory %s: no answer from HDFS within 10s", spec.Staging)
	}
}

// stagedFile describes the file name of the staging directory as a
// container resource.
func stagedFile(staging, name string) (Resource, error) {
	uri := strings.TrimSuffix(staging, "/") + "/" + name
	fsys, p, err := hdfs.For(uri)
	if err != nil {
		return Resource{}, fmt.Errorf("staged %s: %w", name, err)
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return Resource{}, fmt.Errorf("staged %s: %w", name, err)
	}
	return Resource{Name: name, Path: uri, Size: fi.Size(), Timestamp: fi.ModTime().UnixMilli()}, nil
}

// submitTime is when the client submitted the application (the NodeManager
// sets APP_SUBMIT_TIME_ENV for AMs), or now.
func submitTime() time.Time {
	if ms, err := strconv.ParseInt(os.Getenv("APP_SUBMIT_TIME_ENV"), 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Now()
}

func sinceSubmit(t time.Time) float64 { return sinceSubmitAt(t, time.Now()) }

func sinceSubmitAt(t, at time.Time) float64 { return at.Sub(t).Seconds() }

// rmLoop is the allocate heartbeat: one goroutine owning the Allocator.
// Changes to asks, releases and progress are queued with apply and take
// effect on the next heartbeat, which apply brings forward.
type rmLoop struct {
	amrm     *yarn.AMRMClient
	alloc    *yarn.Allocator
	onUpdate func(*yarn.Update)
	log      *log.Logger
	wake     chan struct{}

	mu      sync.Mutex
	pending []func(*yarn.Allocator)
}

// maxHeartbeatFailures in a row make the AM give up on the RM.
const maxHeartbeatFailures = 20

func (r *rmLoop) apply(f func(*yarn.Allocator)) {
	r.mu.Lock()
	r.pending = append(r.pending, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run heartbeats until ctx ends (nil), the RM says shut down
// (errRMShutdown) or heartbeats keep failing.
func (r *rmLoop) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		r.mu.Lock()
		for _, f := range r.pending {
			f(r.alloc)
		}
		r.pending = nil
		r.mu.Unlock()
		u, err := r.amrm.Allocate(ctx, r.alloc)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, yarn.ErrShutdown) {
				return errRMShutdown
			}
			if failures++; failures >= maxHeartbeatFailures {
				return fmt.Errorf("allocate heartbeat failed %d times in a row: %w", failures, err)
			}
			r.log.Printf("allocate heartbeat: %v", err)
			timer.Reset(rmIntervalIdle)
			continue
		}
		failures = 0
		if len(u.Allocated) > 0 || len(u.Completed) > 0 {
			r.onUpdate(u)
		}
		if u.Command == yarn.CommandShutdown {
			return errRMShutdown
		}
		wait := rmIntervalIdle
		for _, a := range r.alloc.Asks() {
			if a.Count > 0 {
				wait = rmIntervalBusy
			}
		}
		timer.Reset(wait)
	}
}
