package minicluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/jobmaster"
	"github.com/loom-yarn/loom/stream"
)

// failures counts how often the test job's function failed; failUntil is
// how many of its runs fail.
var failures, failUntil atomic.Int64

func init() {
	stream.Register(stream.Job{Name: "minicluster-test-flaky", Description: "fails its first runs", Define: func(fs *pflag.FlagSet) stream.Builder {
		input := fs.String("input", "", "")
		output := fs.String("output", "", "")
		return func(env *stream.Env) error {
			lines := stream.FromSource(env, "read", file.Text(*input), nil)
			checked := stream.TryMap(lines, "check", func(s string) (string, error) {
				if s == "poison" && failures.Load() < failUntil.Load() {
					failures.Add(1)
					return "", errors.New("poison line found")
				}
				return s, nil
			})
			checked.SinkTo("write", file.Sink(*output, file.Lines))
			return nil
		}
	}})
}

// build makes the flaky job over a small input with the given options.
func build(t *testing.T, opts map[string]string) (*deploy.Job, string) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte("a\npoison\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.FromMap(opts, "test")
	if err != nil {
		t.Fatal(err)
	}
	g, err := stream.BuildGraph("minicluster-test-flaky", []string{"--input", in, "--output", out}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	job := &deploy.Job{Spec: deploy.NewJobSpec(g.Name, nil, cfg), Conf: cfg, Graph: g}
	if job.Plan, err = Plan(job); err != nil {
		t.Fatal(err)
	}
	return job, out
}

// TestMiniClusterRestartsThroughTheJobMaster: a job that fails twice and
// then succeeds is restarted by the job master (not by a loop of loom run's
// own), which announces each restart; with fewer restarts than failures it
// fails with the task's own error as the root cause.
func TestMiniClusterRestartsThroughTheJobMaster(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int
		wantErr  string
	}{
		{"enough restarts", 3, ""},
		{"restarts exhausted", 1, "poison line found (after 1 restarts)"},
		{"no restart strategy", 0, "poison line found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failures.Store(0)
			failUntil.Store(2)
			opts := map[string]string{"parallelism.default": "2"}
			if tc.attempts > 0 {
				opts["restart-strategy.type"] = "fixed-delay"
				opts["restart-strategy.fixed-delay.attempts"] = fmt.Sprint(tc.attempts)
				opts["restart-strategy.fixed-delay.delay"] = "10ms"
			}
			job, out := build(t, opts)
			var restarts []jobmaster.Restart
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := Run(ctx, job, Options{OnRestart: func(r jobmaster.Restart) { restarts = append(restarts, r) }})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				b, rerr := os.ReadFile(filepath.Join(out, file.PartName(0)))
				b1, _ := os.ReadFile(filepath.Join(out, file.PartName(1)))
				if rerr != nil || len(strings.Fields(string(b)+string(b1))) != 3 {
					t.Errorf("output %q %q (%v), want the 3 lines", b, b1, rerr)
				}
			} else {
				if err == nil || !strings.HasPrefix(err.Error(), "task ") || !strings.HasSuffix(err.Error(), "check: "+tc.wantErr) || strings.Contains(err.Error(), "worker 0") {
					t.Fatalf("Run = %v, want the task's own error ending in %q, not the worker's wrapping", err, tc.wantErr)
				}
			}
			want := min(2, tc.attempts)
			if len(restarts) != want {
				t.Fatalf("%d restarts announced, want %d: %+v", len(restarts), want, restarts)
			}
			for i, r := range restarts {
				if r.Restart != i+1 || r.Of != tc.attempts || r.Delay != 10*time.Millisecond || !strings.Contains(r.Cause, "poison line found") || r.From != "" {
					t.Errorf("restart %d: %+v", i, r)
				}
			}
		})
	}
}

// TestMiniClusterCancel: cancelling the context ends an endless job and
// every worker goroutine.
func TestMiniClusterCancel(t *testing.T) {
	job, _ := build(t, map[string]string{"parallelism.default": "1"})
	failures.Store(0)
	failUntil.Store(1 << 40)                                    // fails forever...
	job.Spec.WorkerRestarts, job.Spec.RestartDelayMS = 1<<20, 1 // ...and restarts forever
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, job, Options{}) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}
