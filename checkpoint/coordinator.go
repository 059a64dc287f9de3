// Package checkpoint makes loom's state durable: the coordinator that decides
// when a checkpoint starts, completes or is abandoned, and the storage that
// holds each checkpoint's task files and metadata.
//
// The Coordinator is a deterministic state machine in the manner of etcd's
// raft: it does no I/O and reads no clock. Its driver (the local runner's
// goroutine, or the YARN ApplicationMaster) feeds it events — clock ticks,
// task acknowledgements, declines, failures, the result of the metadata
// write — and carries out the Actions it returns: inject barriers at the
// sources, write the metadata, tell tasks that a checkpoint completed or was
// aborted, delete old checkpoints, fail the job over when checkpoints keep
// failing. Because every decision lives here, the same code behaves the same
// in one process and across YARN containers, and every path is tested by the
// scripted scenarios in testdata/.
//
// Storage lays a checkpoint out as <root>/chk-<id>/ holding one file per
// task (written by a TaskWriter) and a _metadata file written last and
// atomically: a directory without _metadata is an incomplete checkpoint and is
// never restored. Restore reads the entries of any key-group range back from
// the files of all subtasks, so a job can restart at another parallelism.
// Storage works on any vfs.FS: a local directory (NewLocalStorage), any URI
// a file system is registered for, such as hdfs:// (OpenStorage, Load), or
// the strict in-memory file system on which its tests crash a checkpoint at
// every step.
//
// Incremental checkpoints share files: each uploads only the files no
// retained checkpoint has and references the rest. The SharedRegistry, pure
// like the Coordinator, counts the references and says when a shared file
// may be deleted.
package checkpoint

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultRetain is the number of completed checkpoints kept when
// Config.Retain is zero: the latest one is all a restart needs.
const DefaultRetain = 1

// DefaultMaxConcurrent is the number of checkpoints that may be in flight at
// once when Config.MaxConcurrent is zero, Flink's default: one.
const DefaultMaxConcurrent = 1

// TolerateAnyFailures, as Config.TolerableFailures, never fails the job over
// because checkpoints fail.
const TolerateAnyFailures = -1

// TaskID names one subtask: Task is the id of the chain (job vertex) it runs,
// Subtask its index in [0, parallelism).
type TaskID struct {
	Task    string `json:"task"`
	Subtask int    `json:"subtask"`
}

// String is "task/subtask", the form used in logs, errors and test scripts.
func (t TaskID) String() string { return fmt.Sprintf("%s/%d", t.Task, t.Subtask) }

// compareTasks orders tasks by task, then subtask: the order of Finalize.Tasks.
func compareTasks(a, b TaskID) int {
	if c := strings.Compare(a.Task, b.Task); c != 0 {
		return c
	}
	return a.Subtask - b.Subtask
}

