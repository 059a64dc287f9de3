package jobmaster

import "time"

// historySize is how many recent checkpoints the status keeps, as Flink's
// web.checkpoints.history default.
const historySize = 10

// CheckpointStats is the checkpoint part of /status, after Flink's
// checkpoint REST endpoint: counts, the latest completed, failed and
// restored checkpoints, and the recent history, newest first.
type CheckpointStats struct {
	Counts struct {
		Triggered  int64 `json:"triggered"`
		InProgress int64 `json:"inProgress"`
		Completed  int64 `json:"completed"`
		Failed     int64 `json:"failed"`
	} `json:"counts"`
	Latest struct {
		Completed *CheckpointStatus `json:"completed,omitempty"`
		Failed    *CheckpointStatus `json:"failed,omitempty"`
		Restored  *RestoredStatus   `json:"restored,omitempty"`
	} `json:"latest"`
	History []CheckpointStatus `json:"history"`
}

// CheckpointStatus is one checkpoint.
type CheckpointStatus struct {
	ID int64 `json:"id"`
	// Status is IN_PROGRESS, COMPLETED or FAILED.
	Status string `json:"status"`
	Run    int    `json:"run"`
	// TriggerTime is unix milliseconds; DurationMS runs from the trigger to
	// completion or failure.
	TriggerTime int64 `json:"triggerTimestamp"`
	DurationMS  int64 `json:"durationMs"`
	// StateSize is the bytes of the checkpoint's state (full size);
	// CheckpointedSize the bytes this checkpoint wrote. They are equal while
	// every snapshot is a full one.
	StateSize        int64  `json:"stateSize"`
	CheckpointedSize int64  `json:"checkpointedSize"`
	Path             string `json:"externalPath,omitempty"`
	FailureMessage   string `json:"failureMessage,omitempty"`
}

// RestoredStatus is the checkpoint a run restored from.
type RestoredStatus struct {
	Run  int    `json:"run"`
	Path string `json:"externalPath"`
}

// checkpointTriggered, checkpointCompleted and checkpointFailed keep the
// checkpoint history of the status board and the AM's metrics.
func (b *statusBoard) checkpointTriggered(run int, id int64, at time.Time) {
	b.update(func(s *JobStatus) {
		c := &s.Checkpoints
		c.Counts.Triggered++
		c.Counts.InProgress++
		c.History = append([]CheckpointStatus{{ID: id, Status: "IN_PROGRESS", Run: run, TriggerTime: at.UnixMilli()}}, c.History...)
		if len(c.History) > historySize {
			c.History = c.History[:historySize]
		}
	})
}

func (b *statusBoard) checkpointEnded(id int64, d time.Duration, size int64, path, failure string) {
	if failure == "" {
		b.ckMetrics.ObserveCompleted(id, d, size)
	} else {
		b.ckMetrics.ObserveAborted()
	}
	b.update(func(s *JobStatus) {
		c := &s.Checkpoints
		for i := range c.History {
			h := &c.History[i]
			if h.ID != id || h.Status != "IN_PROGRESS" {
				continue
			}
			c.Counts.InProgress--
			if d == 0 {
				d = time.Since(time.UnixMilli(h.TriggerTime))
			}
			h.DurationMS = d.Milliseconds()
			if failure == "" {
				h.Status, h.StateSize, h.CheckpointedSize, h.Path = "COMPLETED", size, size, path
				c.Counts.Completed++
				cp := *h
				c.Latest.Completed = &cp
			} else {
				h.Status, h.FailureMessage = "FAILED", failure
				c.Counts.Failed++
				cp := *h
				c.Latest.Failed = &cp
			}
			return
		}
	})
}

// runEnded marks the checkpoints still in progress when a run ended as
// failed.
func (b *statusBoard) runEnded(run int, why string) {
	b.update(func(s *JobStatus) {
		c := &s.Checkpoints
		for i := range c.History {
			if h := &c.History[i]; h.Run == run && h.Status == "IN_PROGRESS" {
				h.Status, h.FailureMessage = "FAILED", "the run ended: "+why
				c.Counts.InProgress--
				c.Counts.Failed++
				b.ckMetrics.ObserveAborted()
			}
		}
	})
}

func (b *statusBoard) restored(run int, path string) {
	b.update(func(s *JobStatus) { s.Checkpoints.Latest.Restored = &RestoredStatus{Run: run, Path: path} })
}
