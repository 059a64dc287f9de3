package deploy

import (
	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/state"
)

// SubtaskOf is a checkpoint task id on the wire.
func SubtaskOf(t checkpoint.TaskID) *controlpb.Subtask {
	return &controlpb.Subtask{Chain: t.Task, Index: int32(t.Subtask)}
}

// TaskIDOf is the checkpoint task id of a subtask on the wire.
func TaskIDOf(s *controlpb.Subtask) checkpoint.TaskID {
	return checkpoint.TaskID{Task: s.GetChain(), Subtask: int(s.GetIndex())}
}

// SnapshotToProto is a snapshot handle on the wire.
func SnapshotToProto(s checkpoint.TaskSnapshot) *controlpb.TaskSnapshot {
	return &controlpb.TaskSnapshot{Parallelism: int32(s.Parallelism), KeyGroupStart: int32(s.KeyGroups.Start),
		KeyGroupEnd: int32(s.KeyGroups.End), File: s.File, Size: s.Size}
}

// SnapshotOf is the snapshot handle a subtask's acknowledgement carries.
func SnapshotOf(a *controlpb.SubtaskAck) checkpoint.TaskSnapshot {
	s := a.GetSnapshot()
	return checkpoint.TaskSnapshot{Task: a.GetSubtask().GetChain(), Subtask: int(a.GetSubtask().GetIndex()),
		Parallelism: int(s.GetParallelism()), KeyGroups: state.KeyGroupRange{Start: int(s.GetKeyGroupStart()), End: int(s.GetKeyGroupEnd())},
		File: s.GetFile(), Size: s.GetSize()}
}
