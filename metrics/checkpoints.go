package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Checkpoints records the outcome of a job's checkpoints. The checkpoint
// coordinator's driver calls it once per finished checkpoint; all methods are
// safe for concurrent use.
type Checkpoints struct {
	completed    prometheus.Counter
	aborted      prometheus.Counter
	duration     prometheus.Histogram
	lastID       prometheus.Gauge
	lastDuration prometheus.Gauge
	lastSize     prometheus.Gauge
	lastTime     prometheus.Gauge
}

// NewCheckpoints makes the checkpoint metrics of job and registers them with
// reg. It fails if they are already registered there (one per job and registry).
func NewCheckpoints(job string, reg prometheus.Registerer) (*Checkpoints, error) {
	labels := prometheus.Labels{"job": job}
	c := &Checkpoints{
		completed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loom_checkpoints_completed_total", Help: "Checkpoints completed.", ConstLabels: labels}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "loom_checkpoints_aborted_total", Help: "Checkpoints aborted (declined, timed out or failed).", ConstLabels: labels}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "loom_checkpoint_duration_seconds", Help: "Time from trigger to completion of completed checkpoints.",
			ConstLabels: labels,
			// 10ms .. ~20min: from a tiny local job to a large incremental upload.
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 14)}),
		lastID: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loom_checkpoint_last_completed_id", Help: "Id of the latest completed checkpoint.", ConstLabels: labels}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loom_checkpoint_last_duration_seconds", Help: "Duration of the latest completed checkpoint.", ConstLabels: labels}),
		lastSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loom_checkpoint_last_size_bytes", Help: "Bytes written by the latest completed checkpoint.", ConstLabels: labels}),
		lastTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loom_checkpoint_last_completed_timestamp_seconds", Help: "Unix time the latest checkpoint completed.", ConstLabels: labels}),
	}
	for _, m := range []prometheus.Collector{c.completed, c.aborted, c.duration, c.lastID, c.lastDuration, c.lastSize, c.lastTime} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("register checkpoint metrics of job %q: %w", job, err)
		}
	}
	return c, nil
}

// ObserveCompleted records that checkpoint id completed after duration,
// having written bytes of state.
func (c *Checkpoints) ObserveCompleted(id int64, duration time.Duration, bytes int64) {
	c.completed.Inc()
	c.duration.Observe(duration.Seconds())
	c.lastID.Set(float64(id))
	c.lastDuration.Set(duration.Seconds())
	c.lastSize.Set(float64(bytes))
	c.lastTime.SetToCurrentTime()
}

// ObserveAborted records that a checkpoint was aborted.
func (c *Checkpoints) ObserveAborted() { c.aborted.Inc() }

// NewBadRecords returns a counter of job's skipped bad records, read from
// skipped on every scrape (typically task.BadRecordPolicy.Skipped).
func NewBadRecords(job string, skipped func() int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "loom_bad_records_skipped_total",
		Help:        "Malformed input records skipped under pipeline.on-bad-record=skip.",
		ConstLabels: prometheus.Labels{"job": job},
	}, func() float64 { return float64(skipped()) })
}