// Config is what the coordinator needs to know about the job.
type Config struct {
	// Interval is the least time between the triggers of two checkpoints.
	Interval time.Duration
	// Timeout abandons a checkpoint whose acknowledgements have not all
	// arrived this long after its trigger.
	Timeout time.Duration
	// MinPause is the least time between the end of one checkpoint (completed
	// or aborted) and the trigger of the next, so that slow checkpoints leave
	// the job time to process records. Like Flink's, it applies only when
	// MaxConcurrent is 1: with checkpoints overlapping there is no time
	// between them to protect, and Flink documents the two as exclusive.
	MinPause time.Duration
	// MaxConcurrent is how many checkpoints may be in flight at once
	// (Flink's execution.checkpointing.max-concurrent-checkpoints); a trigger
	// that falls due while that many are pending waits until one ends. Zero
	// means DefaultMaxConcurrent, one. More lets a job whose checkpoints take
	// longer than the interval still checkpoint every interval.
	MaxConcurrent int
	// TolerableFailures is how many checkpoints in a row may fail before the
	// coordinator asks for the job to fail over with a Fail action (Flink's
	// execution.checkpointing.tolerable-failed-checkpoints). As in Flink, the
	// zero value tolerates none: the first failed checkpoint fails the job
	// over, because a job that cannot checkpoint replays ever more input on
	// its next restart. TolerateAnyFailures (-1) never fails the job over,
	// loom's behaviour before this option.
	//
	// Failures count when a restart might cure them: a timeout, a decline (a
	// task could not write its snapshot) and a failed metadata write. A
	// checkpoint aborted because a later one completed first (subsumed),
	// because a task finished or because a task failed (the job fails over
	// for that anyway) does not count. A completed checkpoint resets the
	// count.
	TolerableFailures int
	// Retain is how many completed checkpoints are kept; older ones are
	// discarded. Zero means DefaultRetain.
	Retain int
	// Tasks are all subtasks that must acknowledge a checkpoint.
	Tasks []TaskID
	// Sources are the subtasks that inject the barrier; each must also be in Tasks.
	Sources []TaskID
	// Retained are the ids of completed checkpoints already in storage when
	// the job (re)starts, oldest first, so that retention discards them in turn.
	Retained []int64
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("checkpoint interval must be positive, got %v", c.Interval)
	case c.Timeout <= 0:
		return fmt.Errorf("checkpoint timeout must be positive, got %v", c.Timeout)
	case c.MinPause < 0:
		return fmt.Errorf("checkpoint min pause must not be negative, got %v", c.MinPause)
	case c.MaxConcurrent < 0:
		return fmt.Errorf("max concurrent checkpoints must not be negative, got %d", c.MaxConcurrent)
	case c.TolerableFailures < TolerateAnyFailures:
		return fmt.Errorf("tolerable failed checkpoints must be at least 0, or -1 for any number, got %d", c.TolerableFailures)
	case c.Retain < 0:
		return fmt.Errorf("checkpoints to retain must not be negative, got %d", c.Retain)
	case len(c.Tasks) == 0:
		return fmt.Errorf("checkpoint coordinator needs at least one task to acknowledge")
	case len(c.Sources) == 0:
		return fmt.Errorf("checkpoint coordinator needs at least one source to trigger")
	}
	tasks := make(map[TaskID]bool, len(c.Tasks))
	for _, t := range c.Tasks {
		if tasks[t] {
			return fmt.Errorf("task %v is listed twice in the checkpoint tasks", t)
		}
		tasks[t] = true
	}
	for _, s := range c.Sources {
		if !tasks[s] {
			return fmt.Errorf("source %v is not among the checkpoint tasks: every source must also acknowledge", s)
		}
	}
	for i := 1; i < len(c.Retained); i++ {
		if c.Retained[i] <= c.Retained[i-1] {
			return fmt.Errorf("retained checkpoint ids must increase, got %v", c.Retained)
		}
	}
	return nil
}

// Action is an instruction from the Coordinator to its driver: one of
// Trigger, Finalize, NotifyComplete, Abort, Discard or Fail.
type Action interface {
	String() string
	action()
}

// Trigger asks the driver to have every source inject the barrier of
// checkpoint ID. Timestamp is the coordinator's clock at the trigger.
type Trigger struct {
	ID        int64
	Timestamp time.Time
	Sources   []TaskID
	// Savepoint marks the trigger of a savepoint (TriggerSavepoint), Stop
	// that of the savepoint a job stops with.
	Savepoint, Stop bool
}

// Finalize says every task acknowledged checkpoint ID: the driver writes the
// metadata (Storage.WriteMetadata) and then reports the result with
// Coordinator.Finalized. Tasks are ordered by task, then subtask; the driver
// owns the slice.
type Finalize struct {
	ID        int64
	Timestamp time.Time // of the trigger: the checkpoint's time in its metadata
	Tasks     []TaskSnapshot
	// Finished are the tasks that reached the end of their input before
	// they took part in the checkpoint: all they emitted is in the state
	// of the tasks downstream, so a restore restarts them finished.
	Finished  []TaskID
	Savepoint bool
}

// NotifyComplete tells every task that checkpoint ID is durable: the moment
// sinks commit what they wrote up to its barrier.
type NotifyComplete struct{ ID int64 }

// Abort says checkpoint ID will never complete: the driver tells the tasks
// (which drop its snapshots) and deletes its partial files (Storage.Discard).
// An Abort may repeat for an id, when a late acknowledgement or metadata
// write shows a file written after the first clean-up; deleting is
// idempotent.
type Abort struct {
	ID     int64
	Reason string
}

// Discard asks the driver to delete completed checkpoint ID, which fell out of
// retention (Storage.Discard).
type Discard struct{ ID int64 }

