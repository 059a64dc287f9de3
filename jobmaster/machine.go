package jobmaster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Machine is the AM's job state machine: which workers the current run of
// the job needs, which container plays which worker, and what to do when a
// container is allocated, a worker registers, heartbeats, finishes, fails or
// disappears. It does no I/O and reads no clock: the AM's event loop feeds it
// events with the time they happened and carries out the Actions it returns
// (ask the RM for containers, launch or release one, schedule a restart,
// finish the application). Not safe for concurrent use.
//
// Subtasks of one worker read from subtasks of the others, so a run is
// deployed all at once: a worker that registers waits (WorkerRegistered)
// until every worker of the run has, and then ActDeploy hands all of them
// the partition server address of every worker.
//
// A bounded job may run stage by stage (blocking shuffle, Stages > 1): the
// run is deployed as above, but a worker runs its subtasks of stage k only
// after every worker finished stage k-1 (StageFinished; ActStartStage), and
// meanwhile serves what its earlier stages spilled to local disk.
//
// Until distributed checkpoints exist a restart reruns the whole job: every
// container of the failed run is released, and the next run asks for fresh
// containers after the restart delay.
type Machine struct {
	cfg     MachineConfig
	phase   Phase
	run     int
	workers []*workerSlot
	// byContainer maps the current run's containers to their worker.
	byContainer map[string]*workerSlot
	// retired holds containers of earlier runs, whose completion is expected.
	retired      map[string]bool
	restartsUsed int
	asked        int
	lastFailure  string
	// allRunning is when every worker of the current run had registered.
	allRunning time.Time
	// stage is the current run's latest started stage; stageStart and
	// stageEnd are when each stage started and its last worker finished it.
	stage      int
	stageStart []time.Time
	stageEnd   []time.Time
	// inState counts the current run's workers in each state, and no
	// worker below nextWanted is still wanted, so that an event costs O(1)
	// rather than a scan of every worker (a 10,000-worker deployment was
	// quadratic: 1e8 steps).
	inState    [WorkerFinished + 1]int
	nextWanted int
	// stageReports counts the workers that finished the current stage.
	stageReports int
	// echo is a failure on a lost peer connection, held back for
	// PeerLossGrace since echoAt in case the lost peer's own end follows.
	echo     string
	echoAt   time.Time
	echoFrom *workerSlot
	// now is the time of the latest timed event (Tick comes every second),
	// for the backoff's reset; attempts counts the restarts since the last
	// reset and delay is the next restart's wait.
	now      time.Time
	attempts int
	delay    time.Duration
	// noRestart is set by Fail: the AM itself cannot go on.
	noRestart bool
}

// MachineConfig sets up a Machine.
type MachineConfig struct {
	// Workers is the number of worker containers a run needs.
	Workers int
	// Restarts is how many times the job reruns after a failure, each after
	// RestartDelay.
	Restarts     int
	RestartDelay time.Duration
	// RegisterTimeout bounds the time from launching a container to its
	// worker's registration; HeartbeatTimeout the silence of a registered
	// worker. Either exceeded counts the worker as lost.
	RegisterTimeout  time.Duration
	HeartbeatTimeout time.Duration
	// Stages is the number of stages a run goes through one after another
	// (a bounded job in blocking shuffle mode); 0 or 1 deploys all at once.
	Stages int
	// BackoffMultiplier, when above 1, makes the restart delays grow
	// (exponential-delay restart strategy): RestartDelay, then each one
	// BackoffMultiplier times the one before, at most MaxRestartDelay. A
	// run that stayed up for ResetAfter resets the delay to RestartDelay
	// and the count of restarts Restarts bounds.
	BackoffMultiplier float64
	MaxRestartDelay   time.Duration
	ResetAfter        time.Duration
	// PeerLossGrace is how long a worker's failure on a lost connection to
	// another worker is held back, waiting for the cluster to report the
	// container that died: that container is the root cause, the lost
	// connection only its echo. 0 takes every failure at once.
	PeerLossGrace time.Duration
}

