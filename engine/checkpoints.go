package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// Coordinated is how an execution whose checkpoints the job master
// coordinates reports its tasks' answers: each task writes its snapshot to
// the checkpoint storage itself and the report carries the handle. The
// calls come from the execution's checkpoint goroutine and must not block
// on the network.
type Coordinated interface {
	Ack(id int64, task checkpoint.TaskID, snap checkpoint.TaskSnapshot)
	Decline(id int64, task checkpoint.TaskID, reason string)
	// Finished: task reached the end of its input and takes part in no
	// more checkpoints.
	Finished(task checkpoint.TaskID)
}

// ackMsg is a task's answer to a checkpoint: a snapshot, or a decline.
type ackMsg struct {
	id      int64
	task    checkpoint.TaskID
	snap    checkpoint.TaskSnapshot
	decline string
}

// command is the job master's word to this execution's tasks.
type command struct {
	kind      commandKind
	id        int64
	timestamp time.Time
	sources   []checkpoint.TaskID
	savepoint *checkpoint.SavepointTrigger
}

type commandKind uint8

const (
	cmdTrigger commandKind = iota
	cmdComplete
	cmdStop
)

// taskCheckpointer writes one task's snapshots to storage and acknowledges
// them to the checkpoint loop.
type taskCheckpointer struct {
	cp          *checkpointer
	ctx         context.Context
	parallelism int
	kgs         state.KeyGroupRange
	// inc, set when the task's backend checkpoints incrementally, takes
	// its checkpoints (not savepoints, which stay self-contained);
	// uploading is closed when the upload of the latest one ended
	// (engine/incremental.go).
	inc       *checkpoint.Incremental
	uploading chan struct{}
}

// Snapshot implements task.Checkpointer. A failed write declines the
// checkpoint; the job goes on.
func (c *taskCheckpointer) Snapshot(id int64, task string, subtask int, write func(task.StateWriter) error) error {
	c.waitUpload()
	msg := ackMsg{id: id, task: checkpoint.TaskID{Task: task, Subtask: subtask}}
	st := c.cp.storageFor(id)
	if c.inc != nil && st == c.cp.storage {
		c.snapshotIncremental(id, msg, write)
		return nil
	}
	w, err := st.NewTaskWriter(id, task, subtask, c.parallelism, c.kgs)
	if err == nil {
		if err = write(w); err != nil {
			w.Abort()
		} else {
			msg.snap, err = w.Close()
		}
	}
	if err != nil {
		msg.decline = err.Error()
	}
	c.ack(msg)
	return nil
}

// ack hands a task's answer to the checkpoint loop.
func (c *taskCheckpointer) ack(msg ackMsg) {
	select {
	case c.cp.acks <- msg:
	case <-c.ctx.Done():
	}
}

// checkpointer is an execution's checkpoint goroutine. It owns the
// mailboxes through which checkpoints reach the tasks, and either drives the
// checkpoint coordinator itself (a local job: driver set) or relays between
// the tasks and the job master that coordinates them (coordinated set).
type checkpointer struct {
	x           *Execution
	storage     *checkpoint.Storage
	driver      *checkpoint.Driver
	coordinated Coordinated
	acks        chan ackMsg
	finished    chan checkpoint.TaskID
	commands    chan command
	mail        map[checkpoint.TaskID]chan task.Mail
	// targets are the storages of savepoints in flight, by id; the tasks
	// read it while they snapshot.
	mu      sync.Mutex
	targets map[int64]*checkpoint.Storage
	// outbox holds mail a task's full mailbox could not take yet, in
	// order: control mail is never dropped, and the loop never blocks on
	// a task (one held up by backpressure serves its mailbox only between
	// batches). It is delivered as the task makes room; a finished task's
	// is dropped, since it reads no more mail.
	outbox map[checkpoint.TaskID][]task.Mail
}

func newCheckpointer(x *Execution, storage *checkpoint.Storage) *checkpointer {
	return &checkpointer{x: x, storage: storage, coordinated: x.opts.Coordinated, targets: map[int64]*checkpoint.Storage{},
		acks: make(chan ackMsg, 64), finished: make(chan checkpoint.TaskID, 64), commands: make(chan command, 64)}
}

