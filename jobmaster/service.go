package jobmaster

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/scheduler"
)

// controlService answers the workers' control calls by running them on the
// job master's loop. The secret was checked by NewControlServer.
type controlService struct {
	controlpb.UnimplementedControlServer
	m *Master
}

// Register admits a worker and holds its answer until every worker of its
// run registered: the assignment carries all their partition servers.
func (c *controlService) Register(ctx context.Context, req *controlpb.RegisterRequest) (*controlpb.Assignment, error) {
	m := c.m
	var reg Registration
	var d *deployment
	var refused error
	err := m.call(ctx, func() {
		r, acts, err := m.jm.Register(req.GetContainerId(), req.GetShuffleAddress(), time.Now())
		if err != nil {
			refused = err
			return
		}
		reg, d = r, m.deployment(r.Run)
		m.log.Printf("worker %d registered from %s (container %s, partition server %s): %d subtasks",
			r.Worker, req.GetHost(), req.GetContainerId(), req.GetShuffleAddress(), len(m.job.Plan.Subtasks(r.Worker)))
		m.do(acts)
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if refused != nil {
		m.log.Printf("refused registration: %v", refused)
		return nil, status.Error(codes.FailedPrecondition, refused.Error())
	}
	if err := m.await(ctx, d); err != nil {
		return nil, err
	}
	return assignment(m.job.Plan, reg, d, m.opts.HeartbeatInterval), nil
}

// assignment is Register's answer to a worker once its run is deployed:
// its share of the plan, the run's shuffle table (encoded once for all
// workers) and where the run restores from.
func assignment(plan *scheduler.Plan, reg Registration, d *deployment, heartbeat time.Duration) *controlpb.Assignment {
	out := &controlpb.Assignment{Worker: int32(reg.Worker), Run: int32(reg.Run), HeartbeatIntervalMs: heartbeat.Milliseconds(),
		ShuffleTable: d.table, RestoreFrom: d.restoreFrom}
	for _, s := range plan.Subtasks(reg.Worker) {
		out.Subtasks = append(out.Subtasks, &controlpb.Subtask{Chain: s.Chain, Index: int32(s.Index)})
	}
	return out
}

func (c *controlService) Heartbeat(ctx context.Context, req *controlpb.HeartbeatRequest) (*controlpb.HeartbeatResponse, error) {
	m := c.m
	var stop string
	err := m.call(ctx, func() {
		stop = m.jm.Heartbeat(req.GetContainerId(), time.Now())
		if stop == "" {
			m.board.heartbeat(m.workerOf[req.GetContainerId()], req)
		}
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &controlpb.HeartbeatResponse{Stop: stop != "", Reason: stop}, nil
}

// StageFinished records that a worker finished a stage of a job run stage
// by stage, and holds the answer until the next stage starts.
func (c *controlService) StageFinished(ctx context.Context, req *controlpb.StageFinishedRequest) (*controlpb.Ack, error) {
	m := c.m
	var d *deployment
	var refused error
	err := m.call(ctx, func() {
		acts, err := m.jm.StageFinished(req.GetContainerId(), int(req.GetStage()), time.Now())
		if err != nil {
			refused = err
			return
		}
		m.log.Printf("worker %d (container %s) finished stage %d", m.workerOf[req.GetContainerId()], req.GetContainerId(), req.GetStage())
		d = m.stageGate(m.jm.Run(), int(req.GetStage())+1)
		m.do(acts)
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if refused != nil {
		m.log.Printf("refused stage report: %v", refused)
		return nil, status.Error(codes.FailedPrecondition, refused.Error())
	}
	if err := m.await(ctx, d); err != nil {
		return nil, err
	}
	return &controlpb.Ack{}, nil
}

func (c *controlService) Finished(ctx context.Context, req *controlpb.FinishedRequest) (*controlpb.Ack, error) {
	m := c.m
	err := m.call(ctx, func() {
		m.log.Printf("worker in %s finished", req.GetContainerId())
		m.do(m.jm.WorkerFinished(req.GetContainerId(), time.Now()))
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &controlpb.Ack{}, nil
}

func (c *controlService) Failed(ctx context.Context, req *controlpb.FailedRequest) (*controlpb.Ack, error) {
	m := c.m
	err := m.call(ctx, func() {
		m.log.Printf("worker in %s failed: %s", req.GetContainerId(), req.GetError())
		m.do(m.jm.WorkerFailed(req.GetContainerId(), req.GetError(), req.GetPeerLost(), time.Now()))
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &controlpb.Ack{}, nil
}

// await holds an RPC until deployment d opens (all workers of a run
// registered, or a stage may start), the AM stops, or the caller gives up.
func (m *Master) await(ctx context.Context, d *deployment) error {
	select {
	case <-d.done:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-m.stopped:
		select {
		case <-d.done:
		default:
			return status.Error(codes.Unavailable, errStopped.Error())
		}
	}
	if d.err != nil {
		return status.Error(codes.Aborted, d.err.Error())
	}
	return nil
}
