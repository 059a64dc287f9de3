package am

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/am/proto/controlpb"
)

// controlService answers the workers' control calls by running them on the
// master's loop. The secret was checked by NewControlServer.
type controlService struct {
	controlpb.UnimplementedControlServer
	m *master
}

func (c *controlService) Register(ctx context.Context, req *controlpb.RegisterRequest) (*controlpb.Assignment, error) {
	m := c.m
	var out *controlpb.Assignment
	var refused error
	err := m.call(ctx, func() {
		reg, err := m.jm.Register(req.GetContainerId(), time.Now())
		if err != nil {
			refused = err
			return
		}
		out = &controlpb.Assignment{Worker: int32(reg.Worker), Run: int32(reg.Run), HeartbeatIntervalMs: m.opts.HeartbeatInterval.Milliseconds()}
		for _, s := range m.job.Plan.Subtasks[reg.Worker] {
			out.Subtasks = append(out.Subtasks, &controlpb.Subtask{Chain: s.Chain, Index: int32(s.Index)})
		}
		m.log.Printf("worker %d registered from %s (container %s): %d subtasks", reg.Worker, req.GetHost(), req.GetContainerId(), len(out.Subtasks))
		m.refreshBoard()
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if refused != nil {
		m.log.Printf("refused registration: %v", refused)
		return nil, status.Error(codes.FailedPrecondition, refused.Error())
	}
	return out, nil
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
		m.do(m.jm.WorkerFailed(req.GetContainerId(), req.GetError()))
	})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &controlpb.Ack{}, nil
}
