package task

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// countingSource emits n one-record batches 0..n-1, then ends. It logs what
// it emits and snapshots its position.
type countingSource struct {
	n, next int
	log     *[]string
	onStep  func(next int)
}

func (s *countingSource) Step() (ReadStatus, error) {
	if s.onStep != nil {
		s.onStep(s.next)
	}
	if s.next == s.n {
		return ReadStatus{End: true}, nil
	}
	*s.log = append(*s.log, fmt.Sprintf("emit:%d", s.next))
	s.next++
	return ReadStatus{}, nil
}

func (s *countingSource) ProcessBatch(int, any) error { return nil }

func (s *countingSource) ProcessWatermark(wm int64) error {
	if wm == MaxWatermark {
		*s.log = append(*s.log, "wm:max")
	}
	return nil
}

func (s *countingSource) SnapshotState(id int64) ([]byte, error) {
	*s.log = append(*s.log, fmt.Sprintf("snapshot:%d@%d", id, s.next))
	return []byte{byte(s.next)}, nil
}

// TestSourceTaskServesCheckpointMail checks that a source task takes a
// checkpoint between two batches when the coordinator's trigger arrives:
// barrier out first, then the snapshot of the position reached, then the
// acknowledgement; and that end of input follows the final watermark.
func TestSourceTaskServesCheckpointMail(t *testing.T) {
	var log []string
	mail := make(chan Mail, 1)
	src := &countingSource{n: 4, log: &log}
	src.onStep = func(next int) {
		if next == 2 {
			mail <- Mail{Kind: MailTriggerCheckpoint, Checkpoint: 7}
		}
	}
	task := &Task{ID: "src", Name: "source", Parallel: 1, Ops: []Operator{src}, UIDs: []string{"src"},
		Contexts: []*Context{{Operator: "src"}}, Writers: []ChannelWriter{eventLog{&log}},
		Checkpointer: ackLog{&log}, Metrics: &TaskMetrics{Operators: []*OperatorMetrics{{}}}, Mail: mail}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := task.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := "emit:0 emit:1 emit:2 out:barrier7 snapshot:7@3 ack:7 emit:3 wm:max out:eoi"
	if got := strings.Join(log, " "); got != want {
		t.Errorf("\ngot  %s\nwant %s", got, want)
	}
}
