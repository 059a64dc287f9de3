package jobmaster

import (
	"encoding/json"
	"errors"
	"html/template"
	"log"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/metrics"
	"github.com/loom-yarn/loom/task"
)

// JobStatus is what the AM's /status endpoint serves: the job's state, its
// workers and subtasks with their counters, and how long each step took.
type JobStatus struct {
	Job         string          `json:"job"`
	State       string          `json:"state"`
	Plan        string          `json:"plan,omitempty"`
	Run         int             `json:"run"`
	Restarts    int             `json:"restarts"`
	Progress    float32         `json:"progress"`
	Diagnostics string          `json:"diagnostics,omitempty"`
	LastFailure string          `json:"lastFailure,omitempty"`
	Errors      []string        `json:"errors,omitempty"`
	RecordsIn   int64           `json:"recordsIn"`
	RecordsOut  int64           `json:"recordsOut"`
	Workers     []WorkerStatus  `json:"workers"`
	Subtasks    []SubtaskStatus `json:"subtasks"`
	// Stages is set for a bounded job run stage by stage (blocking shuffle):
	// the current run's stages in order.
	Stages []StageStatus `json:"stages,omitempty"`
	// Timings are seconds since the application was submitted.
	Timings Timings `json:"timings"`
	// Checkpoints is the job's checkpoint history (checkpointing on).
	Checkpoints CheckpointStats `json:"checkpoints"`

	submitted time.Time
}

// Timings are seconds from submission to each step (0: not reached).
type Timings struct {
	Registered        float64 `json:"amRegistered"`
	AllWorkersRunning float64 `json:"allWorkersRunning"`
	Finished          float64 `json:"finished"`
}

// StageStatus is one stage of a job run stage by stage.
type StageStatus struct {
	Index int `json:"index"`
	// Chains are the readable names of the stage's chains.
	Chains []string `json:"chains"`
	// State is WAITING, RUNNING or FINISHED.
	State string `json:"state"`
	// Started and Finished are seconds since submission (0: not reached).
	Started  float64 `json:"started"`
	Finished float64 `json:"finished"`
}

// WorkerStatus is a worker of the current run.
type WorkerStatus struct {
	WorkerInfo
	RecordsIn    int64 `json:"recordsIn"`
	RecordsOut   int64 `json:"recordsOut"`
	RunningTasks int32 `json:"runningTasks"`
	TotalTasks   int32 `json:"totalTasks"`
}

// SubtaskStatus is one subtask as its worker last reported it.
type SubtaskStatus struct {
	Chain      string `json:"chain"`
	Name       string `json:"name"`
	Index      int32  `json:"index"`
	Worker     int    `json:"worker"`
	Running    bool   `json:"running"`
	RecordsIn  int64  `json:"recordsIn"`
	RecordsOut int64  `json:"recordsOut"`
	// BackpressuredMS is the time the subtask's outputs waited for credit or
	// buffers (a slower consumer held it back) in its ElapsedMS of running.
	BackpressuredMS int64 `json:"backpressuredMs"`
	ElapsedMS       int64 `json:"elapsedMs"`
	// Backpressure is BackpressuredMS / ElapsedMS: the share of its time
	// the subtask was held back. A wait is counted when it ends, and
	// ElapsedMS goes on after the subtask finished, so the share is that of
	// a running subtask since it started.
	Backpressure float64 `json:"backpressure"`
}

// statusBoard holds the status the HTTP handlers read while the loop
// writes it.
type statusBoard struct {
	mu    sync.Mutex
	s     JobStatus
	beats map[int]*controlpb.HeartbeatRequest // by worker index, current run
	// reg holds the AM's own metrics (checkpoints), served with the
	// tasks' at /metrics.
	reg       *prometheus.Registry
	ckMetrics *metrics.Checkpoints
}

