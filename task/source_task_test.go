package task

import (
	"context"
	"errors"
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

// TestSourceTaskStopWithSavepoint: a stop trigger (with and without drain)
// emits the barrier and then nothing more; the completion is served, and
// MailStop ends the task without end of input, Run returning ErrStopped.
func TestSourceTaskStopWithSavepoint(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drain bool
		want  string
	}{
		{"stop", false, "emit:0 emit:1 emit:2 out:barrier7 snapshot:7@3 ack:7"},
		{"drain", true, "emit:0 emit:1 emit:2 wm:max out:barrier7 snapshot:7@3 ack:7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			mail := make(chan Mail, 4)
			src := &countingSource{n: 1000, log: &log}
			src.onStep = func(next int) {
				if next == 2 {
					mail <- Mail{Kind: MailTriggerCheckpoint, Checkpoint: 7, Stop: true, Drain: tc.drain}
				}
			}
			task := &Task{ID: "src", Name: "source", Parallel: 1, Ops: []Operator{src}, UIDs: []string{"src"},
				Contexts: []*Context{{Operator: "src"}}, Writers: []ChannelWriter{eventLog{&log}},
				Checkpointer: ackLog{&log}, Metrics: &TaskMetrics{Operators: []*OperatorMetrics{{}}}, Mail: mail}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- task.Run(ctx) }()
			time.Sleep(50 * time.Millisecond) // a running source would emit hundreds meanwhile
			mail <- Mail{Kind: MailCheckpointComplete, Checkpoint: 7}
			mail <- Mail{Kind: MailStop}
			if err := <-done; !errors.Is(err, ErrStopped) {
				t.Fatalf("Run returned %v, want ErrStopped", err)
			}
			if got := strings.Join(log, " "); got != tc.want {
				t.Errorf("\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}
