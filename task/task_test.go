package task

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/state"
)

// recorder is an operator that logs what reaches it.
type recorder struct{ log *[]string }

func (r *recorder) ProcessBatch(input int, batch any) error {
	b := batch.(*Batch[string])
	*r.log = append(*r.log, fmt.Sprintf("in%d:%s", input, strings.Join(b.Values, ",")))
	return nil
}

func (r *recorder) ProcessWatermark(wm int64) error {
	if wm == MaxWatermark {
		*r.log = append(*r.log, "wm:max")
	} else {
		*r.log = append(*r.log, fmt.Sprintf("wm:%d", wm))
	}
	return nil
}

func (r *recorder) SnapshotState(id int64) ([]byte, error) {
	*r.log = append(*r.log, fmt.Sprintf("snapshot:%d", id))
	return []byte("s"), nil
}

func (r *recorder) Finish() error {
	*r.log = append(*r.log, "finish")
	return nil
}

// eventLog records the elements a task sends downstream.
type eventLog struct{ log *[]string }

func (w eventLog) Flush() error { return nil }
func (w eventLog) Broadcast(e network.Element) error {
	switch e.Kind {
	case network.KindBarrier:
		*w.log = append(*w.log, fmt.Sprintf("out:barrier%d", e.Checkpoint))
	case network.KindIdle:
		*w.log = append(*w.log, fmt.Sprintf("out:idle=%v", e.Idle))
	case network.KindEndOfInput:
		*w.log = append(*w.log, "out:eoi")
	}
	return nil
}

type ackLog struct{ log *[]string }

func (a ackLog) Snapshot(id int64, task string, subtask int, write func(StateWriter) error) error {
	if err := write(discardState{}); err != nil {
		return err
	}
	*a.log = append(*a.log, fmt.Sprintf("ack:%d", id))
	return nil
}

type discardState struct{}

func (discardState) WriteEntry(state.Entry) error            { return nil }
func (discardState) WriteOperatorState(string, []byte) error { return nil }

// el builds an element from a short form: "a,b" a batch, "wm5", "b1"
// (barrier 1), "idle", "active", "eoi".
func el(s string) network.Element {
	switch {
	case s == "eoi":
		return network.Element{Kind: network.KindEndOfInput}
	case s == "idle":
		return network.Element{Kind: network.KindIdle, Idle: true}
	case s == "active":
		return network.Element{Kind: network.KindIdle, Idle: false}
	case strings.HasPrefix(s, "wm"):
		var v int64
		fmt.Sscanf(s, "wm%d", &v)
		return network.Element{Kind: network.KindWatermark, Timestamp: v}
	case strings.HasPrefix(s, "b") && len(s) > 1 && s[1] >= '0' && s[1] <= '9':
		var v int64
		fmt.Sscanf(s, "b%d", &v)
		return network.Element{Kind: network.KindBarrier, Checkpoint: v}
	}
	b := NewBatch[string](4)
	for _, v := range strings.Split(s, ",") {
		b.Append(NoTimestamp, v)
	}
	return network.Element{Kind: network.KindBatch, Batch: b}
}

func TestTaskInputScenarios(t *testing.T) {
	tests := []struct {
		name     string
		channels [][]string // elements queued per channel before the task runs
		inputOf  []int
		want     string
	}{
		{
			name:     "watermark is the minimum over open channels",
			channels: [][]string{{"wm5", "wm20", "eoi"}, {"wm10", "wm12", "eoi"}},
			want:     "wm:5 wm:10 wm:12 wm:max finish out:eoi",
		},
		{
			name:     "barrier alignment holds back the channel that delivered it",
			channels: [][]string{{"a", "b1", "b", "eoi"}, {"c", "d", "b1", "e", "eoi"}},
			want:     "in0:a in0:c in0:d out:barrier1 snapshot:1 ack:1 in0:b in0:e wm:max finish out:eoi",
		},
		{
			name:     "a finished channel does not hold back alignment",
			channels: [][]string{{"a", "eoi"}, {"c", "d", "b1", "e", "eoi"}},
			want:     "in0:a in0:c in0:d out:barrier1 snapshot:1 ack:1 in0:e wm:max finish out:eoi",
		},
		{
			name:     "idle channel does not hold back the watermark; an active one rejoins",
			channels: [][]string{{"wm3", "idle", "active", "wm30", "eoi"}, {"wm4", "wm8", "wm9", "wm40", "eoi"}},
			want:     "wm:3 wm:4 wm:8 wm:9 wm:30 wm:40 wm:max finish out:eoi",
		},
		{
			name:     "all inputs idle makes the task idle downstream",
			channels: [][]string{{"idle", "wm7", "eoi"}, {"idle", "eoi"}},
			want:     "out:idle=true out:idle=false wm:7 wm:max finish out:eoi",
		},
		{
			name:     "two inputs keep their input index",
			channels: [][]string{{"x", "eoi"}, {"y", "eoi"}},
			inputOf:  []int{0, 1},
			want:     "in0:x in1:y wm:max finish out:eoi",
		},
		{
			name:     "a stale barrier is ignored",
			channels: [][]string{{"b1", "b2", "eoi"}, {"b2", "b1", "eoi"}},
			want:     "out:barrier2 snapshot:2 ack:2 wm:max finish out:eoi",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			g := network.NewGate(len(tc.channels), 16)
			for ch, els := range tc.channels {
				for _, s := range els {
					if err := g.Channel(ch).Send(context.Background(), el(s), nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			inputOf := tc.inputOf
			if inputOf == nil {
				inputOf = make([]int, len(tc.channels))
			}
			op := &recorder{log: &log}
			task := &Task{ID: "t", Name: "test", Parallel: 1, Ops: []Operator{op}, UIDs: []string{"rec"},
				Contexts: []*Context{{Operator: "rec"}}, Gate: g, InputOf: inputOf,
				Writers: []ChannelWriter{eventLog{&log}}, Checkpointer: ackLog{&log},
				Metrics: &TaskMetrics{Operators: []*OperatorMetrics{{}}}, Mail: make(chan Mail, 1)}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := task.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(log, " "); got != tc.want {
				t.Errorf("\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}