func newStatusBoard(job string, submitted time.Time) *statusBoard {
	reg := prometheus.NewRegistry()
	ck, err := metrics.NewCheckpoints(job, reg)
	if err != nil {
		panic(err) // a fresh registry takes them
	}
	return &statusBoard{s: JobStatus{State: "STARTING", submitted: submitted}, beats: map[int]*controlpb.HeartbeatRequest{},
		reg: reg, ckMetrics: ck}
}

func (b *statusBoard) update(f func(*JobStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.s)
}

func (b *statusBoard) heartbeat(worker int, hb *controlpb.HeartbeatRequest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.beats[worker] = hb
}

func (b *statusBoard) clearWorkers() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.beats)
}

// get returns a copy of the status with the latest heartbeats folded in.
func (b *statusBoard) get() JobStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.s
	s.Workers = append([]WorkerStatus(nil), b.s.Workers...)
	s.Errors = append([]string(nil), b.s.Errors...)
	s.Checkpoints.History = append([]CheckpointStatus(nil), b.s.Checkpoints.History...)
	s.Subtasks = nil
	s.RecordsIn, s.RecordsOut = 0, 0
	for i := range s.Workers {
		hb := b.beats[s.Workers[i].Index]
		if hb == nil {
			continue
		}
		w := &s.Workers[i]
		w.RecordsIn, w.RecordsOut, w.RunningTasks, w.TotalTasks = hb.GetRecordsIn(), hb.GetRecordsOut(), hb.GetRunningTasks(), hb.GetTotalTasks()
		s.RecordsIn += w.RecordsIn
		s.RecordsOut += w.RecordsOut
		for _, st := range hb.GetSubtasks() {
			ss := SubtaskStatus{Chain: st.GetChain(), Name: st.GetName(), Index: st.GetIndex(), Worker: w.Index,
				Running: st.GetRunning(), RecordsIn: st.GetRecordsIn(), RecordsOut: st.GetRecordsOut(),
				BackpressuredMS: st.GetBackpressuredMs(), ElapsedMS: st.GetElapsedMs()}
			ss.Backpressure = share(ss.BackpressuredMS, ss.ElapsedMS)
			s.Subtasks = append(s.Subtasks, ss)
		}
	}
	sort.Slice(s.Subtasks, func(i, j int) bool {
		if s.Subtasks[i].Name != s.Subtasks[j].Name {
			return s.Subtasks[i].Name < s.Subtasks[j].Name
		}
		return s.Subtasks[i].Index < s.Subtasks[j].Index
	})
	return s
}

// share is part/whole clamped to [0, 1] (time is measured in whole
// milliseconds on two clocks), 0 when whole is not positive.
func share(part, whole int64) float64 {
	if whole <= 0 || part <= 0 {
		return 0
	}
	return min(1, float64(part)/float64(whole))
}

// taskMetrics turns the latest heartbeats into runtime metrics for the
// Prometheus collector: one operator per reported chain subtask.
func (b *statusBoard) taskMetrics() []*task.TaskMetrics {
	s := b.get()
	out := make([]*task.TaskMetrics, 0, len(s.Subtasks))
	for _, st := range s.Subtasks {
		tm := &task.TaskMetrics{Task: st.Name, Subtask: int(st.Index)}
		tm.BackpressuredNanos.Store(st.BackpressuredMS * int64(time.Millisecond))
		tm.Watermark.Store(task.NoTimestamp)
		op := &task.OperatorMetrics{Operator: st.Name, Subtask: int(st.Index)}
		op.RecordsIn.Store(st.RecordsIn)
		op.RecordsOut.Store(st.RecordsOut)
		tm.Operators = []*task.OperatorMetrics{op}
		out = append(out, tm)
	}
	return out
}

