package deploy

import (
	"reflect"
	"testing"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/state"
)

// TestSnapshotOnTheWire: a task snapshot, full or incremental with its
// shared files, survives the trip from worker to job master.
func TestSnapshotOnTheWire(t *testing.T) {
	for _, snap := range []checkpoint.TaskSnapshot{
		{Task: "map", Subtask: 1, Parallelism: 2, KeyGroups: state.KeyGroupRange{Start: 64, End: 128}, File: "map-1.state", Size: 4096},
		{Task: "map", Subtask: 0, Parallelism: 2, KeyGroups: state.KeyGroupRange{Start: 0, End: 64}, File: "map-0.state",
			Size: 900, FileSize: 700, StateSize: 10700, Incremental: true,
			Shared: []checkpoint.SharedFile{{Path: "shared/map-0/ab-3-000007.sst", Size: 200}, {Path: "shared/map-0/ab-2-000005.sst", Size: 9800}}},
	} {
		ack := &controlpb.SubtaskAck{Subtask: SubtaskOf(checkpoint.TaskID{Task: snap.Task, Subtask: snap.Subtask}), Snapshot: SnapshotToProto(snap)}
		if got := SnapshotOf(ack); !reflect.DeepEqual(got, snap) {
			t.Errorf("over the wire %+v became %+v", snap, got)
		}
	}
}
