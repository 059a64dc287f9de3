package jobmaster

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/deploy/controlpb"
)

// TestStatusBackpressure: a heartbeat's backpressure reaches /status as a
// share of the subtask's elapsed time, the page, and /metrics as seconds.
func TestStatusBackpressure(t *testing.T) {
	b := newStatusBoard("j", time.Now())
	b.update(func(s *JobStatus) {
		s.Workers = []WorkerStatus{{WorkerInfo: WorkerInfo{Index: 0, State: "RUNNING", Address: "nodeA:4100"}}}
	})
	b.heartbeat(0, &controlpb.HeartbeatRequest{Subtasks: []*controlpb.SubtaskStatus{
		{Chain: "c1", Name: "Source: clicks", Index: 0, Running: true, BackpressuredMs: 7500, ElapsedMs: 10000},
		{Chain: "c2", Name: "Window: count", Index: 0, Running: true, BackpressuredMs: 0, ElapsedMs: 10000},
		{Chain: "c1", Name: "Source: clicks", Index: 1, Running: true, BackpressuredMs: 10020, ElapsedMs: 10000}, // two clocks
	}})
	get := serveBoard(t, b)
	var st JobStatus
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"Source: clicks/0": 0.75, "Source: clicks/1": 1, "Window: count/0": 0}
	for _, s := range st.Subtasks {
		k := s.Name + "/" + string(rune('0'+s.Index))
		if w, ok := want[k]; !ok || s.Backpressure != w {
			t.Errorf("%s: backpressure %v, want %v", k, s.Backpressure, w)
		}
		delete(want, k)
	}
	if len(want) != 0 {
		t.Errorf("subtasks missing from /status: %v", want)
	}
	if st.Workers[0].Address != "nodeA:4100" {
		t.Errorf("worker address %q in /status", st.Workers[0].Address)
	}
	if page := get("/"); !strings.Contains(page, "<td>75%</td>") || !strings.Contains(page, "nodeA:4100") {
		t.Errorf("the page lacks the 75%% backpressure or the partition server:\n%s", page)
	}
	if m := get("/metrics"); !strings.Contains(m, `loom_task_backpressured_seconds_total{job="loom",subtask="0",task="Source: clicks"} 7.5`) {
		t.Errorf("/metrics lacks the source's 7.5s of backpressure:\n%s", m)
	}
}

// TestStatusCheckpointHistory: triggered, completed, failed and interrupted
// checkpoints reach /status (counts, latest, history newest first), the page
// and /metrics.
func TestStatusCheckpointHistory(t *testing.T) {
	b := newStatusBoard("j", time.Now())
	t0 := time.UnixMilli(1_700_000_000_000)
	b.checkpointTriggered(0, 1, t0)
	b.checkpointEnded(1, 300*time.Millisecond, 4096, "hdfs:///ck/app/j/chk-1", "")
	b.checkpointTriggered(0, 2, t0.Add(time.Second))
	b.checkpointEnded(2, 10*time.Second, 0, "", "timed out after 10s")
	b.checkpointTriggered(0, 3, t0.Add(2*time.Second))
	b.runEnded(0, "worker 1 lost")
	b.restored(1, "hdfs:///ck/app/j/chk-1")
	b.checkpointTriggered(1, 4, t0.Add(5*time.Second))

	get := serveBoard(t, b)
	var st JobStatus
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil {
		t.Fatal(err)
	}
	c := st.Checkpoints
	if c.Counts.Triggered != 4 || c.Counts.Completed != 1 || c.Counts.Failed != 2 || c.Counts.InProgress != 1 {
		t.Errorf("counts %+v, want 4 triggered, 1 completed, 2 failed, 1 in progress", c.Counts)
	}
	var got []string
	for _, h := range c.History {
		got = append(got, fmt.Sprintf("%d %s run %d", h.ID, h.Status, h.Run))
	}
	if want := "4 IN_PROGRESS run 1; 3 FAILED run 0; 2 FAILED run 0; 1 COMPLETED run 0"; strings.Join(got, "; ") != want {
		t.Errorf("history %q, want %q", strings.Join(got, "; "), want)
	}
	if l := c.Latest.Completed; l == nil || l.ID != 1 || l.DurationMS != 300 || l.StateSize != 4096 || l.Path != "hdfs:///ck/app/j/chk-1" {
		t.Errorf("latest completed %+v", l)
	}
	if l := c.Latest.Failed; l == nil || l.ID != 2 || l.FailureMessage != "timed out after 10s" {
		t.Errorf("latest failed %+v", l)
	}
	if r := c.Latest.Restored; r == nil || r.Run != 1 || r.Path != "hdfs:///ck/app/j/chk-1" {
		t.Errorf("latest restored %+v", r)
	}
	if h := c.History[1]; h.FailureMessage != "the run ended: worker 1 lost" {
		t.Errorf("interrupted checkpoint's failure %q", h.FailureMessage)
	}
	if page := get("/"); !strings.Contains(page, "<h2>Checkpoints</h2>") || !strings.Contains(page, "timed out after 10s") {
		t.Errorf("the page lacks the checkpoint history:\n%s", page)
	}
	m := get("/metrics")
	for _, want := range []string{`loom_checkpoints_completed_total{job="j"} 1`, `loom_checkpoints_aborted_total{job="j"} 2`, `loom_checkpoint_last_size_bytes{job="j"} 4096`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
}

// serveBoard serves b's status page until the test ends and returns a GET
// of one of its paths.
func serveBoard(t *testing.T, b *statusBoard) func(path string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveStatus(ln, b, log.New(io.Discard, "", 0))
	t.Cleanup(func() { srv.Close() })
	return func(path string) string {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
}