// Fail says the job must fail over: more checkpoints failed in a row than
// Config.TolerableFailures allows. Reason says which checkpoints failed and
// why. It comes once per run of failures: the coordinator keeps
// coordinating until the driver stops it, and only a completed checkpoint
// followed by new failures brings another Fail.
type Fail struct{ Reason string }

func (Trigger) action()        {}
func (Finalize) action()       {}
func (NotifyComplete) action() {}
func (Abort) action()          {}
func (Discard) action()        {}
func (Fail) action()           {}

func (a Trigger) String() string {
	return fmt.Sprintf("trigger %d at %s sources=%s", a.ID, a.Timestamp.Format(time.RFC3339Nano), joinTasks(a.Sources))
}

func (a Finalize) String() string {
	ids := make([]TaskID, len(a.Tasks))
	for i, t := range a.Tasks {
		ids[i] = TaskID{t.Task, t.Subtask}
	}
	return fmt.Sprintf("finalize %d tasks=%s", a.ID, joinTasks(ids))
}

func (a NotifyComplete) String() string { return fmt.Sprintf("notify-complete %d", a.ID) }
func (a Abort) String() string          { return fmt.Sprintf("abort %d: %s", a.ID, a.Reason) }
func (a Discard) String() string        { return fmt.Sprintf("discard %d", a.ID) }
func (a Fail) String() string           { return "fail: " + a.Reason }

func joinTasks(ts []TaskID) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ",")
}

// Stats describe the checkpoints of a job so far.
type Stats struct {
	Triggered int64
	Completed int64
	Aborted   int64
	// Ignored counts acknowledgements, declines and metadata reports that
	// matched no pending checkpoint or came from a task the coordinator does
	// not know: late messages after an abort, duplicates, or a wiring bug if
	// it keeps growing.
	Ignored int64
	// ConsecutiveFailures counts the failed checkpoints since the last
	// completion that count against Config.TolerableFailures.
	ConsecutiveFailures int
	LastCompletedID     int64 // 0 before the first completion
	// LastDuration, MaxDuration and TotalDuration measure trigger to
	// completion of completed checkpoints, on the clock given by Tick.
	LastDuration  time.Duration
	MaxDuration   time.Duration
	TotalDuration time.Duration
}

// pending is a checkpoint in flight: triggered, not yet completed or aborted.
type pending struct {
	id          int64
	triggeredAt time.Time
	// snaps and acked are indexed by the task's place in Coordinator.order,
	// so that an ack costs one map lookup and Finalize needs no sort.
	snaps []TaskSnapshot
	acked []bool
	nAcks int
	// fin marks the tasks that finished before acknowledging (counted in
	// nAcks: they owe nothing).
	fin []bool
	// finalizing is set once all tasks acknowledged and Finalize was issued:
	// the checkpoint now waits only for the metadata write.
	finalizing bool
	// savepoint and stop mark a savepoint (of a stopping job).
	savepoint, stop bool
}

// abortedID is an aborted checkpoint remembered for late messages.
type abortedID struct {
	id int64
	// writing is set when the checkpoint was subsumed while its metadata
	// was being written: the write may still land, and its report must
	// bring the Abort again so that the driver deletes what it wrote.
	writing bool
}

// failureRun is the run of counted failures since the last completion.
type failureRun struct {
	count int
	// last holds the reasons of the latest few failures, for Fail.Reason.
	last []string
	// failed is set once Fail was returned for this run.
	failed bool
}

// failReasons bounds how many failures Fail.Reason spells out.
const failReasons = 3