// init learns the tasks' mailboxes and, for a local job, starts the
// coordinator, continuing the ids of checkpoints already in storage.
func (c *checkpointer) init(restored *checkpoint.Metadata) error {
	c.mail = map[checkpoint.TaskID]chan task.Mail{}
	c.outbox = map[checkpoint.TaskID][]task.Mail{}
	cfg := checkpoint.Config{
		Interval: c.x.opts.CheckpointInterval, Timeout: c.x.opts.CheckpointTimeout, MinPause: c.x.opts.CheckpointMinPause,
		Retain: c.x.opts.CheckpointsRetain, MaxConcurrent: c.x.opts.CheckpointMaxConcurrent,
		TolerableFailures: c.x.opts.CheckpointTolerableFailures,
	}
	for _, t := range c.x.tasks {
		cfg.Tasks = append(cfg.Tasks, t.id)
		c.mail[t.id] = t.task.Mail
		if t.source {
			cfg.Sources = append(cfg.Sources, t.id)
		}
	}
	if c.coordinated != nil {
		return nil
	}
	dc := checkpoint.DriverConfig{Coordinator: cfg, Job: c.x.g.Name, GraphHash: c.x.g.StateHash(),
		OnComplete: func(id int64, d time.Duration, size int64) {
			c.x.completed.Add(1)
			if f := c.x.opts.OnCheckpoint; f != nil {
				f(id, d, size)
			}
		},
		OnAbort: c.x.opts.OnCheckpointAborted,
		OnFail: func(reason string) {
			c.x.failRun(fmt.Errorf("job %s fails over: %s (%s)", c.x.g.Name, reason, "execution.checkpointing.tolerable-failed-checkpoints"))
		},
	}
	if restored != nil {
		dc.Restored = restored.ID
	}
	var err error
	c.driver, err = checkpoint.NewDriver(c.storage, c, dc)
	return err
}

func (c *checkpointer) run(ctx context.Context) {
	var tickC <-chan time.Time
	if c.driver != nil {
		tick := time.NewTicker(min(c.x.opts.CheckpointInterval/4+time.Millisecond, 100*time.Millisecond))
		defer tick.Stop()
		tickC = tick.C
		defer c.driver.Stop()
	}
	// retry delivers held-back mail soon after a mailbox was full.
	retry := time.NewTicker(time.Millisecond)
	defer retry.Stop()
	for {
		var retryC <-chan time.Time
		if len(c.outbox) > 0 {
			retryC = retry.C
		}
		select {
		case <-retryC:
			c.flush()
		case now := <-tickC:
			c.flush()
			c.driver.Tick(now)
		case cmd := <-c.commands:
			c.command(cmd)
		case a := <-c.acks:
			c.decline(a)
		case t := <-c.finished:
			// A task's acknowledgements come before its end: the send of
			// the last one finished before the task sent this, so it waits
			// in acks now. Deliver them first: a checkpoint must not count
			// the task finished when it took part.
			for drained := false; !drained; {
				select {
				case a := <-c.acks:
					c.decline(a)
				default:
					drained = true
				}
			}
			c.forget(t)
			if c.driver == nil {
				c.coordinated.Finished(t)
			} else {
				c.driver.TaskFinished(t)
			}
		case <-ctx.Done():
			return
		}
	}
}

// decline passes a task's answer to the coordinator (the name is for the
// common case of a failed snapshot; a is an acknowledgement when it has no
// reason).
func (c *checkpointer) decline(a ackMsg) {
	switch {
	case c.driver == nil && a.decline != "":
		c.coordinated.Decline(a.id, a.task, a.decline)
	case c.driver == nil:
		c.coordinated.Ack(a.id, a.task, a.snap)
	case a.decline != "":
		c.driver.Decline(a.id, a.task, a.decline)
	default:
		c.driver.Ack(a.id, a.task, a.snap)
	}
}

