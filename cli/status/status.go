// Package status shows a running job's progress on a terminal: a status line
// redrawn in place while the job runs (Line) and the summary printed when it
// ends (Summary).
//
// Watermarks are event times in milliseconds since the Unix epoch, as
// everywhere in loom.
package status

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/loom-yarn/loom/task"
)

// clearLine returns the cursor to column 0 and erases to the end of the line.
const clearLine = "\r\x1b[K"

// defaultWidth is the terminal width assumed when Line.Width is 0.
const defaultWidth = 80

// Line is a one-line live view of a job, redrawn in place every Interval:
//
//	0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s  wm 2024-05-01T12:00:00Z  ckpt 3  tasks 4/4
//
// Rates are records per second over the last interval. Segments that do not
// fit Width are dropped from the least useful (tasks) on, since a line that
// wraps can no longer be redrawn with a carriage return.
type Line struct {
	// Out receives the line; write errors are ignored (the view is cosmetic).
	Out io.Writer
	// Interval between redraws; 0 means one second.
	Interval time.Duration
	// Progress returns the job's current progress; it is called from Run's
	// goroutine once per redraw.
	Progress func() task.Progress
	// Terminal enables drawing; when false Run draws nothing (logs and pipes
	// would fill with carriage returns).
	Terminal bool
	// Width is the terminal's column count (see TerminalWidth); 0 means 80.
	Width int
}

// Run draws the line at once and then every Interval until ctx ends, then
// clears it so that what is printed next starts on a clean line. When
// Terminal is false it only waits for ctx. Run it on its own goroutine and
// wait for it to return before printing the summary.
func (l *Line) Run(ctx context.Context) {
	if !l.Terminal || l.Progress == nil || l.Out == nil {
		<-ctx.Done()
		return
	}
	interval := l.Interval
	if interval <= 0 {
		interval = time.Second
	}
	width := l.Width
	if width <= 0 {
		width = defaultWidth
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()

	var prev task.Progress // zero at the start: the first rates cover all of Elapsed
	inRate, outRate := math.NaN(), math.NaN()
	draw := func() {
		p := l.Progress()
		// Rates use the job's own clock (Elapsed) so that they do not
		// depend on when this goroutine got scheduled.
		if dt := (p.Elapsed - prev.Elapsed).Seconds(); dt > 0 {
			inRate = float64(p.RecordsIn-prev.RecordsIn) / dt
			outRate = float64(p.RecordsOut-prev.RecordsOut) / dt
		}
		prev = p
		// Width-1: writing the last column makes some terminals wrap.
		io.WriteString(l.Out, clearLine+formatLine(p, inRate, outRate, width-1))
	}
	draw()
	for {
		select {
		case <-ctx.Done():
			io.WriteString(l.Out, clearLine)
			return
		case <-tick.C:
			draw()
		}
	}
}

// formatLine renders the status line in at most width bytes (all of it is ASCII).
func formatLine(p task.Progress, inRate, outRate float64, width int) string {
	segments := []string{
		formatElapsed(p.Elapsed),
		"in " + formatCount(p.RecordsIn) + " " + formatRate(inRate),
		"out " + formatCount(p.RecordsOut) + " " + formatRate(outRate),
		"wm " + formatWatermark(p.Watermark),
		fmt.Sprintf("ckpt %d", p.CompletedCheckpoints),
	}
	if p.TotalTasks > 0 {
		segments = append(segments, fmt.Sprintf("tasks %d/%d", p.RunningTasks, p.TotalTasks))
	}
	// dropOrder lists segment indexes from the least to the most useful.
	dropOrder := []int{5, 4, 3, 0, 2}
	keep := make([]bool, len(segments))
	for i := range keep {
		keep[i] = true
	}
	line := joinKept(segments, keep)
	for _, i := range dropOrder {
		if len(line) <= width {
			break
		}
		if i < len(segments) {
			keep[i] = false
			line = joinKept(segments, keep)
		}
	}
	if len(line) > width {
		line = line[:max(width, 0)]
	}
	return line
}

func joinKept(segments []string, keep []bool) string {
	var b strings.Builder
	for i, s := range segments {
		if !keep[i] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("  ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// formatCount writes n with three significant digits and an SI suffix:
// 999, 1.23k, 12.3k, 123k, 1.23M.
func formatCount(n int64) string {
	if n < 1000 && n > -1000 {
		return fmt.Sprintf("%d", n)
	}
	return compact(float64(n))
}

// formatRate writes records per second; NaN (no measurement yet) is "-".
func formatRate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "-/s"
	case math.Abs(r) < 9.95:
		return fmt.Sprintf("%.1f/s", r)
	case math.Abs(r) < 999.5:
		return fmt.Sprintf("%.0f/s", r)
	}
	return compact(r) + "/s"
}

// compact writes v (|v| >= 999.5) with three significant digits and a suffix.
func compact(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	for _, u := range []string{"k", "M", "G", "T", "P"} {
		v /= 1000
		switch {
		case v < 9.995:
			return fmt.Sprintf("%s%.2f%s", sign, v, u)
		case v < 99.95:
			return fmt.Sprintf("%s%.1f%s", sign, v, u)
		case v < 999.5:
			return fmt.Sprintf("%s%.0f%s", sign, v, u)
		}
	}
	return fmt.Sprintf("%s%.0fP", sign, v)
}

// formatWatermark writes a watermark as a UTC time to the second, "-" before
// the first watermark and "end" once event time has ended.
func formatWatermark(wm int64) string {
	switch wm {
	case task.NoTimestamp:
		return "-"
	case task.MaxWatermark:
		return "end"
	}
	return time.UnixMilli(wm).UTC().Format("2006-01-02T15:04:05Z")
}

// formatElapsed writes d as h:mm:ss.
func formatElapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// Summary writes the final report of a job, one "key: value" line each, so
// scripts can grep it:
//
//	records in: 1234567
//	records out: 1234560
//	duration: 1m2.345s
//	throughput: 19876 records/s
//	checkpoints: 3
//	FAILED: <error>
//
// Counts are exact; duration is rounded to the millisecond; throughput is
// records in per second of duration ("-" for a zero duration). The FAILED
// line is written only when err is not nil; continuation lines of a
// multi-line error are indented by two spaces.
func Summary(w io.Writer, p task.Progress, err error) {
	var b strings.Builder
	fmt.Fprintf(&b, "records in: %d\n", p.RecordsIn)
	fmt.Fprintf(&b, "records out: %d\n", p.RecordsOut)
	fmt.Fprintf(&b, "duration: %s\n", p.Elapsed.Round(time.Millisecond))
	if secs := p.Elapsed.Seconds(); secs > 0 {
		fmt.Fprintf(&b, "throughput: %.0f records/s\n", float64(p.RecordsIn)/secs)
	} else {
		b.WriteString("throughput: - records/s\n")
	}
	fmt.Fprintf(&b, "checkpoints: %d\n", p.CompletedCheckpoints)
	if err != nil {
		msg := strings.ReplaceAll(strings.TrimRight(err.Error(), "\n"), "\n", "\n  ")
		fmt.Fprintf(&b, "FAILED: %s\n", msg)
	}
	io.WriteString(w, b.String())
}