// Coordinator decides when checkpoints start, complete and are abandoned. At
// most Config.MaxConcurrent checkpoints are pending at a time. It is not safe
// for concurrent use: one driver goroutine feeds it events.
//
// Its clock is the latest time passed to Tick (it never goes back), so the
// driver ticks often — every tenth of the interval or faster — and durations
// in Stats have the resolution of the tick period.
//
// Checkpoints complete in id order. When one completes, every older one still
// pending is aborted as subsumed, as in Flink: a restart would use the newer
// one, and an older completion after it would confuse sinks committing in
// checkpoint order.
//
// When any task finishes (reaches the end of its input), checkpointing ends
// for the job: a checkpoint could no longer cover the finished task's state,
// so no new checkpoint is triggered, and a pending one the finished task has
// not acknowledged is aborted.
type Coordinator struct {
	cfg           Config
	retain        int
	maxConcurrent int
	// tasks maps each task to its place in order, which is sorted as
	// Finalize.Tasks must be.
	tasks   map[TaskID]int
	order   []TaskID
	sources []TaskID

	nextID  int64
	now     time.Time
	started bool
	// lastTrigger and lastEnd pace triggers by Interval and MinPause.
	lastTrigger time.Time
	lastEnd     time.Time
	// pending holds the checkpoints in flight, oldest (lowest id) first.
	pending []*pending
	// completed holds retained completed checkpoint ids, oldest first.
	completed []int64
	// aborted holds the latest abortedMemory aborted ids, to recognize late
	// messages.
	aborted []abortedID
	// finished marks the tasks that reached the end of their input, by
	// place in order; ended is set once every source did: no checkpoint
	// can be triggered any more.
	finished  []bool
	nFinished int
	ended     bool
	failures  failureRun
	stats     Stats
	// stopping is set while the savepoint a job stops with is pending or
	// after it completed: no more checkpoints are triggered.
	stopping bool
}

// abortedMemory bounds how many aborted ids are remembered for late acks; an
// ack later than that many aborts leaves an orphan file until the directory
// is discarded at the next restart's clean-up.
const abortedMemory = 64

// New returns a coordinator whose first checkpoint has id nextID, which must
// exceed every id used by an earlier run of the job (restored or not), so
// that ids strictly increase across restarts and never name an old directory.
func New(cfg Config, nextID int64) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nextID < 1 {
		return nil, fmt.Errorf("next checkpoint id must be at least 1, got %d", nextID)
	}
	if n := len(cfg.Retained); n > 0 && cfg.Retained[n-1] >= nextID {
		return nil, fmt.Errorf("next checkpoint id %d must exceed the retained checkpoint %d", nextID, cfg.Retained[n-1])
	}
	c := &Coordinator{
		cfg:           cfg,
		retain:        cfg.Retain,
		maxConcurrent: cfg.MaxConcurrent,
		tasks:         make(map[TaskID]int, len(cfg.Tasks)),
		order:         slices.Clone(cfg.Tasks),
		sources:       slices.Clone(cfg.Sources),
		nextID:        nextID,
		completed:     slices.Clone(cfg.Retained),
		finished:      make([]bool, len(cfg.Tasks)),
	}
	if c.retain == 0 {
		c.retain = DefaultRetain
	}
	if c.maxConcurrent == 0 {
		c.maxConcurrent = DefaultMaxConcurrent
	}
	slices.SortFunc(c.order, compareTasks)
	for i, t := range c.order {
		c.tasks[t] = i
	}
	return c, nil
}

// Stats returns the counters so far.
func (c *Coordinator) Stats() Stats {
	s := c.stats
	s.ConsecutiveFailures = c.failures.count
	return s
}

// Pending returns the id of the oldest checkpoint in flight, if any; with
// MaxConcurrent 1 the only one. PendingIDs lists them all.
func (c *Coordinator) Pending() (id int64, ok bool) {
	if len(c.pending) == 0 {
		return 0, false
	}
	return c.pending[0].id, true
}

// PendingIDs returns the ids of the checkpoints in flight, oldest first: a
// driver that stops deletes their files.
func (c *Coordinator) PendingIDs() []int64 {
	ids := make([]int64, len(c.pending))
	for i, p := range c.pending {
		ids[i] = p.id
	}
	return ids
}

// NextID is the id the next checkpoint will get.
func (c *Coordinator) NextID() int64 { return c.nextID }

// Ended reports whether checkpointing has ended because every source
// finished.
func (c *Coordinator) Ended() bool { return c.ended }

// newPending starts checkpoint id: the tasks that finished already are
// accounted for, and the sources still running get the trigger.
func (c *Coordinator) newPending(id int64, savepoint, stop bool) (*pending, []TaskID) {
	p := &pending{
		id: id, triggeredAt: c.now, savepoint: savepoint, stop: stop,
		snaps: make([]TaskSnapshot, len(c.order)), acked: make([]bool, len(c.order)), fin: make([]bool, len(c.order)),
	}
	for i, f := range c.finished {
		if f {
			p.acked[i], p.fin[i] = true, true
			p.nAcks++
		}
	}
	var sources []TaskID
	for _, s := range c.sources {
		if !c.finished[c.tasks[s]] {
			sources = append(sources, s)
		}
	}
	c.pending = append(c.pending, p)
	return p, sources
}