// Phase is where the job stands.
type Phase int

// Phases of a job.
const (
	// PhaseRunning: the current run's workers are being allocated, launched
	// or are running.
	PhaseRunning Phase = iota
	// PhaseRestarting: a run failed; its containers are released and the
	// next run starts when the restart delay has passed.
	PhaseRestarting
	// PhaseSucceeded, PhaseFailed and PhaseKilled are final.
	PhaseSucceeded
	PhaseFailed
	PhaseKilled
)

func (p Phase) String() string {
	return [...]string{"RUNNING", "RESTARTING", "SUCCEEDED", "FAILED", "KILLED"}[p]
}

// Final reports whether the job ended.
func (p Phase) Final() bool { return p >= PhaseSucceeded }

// WorkerState is where one worker of the current run stands.
type WorkerState int

// States of a worker.
const (
	// WorkerWanted: no container yet; one is asked for.
	WorkerWanted WorkerState = iota
	// WorkerLaunching: a container was allocated and launched; the worker
	// has not registered yet.
	WorkerLaunching
	// WorkerRegistered: registered with its partition server's address,
	// waiting for the other workers of the run before it is deployed.
	WorkerRegistered
	// WorkerRunning: deployed, running its subtasks.
	WorkerRunning
	// WorkerFinished: all its subtasks reached end of input.
	WorkerFinished
)

func (s WorkerState) String() string {
	return [...]string{"WANTED", "LAUNCHING", "REGISTERED", "RUNNING", "FINISHED"}[s]
}

type workerSlot struct {
	index     int
	state     WorkerState
	container string
	node      string
	// address is the worker's partition server (host:port).
	address string
	// seen is the launch, registration or last heartbeat time.
	seen time.Time
	// stagesDone counts the stages whose subtasks on this worker finished.
	stagesDone int
}

// ActionKind says what an Action asks the AM to do.
type ActionKind int

// Kinds of actions.
const (
	// ActAsk: set the outstanding container ask to Count (absolute).
	ActAsk ActionKind = iota
	// ActLaunch: start worker Worker in the allocated Container on Node.
	ActLaunch
	// ActRelease: give Container back to YARN (which kills it if running).
	ActRelease
	// ActScheduleRestart: call Machine.RestartDue after Delay.
	ActScheduleRestart
	// ActFinish: unregister from the RM with Status and Diagnostics; the
	// application is over.
	ActFinish
	// ActDeploy: every worker of run Run registered; answer their
	// registrations with their subtasks and Addresses, the partition
	// server of each worker by index. Stage 0 starts with it.
	ActDeploy
	// ActStartStage: every worker of run Run finished the stage before
	// Stage; answer the workers waiting to start it.
	ActStartStage
)

// Action is one thing the AM must do for the Machine.
type Action struct {
	Kind        ActionKind
	Count       int
	Worker      int
	Container   string
	Node        string
	Delay       time.Duration
	Status      Phase
	Diagnostics string
	Run         int
	Stage       int
	Addresses   []string
}

func (a Action) String() string {
	switch a.Kind {
	case ActAsk:
		return fmt.Sprintf("ask %d", a.Count)
	case ActLaunch:
		return fmt.Sprintf("launch worker=%d %s on %s", a.Worker, a.Container, a.Node)
	case ActRelease:
		return "release " + a.Container
	case ActScheduleRestart:
		return fmt.Sprintf("restart in %v", a.Delay)
	case ActFinish:
		return fmt.Sprintf("finish %s: %s", a.Status, a.Diagnostics)
	case ActDeploy:
		return fmt.Sprintf("deploy run=%d addresses=[%s]", a.Run, strings.Join(a.Addresses, " "))
	case ActStartStage:
		return fmt.Sprintf("start stage %d of run %d", a.Stage, a.Run)
	}
	return fmt.Sprintf("action(%d)", a.Kind)
}

// NewMachine returns the state machine of a job whose runs need
// cfg.Workers workers. Call Start to begin.
func NewMachine(cfg MachineConfig) *Machine {
	return &Machine{cfg: cfg, byContainer: map[string]*workerSlot{}, retired: map[string]bool{}}
}

