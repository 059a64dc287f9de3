package jobmaster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
)

// The job master coordinates the checkpoints of a pipelined job with
// checkpointing on: one checkpoint.Driver per run, started when the run is
// deployed and fed on the master's loop. Workers write their subtasks'
// snapshots into the checkpoint storage (HDFS on YARN) and report the
// handles (ReportCheckpoints); the master writes each checkpoint's
// metadata, which makes it the one to restore, and streams triggers and
// completions to the workers (Checkpoints).

// checkpointing reports whether the master coordinates the job's
// checkpoints: a job run stage by stage restarts from the start.
func (m *Master) checkpointing() bool {
	return conf.CheckpointInterval.Get(m.job.Conf) > 0 && len(m.job.Plan.Stages) == 0
}

// checkpointRoot is the directory of the job's checkpoints (chk-N).
func (m *Master) checkpointRoot() string {
	return strings.TrimSuffix(conf.CheckpointDir.Get(m.job.Conf), "/") + "/" + m.job.Graph.Name
}

// runCheckpoints is the checkpoint coordination of one run. Loop-owned,
// except the command queues, which the Checkpoints streams drain.
type runCheckpoints struct {
	m      *Master
	run    int
	driver *checkpoint.Driver
	// streams are the workers' command queues, by worker index; the first
	// checkpoint is triggered once every worker opened its stream.
	streams map[int]*commandQueue
	ready   bool
}

// startCheckpoints starts the coordination of run, which was just deployed.
func (m *Master) startCheckpoints(run int) {
	m.stopCheckpoints("run " + fmt.Sprint(run) + " started")
	cfg := m.job.Conf
	if m.ckStorage == nil {
		st, err := checkpoint.OpenStorage(m.checkpointRoot())
		if err != nil {
			m.log.Printf("run %d: checkpoints are off: checkpoint directory (%s) %s: %v", run, conf.CheckpointDir.Key(), m.checkpointRoot(), err)
			return
		}
		m.ckStorage = st
	}
	rc := &runCheckpoints{m: m, run: run, streams: map[int]*commandQueue{}}
	cc := checkpoint.Config{Interval: conf.CheckpointInterval.Get(cfg), Timeout: conf.CheckpointTimeout.Get(cfg),
		MinPause: conf.CheckpointMinPause.Get(cfg), Retain: conf.CheckpointsRetained.Get(cfg),
		MaxConcurrent: conf.CheckpointMaxConcurrent.Get(cfg), TolerableFailures: conf.CheckpointTolerableFailures.Get(cfg)}
	for _, c := range m.job.Plan.Chains {
		for i := 0; i < c.Parallelism; i++ {
			id := checkpoint.TaskID{Task: c.ID, Subtask: i}
			cc.Tasks = append(cc.Tasks, id)
			if c.Source {
				cc.Sources = append(cc.Sources, id)
			}
		}
	}
	dc := checkpoint.DriverConfig{Coordinator: cc, Job: m.job.Graph.Name, GraphHash: m.job.Graph.StateHash(),
		OnTrigger: func(id int64, at time.Time) { m.board.checkpointTriggered(run, id, at) },
		OnComplete: func(id int64, d time.Duration, size int64) {
			m.board.checkpointEnded(id, d, size, m.ckStorage.Dir(id), "")
			m.log.Printf("checkpoint %d of run %d completed in %v: %d bytes (%s)", id, run, d.Round(time.Millisecond), size, m.ckStorage.Dir(id))
			if f := m.opts.OnCheckpoint; f != nil {
				f(id, d, size)
			}
		},
		OnFail: func(reason string) {
			m.log.Printf("run %d fails over: %s", run, reason)
			m.do(m.jm.FailRun(fmt.Sprintf("checkpoints failed: %s (%s=%d)", reason, conf.CheckpointTolerableFailures.Key(), cc.TolerableFailures), time.Now()))
		},
		OnAbort: func(id int64, reason string) {
			m.board.checkpointEnded(id, 0, 0, "", reason)
			m.log.Printf("checkpoint %d of run %d aborted: %s", id, run, reason)
			if f := m.opts.OnCheckpointAborted; f != nil {
				f(id, reason)
			}
		},
	}
	if from := m.deployment(run).restoreFrom; from != "" {
		if md, _, err := checkpoint.Load(from); err == nil {
			dc.Restored = md.ID
		}
	}
	d, err := checkpoint.NewDriver(m.ckStorage, rc, dc)
	if err != nil {
		m.log.Printf("run %d: checkpoints are off: %v", run, err)
		return
	}
	rc.driver = d
	m.ck = rc
	m.log.Printf("run %d: checkpoints every %v into %s", run, cc.Interval, m.ckStorage.Root())
}

// stopCheckpoints ends the coordination of the current run (it failed or
// the job ended): the checkpoint in flight is discarded, the workers'
// command streams end.
func (m *Master) stopCheckpoints(why string) {
	rc := m.ck
	if rc == nil {
		return
	}
	m.ck = nil
	rc.driver.Stop()
	m.board.runEnded(rc.run, why)
	for _, q := range rc.streams {
		q.close()
	}
}