// complete returns p's Finalize once every task acknowledged or finished.
func (c *Coordinator) complete(p *pending) []Action {
	if p.nAcks < len(c.order) || p.finalizing {
		return nil
	}
	p.finalizing = true
	snaps := make([]TaskSnapshot, 0, len(c.order))
	var fin []TaskID
	for i, t := range c.order {
		if p.fin[i] {
			fin = append(fin, t)
		} else {
			snaps = append(snaps, p.snaps[i])
		}
	}
	p.snaps = nil // the driver owns them now
	return []Action{Finalize{ID: p.id, Timestamp: p.triggeredAt, Tasks: snaps, Finished: fin, Savepoint: p.savepoint}}
}

// find returns the pending checkpoint id, or nil. A scan is enough: at most
// MaxConcurrent checkpoints are pending.
func (c *Coordinator) find(id int64) *pending {
	for _, p := range c.pending {
		if p.id == id {
			return p
		}
	}
	return nil
}

// Tick advances the clock to now. It aborts pending checkpoints past their
// timeout and triggers a new one when fewer than MaxConcurrent are pending,
// Interval has passed since the last trigger and, with MaxConcurrent 1,
// MinPause since the end of the last checkpoint. The first checkpoint is
// triggered one Interval after the first Tick.
func (c *Coordinator) Tick(now time.Time) []Action {
	if !c.started {
		c.started = true
		c.now = now
		c.lastTrigger = now
		c.lastEnd = now.Add(-c.cfg.MinPause)
	}
	if now.After(c.now) {
		c.now = now
	}
	var out []Action
	// Clone: abort removes from c.pending.
	for _, p := range slices.Clone(c.pending) {
		if !p.finalizing && c.now.Sub(p.triggeredAt) >= c.cfg.Timeout {
			out = c.abort(out, p, !p.savepoint, fmt.Sprintf("timed out after %v with %d of %d tasks acknowledged%s",
				c.cfg.Timeout, p.nAcks, len(c.order), c.missing(p)))
		}
	}
	if c.checkpointsPending() < c.maxConcurrent && !c.ended && !c.stopping && c.now.Sub(c.lastTrigger) >= c.cfg.Interval &&
		(c.maxConcurrent > 1 || c.now.Sub(c.lastEnd) >= c.cfg.MinPause) {
		id := c.nextID
		c.nextID++
		_, sources := c.newPending(id, false, false)
		c.lastTrigger = c.now
		c.stats.Triggered++
		out = append(out, Trigger{ID: id, Timestamp: c.now, Sources: sources})
	}
	return out
}

// missing lists up to three tasks that have not acknowledged p, for the
// reason of a timeout: the user's first clue to a stuck task.
func (c *Coordinator) missing(p *pending) string {
	var miss []string
	n := 0
	for _, t := range c.cfg.Tasks {
		if p.acked[c.tasks[t]] {
			continue
		}
		if n++; n <= 3 {
			miss = append(miss, t.String())
		}
	}
	if n == 0 {
		return ""
	}
	if n > 3 {
		miss = append(miss, fmt.Sprintf("and %d more", n-3))
	}
	return " (waiting for " + strings.Join(miss, ", ") + ")"
}

// Ack records that task snapshotted its state for checkpoint id. When the
// last task acknowledges, it returns Finalize.
//
// Acks that match nothing pending are ignored (and counted in
// Stats.Ignored): duplicates, acks for completed checkpoints, acks from
// unknown tasks. A late ack for a checkpoint that was aborted returns the
// Abort again, because the task's file was written after the clean-up and
// must be deleted too.
func (c *Coordinator) Ack(id int64, task TaskID, snap TaskSnapshot) []Action {
	p := c.find(id)
	i, known := c.tasks[task]
	if p == nil || p.finalizing || !known {
		c.stats.Ignored++
		if c.wasAborted(id) != nil {
			return []Action{Abort{ID: id, Reason: fmt.Sprintf("late acknowledgement from %v after the checkpoint was aborted", task)}}
		}
		return nil
	}
	if p.acked[i] {
		c.stats.Ignored++
		return nil
	}
	p.acked[i] = true
	p.snaps[i] = snap
	p.nAcks++
	return c.complete(p)
}

