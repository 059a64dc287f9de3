package jobmaster

import (
	"encoding/json"
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
	b := newStatusBoard(time.Now())
	b.update(func(s *JobStatus) {
		s.Workers = []WorkerStatus{{WorkerInfo: WorkerInfo{Index: 0, State: "RUNNING", Address: "nodeA:4100"}}}
	})
	b.heartbeat(0, &controlpb.HeartbeatRequest{Subtasks: []*controlpb.SubtaskStatus{
		{Chain: "c1", Name: "Source: clicks", Index: 0, Running: true, BackpressuredMs: 7500, ElapsedMs: 10000},
		{Chain: "c2", Name: "Window: count", Index: 0, Running: true, BackpressuredMs: 0, ElapsedMs: 10000},
		{Chain: "c1", Name: "Source: clicks", Index: 1, Running: true, BackpressuredMs: 10020, ElapsedMs: 10000}, // two clocks
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serveStatus(ln, b, log.New(io.Discard, "", 0))
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
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