// command carries out the job master's command.
func (c *checkpointer) command(cmd command) {
	switch cmd.kind {
	case cmdComplete:
		c.x.completed.Add(1)
		c.Complete(cmd.id)
		c.mu.Lock()
		for id := range c.targets {
			if id <= cmd.id {
				delete(c.targets, id)
			}
		}
		c.mu.Unlock()
	case cmdStop:
		for t := range c.mail {
			c.send(t, task.Mail{Kind: task.MailStop})
		}
	case cmdTrigger:
		var sp checkpoint.SavepointTrigger
		if cmd.savepoint != nil {
			sp = *cmd.savepoint
		}
		if sp.Target != "" {
			st, err := checkpoint.OpenStorage(sp.Target)
			if err != nil {
				// Every subtask of this execution declines: the job master
				// reports the savepoint failed.
				for _, t := range c.x.tasks {
					c.decline(ackMsg{id: cmd.id, task: t.id, decline: fmt.Sprintf("savepoint directory %s: %v", sp.Target, err)})
				}
				return
			}
			c.mu.Lock()
			c.targets[cmd.id] = st
			c.mu.Unlock()
		}
		for _, s := range cmd.sources {
			c.send(s, task.Mail{Kind: task.MailTriggerCheckpoint, Checkpoint: cmd.id, Timestamp: cmd.timestamp.UnixMilli(), Stop: sp.Stop, Drain: sp.Drain})
		}
	}
}

// storageFor is where the tasks write their snapshots of checkpoint id.
func (c *checkpointer) storageFor(id int64) *checkpoint.Storage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.targets[id]; st != nil {
		return st
	}
	return c.storage
}

// Trigger implements checkpoint.Tasks: sources of this execution inject
// the barrier.
func (c *checkpointer) Trigger(id int64, ts time.Time, sources []checkpoint.TaskID, sp *checkpoint.SavepointTrigger) {
	c.command(command{kind: cmdTrigger, id: id, timestamp: ts, sources: sources, savepoint: sp})
}

// Complete implements checkpoint.Tasks: every task still running hears
// that checkpoint id completed.
func (c *checkpointer) Complete(id int64) {
	for t := range c.mail {
		c.send(t, task.Mail{Kind: task.MailCheckpointComplete, Checkpoint: id})
	}
}

// send delivers m to task id's mailbox, or queues it behind the mail
// already waiting for that task.
func (c *checkpointer) send(id checkpoint.TaskID, m task.Mail) {
	mb, ok := c.mail[id]
	if !ok {
		return // finished, or not this execution's: it reads no more mail
	}
	if len(c.outbox[id]) == 0 {
		select {
		case mb <- m:
			return
		default:
		}
	}
	c.outbox[id] = append(c.outbox[id], m)
}

// forget drops the mailbox of a finished task, which reads no more mail,
// and what waited for it.
func (c *checkpointer) forget(id checkpoint.TaskID) {
	delete(c.outbox, id)
	delete(c.mail, id)
}

// flush delivers held-back mail while the mailboxes take it.
func (c *checkpointer) flush() {
	for id, q := range c.outbox {
		n := 0
	deliver:
		for ; n < len(q); n++ {
			select {
			case c.mail[id] <- q[n]:
			default:
				break deliver
			}
		}
		if n == len(q) {
			delete(c.outbox, id)
		} else {
			c.outbox[id] = q[n:]
		}
	}
}

// TriggerCheckpoint has this execution's source subtasks among sources
// inject the barrier of checkpoint id: the job master's trigger, of a
// savepoint when sp is set (its snapshots go to sp.Target). It waits only
// while the checkpoint goroutine's queue is full.
func (x *Execution) TriggerCheckpoint(id int64, ts time.Time, sources []checkpoint.TaskID, sp *checkpoint.SavepointTrigger) {
	x.command(command{kind: cmdTrigger, id: id, timestamp: ts, sources: sources, savepoint: sp})
}

// CompleteCheckpoint tells this execution's tasks that checkpoint id
// completed (the job master wrote its metadata): sinks commit.
func (x *Execution) CompleteCheckpoint(id int64) { x.command(command{kind: cmdComplete, id: id}) }

// Stop ends every task of the execution where it stands, after the mail
// sent to it before (the completion of the stopping savepoint): the job
// stopped with a savepoint. The execution then ends without error.
func (x *Execution) Stop() { x.command(command{kind: cmdStop}) }

func (x *Execution) command(c command) {
	if x.cp == nil {
		return
	}
	select {
	case x.cp.commands <- c:
	case <-x.done:
	}
}