// serveStatus serves the status page (/), its JSON (/status) and the
// Prometheus metrics (/metrics) on ln until the returned server is closed.
func serveStatus(ln net.Listener, b *statusBoard, lg *log.Logger) *http.Server {
	reg := b.reg
	reg.MustRegister(metrics.NewCollector("loom", b.taskMetrics))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: lg, ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(b.get())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, b.get()); err != nil {
			lg.Printf("status page: %v", err)
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lg.Printf("status server: %v", err)
		}
	}()
	return srv
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{"pct": func(f float64) float64 { return 100 * f },
	"ms": func(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04:05.000") }}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>loom job {{.Job}}</title>
<meta http-equiv="refresh" content="2">
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.err{color:#a00}</style>
</head><body>
<h1>loom job {{.Job}}: {{.State}}</h1>
<p>{{.Plan}} &middot; run {{.Run}}, {{.Restarts}} restart(s) &middot; progress {{printf "%.2f" .Progress}} &middot;
records in {{.RecordsIn}}, out {{.RecordsOut}} &middot; <a href="status">JSON</a> &middot; <a href="metrics">metrics</a></p>
{{if .Diagnostics}}<p><b>Diagnostics:</b> {{.Diagnostics}}</p>{{end}}
{{range .Errors}}<p class="err">{{.}}</p>{{end}}
<p>Since submission: AM registered {{printf "%.2f" .Timings.Registered}}s, all workers running {{printf "%.2f" .Timings.AllWorkersRunning}}s, finished {{printf "%.2f" .Timings.Finished}}s</p>
{{with .Checkpoints}}{{if .Counts.Triggered}}<h2>Checkpoints</h2>
<p>triggered {{.Counts.Triggered}}, in progress {{.Counts.InProgress}}, completed {{.Counts.Completed}}, failed {{.Counts.Failed}}{{with .Latest.Restored}} &middot; run {{.Run}} restored {{.Path}}{{end}}</p>
<table><tr><th>id</th><th>status</th><th>run</th><th>triggered</th><th>duration ms</th><th>state bytes</th><th>written bytes</th><th>path / failure</th></tr>
{{range .History}}<tr><td>{{.ID}}</td><td>{{.Status}}</td><td>{{.Run}}</td><td>{{ms .TriggerTime}}</td><td>{{.DurationMS}}</td><td>{{.StateSize}}</td><td>{{.CheckpointedSize}}</td><td>{{.Path}}{{.FailureMessage}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if .Stages}}<h2>Stages</h2>
<table><tr><th>#</th><th>state</th><th>chains</th><th>started s</th><th>finished s</th></tr>
{{range .Stages}}<tr><td>{{.Index}}</td><td>{{.State}}</td><td>{{range $i, $c := .Chains}}{{if $i}}; {{end}}{{$c}}{{end}}</td><td>{{printf "%.2f" .Started}}</td><td>{{printf "%.2f" .Finished}}</td></tr>
{{end}}</table>{{end}}
<h2>Workers</h2>
<table><tr><th>#</th><th>state</th><th>container</th><th>node</th><th>partition server</th><th>tasks</th><th>records in</th><th>records out</th></tr>
{{range .Workers}}<tr><td>{{.Index}}</td><td>{{.State}}</td><td>{{.Container}}</td><td>{{.Node}}</td><td>{{.Address}}</td><td>{{.RunningTasks}}/{{.TotalTasks}}</td><td>{{.RecordsIn}}</td><td>{{.RecordsOut}}</td></tr>
{{end}}</table>
<h2>Subtasks</h2>
<table><tr><th>chain</th><th>subtask</th><th>worker</th><th>running</th><th>records in</th><th>records out</th><th>backpressured ms</th><th>elapsed ms</th><th>backpressure</th></tr>
{{range .Subtasks}}<tr><td>{{.Name}}</td><td>{{.Index}}</td><td>{{.Worker}}</td><td>{{.Running}}</td><td>{{.RecordsIn}}</td><td>{{.RecordsOut}}</td><td>{{.BackpressuredMS}}</td><td>{{.ElapsedMS}}</td><td>{{printf "%.0f%%" (pct .Backpressure)}}</td></tr>
{{end}}</table>
</body></html>
`))
