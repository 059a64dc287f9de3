package status

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/task"
)

func TestFormatCount(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{999, "999"},
		{1000, "1.00k"},
		{1234, "1.23k"},
		{9994, "9.99k"},
		{9996, "10.0k"},
		{12345, "12.3k"},
		{99949, "99.9k"},
		{99951, "100k"},
		{123456, "123k"},
		{999499, "999k"},
		{999500, "1.00M"},
		{1234567, "1.23M"},
		{5_000_000_000, "5.00G"},
		{math.MaxInt64, "9223P"},
		{-1500, "-1.50k"},
	}
	for _, tt := range tests {
		if got := formatCount(tt.n); got != tt.want {
			t.Errorf("formatCount(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		r    float64
		want string
	}{
		{math.NaN(), "-/s"},
		{math.Inf(1), "-/s"},
		{0, "0.0/s"},
		{0.26, "0.3/s"},
		{9.9, "9.9/s"},
		{9.96, "10/s"},
		{512.4, "512/s"},
		{999.4, "999/s"},
		{999.6, "1.00k/s"},
		{12345, "12.3k/s"},
		{2.5e6, "2.50M/s"},
	}
	for _, tt := range tests {
		if got := formatRate(tt.r); got != tt.want {
			t.Errorf("formatRate(%v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestFormatWatermark(t *testing.T) {
	tests := []struct {
		wm   int64
		want string
	}{
		{task.NoTimestamp, "-"},
		{task.MaxWatermark, "end"},
		{0, "1970-01-01T00:00:00Z"},
		{time.Date(2024, 5, 1, 12, 30, 15, 999e6, time.UTC).UnixMilli(), "2024-05-01T12:30:15Z"},
		// A watermark made in another zone still prints as UTC.
		{time.Date(2024, 5, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600)).UnixMilli(), "2024-05-01T12:00:00Z"},
	}
	for _, tt := range tests {
		if got := formatWatermark(tt.wm); got != tt.want {
			t.Errorf("formatWatermark(%d) = %q, want %q", tt.wm, got, tt.want)
		}
	}
}

func TestFormatElapsed(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0:00:00"},
		{0, "0:00:00"},
		{999 * time.Millisecond, "0:00:00"},
		{65 * time.Second, "0:01:05"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03"},
		{27 * time.Hour, "27:00:00"},
	}
	for _, tt := range tests {
		if got := formatElapsed(tt.d); got != tt.want {
			t.Errorf("formatElapsed(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatLine(t *testing.T) {
	p := task.Progress{
		RecordsIn: 1234567, RecordsOut: 1200000,
		Watermark:            time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli(),
		CompletedCheckpoints: 3, Elapsed: 65 * time.Second,
		RunningTasks: 4, TotalTasks: 4,
	}
	full := "0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s  wm 2024-05-01T12:00:00Z  ckpt 3  tasks 4/4"
	noTasks := p
	noTasks.TotalTasks, noTasks.RunningTasks = 0, 0
	tests := []struct {
		name  string
		p     task.Progress
		width int
		want  string
	}{
		{"wide", p, 200, full},
		{"exact fit", p, len(full), full},
		{"drops tasks", p, 79, "0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s  wm 2024-05-01T12:00:00Z  ckpt 3"},
		{"drops checkpoints", p, 71, "0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s  wm 2024-05-01T12:00:00Z"},
		{"drops watermark", p, 60, "0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s"},
		{"drops elapsed", p, 40, "in 1.23M 12.3k/s  out 1.20M 12.0k/s"},
		{"drops out", p, 30, "in 1.23M 12.3k/s"},
		{"cuts in", p, 8, "in 1.23M"},
		{"no task counts", noTasks, 200, "0:01:05  in 1.23M 12.3k/s  out 1.20M 12.0k/s  wm 2024-05-01T12:00:00Z  ckpt 3"},
		{"no watermark", task.Progress{Watermark: task.NoTimestamp}, 200, "0:00:00  in 0 -/s  out 0 -/s  wm -  ckpt 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inRate, outRate := 12345.0, 12000.0
			if tt.p.Elapsed == 0 {
				inRate, outRate = math.NaN(), math.NaN()
			}
			got := formatLine(tt.p, inRate, outRate, tt.width)
			if got != tt.want {
				t.Fatalf("formatLine(width %d) =\n%q\nwant\n%q", tt.width, got, tt.want)
			}
			if len(got) > tt.width {
				t.Fatalf("line of %d bytes exceeds width %d", len(got), tt.width)
			}
		})
	}
}

// fakeJob is a Progress source that advances 1000 records in and 500 out
// per second of job time, two seconds per call, and ends ctx after calls calls.
type fakeJob struct {
	calls  int
	limit  int
	cancel context.CancelFunc
}

func (f *fakeJob) progress() task.Progress {
	f.calls++
	if f.calls == f.limit {
		f.cancel()
	}
	secs := int64(2 * f.calls)
	return task.Progress{
		RecordsIn: 1000 * secs, RecordsOut: 500 * secs,
		Watermark: task.NoTimestamp, Elapsed: time.Duration(secs) * time.Second,
		CompletedCheckpoints: f.calls / 2, RunningTasks: 2, TotalTasks: 2,
	}
}

func TestLineRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job := &fakeJob{limit: 3, cancel: cancel}
	var out bytes.Buffer
	l := &Line{Out: &out, Interval: time.Millisecond, Progress: job.progress, Terminal: true, Width: 120}
	l.Run(ctx)
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatal("Run did not redraw three times within 10s")
	}
	want := clearLine + "0:00:02  in 2.00k 1.00k/s  out 1.00k 500/s  wm -  ckpt 0  tasks 2/2" +
		clearLine + "0:00:04  in 4.00k 1.00k/s  out 2.00k 500/s  wm -  ckpt 1  tasks 2/2" +
		clearLine + "0:00:06  in 6.00k 1.00k/s  out 3.00k 500/s  wm -  ckpt 1  tasks 2/2" +
		clearLine
	if got := out.String(); got != want {
		t.Fatalf("Run wrote\n%q\nwant\n%q", got, want)
	}
}

func TestLineRunRateOverLastInterval(t *testing.T) {
	// The job speeds up: the rate must follow the last interval, not the average.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	steps := []task.Progress{
		{RecordsIn: 100, Elapsed: time.Second},
		{RecordsIn: 100 + 5000, Elapsed: 2 * time.Second},
		{RecordsIn: 100 + 5000, Elapsed: 2 * time.Second}, // no job time passed: keep the last rate
	}
	i := 0
	progress := func() task.Progress {
		p := steps[i]
		p.Watermark = task.NoTimestamp
		i++
		if i == len(steps) {
			cancel()
		}
		return p
	}
	var out bytes.Buffer
	(&Line{Out: &out, Interval: time.Millisecond, Progress: progress, Terminal: true, Width: 120}).Run(ctx)
	lines := strings.Split(strings.TrimPrefix(out.String(), clearLine), clearLine)
	wantRates := []string{"in 100 100/s", "in 5.10k 5.00k/s", "in 5.10k 5.00k/s"}
	for j, w := range wantRates {
		if j >= len(lines) || !strings.Contains(lines[j], w) {
			t.Fatalf("draw %d = %q, want containing %q (all: %q)", j, lines, w, out.String())
		}
	}
}

func TestLineNotTerminal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	called := false
	l := &Line{Out: &out, Interval: time.Millisecond, Terminal: false,
		Progress: func() task.Progress { called = true; return task.Progress{} }}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	select {
	case <-done:
		t.Fatal("Run returned before ctx ended")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	<-done
	if out.Len() != 0 || called {
		t.Fatalf("non-terminal Run wrote %q (progress called: %v)", out.String(), called)
	}
}

func TestSummary(t *testing.T) {
	p := task.Progress{RecordsIn: 1234567, RecordsOut: 1234560, Elapsed: 62345678 * time.Microsecond, CompletedCheckpoints: 3}
	tests := []struct {
		name string
		p    task.Progress
		err  error
		want string
	}{
		{"success", p, nil, "records in: 1234567\nrecords out: 1234560\nduration: 1m2.346s\nthroughput: 19802 records/s\ncheckpoints: 3\n"},
		{"failure", p, errors.New("task count (2/4): open state: disk full"),
			"records in: 1234567\nrecords out: 1234560\nduration: 1m2.346s\nthroughput: 19802 records/s\ncheckpoints: 3\nFAILED: task count (2/4): open state: disk full\n"},
		{"multi-line error", task.Progress{Elapsed: time.Second}, errors.New("two causes:\nfirst\nsecond\n"),
			"records in: 0\nrecords out: 0\nduration: 1s\nthroughput: 0 records/s\ncheckpoints: 0\nFAILED: two causes:\n  first\n  second\n"},
		{"zero duration", task.Progress{RecordsIn: 5}, nil,
			"records in: 5\nrecords out: 0\nduration: 0s\nthroughput: - records/s\ncheckpoints: 0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			Summary(&b, tt.p, tt.err)
			if b.String() != tt.want {
				t.Fatalf("Summary =\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("a regular file reported as a terminal")
	}
	if TerminalWidth(f) != 0 {
		t.Fatal("a regular file has a terminal width")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Fatal("a pipe reported as a terminal")
	}
	if IsTerminal(nil) || TerminalWidth(nil) != 0 {
		t.Fatal("nil file reported as a terminal")
	}
}
