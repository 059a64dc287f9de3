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
// aborted, delete old checkpoints. Because every decision lives here, the same
// code behaves the same in one process and across YARN containers, and every
// path is tested by the scripted scenarios in testdata/.
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

// TaskID names one subtask: Task is the id of the chain (job vertex) it runs,
// Subtask its index in [0, parallelism).
type TaskID struct {
	Task    string
	Subtask int
}

// String is "task/subtask", the form used in logs, errors and test scripts.
func (t TaskID) String() string { return fmt.Sprintf("%s/%d", t.Task, t.Subtask) }

// Config is what the coordinator needs to know about the job.
type Config struct {
	// Interval is the least time between the triggers of two checkpoints.
	Interval time.Duration
	// Timeout abandons a checkpoint whose acknowledgements have not all
	// arrived this long after its trigger.
	Timeout time.Duration
	// MinPause is the least time between the end of one checkpoint (completed
	// or aborted) and the trigger of the next, so that slow checkpoints leave
	// the job time to process records.
	MinPause time.Duration
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
// Trigger, Finalize, NotifyComplete, Abort or Discard.
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
}

// Finalize says every task acknowledged checkpoint ID: the driver writes the
// metadata (Storage.WriteMetadata) and then reports the result with
// Coordinator.Finalized. Tasks are ordered by task, then subtask.
type Finalize struct {
	ID        int64
	Timestamp time.Time // of the trigger: the checkpoint's time in its metadata
	Tasks     []TaskSnapshot
}

// NotifyComplete tells every task that checkpoint ID is durable: the moment
// sinks commit what they wrote up to its barrier.
type NotifyComplete struct{ ID int64 }

// Abort says checkpoint ID will never complete: the driver tells the tasks
// (which drop its snapshots) and deletes its partial files (Storage.Discard).
// An Abort may repeat for an id, when a late acknowledgement shows a file
// written after the first clean-up; deleting is idempotent.
type Abort struct {
	ID     int64
	Reason string
}

// Discard asks the driver to delete completed checkpoint ID, which fell out of
// retention (Storage.Discard).
type Discard struct{ ID int64 }

func (Trigger) action()        {}
func (Finalize) action()       {}
func (NotifyComplete) action() {}
func (Abort) action()          {}
func (Discard) action()        {}

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
	// Ignored counts acknowledgements and declines that matched no pending
	// checkpoint or came from a task the coordinator does not know: late
	// messages after an abort, duplicates, or a wiring bug if it keeps growing.
	Ignored         int64
	LastCompletedID int64 // 0 before the first completion
	// LastDuration, MaxDuration and TotalDuration measure trigger to
	// completion of completed checkpoints, on the clock given by Tick.
	LastDuration  time.Duration
	MaxDuration   time.Duration
	TotalDuration time.Duration
}

// pending is the checkpoint in flight: triggered, not yet completed or aborted.
type pending struct {
	id          int64
	triggeredAt time.Time
	acks        map[TaskID]TaskSnapshot
	// finalizing is set once all tasks acknowledged and Finalize was issued:
	// the checkpoint now waits only for the metadata write.
	finalizing bool
}

// Coordinator decides when checkpoints start, complete and are abandoned. At
// most one checkpoint is pending at a time. It is not safe for concurrent use:
// one driver goroutine feeds it events.
//
// Its clock is the latest time passed to Tick (it never goes back), so the
// driver ticks often — every tenth of the interval or faster — and durations
// in Stats have the resolution of the tick period.
//
// When any task finishes (reaches the end of its input), checkpointing ends
// for the job: a checkpoint could no longer cover the finished task's state,
// so no new checkpoint is triggered, and a pending one the finished task has
// not acknowledged is aborted.
type Coordinator struct {
	cfg     Config
	retain  int
	tasks   map[TaskID]bool
	sources []TaskID

	nextID  int64
	now     time.Time
	started bool
	// lastTrigger and lastEnd pace triggers by Interval and MinPause.
	lastTrigger time.Time
	lastEnd     time.Time
	pending     *pending
	// completed holds retained completed checkpoint ids, oldest first.
	completed []int64
	// aborted holds the latest abortedMemory aborted ids, to recognize late acks.
	aborted  []int64
	finished map[TaskID]bool
	stats    Stats
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
		cfg:       cfg,
		retain:    cfg.Retain,
		tasks:     make(map[TaskID]bool, len(cfg.Tasks)),
		sources:   slices.Clone(cfg.Sources),
		nextID:    nextID,
		completed: slices.Clone(cfg.Retained),
		finished:  make(map[TaskID]bool),
	}
	if c.retain == 0 {
		c.retain = DefaultRetain
	}
	for _, t := range cfg.Tasks {
		c.tasks[t] = true
	}
	return c, nil
}

// Stats returns the counters so far.
func (c *Coordinator) Stats() Stats { return c.stats }

// Pending returns the id of the checkpoint in flight, if any.
func (c *Coordinator) Pending() (id int64, ok bool) {
	if c.pending == nil {
		return 0, false
	}
	return c.pending.id, true
}

// NextID is the id the next checkpoint will get.
func (c *Coordinator) NextID() int64 { return c.nextID }

// Ended reports whether checkpointing has ended because a task finished.
func (c *Coordinator) Ended() bool { return len(c.finished) > 0 }

