package checkpoint

import (
	"fmt"
	"slices"
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
//
// The shared files of incremental checkpoints (incremental.go) outlive the
// checkpoint that uploaded them, so the driver counts who holds them in a
// SharedRegistry: a completed checkpoint registers every shared file its
// metadata lists, a checkpoint that retention discards releases them, an
// aborted one deletes what it uploaded unless a completed checkpoint holds
// it, and the files nobody holds any more are deleted from the storage's
// shared/ directory.
type Driver struct {
	storage *Storage
	tasks   Tasks
	cfg     DriverConfig
	coord   *Coordinator
	trigger map[int64]time.Time
	// savepoints are those in flight, by id.
	savepoints map[int64]*savepoint
	// shared counts the completed checkpoints' references to shared files.
	shared *SharedRegistry
	// uploads are the shared files the acknowledgements of each pending
	// checkpoint reference: what an abort deletes unless held.
	uploads map[int64][]string
	// unsure marks checkpoints whose metadata write failed: it may have
	// been visible for a moment, long enough for a task to take the
	// checkpoint for complete and reference its uploads, so an abort
	// leaves them to the sweep of the next driver, which knows.
	unsure map[int64]bool
}

// savepoint is a savepoint in flight and who waits for it.
type savepoint struct {
	trigger SavepointTrigger
	storage *Storage
	done    func(path string, err error)
}

// NewDriver removes what interrupted checkpoints left in storage and starts
// a coordinator whose ids continue those already there. It rebuilds the
// registry of shared files from the metadata of the completed checkpoints
// (the restored one among them, when it is in this storage: its files stay
// while it is retained) and deletes the shared files none of them lists,
// the uploads of checkpoints a crash interrupted.
func NewDriver(storage *Storage, tasks Tasks, cfg DriverConfig) (*Driver, error) {
	if err := storage.RemoveIncomplete(); err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", storage.Root(), err)
	}
	complete, _, err := storage.IDs()
	if err != nil {
		return nil, fmt.Errorf("checkpoint directory %s: %w", storage.Root(), err)
	}
	shared, err := rebuildShared(storage, complete)
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
	return &Driver{storage: storage, tasks: tasks, cfg: cfg, coord: coord, trigger: map[int64]time.Time{}, savepoints: map[int64]*savepoint{},
		shared: shared, uploads: map[int64][]string{}, unsure: map[int64]bool{}}, nil
}

// rebuildShared registers the shared files of the completed checkpoints
// and sweeps the rest from shared/. A checkpoint whose metadata cannot be
// read holds files nobody knows, so then nothing is swept.
func rebuildShared(storage *Storage, complete []int64) (*SharedRegistry, error) {
	var retained []CheckpointFiles
	known := true
	for _, id := range complete {
		md, err := readMetadata(storage.fs, storage.dir(id), storage.prefix)
		if err != nil {
			known = false
			continue
		}
		retained = append(retained, CheckpointFiles{ID: id, Files: sharedPaths(md.Tasks)})
	}
	reg, err := RebuildSharedRegistry(retained)
	if err != nil {
		return nil, err
	}
	if known {
		if err := storage.sweepShared(func(p string) bool { return reg.Referenced(p) > 0 }); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// SharedFiles is how many distinct shared files the retained checkpoints
// hold.
func (d *Driver) SharedFiles() int { return d.shared.Files() }

// Storage is where the driver's checkpoints are.
func (d *Driver) Storage() *Storage { return d.storage }

// Stats are the coordinator's counters.
func (d *Driver) Stats() Stats { return d.coord.Stats() }

// Tick advances the coordinator's clock: checkpoints are triggered and
// timed out on it.
func (d *Driver) Tick(now time.Time) { d.apply(d.coord.Tick(now)) }

// Ack records task's snapshot for checkpoint id, written to the storage.
func (d *Driver) Ack(id int64, task TaskID, snap TaskSnapshot) {
	if len(snap.Shared) > 0 && d.savepoints[id] == nil {
		for _, f := range snap.Shared {
			d.uploads[id] = append(d.uploads[id], f.Path)
		}
		// A late acknowledgement brings an Abort, which deletes what it
		// lists; one for a checkpoint that completed is ignored.
		defer func() {
			if !slices.Contains(d.coord.PendingIDs(), id) {
				delete(d.uploads, id)
			}
		}()
	}
	d.apply(d.coord.Ack(id, task, snap))
}

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
		d.abortFiles(id)
	}
}

// abortFiles deletes checkpoint id, which never completed: its directory,
// and the shared files its tasks uploaded that no completed checkpoint
// holds.
func (d *Driver) abortFiles(id int64) {
	d.storage.Discard(id)
	if !d.unsure[id] {
		d.storage.removeShared(d.shared.Abort(id, d.uploads[id]))
	}
	delete(d.uploads, id)
	delete(d.unsure, id)
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
				md := Metadata{Version: MetadataVersion, Job: d.cfg.Job, GraphHash: d.cfg.GraphHash, ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks, Finished: a.Finished}
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
			md := Metadata{Version: MetadataVersion, Job: d.cfg.Job, GraphHash: d.cfg.GraphHash, ID: a.ID, Timestamp: a.Timestamp, Tasks: a.Tasks, Finished: a.Finished}
			err := d.storage.WriteMetadata(md)
			if err == nil {
				// Registered before the Finalized actions release the
				// checkpoints it retires: the files they share stay.
				if err = d.shared.Register(a.ID, sharedPaths(a.Tasks)); err != nil {
					d.storage.Discard(a.ID)
				}
			}
			if err != nil {
				d.unsure[a.ID] = true
			} else {
				delete(d.uploads, a.ID)
			}
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
			d.abortFiles(a.ID)
			if d.cfg.OnAbort != nil {
				d.cfg.OnAbort(a.ID, a.Reason)
			}
		case Discard:
			// The directory first: a crash between the two leaves files
			// that the next driver's sweep deletes, never a checkpoint
			// that looks complete and lacks them.
			// When the directory stays (its _metadata with it), so do the
			// files: the next driver registers them again.
			deletable := d.shared.Release(a.ID)
			if d.storage.Discard(a.ID) == nil {
				d.storage.removeShared(deletable)
			}
		case Fail:
			if d.cfg.OnFail != nil {
				d.cfg.OnFail(a.Reason)
			}
		}
	}
}
