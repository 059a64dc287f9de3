package worker

import (
	"context"
	"log"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/engine"
)

// checkpointLink connects the worker's execution to the job master that
// coordinates the job's checkpoints: it relays the master's triggers and
// completions to the execution, and the execution's acknowledgements,
// declines and finished subtasks to the master. Reports are queued and
// sent by one goroutine, in order, several at a time when they pile up,
// so the execution's checkpoint goroutine never waits on the network.
type checkpointLink struct {
	client  controlpb.ControlClient
	callCtx context.Context // carries the secret
	opts    Options
	run     int32
	lg      *log.Logger

	mu      sync.Mutex
	pending *controlpb.CheckpointReport
	wake    chan struct{}
}

func newCheckpointLink(client controlpb.ControlClient, callCtx context.Context, opts Options, run int32, lg *log.Logger) *checkpointLink {
	return &checkpointLink{client: client, callCtx: callCtx, opts: opts, run: run, lg: lg, wake: make(chan struct{}, 1)}
}

// queue adds to the next report and wakes the sender.
func (l *checkpointLink) queue(add func(r *controlpb.CheckpointReport)) {
	l.mu.Lock()
	if l.pending == nil {
		l.pending = &controlpb.CheckpointReport{ContainerId: l.opts.ContainerID, Run: l.run}
	}
	add(l.pending)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Ack implements engine.Coordinated.
func (l *checkpointLink) Ack(id int64, t checkpoint.TaskID, s checkpoint.TaskSnapshot) {
	l.queue(func(r *controlpb.CheckpointReport) {
		r.Acks = append(r.Acks, &controlpb.SubtaskAck{Checkpoint: id, Subtask: deploy.SubtaskOf(t), Snapshot: deploy.SnapshotToProto(s)})
	})
}

// Decline implements engine.Coordinated.
func (l *checkpointLink) Decline(id int64, t checkpoint.TaskID, reason string) {
	l.queue(func(r *controlpb.CheckpointReport) {
		r.Acks = append(r.Acks, &controlpb.SubtaskAck{Checkpoint: id, Subtask: deploy.SubtaskOf(t), Decline: reason})
	})
}

// Finished implements engine.Coordinated.
func (l *checkpointLink) Finished(t checkpoint.TaskID) {
	l.queue(func(r *controlpb.CheckpointReport) { r.Finished = append(r.Finished, deploy.SubtaskOf(t)) })
}

// send delivers the queued reports until ctx ends, retrying while the job
// master is unreachable (up to the worker's AM timeout). A report that
// cannot be delivered is dropped: its checkpoint times out on the master.
func (l *checkpointLink) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
		l.mu.Lock()
		r := l.pending
		l.pending = nil
		l.mu.Unlock()
		if r == nil {
			continue
		}
		deadline := time.Now().Add(l.opts.AMTimeout)
		for {
			_, err := l.client.ReportCheckpoints(l.callCtx, r)
			if err == nil {
				break
			}
			if status.Code(err) != codes.Unavailable || time.Now().After(deadline) || ctx.Err() != nil {
				if ctx.Err() == nil {
					l.lg.Printf("report %d checkpoint answers to the AM: %s", len(r.GetAcks())+len(r.GetFinished()), describe(err))
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// commands passes the job master's checkpoint commands to x until ctx
// ends, reopening the stream when it breaks while the master is
// unreachable.
func (l *checkpointLink) commands(ctx context.Context, x *engine.Execution) {
	req := &controlpb.CheckpointsRequest{ContainerId: l.opts.ContainerID, Run: l.run}
	for ctx.Err() == nil {
		stream, err := l.client.Checkpoints(deploy.WithSecret(ctx, l.opts.Secret), req)
		if err == nil {
			for {
				var c *controlpb.CheckpointCommand
				if c, err = stream.Recv(); err != nil {
					break
				}
				switch c.GetKind() {
				case controlpb.CheckpointCommand_TRIGGER:
					sources := make([]checkpoint.TaskID, len(c.GetSources()))
					for i, s := range c.GetSources() {
						sources[i] = deploy.TaskIDOf(s)
					}
					var sp *checkpoint.SavepointTrigger
					if c.GetSavepointTarget() != "" {
						sp = &checkpoint.SavepointTrigger{Target: c.GetSavepointTarget(), Stop: c.GetStop(), Drain: c.GetDrain()}
					}
					x.TriggerCheckpoint(c.GetCheckpoint(), time.UnixMilli(c.GetTimestampMs()), sources, sp)
				case controlpb.CheckpointCommand_COMPLETE:
					x.CompleteCheckpoint(c.GetCheckpoint())
				case controlpb.CheckpointCommand_STOP:
					l.lg.Printf("the job stops with a savepoint: stopping the subtasks")
					x.Stop()
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if code := status.Code(err); code != codes.Unavailable {
			// The run ended for the master (FailedPrecondition) or the
			// stream ended: heartbeats will tell the worker to stop.
			l.lg.Printf("checkpoint commands from the AM ended: %s", describe(err))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
