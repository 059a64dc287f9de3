package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// ackMsg is a task's answer to a checkpoint: a snapshot, or a decline.
type ackMsg struct {
	id      int64
	task    checkpoint.TaskID
	snap    checkpoint.TaskSnapshot
	decline string
}

// taskCheckpointer writes one task's snapshots to storage and acknowledges
// them to the driver.
type taskCheckpointer struct {
	drv         *driver
	ctx         context.Context
	parallelism int
	kgs         state.KeyGroupRange
}

// Snapshot implements task.Checkpointer. A failed write declines the
// checkpoint; the job goes on.
func (c *taskCheckpointer) Snapshot(id int64, task string, subtask int, write func(task.StateWriter) error) error {
	msg := ackMsg{id: id, task: checkpoint.TaskID{Task: task, Subtask: subtask}}
	w, err := c.drv.storage.NewTaskWriter(id, task, subtask, c.parallelism, c.kgs)
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
	select {
	case c.drv.acks <- msg:
	case <-c.ctx.Done():
	}
	return nil
}

// driver runs the checkpoint coordinator of a local job: it feeds it clock
// ticks, acknowledgements and finished tasks, and carries out its actions.
type driver struct {
	x        *Execution
	storage  *checkpoint.Storage
	coord    *checkpoint.Coordinator
	acks     chan ackMsg
	finished chan checkpoint.TaskID
	mail     map[checkpoint.TaskID]chan task.Mail
	// outbox holds mail a task's full mailbox could not take yet, in
	// order: control mail is never dropped, and the driver never blocks on
	// a task (one held up by backpressure serves its mailbox only between
	// batches). It is delivered as the task makes room; a finished task's
	// is dropped, since it reads no more mail.
	outbox  map[checkpoint.TaskID][]task.Mail
	trigger map[int64]time.Time
}

// init creates the coordinator, continuing the ids of checkpoints already in storage.
func (d *driver) init(restored *checkpoint.Metadata) error {
	if err := d.storage.RemoveIncomplete(); err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", d.storage.Root(), err)
	}
	complete, _, err := d.storage.IDs()
	if err != nil {
		return fmt.Errorf("checkpoint directory %s: %w", d.storage.Root(), err)
	}
	next := int64(1)
	for _, id := range complete {
		next = max(next, id+1)
	}
	if restored != nil {
		next = max(next, restored.ID+1)
	}
	cfg := checkpoint.Config{
		Interval: d.x.opts.CheckpointInterval, Timeout: d.x.opts.CheckpointTimeout, MinPause: d.x.opts.CheckpointMinPause,
		Retain: d.x.opts.CheckpointsRetain, Retained: complete,
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	d.mail = map[checkpoint.TaskID]chan task.Mail{}
	d.outbox = map[checkpoint.TaskID][]task.Mail{}
	d.trigger = map[int64]time.Time{}
	for _, t := range d.x.tasks {
		cfg.Tasks = append(cfg.Tasks, t.id)
		d.mail[t.id] = t.task.Mail
		if t.source {
			cfg.Sources = append(cfg.Sources, t.id)
		}
	}
	d.coord, err = checkpoint.New(cfg, next)
	return err
}

func (d *driver) run(ctx context.Context) {
	tick := time.NewTicker(min(d.x.opts.CheckpointInterval/4+time.Millisecond, 100*time.Millisecond))
	defer tick.Stop()
	// retry delivers held-back mail soon after a mailbox was full.
	retry := time.NewTicker(time.Millisecond)
	defer retry.Stop()
	for {
		var retryC <-chan time.Time
		if len(d.outbox) > 0 {
			retryC = retry.C
		}
		select {
		case <-retryC:
			d.flush()
		case now := <-tick.C:
			d.flush()
			d.apply(d.coord.Tick(now))
		case a := <-d.acks:
			if a.decline != "" {
				d.apply(d.coord.Decline(a.id, a.task, a.decline))
			} else {
				d.apply(d.coord.Ack(a.id, a.task, a.snap))
			}
		case t := <-d.finished:
			d.forget(t)
			d.apply(d.coord.TaskFinished(t))
		case <-ctx.Done():
			return
		}
	}
}

// send delivers m to task id's mailbox, or queues it behind the mail
// already waiting for that task.
func (d *driver) send(id checkpoint.TaskID, m task.Mail) {
	mb, ok := d.mail[id]
	if !ok {
		return // finished: it reads no more mail
	}
	if len(d.outbox[id]) == 0 {
		select {
		case mb <- m:
			return
		default:
		}
	}
	d.outbox[id] = append(d.outbox[id], m)
}

// forget drops the mailbox of a finished task, which reads no more mail,
// and what waited for it.
func (d *driver) forget(id checkpoint.TaskID) {
	delete(d.outbox, id)
	delete(d.mail, id)
}

// flush delivers held-back mail while the mailboxes take it.
func (d *driver) flush() {
	for id, q := range d.outbox {
		n := 0
	deliver:
		for ; n < len(q); n++ {
			select {
			case d.mail[id] <- q[n]:
			default:
				break deliver
			}
		}
		if n == len(q) {
			delete(d.outbox, id)
		} else {
			d.outbox[id] = q[n:]
		}
	}
}

func (d *driver) apply(actions []checkpoint.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case checkpoint.Trigger:
			d.trigger[a.ID] = a.Timestamp
			for _, s := range a.Sources {
				d.send(s, task.Mail{Kind: task.MailTriggerCheckpoint, Checkpoint: a.ID, Timestamp: a.Timestamp.UnixMilli()})
			}
		case checkpoint.Finalize:
			md := checkpoint.Metadata{Version: 1, Job: d.x.g.Name, GraphHash: d.x.g.StateHash(), ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks}
			err := d.storage.WriteMetadata(md)
			if err == nil {
				d.x.completed.Add(1)
				if f := d.x.opts.OnCheckpoint; f != nil {
					var size int64
					for _, t := range a.Tasks {
						size += t.Size
					}
					f(a.ID, time.Since(d.trigger[a.ID]), size)
				}
			}
			delete(d.trigger, a.ID)
			d.apply(d.coord.Finalized(a.ID, err))
		case checkpoint.NotifyComplete:
			for id := range d.mail {
				d.send(id, task.Mail{Kind: task.MailCheckpointComplete, Checkpoint: a.ID})
			}
		case checkpoint.Abort:
			delete(d.trigger, a.ID)
			d.storage.Discard(a.ID)
			if f := d.x.opts.OnCheckpointAborted; f != nil {
				f(a.ID, a.Reason)
			}
		case checkpoint.Discard:
			d.storage.Discard(a.ID)
		}
	}
}
