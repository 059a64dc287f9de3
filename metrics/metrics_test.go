package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loom-yarn/loom/task"
)

func taskOf(name string, subtask int, backpressured time.Duration, watermark int64, ops ...*task.OperatorMetrics) *task.TaskMetrics {
	t := &task.TaskMetrics{Task: name, Subtask: subtask, Operators: ops}
	t.BackpressuredNanos.Store(int64(backpressured))
	t.Watermark.Store(watermark)
	return t
}

func op(name string, subtask int, in, out int64) *task.OperatorMetrics {
	o := &task.OperatorMetrics{Operator: name, Subtask: subtask}
	o.RecordsIn.Store(in)
	o.RecordsOut.Store(out)
	return o
}

// now is the collector's clock in these tests: 2024-05-01T12:00:00Z.
var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newTestCollector(tasks func() []*task.TaskMetrics) prometheus.Collector {
	c := NewCollector("wordcount", tasks).(*taskCollector)
	c.now = func() time.Time { return now }
	return c
}

func TestCollector(t *testing.T) {
	tasks := []*task.TaskMetrics{
		taskOf("source -> split", 0, 1500*time.Millisecond, now.Add(-2500*time.Millisecond).UnixMilli(),
			op("source", 0, 0, 100), op("split", 0, 100, 450)),
		taskOf("source -> split", 1, 0, task.NoTimestamp,
			op("source", 1, 0, 7), op("split", 1, 7, 30)),
		taskOf("count", 0, 0, task.MaxWatermark, op("count", 0, 480, 12)),
	}
	reg := registry(t, newTestCollector(func() []*task.TaskMetrics { return tasks }))
	want := `
# HELP loom_operator_records_in_total Records received by an operator instance.
# TYPE loom_operator_records_in_total counter
loom_operator_records_in_total{job="wordcount",operator="count",subtask="0"} 480
loom_operator_records_in_total{job="wordcount",operator="source",subtask="0"} 0
loom_operator_records_in_total{job="wordcount",operator="source",subtask="1"} 0
loom_operator_records_in_total{job="wordcount",operator="split",subtask="0"} 100
loom_operator_records_in_total{job="wordcount",operator="split",subtask="1"} 7
# HELP loom_operator_records_out_total Records emitted by an operator instance.
# TYPE loom_operator_records_out_total counter
loom_operator_records_out_total{job="wordcount",operator="count",subtask="0"} 12
loom_operator_records_out_total{job="wordcount",operator="source",subtask="0"} 100
loom_operator_records_out_total{job="wordcount",operator="source",subtask="1"} 7
loom_operator_records_out_total{job="wordcount",operator="split",subtask="0"} 450
loom_operator_records_out_total{job="wordcount",operator="split",subtask="1"} 30
# HELP loom_task_backpressured_seconds_total Time a subtask's outputs waited for room downstream.
# TYPE loom_task_backpressured_seconds_total counter
loom_task_backpressured_seconds_total{job="wordcount",subtask="0",task="count"} 0
loom_task_backpressured_seconds_total{job="wordcount",subtask="0",task="source -> split"} 1.5
loom_task_backpressured_seconds_total{job="wordcount",subtask="1",task="source -> split"} 0
# HELP loom_task_watermark_lag_seconds Wall-clock time minus the subtask's watermark; absent before the first watermark and after the last.
# TYPE loom_task_watermark_lag_seconds gauge
loom_task_watermark_lag_seconds{job="wordcount",subtask="0",task="source -> split"} 2.5
`
	compare(t, scrape(t, reg), want)
	// Counters are read at scrape time, not copied at construction.
	tasks[2].Operators[0].RecordsIn.Add(20)
	want = strings.Replace(want, `operator="count",subtask="0"} 480`, `operator="count",subtask="0"} 500`, 1)
	compare(t, scrape(t, reg), want)
}

func TestCollectorMergesDuplicates(t *testing.T) {
	// Two chains both containing an operator named "map" at subtask 0, and a
	// task reported twice (for example during a restart).
	tasks := []*task.TaskMetrics{
		taskOf("a", 0, time.Second, now.Add(-time.Second).UnixMilli(), op("map", 0, 10, 10)),
		taskOf("a", 0, time.Second, now.Add(-4*time.Second).UnixMilli(), op("map", 0, 5, 5)),
		nil,
	}
	reg := registry(t, newTestCollector(func() []*task.TaskMetrics { return tasks }))
	want := `
# HELP loom_operator_records_in_total Records received by an operator instance.
# TYPE loom_operator_records_in_total counter
loom_operator_records_in_total{job="wordcount",operator="map",subtask="0"} 15
# HELP loom_operator_records_out_total Records emitted by an operator instance.
# TYPE loom_operator_records_out_total counter
loom_operator_records_out_total{job="wordcount",operator="map",subtask="0"} 15
# HELP loom_task_backpressured_seconds_total Time a subtask's outputs waited for room downstream.
# TYPE loom_task_backpressured_seconds_total counter
loom_task_backpressured_seconds_total{job="wordcount",subtask="0",task="a"} 2
# HELP loom_task_watermark_lag_seconds Wall-clock time minus the subtask's watermark; absent before the first watermark and after the last.
# TYPE loom_task_watermark_lag_seconds gauge
loom_task_watermark_lag_seconds{job="wordcount",subtask="0",task="a"} 4
`
	compare(t, scrape(t, reg), want)
}