// Start begins the first run: it asks for every worker's container.
func (m *Machine) Start() []Action {
	return m.beginRun()
}

func (m *Machine) beginRun() []Action {
	m.phase = PhaseRunning
	m.workers = make([]*workerSlot, m.cfg.Workers)
	for i := range m.workers {
		m.workers[i] = &workerSlot{index: i}
	}
	m.inState = [WorkerFinished + 1]int{WorkerWanted: len(m.workers)}
	m.nextWanted, m.stageReports = 0, 0
	m.byContainer = map[string]*workerSlot{}
	m.allRunning = time.Time{}
	m.stage = 0
	m.stageStart = make([]time.Time, m.numStages())
	m.stageEnd = make([]time.Time, m.numStages())
	return m.ask(nil)
}

func (m *Machine) numStages() int { return max(1, m.cfg.Stages) }

// ask sets the outstanding ask to the number of workers still without a
// container, if it changed.
func (m *Machine) ask(acts []Action) []Action {
	want := 0
	if m.phase == PhaseRunning {
		want = m.inState[WorkerWanted]
	}
	if want != m.asked {
		m.asked = want
		acts = append(acts, Action{Kind: ActAsk, Count: want})
	}
	return acts
}

// ContainerAllocated gives a new container to the first worker without one;
// a container nobody needs is released.
func (m *Machine) ContainerAllocated(container, node string, now time.Time) []Action {
	m.now = now
	if m.phase == PhaseRunning {
		// Workers are wanted again only in a new run: in this one they
		// get containers in index order.
		for ; m.nextWanted < len(m.workers); m.nextWanted++ {
			if w := m.workers[m.nextWanted]; w.state == WorkerWanted {
				m.setState(w, WorkerLaunching)
				w.container, w.node, w.seen = container, node, now
				m.byContainer[container] = w
				// The RM lowered its own count with this allocation.
				m.asked = max(0, m.asked-1)
				acts := []Action{{Kind: ActLaunch, Worker: w.index, Container: container, Node: node}}
				return m.ask(acts)
			}
		}
	}
	m.retired[container] = true
	return []Action{{Kind: ActRelease, Container: container}}
}

// LaunchFailed reports that the NodeManager refused to start a container.
func (m *Machine) LaunchFailed(container, reason string) []Action {
	w, ok := m.byContainer[container]
	if !ok {
		return nil
	}
	return m.fail(fmt.Sprintf("worker %d: launch container %s on %s: %s", w.index, container, w.node, reason))
}

// ContainerCompleted reports that YARN saw a container end. A worker that
// had not finished is lost.
func (m *Machine) ContainerCompleted(container string, exitStatus int32, diagnostics string) []Action {
	if m.retired[container] {
		delete(m.retired, container)
		return nil
	}
	w, ok := m.byContainer[container]
	if !ok {
		return nil
	}
	delete(m.byContainer, container)
	if w.state == WorkerFinished || (m.echo != "" && w == m.echoFrom) {
		// Finished; or it reported its failure and exited: held back,
		// that failure waits for the root cause (or the grace's end).
		return nil
	}
	msg := fmt.Sprintf("worker %d lost: container %s on %s exited with status %d before its subtasks finished", w.index, container, w.node, exitStatus)
	if d := strings.TrimSpace(diagnostics); d != "" {
		msg += ": " + d
	}
	return m.fail(msg)
}

// withEcho adds a held-back failure on a lost connection to the root cause
// it echoed.
func (m *Machine) withEcho(cause string) string {
	if m.echo == "" {
		return cause
	}
	return cause + "; then, as a consequence: " + m.echo
}

// Registration is a worker's answer to Register.
type Registration struct {
	Worker int
	Run    int
}