// tickCheckpoints feeds the clock to the current run's coordinator once
// every worker listens for its commands.
func (m *Master) tickCheckpoints(now time.Time) {
	if rc := m.ck; rc != nil && rc.ready {
		rc.driver.Tick(now)
	}
}

// Trigger implements checkpoint.Tasks: each worker's sources inject the
// barrier.
func (rc *runCheckpoints) Trigger(id int64, ts time.Time, sources []checkpoint.TaskID, sp *checkpoint.SavepointTrigger) {
	byWorker := map[int][]*controlpb.Subtask{}
	for _, s := range sources {
		w := rc.m.job.Plan.WorkerOf(s.Subtask)
		byWorker[w] = append(byWorker[w], deploy.SubtaskOf(s))
	}
	for w, subs := range byWorker {
		if q := rc.streams[w]; q != nil {
			cmd := &controlpb.CheckpointCommand{Kind: controlpb.CheckpointCommand_TRIGGER, Checkpoint: id, TimestampMs: ts.UnixMilli(), Sources: subs}
			if sp != nil {
				cmd.SavepointTarget, cmd.Stop, cmd.Drain = sp.Target, sp.Stop, sp.Drain
			}
			q.push(cmd)
		}
	}
}

// Complete implements checkpoint.Tasks: every worker's subtasks commit.
func (rc *runCheckpoints) Complete(id int64) {
	for _, q := range rc.streams {
		q.push(&controlpb.CheckpointCommand{Kind: controlpb.CheckpointCommand_COMPLETE, Checkpoint: id})
	}
}

// commandQueue holds the commands for one worker's stream, in order,
// without bound: the loop never waits for a worker.
type commandQueue struct {
	mu     sync.Mutex
	q      []*controlpb.CheckpointCommand
	closed bool
	wake   chan struct{}
}

func newCommandQueue() *commandQueue { return &commandQueue{wake: make(chan struct{}, 1)} }

func (q *commandQueue) push(c *controlpb.CheckpointCommand) {
	q.mu.Lock()
	q.q = append(q.q, c)
	q.mu.Unlock()
	q.signal()
}

func (q *commandQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *commandQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the queued commands and whether the queue was closed.
func (q *commandQueue) take() ([]*controlpb.CheckpointCommand, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out, q.closed
}

// Checkpoints streams a worker's checkpoint commands for as long as its
// run is the current one.
func (c *controlService) Checkpoints(req *controlpb.CheckpointsRequest, stream controlpb.Control_CheckpointsServer) error {
	m := c.m
	ctx := stream.Context()
	var q *commandQueue
	var refused error
	err := m.call(ctx, func() {
		w, ok := m.workerOf[req.GetContainerId()]
		rc := m.ck
		switch {
		case !ok || int(req.GetRun()) != m.jm.Run():
			refused = fmt.Errorf("container %s is not a worker of run %d of the job", req.GetContainerId(), m.jm.Run())
		case rc == nil || rc.run != int(req.GetRun()):
			refused = fmt.Errorf("run %d of the job has no checkpoint coordination", req.GetRun())
		default:
			if old := rc.streams[w]; old != nil {
				old.close() // a reconnecting worker
			}
			q = newCommandQueue()
			rc.streams[w] = q
			if !rc.ready && len(rc.streams) == m.job.Plan.Workers {
				rc.ready = true
				m.log.Printf("run %d: every worker takes checkpoint commands", rc.run)
			}
		}
	})
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	if refused != nil {
		return status.Error(codes.FailedPrecondition, refused.Error())
	}
	for {
		select {
		case <-q.wake:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-m.stopped:
			return status.Error(codes.Unavailable, errStopped.Error())
		}
		cmds, closed := q.take()
		for _, cmd := range cmds {
			if err := stream.Send(cmd); err != nil {
				return err
			}
		}
		if closed {
			return status.Error(codes.FailedPrecondition, "the run ended")
		}
	}
}

// ReportCheckpoints feeds a worker's checkpoint answers to the current
// run's coordinator; those of another run are dropped.
func (c *controlService) ReportCheckpoints(ctx context.Context, req *controlpb.CheckpointReport) (*controlpb.Ack, error) {
	m := c.m
	err := m.call(ctx, func() {
		rc := m.ck
		if rc == nil || rc.run != int(req.GetRun()) {
			return
		}
		for _, a := range req.GetAcks() {
			id := deploy.TaskIDOf(a.GetSubtask())
			if a.GetDecline() != "" {
				rc.driver.Decline(a.GetCheckpoint(), id, a.GetDecline())
			} else {
				rc.driver.Ack(a.GetCheckpoint(), id, deploy.SnapshotOf(a))
			}
		}
		for _, s := range req.GetFinished() {
			rc.driver.TaskFinished(deploy.TaskIDOf(s))
		}
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &controlpb.Ack{}, nil
}