func TestCollectorNoTasks(t *testing.T) {
	reg := registry(t, newTestCollector(func() []*task.TaskMetrics { return nil }))
	if got := scrape(t, reg); strings.TrimSpace(got) != "" {
		t.Fatalf("scrape with no tasks:\n%s", got)
	}
}

func TestCheckpoints(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	cp, err := NewCheckpoints("wordcount", reg)
	if err != nil {
		t.Fatal(err)
	}
	cp.ObserveCompleted(7, 1500*time.Millisecond, 4096)
	cp.ObserveCompleted(8, 500*time.Millisecond, 1<<20)
	cp.ObserveAborted()
	want := `
# HELP loom_checkpoints_completed_total Checkpoints completed.
# TYPE loom_checkpoints_completed_total counter
loom_checkpoints_completed_total{job="wordcount"} 2
# HELP loom_checkpoints_aborted_total Checkpoints aborted (declined, timed out or failed).
# TYPE loom_checkpoints_aborted_total counter
loom_checkpoints_aborted_total{job="wordcount"} 1
# HELP loom_checkpoint_last_completed_id Id of the latest completed checkpoint.
# TYPE loom_checkpoint_last_completed_id gauge
loom_checkpoint_last_completed_id{job="wordcount"} 8
# HELP loom_checkpoint_last_duration_seconds Duration of the latest completed checkpoint.
# TYPE loom_checkpoint_last_duration_seconds gauge
loom_checkpoint_last_duration_seconds{job="wordcount"} 0.5
# HELP loom_checkpoint_last_size_bytes Bytes written by the latest completed checkpoint.
# TYPE loom_checkpoint_last_size_bytes gauge
loom_checkpoint_last_size_bytes{job="wordcount"} 1.048576e+06
`
	compare(t, scrape(t, reg), want)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range families {
		switch f.GetName() {
		case "loom_checkpoint_duration_seconds":
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() != 2 {
				t.Fatalf("duration histogram count=%d sum=%v, want 2 and 2", h.GetSampleCount(), h.GetSampleSum())
			}
			found = true
		case "loom_checkpoint_last_completed_timestamp_seconds":
			ts := f.GetMetric()[0].GetGauge().GetValue()
			if d := time.Since(time.Unix(int64(ts), 0)); d < -time.Second || d > time.Minute {
				t.Fatalf("last completed timestamp %v is not now", ts)
			}
		}
	}
	if !found {
		t.Fatal("no duration histogram gathered")
	}
	if _, err := NewCheckpoints("wordcount", reg); err == nil || !strings.Contains(err.Error(), `register checkpoint metrics of job "wordcount"`) {
		t.Fatalf("second registration: %v", err)
	}
}

func TestBadRecords(t *testing.T) {
	policy := &task.BadRecordPolicy{Skip: true}
	reg := registry(t, NewBadRecords("wordcount", policy.Skipped))
	for i := 0; i < 3; i++ {
		if err := policy.Handle("in.csv:4", []byte("x"), io.ErrUnexpectedEOF); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP loom_bad_records_skipped_total Malformed input records skipped under pipeline.on-bad-record=skip.
# TYPE loom_bad_records_skipped_total counter
loom_bad_records_skipped_total{job="wordcount"} 3
`
	compare(t, scrape(t, reg), want)
}

func TestServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	tasks := []*task.TaskMetrics{taskOf("sink", 2, 0, task.NoTimestamp, op("sink", 2, 42, 42))}
	reg.MustRegister(NewCollector("wc", func() []*task.TaskMetrics { return tasks }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr.String() + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if want := `loom_operator_records_in_total{job="wc",operator="sink",subtask="2"} 42`; !strings.Contains(string(body), want) {
		t.Fatalf("scrape lacks %q:\n%s", want, body)
	}

	if _, err := Serve(ctx, addr.String(), reg); err == nil || !strings.Contains(err.Error(), "metrics listener: listen tcp "+addr.String()) {
		t.Fatalf("Serve on a taken port: %v", err)
	}

	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			break // stopped
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("metrics server still answers after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registry returns a pedantic registry (it checks descriptions against
// collected metrics) holding cs.
func registry(t *testing.T, cs ...prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// scrape returns reg's metrics in the text format, as Prometheus gets them.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// compare checks that every family named in want appears in got with exactly
// want's lines (HELP, TYPE and samples, in any order). Families of got that
// want does not mention are ignored.
func compare(t *testing.T, got, want string) {
	t.Helper()
	family := func(line string) string {
		if f, ok := strings.CutPrefix(line, "# HELP "); ok {
			return strings.Fields(f)[0]
		}
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			return strings.Fields(f)[0]
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			name = strings.TrimSuffix(name, suffix)
		}
		return name
	}
	wanted := map[string]bool{}
	var wantLines []string
	for _, l := range strings.Split(strings.TrimSpace(want), "\n") {
		wanted[family(l)] = true
		wantLines = append(wantLines, l)
	}
	var gotLines []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if l != "" && wanted[family(l)] {
			gotLines = append(gotLines, l)
		}
	}
	sort.Strings(wantLines)
	sort.Strings(gotLines)
	if strings.Join(gotLines, "\n") != strings.Join(wantLines, "\n") {
		t.Fatalf("scrape differs\ngot:\n%s\nwant:\n%s", strings.Join(gotLines, "\n"), strings.Join(wantLines, "\n"))
	}
}