// Register admits the worker in container, whose partition server listens
// at address, or refuses a container that is not one of the current run's.
// The registration of the run's last worker deploys the run (ActDeploy); a
// repeated registration changes nothing.
func (m *Machine) Register(container, address string, now time.Time) (Registration, []Action, error) {
	m.now = now
	w, ok := m.byContainer[container]
	if !ok || m.phase != PhaseRunning {
		return Registration{}, nil, fmt.Errorf("container %s is not a worker of run %d of this job (job %s)", container, m.run, strings.ToLower(m.phase.String()))
	}
	reg := Registration{Worker: w.index, Run: m.run}
	w.seen = now
	if w.state != WorkerLaunching {
		return reg, nil, nil
	}
	m.setState(w, WorkerRegistered)
	w.address = address
	if m.countIn(WorkerRegistered) < len(m.workers) {
		return reg, nil, nil
	}
	addrs := make([]string, len(m.workers))
	for i, o := range m.workers {
		// Deployed now: heartbeats are due from here on.
		m.setState(o, WorkerRunning)
		o.seen = now
		addrs[i] = o.address
	}
	m.allRunning = now
	m.stageStart[0] = now
	return reg, []Action{{Kind: ActDeploy, Run: m.run, Addresses: addrs}}, nil
}

// StageFinished records that the worker in container finished its subtasks
// of stage (its spilled results wait on its disk). When every worker has,
// the next stage starts (ActStartStage). A report for a stage that is not
// running is refused: the worker is ahead of the AM or of another run.
// The last stage ends with WorkerFinished instead.
func (m *Machine) StageFinished(container string, stage int, now time.Time) ([]Action, error) {
	m.now = now
	w, ok := m.byContainer[container]
	if !ok || m.phase != PhaseRunning {
		return nil, fmt.Errorf("container %s is not a worker of run %d of this job (job %s)", container, m.run, strings.ToLower(m.phase.String()))
	}
	w.seen = now
	if stage < m.stage {
		return nil, nil // a repeated report: the next stage already started
	}
	if stage != m.stage || stage >= m.numStages()-1 || w.state != WorkerRunning {
		return nil, fmt.Errorf("worker %d reports stage %d finished, but run %d is in stage %d of %d (worker %s)", w.index, stage, m.run, m.stage, m.numStages(), w.state)
	}
	if w.stagesDone <= stage {
		w.stagesDone = stage + 1
		m.stageReports++
	}
	if m.stageReports < len(m.workers) {
		return nil, nil
	}
	m.stageReports = 0
	m.stageEnd[stage] = now
	m.stage = stage + 1
	m.stageStart[m.stage] = now
	return []Action{{Kind: ActStartStage, Run: m.run, Stage: m.stage}}, nil
}

// Heartbeat records a sign of life; a non-empty answer tells the worker to
// stop (it is not part of the current run).
func (m *Machine) Heartbeat(container string, now time.Time) (stop string) {
	m.now = now
	w, ok := m.byContainer[container]
	if !ok || m.phase != PhaseRunning {
		return fmt.Sprintf("container %s is no longer a worker of this job (job %s, run %d)", container, strings.ToLower(m.phase.String()), m.run)
	}
	w.seen = now
	return ""
}

// WorkerFinished records that a worker's subtasks all ended; when every
// worker has, the job succeeded.
func (m *Machine) WorkerFinished(container string, now time.Time) []Action {
	m.now = now
	w, ok := m.byContainer[container]
	if !ok || m.phase != PhaseRunning {
		return nil
	}
	if m.stage < m.numStages()-1 {
		// A worker cannot have finished stages that have not started.
		return m.fail(fmt.Sprintf("worker %d (container %s) reported all its subtasks finished while run %d is in stage %d of %d", w.index, container, m.run, m.stage, m.numStages()))
	}
	m.setState(w, WorkerFinished)
	w.seen, w.stagesDone = now, m.numStages()
	if m.countIn(WorkerFinished) < len(m.workers) {
		return nil
	}
	m.stageEnd[m.stage] = now
	m.phase = PhaseSucceeded
	diag := fmt.Sprintf("all %d workers finished", len(m.workers))
	if m.restartsUsed > 0 {
		diag += fmt.Sprintf(" after %d restart(s); last failure: %s", m.restartsUsed, m.lastFailure)
	}
	return []Action{{Kind: ActFinish, Status: PhaseSucceeded, Diagnostics: diag}}
}