// checkpointsPending counts the pending checkpoints that are not
// savepoints: savepoints do not take a slot of MaxConcurrent.
func (c *Coordinator) checkpointsPending() int {
	n := 0
	for _, p := range c.pending {
		if !p.savepoint {
			n++
		}
	}
	return n
}

// TriggerSavepoint starts a savepoint now, whatever the interval and the
// checkpoints in flight: the sources inject its barrier like a
// checkpoint's, and the tasks' snapshots go to the savepoint's own
// directory. With stop it is the savepoint the job stops with: no
// checkpoint is triggered after it (unless it is aborted), and its
// completion is notified to the tasks, so sinks commit up to it. A plain
// savepoint's completion is not notified, as in Flink: sinks commit only
// what a checkpoint a restart restores covers. Savepoints neither count in
// retention nor subsume checkpoints, and their failures do not count
// against TolerableFailures.
func (c *Coordinator) TriggerSavepoint(now time.Time, stop bool) (int64, []Action, error) {
	switch {
	case c.ended:
		return 0, nil, fmt.Errorf("every source of the job finished: there is nothing left to take a savepoint of")
	case c.stopping:
		return 0, nil, fmt.Errorf("the job is stopping with a savepoint already")
	}
	if now.After(c.now) {
		c.now = now
	}
	if !c.started {
		c.started = true
		c.lastTrigger = c.now
		c.lastEnd = c.now.Add(-c.cfg.MinPause)
	}
	id := c.nextID
	c.nextID++
	_, sources := c.newPending(id, true, stop)
	c.stopping = stop
	c.stats.Triggered++
	return id, []Action{Trigger{ID: id, Timestamp: c.now, Sources: sources, Savepoint: true, Stop: stop}}, nil
}

// wasAborted returns the memory of aborted checkpoint id, or nil.
func (c *Coordinator) wasAborted(id int64) *abortedID {
	for i := range c.aborted {
		if c.aborted[i].id == id {
			return &c.aborted[i]
		}
	}
	return nil
}

// Decline records that task could not snapshot checkpoint id (for example
// because it could not write its state); the checkpoint is aborted, and the
// failure counts against TolerableFailures.
func (c *Coordinator) Decline(id int64, task TaskID, reason string) []Action {
	p := c.find(id)
	if _, known := c.tasks[task]; p == nil || p.finalizing || !known {
		c.stats.Ignored++
		return nil
	}
	return c.abort(nil, p, !p.savepoint, fmt.Sprintf("declined by %v: %s", task, reason))
}

// Finalized reports the result of writing checkpoint id's metadata. On
// success the checkpoint is complete: it returns an Abort for each older
// checkpoint still pending (subsumed), NotifyComplete, and a Discard for each
// completed checkpoint beyond retention. On failure it returns Abort, and the
// failure counts against TolerableFailures. A report for any other id is
// ignored, so a checkpoint never completes twice; but the report of a write
// that outlived its checkpoint's subsumption brings the Abort again, to
// delete what the write left.
func (c *Coordinator) Finalized(id int64, err error) []Action {
	p := c.find(id)
	if p == nil || !p.finalizing {
		c.stats.Ignored++
		if a := c.wasAborted(id); a != nil && a.writing {
			a.writing = false
			return []Action{Abort{ID: id, Reason: "metadata write ended after the checkpoint was subsumed"}}
		}
		return nil
	}
	if err != nil {
		return c.abort(nil, p, !p.savepoint, fmt.Sprintf("writing metadata failed: %v", err))
	}
	if p.savepoint {
		c.remove(p)
		c.stats.Completed++
		if p.stop {
			return []Action{NotifyComplete{ID: id}}
		}
		return nil
	}
	var out []Action
	// Pending checkpoints are in id order: those before p are older.
	// Savepoints are not subsumed.
	for _, old := range slices.Clone(c.pending) {
		if old == p {
			break
		}
		if old.savepoint {
			continue
		}
		out = c.abort(out, old, false, fmt.Sprintf("subsumed by checkpoint %d, which completed first", id))
		if old.finalizing {
			c.wasAborted(old.id).writing = true
		}
	}
	c.remove(p)
	c.lastEnd = c.now
	d := c.now.Sub(p.triggeredAt)
	c.stats.Completed++
	c.stats.LastCompletedID = id
	c.stats.LastDuration = d
	c.stats.TotalDuration += d
	c.stats.MaxDuration = max(c.stats.MaxDuration, d)
	c.failures = failureRun{}
	out = append(out, NotifyComplete{ID: id})
	c.completed = append(c.completed, id)
	for len(c.completed) > c.retain {
		out = append(out, Discard{ID: c.completed[0]})
		c.completed = c.completed[1:]
	}
	return out
}

