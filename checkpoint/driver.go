package checkpoint

import (
	"fmt"
	"time"
)

// Tasks is how a Driver reaches the subtasks of a job: the mailboxes of
// this process's tasks (loom's local engine) or the workers that run them
// (the job master, over the control service). Neither call may block on a
// task: a message a task cannot take yet is queued for it, in order.
type Tasks interface {
	// Trigger has each source subtask inject the barrier of checkpoint id;
	// sp is set for a savepoint.
	Trigger(id int64, timestamp time.Time, sources []TaskID, sp *SavepointTrigger)
	// Complete tells every subtask that checkpoint id is durable: sinks
	// commit what they wrote up to its barrier.
	Complete(id int64)
}

// SavepointTrigger is what the tasks need to know of a savepoint: the root
// of the storage their snapshots go to (its own directory, not the job's
// checkpoints), and whether the job stops with it (Stop: the sources emit
// nothing after its barrier; Drain: they first advance their watermark to
// the maximum, firing every event-time window and timer).
type SavepointTrigger struct {
	Target      string
	Stop, Drain bool
}

// DriverConfig is what a Driver needs besides its storage and tasks.
type DriverConfig struct {
	// Coordinator is the coordinator's configuration; Retained is filled
	// from the storage.
	Coordinator Config
	// Job and GraphHash go into every checkpoint's metadata.
	Job, GraphHash string
	// Restored is the id of the checkpoint the run restored from (0 for
	// none): new ids continue above it, even when it lies in another
	// directory.
	Restored int64
	// OnTrigger, if set, hears of every triggered checkpoint.
	OnTrigger func(id int64, at time.Time)
	// OnComplete, if set, hears of every completed checkpoint: its id, the
	// time from trigger to completion and the bytes of its task files.
	OnComplete func(id int64, duration time.Duration, bytes int64)
	// OnAbort, if set, hears of every aborted checkpoint.
	OnAbort func(id int64, reason string)
	// OnFail hears that more checkpoints failed in a row than the
	// coordinator tolerates: the run must fail over (Fail).
	OnFail func(reason string)
}

// Driver carries out a Coordinator's actions: it writes the metadata that
// completes a checkpoint, deletes aborted and retired checkpoints from the
// storage, and passes triggers and completions to the tasks. Its owner feeds
// it the clock and the tasks' answers from one goroutine, the same in loom's
// local engine and in the job master on YARN; tasks write their own files
// into the storage before they acknowledge.
type Driver struct {
	storage *Storage
	tasks   Tasks
	cfg     DriverConfig
	coord   *Coordinator
	trigger map[int64]time.Time
	// savepoints are those in flight, by id.
	savepoints map[int64]*savepoint
}

// savepoint is a savepoint in flight and who waits for it.
type savepoint struct {
	trigger SavepointTrigger
	storage *Storage
	done    func(path string, err error)
}

// NewDriver removes what interrupted checkpoints left in storage and starts
// a coordinator whose ids continue those already there.
func NewDriver(storage *Storage, tasks Tasks, cfg DriverConfig) (*Driver, error) {
	if err := storage.RemoveIncomplete(); err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", storage.Root(), err)
	}
	complete, _, err := storage.IDs()
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", storage.Root(), err)
	}
	next := max(int64(1), cfg.Restored+1)
	for _, id := range complete {
		next = max(next, id+1)
	}
	cc := cfg.Coordinator
	cc.Retained = complete
	if cc.Timeout <= 0 {
		cc.Timeout = 10 * time.Minute
	}
	coord, err := New(cc, next)
	if err != nil {
		return nil, err
	}
	return &Driver{storage: storage, tasks: tasks, cfg: cfg, coord: coord, trigger: map[int64]time.Time{}, savepoints: map[int64]*savepoint{}}, nil
}

// Storage is where the driver's checkpoints are.
func (d *Driver) Storage() *Storage { return d.storage }

// Stats are the coordinator's counters.
func (d *Driver) Stats() Stats { return d.coord.Stats() }

// Tick advances the coordinator's clock: checkpoints are triggered and
// timed out on it.
func (d *Driver) Tick(now time.Time) { d.apply(d.coord.Tick(now)) }

