package task

import (
	"sync/atomic"
	"time"
)

// OperatorMetrics are one operator instance's counters. They are plain atomics
// updated once per batch; package metrics exports them to Prometheus.
type OperatorMetrics struct {
	Operator string
	Subtask  int
	// RecordsIn and RecordsOut count records received and emitted.
	RecordsIn  atomic.Int64
	RecordsOut atomic.Int64
}

// TaskMetrics are one subtask's counters.
type TaskMetrics struct {
	Task    string // name of the chain
	Subtask int
	// BackpressuredNanos is the time the task's outputs waited for room downstream.
	BackpressuredNanos atomic.Int64
	// Watermark is the task's current combined input watermark (NoTimestamp before the first).
	Watermark atomic.Int64
	Operators []*OperatorMetrics
}

// Progress is a job-wide view for status lines and summaries.
type Progress struct {
	// RecordsIn counts records read by sources; RecordsOut records written by sinks.
	RecordsIn, RecordsOut int64
	// Watermark is the lowest watermark among running tasks (NoTimestamp if none yet).
	Watermark int64
	// CompletedCheckpoints counts checkpoints completed in this run.
	CompletedCheckpoints int
	// Elapsed is the time since the job started.
	Elapsed time.Duration
	// RunningTasks and TotalTasks count subtasks.
	RunningTasks, TotalTasks int
}
