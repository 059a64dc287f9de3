// Package metrics exports loom's counters to Prometheus. The engine keeps
// plain atomics (task.TaskMetrics, task.OperatorMetrics) that tasks bump
// once per batch; the collectors here read them only when Prometheus scrapes,
// so the hot path never calls into Prometheus.
//
// Every series carries a "job" label with the loom job name. A Prometheus
// server that scrapes loom stores it as "exported_job" unless the scrape
// config sets honor_labels, because "job" is also Prometheus' target label.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loom-yarn/loom/task"
)

var (
	recordsInDesc = prometheus.NewDesc("loom_operator_records_in_total",
		"Records received by an operator instance.", []string{"job", "operator", "subtask"}, nil)
	recordsOutDesc = prometheus.NewDesc("loom_operator_records_out_total",
		"Records emitted by an operator instance.", []string{"job", "operator", "subtask"}, nil)
	backpressuredDesc = prometheus.NewDesc("loom_task_backpressured_seconds_total",
		"Time a subtask's outputs waited for room downstream.", []string{"job", "task", "subtask"}, nil)
	watermarkLagDesc = prometheus.NewDesc("loom_task_watermark_lag_seconds",
		"Wall-clock time minus the subtask's watermark; absent before the first watermark and after the last.",
		[]string{"job", "task", "subtask"}, nil)
)

// taskCollector reads runtime metrics on scrape.
type taskCollector struct {
	job   string
	tasks func() []*task.TaskMetrics
	now   func() time.Time // wall clock; replaced in tests
}

// NewCollector returns a collector of the operator and task metrics of job.
// tasks is called on every scrape and returns the subtasks running now (it
// may change between scrapes as tasks start, finish or restart).
//
// Operators or tasks reported twice under the same name and subtask are
// merged (counters summed, the lowest watermark kept) rather than failing
// the scrape; give operators unique names to tell them apart.
//
// Watermarks are event times in milliseconds since the Unix epoch.
func NewCollector(job string, tasks func() []*task.TaskMetrics) prometheus.Collector {
	return &taskCollector{job: job, tasks: tasks, now: time.Now}
}

// Describe implements prometheus.Collector.
func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- recordsInDesc
	ch <- recordsOutDesc
	ch <- backpressuredDesc
	ch <- watermarkLagDesc
}

type seriesKey struct {
	name    string
	subtask int
}

// Collect implements prometheus.Collector.
func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	type opCounts struct{ in, out int64 }
	type taskValues struct {
		backpressured int64
		watermark     int64 // lowest real watermark, task.NoTimestamp if none
	}
	ops := map[seriesKey]*opCounts{}
	var opOrder []seriesKey
	tasks := map[seriesKey]*taskValues{}
	var taskOrder []seriesKey
	for _, t := range c.tasks() {
		if t == nil {
			continue
		}
		tk := seriesKey{t.Task, t.Subtask}
		tv, ok := tasks[tk]
		if !ok {
			tv = &taskValues{watermark: task.NoTimestamp}
			tasks[tk] = tv
			taskOrder = append(taskOrder, tk)
		}
		tv.backpressured += t.BackpressuredNanos.Load()
		// MaxWatermark means event time has ended: no lag to report.
		if wm := t.Watermark.Load(); wm != task.NoTimestamp && wm != task.MaxWatermark {
			if tv.watermark == task.NoTimestamp || wm < tv.watermark {
				tv.watermark = wm
			}
		}
		for _, o := range t.Operators {
			if o == nil {
				continue
			}
			ok := seriesKey{o.Operator, o.Subtask}
			oc, seen := ops[ok]
			if !seen {
				oc = &opCounts{}
				ops[ok] = oc
				opOrder = append(opOrder, ok)
			}
			oc.in += o.RecordsIn.Load()
			oc.out += o.RecordsOut.Load()
		}
	}
	for _, k := range opOrder {
		sub := strconv.Itoa(k.subtask)
		ch <- prometheus.MustNewConstMetric(recordsInDesc, prometheus.CounterValue, float64(ops[k].in), c.job, k.name, sub)
		ch <- prometheus.MustNewConstMetric(recordsOutDesc, prometheus.CounterValue, float64(ops[k].out), c.job, k.name, sub)
	}
	nowMillis := c.now().UnixMilli()
	for _, k := range taskOrder {
		sub := strconv.Itoa(k.subtask)
		tv := tasks[k]
		ch <- prometheus.MustNewConstMetric(backpressuredDesc, prometheus.CounterValue,
			time.Duration(tv.backpressured).Seconds(), c.job, k.name, sub)
		if tv.watermark != task.NoTimestamp {
			lag := float64(nowMillis-tv.watermark) / 1e3
			ch <- prometheus.MustNewConstMetric(watermarkLagDesc, prometheus.GaugeValue, lag, c.job, k.name, sub)
		}
	}
}