// WorkerFailed records a worker's report that its share of the job failed.
// A failure on a lost connection to another worker (peerLost) is held back
// for PeerLossGrace: when the cluster reports meanwhile that another
// worker's container ended, that is the job's root cause, with this one
// named as its consequence (Tick takes the held failure when the grace ends).
func (m *Machine) WorkerFailed(container, errText string, peerLost bool, now time.Time) []Action {
	m.now = now
	w, ok := m.byContainer[container]
	if !ok || m.phase != PhaseRunning {
		return nil
	}
	cause := fmt.Sprintf("worker %d (container %s on %s) failed: %s", w.index, container, w.node, errText)
	if peerLost && m.cfg.PeerLossGrace > 0 {
		if m.echo == "" {
			m.echo, m.echoAt, m.echoFrom = cause, now, w
		}
		return nil
	}
	return m.fail(cause)
}

// FailRun ends the current run for a reason of the job master's own (its
// checkpoints keep failing): a restart if the strategy allows one.
func (m *Machine) FailRun(cause string, now time.Time) []Action {
	m.now = now
	if m.phase != PhaseRunning {
		return nil
	}
	return m.fail(cause)
}

// Tick checks the timeouts: a launched worker that never registered, or a
// registered one that stopped heartbeating, is lost.
func (m *Machine) Tick(now time.Time) []Action {
	m.now = now
	if m.phase != PhaseRunning {
		return nil
	}
	if m.echo != "" && now.Sub(m.echoAt) >= m.cfg.PeerLossGrace {
		// No other end was reported: the lost connection is all we know.
		echo := m.echo
		m.echo, m.echoFrom = "", nil
		return m.fail(echo)
	}
	for _, w := range m.workers {
		switch {
		case w.state == WorkerLaunching && m.cfg.RegisterTimeout > 0 && now.Sub(w.seen) > m.cfg.RegisterTimeout:
			return m.fail(fmt.Sprintf("worker %d lost: container %s on %s did not register within %v (see its worker.err log)", w.index, w.container, w.node, m.cfg.RegisterTimeout))
		case w.state == WorkerRunning && m.cfg.HeartbeatTimeout > 0 && now.Sub(w.seen) > m.cfg.HeartbeatTimeout:
			return m.fail(fmt.Sprintf("worker %d lost: container %s on %s sent no heartbeat for %v", w.index, w.container, w.node, now.Sub(w.seen).Round(time.Millisecond)))
		}
	}
	return nil
}

// fail ends the current run: with restarts left, it releases the run's
// containers and schedules the next run; otherwise the job failed.
func (m *Machine) fail(cause string) []Action {
	if m.phase != PhaseRunning {
		return nil
	}
	cause = m.withEcho(cause)
	m.echo, m.echoFrom = "", nil
	m.lastFailure = cause
	var acts []Action
	for _, c := range slices.Sorted(maps.Keys(m.byContainer)) {
		m.retired[c] = true
		acts = append(acts, Action{Kind: ActRelease, Container: c})
	}
	m.byContainer = map[string]*workerSlot{}
	if m.cfg.BackoffMultiplier > 1 && m.cfg.ResetAfter > 0 && !m.allRunning.IsZero() && m.now.Sub(m.allRunning) >= m.cfg.ResetAfter {
		// The run was up long enough: this failure starts a new series.
		m.attempts, m.delay = 0, 0
	}
	if m.attempts < m.cfg.Restarts && !m.noRestart {
		m.restartsUsed++
		m.attempts++
		delay := m.cfg.RestartDelay
		if m.cfg.BackoffMultiplier > 1 {
			if m.delay > 0 {
				delay = m.delay
			}
			next := time.Duration(float64(delay) * m.cfg.BackoffMultiplier)
			if m.cfg.MaxRestartDelay > 0 {
				next = min(next, m.cfg.MaxRestartDelay)
				delay = min(delay, m.cfg.MaxRestartDelay)
			}
			m.delay = next
		}
		m.phase = PhaseRestarting
		acts = m.ask(acts)
		return append(acts, Action{Kind: ActScheduleRestart, Delay: delay})
	}
	m.phase = PhaseFailed
	acts = m.ask(acts)
	diag := cause
	if m.restartsUsed > 0 {
		diag = fmt.Sprintf("%s (after %d restart(s))", cause, m.restartsUsed)
	}
	return append(acts, Action{Kind: ActFinish, Status: PhaseFailed, Diagnostics: diag})
}