// TaskFinished records that task reached the end of its input. Checkpoints
// go on without it, as in Flink (FLIP-147): everything it emitted reached
// the tasks downstream before its end of input, so their state covers it
// and a restore restarts it finished (Finalize.Finished). A pending
// checkpoint it had not acknowledged stops waiting for it and may complete
// now; its acknowledgement, if it took part, must come before this call
// (drivers deliver a task's messages in order). Once every source finished
// no checkpoint is triggered any more.
func (c *Coordinator) TaskFinished(task TaskID) []Action {
	i, known := c.tasks[task]
	if !known || c.finished[i] {
		c.stats.Ignored++
		return nil
	}
	c.finished[i] = true
	c.nFinished++
	running := 0
	for _, s := range c.sources {
		if !c.finished[c.tasks[s]] {
			running++
		}
	}
	c.ended = running == 0
	var out []Action
	for _, p := range slices.Clone(c.pending) {
		if !p.finalizing && !p.acked[i] {
			p.acked[i], p.fin[i] = true, true
			p.nAcks++
			out = append(out, c.complete(p)...)
		}
	}
	return out
}

// TaskFailed records that task failed; pending checkpoints that still wait
// for acknowledgements are aborted. One already finalizing is not: its state
// is complete and the driver's metadata write decides it. These aborts do
// not count against TolerableFailures: the job fails over for the task
// anyway.
func (c *Coordinator) TaskFailed(task TaskID) []Action {
	if _, known := c.tasks[task]; !known {
		c.stats.Ignored++
		return nil
	}
	var out []Action
	for _, p := range slices.Clone(c.pending) {
		if !p.finalizing {
			out = c.abort(out, p, false, fmt.Sprintf("task %v failed", task))
		}
	}
	return out
}

// remove takes p out of the pending checkpoints.
func (c *Coordinator) remove(p *pending) {
	c.pending = slices.DeleteFunc(c.pending, func(q *pending) bool { return q == p })
}

// abort ends pending checkpoint p and appends its Abort to out; a counted
// failure may append Fail too.
func (c *Coordinator) abort(out []Action, p *pending, counted bool, reason string) []Action {
	c.remove(p)
	if p.stop {
		c.stopping = false // checkpoints go on
	}
	c.lastEnd = c.now
	c.stats.Aborted++
	if len(c.aborted) == abortedMemory {
		c.aborted = append(c.aborted[:0], c.aborted[1:]...)
	}
	c.aborted = append(c.aborted, abortedID{id: p.id})
	out = append(out, Abort{ID: p.id, Reason: reason})
	if counted {
		out = c.countFailure(out, p.id, reason)
	}
	return out
}

// countFailure adds the failure of checkpoint id to the run of failures and
// appends Fail to out when the run first exceeds TolerableFailures.
func (c *Coordinator) countFailure(out []Action, id int64, reason string) []Action {
	tol := c.cfg.TolerableFailures
	if tol == TolerateAnyFailures {
		return out
	}
	f := &c.failures
	f.count++
	if len(f.last) == failReasons {
		f.last = append(f.last[:0], f.last[1:]...)
	}
	f.last = append(f.last, fmt.Sprintf("checkpoint %d: %s", id, reason))
	if f.count <= tol || f.failed {
		return out
	}
	f.failed = true
	which := ": "
	if f.count > len(f.last) {
		which = fmt.Sprintf(", the last %d: ", len(f.last))
	}
	failed := "1 checkpoint"
	if f.count > 1 {
		failed = fmt.Sprintf("%d checkpoints", f.count)
	}
	return append(out, Fail{Reason: fmt.Sprintf("%s failed in a row, more than the %d tolerated%s%s",
		failed, tol, which, strings.Join(f.last, "; "))})
}
