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

// SnapshotToProto is a snapshot handle on the wire, with the shared files
// of an incremental snapshot.
func SnapshotToProto(s checkpoint.TaskSnapshot) *controlpb.TaskSnapshot {
	p := &controlpb.TaskSnapshot{Parallelism: int32(s.Parallelism), KeyGroupStart: int32(s.KeyGroups.Start),
		KeyGroupEnd: int32(s.KeyGroups.End), File: s.File, Size: s.Size,
		FileSize: s.FileSize, StateSize: s.StateSize, Incremental: s.Incremental}
	if len(s.Shared) > 0 {
		p.Shared = make([]*controlpb.TaskSnapshot_SharedFile, len(s.Shared))
		for i, f := range s.Shared {
			p.Shared[i] = &controlpb.TaskSnapshot_SharedFile{Path: f.Path, Size: f.Size}
		}
	}
	return p
}

// SnapshotOf is the snapshot handle a subtask's acknowledgement carries.
func SnapshotOf(a *controlpb.SubtaskAck) checkpoint.TaskSnapshot {
	s := a.GetSnapshot()
	snap := checkpoint.TaskSnapshot{Task: a.GetSubtask().GetChain(), Subtask: int(a.GetSubtask().GetIndex()),
		Parallelism: int(s.GetParallelism()), KeyGroups: state.KeyGroupRange{Start: int(s.GetKeyGroupStart()), End: int(s.GetKeyGroupEnd())},
		File: s.GetFile(), Size: s.GetSize(), FileSize: s.GetFileSize(), StateSize: s.GetStateSize(), Incremental: s.GetIncremental()}
	if sh := s.GetShared(); len(sh) > 0 {
		snap.Shared = make([]checkpoint.SharedFile, len(sh))
		for i, f := range sh {
			snap.Shared[i] = checkpoint.SharedFile{Path: f.GetPath(), Size: f.GetSize()}
		}
	}
	return snap
}