// Ack records task's snapshot for checkpoint id, written to the storage.
func (d *Driver) Ack(id int64, task TaskID, snap TaskSnapshot) { d.apply(d.coord.Ack(id, task, snap)) }

// Decline records that task could not take checkpoint id.
func (d *Driver) Decline(id int64, task TaskID, reason string) {
	d.apply(d.coord.Decline(id, task, reason))
}

// TaskFinished records that task reached the end of its input.
func (d *Driver) TaskFinished(task TaskID) { d.apply(d.coord.TaskFinished(task)) }

// Savepoint triggers a savepoint into sp.Target, a directory of its own (a
// storage root: the savepoint is its chk-<id> directory there), now.
// done hears where it was written, or why it failed; it is called from a
// later call of the driver (when the last task acknowledged and the
// metadata is written) or from Stop.
func (d *Driver) Savepoint(now time.Time, sp SavepointTrigger, done func(path string, err error)) (int64, error) {
	st, err := OpenStorage(sp.Target)
	if err != nil {
		return 0, fmt.Errorf("savepoint directory %s: %w", sp.Target, err)
	}
	id, acts, err := d.coord.TriggerSavepoint(now, sp.Stop)
	if err != nil {
		return 0, err
	}
	d.savepoints[id] = &savepoint{trigger: sp, storage: st, done: done}
	d.apply(acts)
	return id, nil
}

// Stop ends the driver when its run of the job ends: the checkpoint in
// flight will never complete, so its files are deleted. Completed
// checkpoints stay for the next run to restore.
func (d *Driver) Stop() {
	for _, id := range d.coord.PendingIDs() {
		if sp := d.savepoints[id]; sp != nil {
			sp.storage.Discard(id)
			delete(d.savepoints, id)
			sp.done("", fmt.Errorf("savepoint %d: the run of the job ended before it completed", id))
			continue
		}
		d.storage.Discard(id)
	}
}

func (d *Driver) apply(actions []Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case Trigger:
			d.trigger[a.ID] = a.Timestamp
			if sp := d.savepoints[a.ID]; sp != nil {
				t := sp.trigger
				d.tasks.Trigger(a.ID, a.Timestamp, a.Sources, &t)
				continue
			}
			if d.cfg.OnTrigger != nil {
				d.cfg.OnTrigger(a.ID, a.Timestamp)
			}
			d.tasks.Trigger(a.ID, a.Timestamp, a.Sources, nil)
		case Finalize:
			if sp := d.savepoints[a.ID]; sp != nil {
				md := Metadata{Version: MetadataVersion, Job: d.cfg.Job, GraphHash: d.cfg.GraphHash, ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks}
				err := sp.storage.WriteMetadata(md)
				delete(d.trigger, a.ID)
				delete(d.savepoints, a.ID)
				d.apply(d.coord.Finalized(a.ID, err))
				if err != nil {
					sp.storage.Discard(a.ID)
					sp.done("", err)
				} else {
					sp.done(sp.storage.Dir(a.ID), nil)
				}
				continue
			}
			md := Metadata{Version: MetadataVersion, Job: d.cfg.Job, GraphHash: d.cfg.GraphHash, ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks}
			err := d.storage.WriteMetadata(md)
			if err == nil && d.cfg.OnComplete != nil {
				var size int64
				for _, t := range a.Tasks {
					size += t.Size
				}
				d.cfg.OnComplete(a.ID, time.Since(d.trigger[a.ID]), size)
			}
			delete(d.trigger, a.ID)
			d.apply(d.coord.Finalized(a.ID, err))
		case NotifyComplete:
			d.tasks.Complete(a.ID)
		case Abort:
			delete(d.trigger, a.ID)
			if sp := d.savepoints[a.ID]; sp != nil {
				delete(d.savepoints, a.ID)
				sp.storage.Discard(a.ID)
				sp.done("", fmt.Errorf("savepoint %d: %s", a.ID, a.Reason))
				continue
			}
			d.storage.Discard(a.ID)
			if d.cfg.OnAbort != nil {
				d.cfg.OnAbort(a.ID, a.Reason)
			}
		case Discard:
			d.storage.Discard(a.ID)
		case Fail:
			if d.cfg.OnFail != nil {
				d.cfg.OnFail(a.Reason)
			}
		}
	}
}