// Tick advances the clock to now. It aborts a pending checkpoint past its
// timeout and triggers a new one when none is pending, Interval has passed
// since the last trigger and MinPause since the end of the last checkpoint.
// The first checkpoint is triggered one Interval after the first Tick.
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
	if p := c.pending; p != nil && !p.finalizing && c.now.Sub(p.triggeredAt) >= c.cfg.Timeout {
		out = c.abort(out, fmt.Sprintf("timed out after %v with %d of %d tasks acknowledged%s",
			c.cfg.Timeout, len(p.acks), len(c.tasks), c.missing(p)))
	}
	if c.pending == nil && !c.Ended() &&
		c.now.Sub(c.lastTrigger) >= c.cfg.Interval && c.now.Sub(c.lastEnd) >= c.cfg.MinPause {
		id := c.nextID
		c.nextID++
		c.pending = &pending{id: id, triggeredAt: c.now, acks: make(map[TaskID]TaskSnapshot, len(c.tasks))}
		c.lastTrigger = c.now
		c.stats.Triggered++
		out = append(out, Trigger{ID: id, Timestamp: c.now, Sources: slices.Clone(c.sources)})
	}
	return out
}

// missing lists up to three tasks that have not acknowledged p, for the
// reason of a timeout: the user's first clue to a stuck task.
func (c *Coordinator) missing(p *pending) string {
	var miss []string
	for _, t := range c.cfg.Tasks {
		if _, ok := p.acks[t]; !ok {
			miss = append(miss, t.String())
		}
	}
	if len(miss) == 0 {
		return ""
	}
	if len(miss) > 3 {
		miss = append(miss[:3], fmt.Sprintf("and %d more", len(miss)-3))
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
	p := c.pending
	if p == nil || p.id != id || p.finalizing || !c.tasks[task] {
		c.stats.Ignored++
		if slices.Contains(c.aborted, id) {
			return []Action{Abort{ID: id, Reason: fmt.Sprintf("late acknowledgement from %v after the checkpoint was aborted", task)}}
		}
		return nil
	}
	if _, dup := p.acks[task]; dup {
		c.stats.Ignored++
		return nil
	}
	p.acks[task] = snap
	if len(p.acks) < len(c.tasks) {
		return nil
	}
	p.finalizing = true
	snaps := make([]TaskSnapshot, 0, len(p.acks))
	for _, s := range p.acks {
		snaps = append(snaps, s)
	}
	slices.SortFunc(snaps, func(a, b TaskSnapshot) int {
		if c := strings.Compare(a.Task, b.Task); c != 0 {
			return c
		}
		return a.Subtask - b.Subtask
	})
	return []Action{Finalize{ID: id, Timestamp: p.triggeredAt, Tasks: snaps}}
}

// Decline records that task could not snapshot checkpoint id (for example
// because it is still restoring); the checkpoint is aborted.
func (c *Coordinator) Decline(id int64, task TaskID, reason string) []Action {
	p := c.pending
	if p == nil || p.id != id || p.finalizing || !c.tasks[task] {
		c.stats.Ignored++
		return nil
	}
	return c.abort(nil, fmt.Sprintf("declined by %v: %s", task, reason))
}

// Finalized reports the result of writing checkpoint id's metadata. On
// success the checkpoint is complete: it returns NotifyComplete and a Discard
// for each completed checkpoint beyond retention. On failure it returns Abort.
// A report for any other id is ignored, so a checkpoint never completes twice.
func (c *Coordinator) Finalized(id int64, err error) []Action {
	p := c.pending
	if p == nil || p.id != id || !p.finalizing {
		c.stats.Ignored++
		return nil
	}
	if err != nil {
		return c.abort(nil, fmt.Sprintf("writing metadata failed: %v", err))
	}
	c.pending = nil
	c.lastEnd = c.now
	d := c.now.Sub(p.triggeredAt)
	c.stats.Completed++
	c.stats.LastCompletedID = id
	c.stats.LastDuration = d
	c.stats.TotalDuration += d
	c.stats.MaxDuration = max(c.stats.MaxDuration, d)
	out := []Action{NotifyComplete{ID: id}}
	c.completed = append(c.completed, id)
	for len(c.completed) > c.retain {
		out = append(out, Discard{ID: c.completed[0]})
		c.completed = c.completed[1:]
	}
	return out
}

// TaskFinished records that task reached the end of its input. Checkpointing
// ends for the job; a pending checkpoint the task has not acknowledged is
// aborted (one it acknowledged may still complete).
func (c *Coordinator) TaskFinished(task TaskID) []Action {
	if !c.tasks[task] {
		c.stats.Ignored++
		return nil
	}
	c.finished[task] = true
	p := c.pending
	if p == nil || p.finalizing {
		return nil
	}
	if _, acked := p.acks[task]; acked {
		return nil
	}
	return c.abort(nil, fmt.Sprintf("task %v finished before acknowledging", task))
}

// TaskFailed records that task failed; a pending checkpoint that still waits
// for acknowledgements is aborted. One already finalizing is not: its state
// is complete and the driver's metadata write decides it.
func (c *Coordinator) TaskFailed(task TaskID) []Action {
	if !c.tasks[task] {
		c.stats.Ignored++
		return nil
	}
	p := c.pending
	if p == nil || p.finalizing {
		return nil
	}
	return c.abort(nil, fmt.Sprintf("task %v failed", task))
}

func (c *Coordinator) abort(out []Action, reason string) []Action {
	id := c.pending.id
	c.pending = nil
	c.lastEnd = c.now
	c.stats.Aborted++
	if len(c.aborted) == abortedMemory {
		c.aborted = append(c.aborted[:0], c.aborted[1:]...)
	}
	c.aborted = append(c.aborted, id)
	return append(out, Abort{ID: id, Reason: reason})
}
