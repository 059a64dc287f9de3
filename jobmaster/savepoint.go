package jobmaster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy/controlpb"
)

// Savepoint takes a savepoint of the current run, or stops the job with
// one, and answers when it completed. A stopping job ends once every
// worker stopped its subtasks after the savepoint's completion reached
// them; until then a failure restarts the job from the savepoint.
func (c *controlService) Savepoint(ctx context.Context, req *controlpb.SavepointRequest) (*controlpb.SavepointResponse, error) {
	m := c.m
	type outcome struct {
		id   int64
		path string
		err  error
	}
	done := make(chan outcome, 1)
	var refused error
	err := m.call(ctx, func() {
		rc := m.ck
		switch {
		case req.GetTarget() == "":
			refused = fmt.Errorf("a savepoint needs a target directory")
		case !m.checkpointing():
			refused = fmt.Errorf("job %s takes no checkpoints (%s is 0, or the job runs stage by stage): savepoints need a job submitted with checkpointing on", m.job.Spec.Job, conf.CheckpointInterval.Key())
		case rc == nil || !rc.ready:
			refused = fmt.Errorf("job %s is not running yet (run %d, %s): try again when its workers run", m.job.Spec.Job, m.jm.Run(), m.jm.Phase())
		default:
			sp := checkpoint.SavepointTrigger{Target: req.GetTarget(), Stop: req.GetStop(), Drain: req.GetDrain()}
			var id int64
			id, refused = rc.driver.Savepoint(time.Now(), sp, func(path string, err error) {
				if err == nil && sp.Stop {
					m.stopWith(rc, id, path)
				}
				done <- outcome{id, path, err}
			})
			if refused == nil {
				what := "savepoint"
				if sp.Stop {
					what = "stop with savepoint"
					if sp.Drain {
						what += ", draining"
					}
				}
				m.log.Printf("run %d: %s %d into %s", rc.run, what, id, sp.Target)
			}
		}
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if refused != nil {
		return nil, status.Error(codes.FailedPrecondition, refused.Error())
	}
	select {
	case o := <-done:
		if o.err != nil {
			return nil, status.Error(codes.Aborted, o.err.Error())
		}
		return &controlpb.SavepointResponse{Checkpoint: o.id, Path: o.path}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-m.stopped:
		return nil, status.Error(codes.Unavailable, errStopped.Error())
	}
}

// stopWith ends the job after the savepoint it stops with completed: the
// workers, which got the completion first, stop their subtasks; a restart
// before the job ended restores from the savepoint.
func (m *Master) stopWith(rc *runCheckpoints, id int64, path string) {
	m.stopSavepoint = path
	m.log.Printf("run %d: savepoint %d completed (%s): stopping the job", rc.run, id, path)
	for _, q := range rc.streams {
		q.push(&controlpb.CheckpointCommand{Kind: controlpb.CheckpointCommand_STOP, Checkpoint: id})
	}
}