// RestartDue starts the next run after a restart delay.
func (m *Machine) RestartDue() []Action {
	if m.phase != PhaseRestarting {
		return nil
	}
	m.run++
	return m.beginRun()
}

// Kill ends the job without a final report of its own: the RM killed the
// application or told the AM to shut down.
func (m *Machine) Kill() {
	if !m.phase.Final() {
		m.phase = PhaseKilled
	}
}

// Fail ends the job for a reason outside the workers (the AM itself could
// not go on), with no restart.
func (m *Machine) Fail(cause string) []Action {
	m.noRestart = true
	return m.fail(cause)
}

// setState moves w to state s, keeping inState's counts.
func (m *Machine) setState(w *workerSlot, s WorkerState) {
	m.inState[w.state]--
	m.inState[s]++
	w.state = s
}

func (m *Machine) countIn(states ...WorkerState) int {
	n := 0
	for _, s := range states {
		n += m.inState[s]
	}
	return n
}

// Phase is where the job stands.
func (m *Machine) Phase() Phase { return m.phase }

// Run counts the job's runs from 0.
func (m *Machine) Run() int { return m.run }

// Restarts is the number of restarts so far.
func (m *Machine) Restarts() int { return m.restartsUsed }

// LastFailure is the cause of the latest failed run, or "".
func (m *Machine) LastFailure() string { return m.lastFailure }

// AllRunningAt is when every worker of the current run had registered and
// the run was deployed (zero until then).
func (m *Machine) AllRunningAt() time.Time { return m.allRunning }

// StageInfo describes one stage of the current run.
type StageInfo struct {
	Index int `json:"index"`
	// State is WAITING, RUNNING or FINISHED.
	State string `json:"state"`
	// Started and Finished are zero until the stage started / ended.
	Started  time.Time `json:"-"`
	Finished time.Time `json:"-"`
}

// Stages lists the current run's stages; a run deployed all at once has one.
func (m *Machine) Stages() []StageInfo {
	out := make([]StageInfo, len(m.stageStart))
	for i := range out {
		st := "WAITING"
		switch {
		case !m.stageEnd[i].IsZero():
			st = "FINISHED"
		case !m.stageStart[i].IsZero():
			st = "RUNNING"
		}
		out[i] = StageInfo{Index: i, State: st, Started: m.stageStart[i], Finished: m.stageEnd[i]}
	}
	return out
}

// WorkerInfo describes one worker of the current run.
type WorkerInfo struct {
	Index     int    `json:"index"`
	State     string `json:"state"`
	Container string `json:"container,omitempty"`
	Node      string `json:"node,omitempty"`
	// Address is the worker's partition server, once it registered.
	Address string `json:"shuffleAddress,omitempty"`
}

// Workers lists the current run's workers by index.
func (m *Machine) Workers() []WorkerInfo {
	out := make([]WorkerInfo, len(m.workers))
	for i, w := range m.workers {
		out[i] = WorkerInfo{Index: w.index, State: w.state.String(), Container: w.container, Node: w.node, Address: w.address}
	}
	return out
}

// Progress is the fraction of the current run's workers that finished.
func (m *Machine) Progress() float32 {
	if m.phase == PhaseSucceeded {
		return 1
	}
	if len(m.workers) == 0 {
		return 0
	}
	return float32(m.countIn(WorkerFinished)) / float32(len(m.workers))
}
