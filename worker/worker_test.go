package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/am"
	"github.com/loom-yarn/loom/am/proto/controlpb"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	_ "github.com/loom-yarn/loom/jobs"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	// A job whose user function fails on the line "poison".
	stream.Register(stream.Job{Name: "worker-test-poison", Description: "fails on a poison line", Define: func(fs *pflag.FlagSet) stream.Builder {
		input := fs.String("input", "", "")
		output := fs.String("output", "", "")
		return func(env *stream.Env) error {
			lines := stream.FromSource(env, "read", file.Text(*input), nil)
			checked := stream.TryMap(lines, "check", func(s string) (string, error) {
				if s == "poison" {
					return "", errors.New("poison line found")
				}
				return s, nil
			})
			checked.SinkTo("write", file.Sink(*output, file.Lines))
			return nil
		}
	}})
}

// fakeAM is an in-process AM control service that assigns every subtask of
// the job to worker 0 and records what the worker reports.
type fakeAM struct {
	controlpb.UnimplementedControlServer
	job  *am.Job
	stop string // heartbeat answer

	mu         sync.Mutex
	registered []string
	heartbeats int
	finished   bool
	failed     string
}

func (f *fakeAM) Register(_ context.Context, req *controlpb.RegisterRequest) (*controlpb.Assignment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered = append(f.registered, req.GetContainerId())
	a := &controlpb.Assignment{Worker: 0, HeartbeatIntervalMs: 20}
	for _, s := range f.job.Plan.Subtasks[0] {
		a.Subtasks = append(a.Subtasks, &controlpb.Subtask{Chain: s.Chain, Index: int32(s.Index)})
	}
	return a, nil
}

func (f *fakeAM) Heartbeat(context.Context, *controlpb.HeartbeatRequest) (*controlpb.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats++
	return &controlpb.HeartbeatResponse{Stop: f.stop != "", Reason: f.stop}, nil
}

func (f *fakeAM) Finished(context.Context, *controlpb.FinishedRequest) (*controlpb.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = true
	return &controlpb.Ack{}, nil
}

func (f *fakeAM) Failed(_ context.Context, req *controlpb.FailedRequest) (*controlpb.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = req.GetError()
	return &controlpb.Ack{}, nil
}

// setup writes a job spec and input into a working directory, prepares the
// job as the AM would and starts a fake AM that wants secret.
func setup(t *testing.T, job string, args func(in, out string) []string, input string) (*fakeAM, Options, string) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "input.txt"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &am.JobSpec{Job: job, Args: args(in, out), Conf: map[string]string{}, Parallelism: 2, SlotsPerWorker: 2}
	b, _ := spec.Marshal()
	if err := os.WriteFile(filepath.Join(dir, am.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := am.BuildJob(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Prepare(j.Graph, true); err != nil {
		t.Fatal(err)
	}
	fake := &fakeAM{job: j}
	srv := am.NewControlServer("s3cret")
	controlpb.RegisterControlServer(srv, fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	t.Setenv("HADOOP_CONF_DIR", dir)
	opts := Options{Dir: dir, AMAddress: ln.Addr().String(), Secret: "s3cret", ContainerID: "container_1_0001_01_000002",
		Log: &strings.Builder{}, AMTimeout: 2 * time.Second}
	return fake, opts, out
}

func grepArgs(in, out string) []string {
	return []string{"--input", in, "--pattern", "ERROR", "--output", out}
}

func TestRegistrationNeedsTheSecret(t *testing.T) {
	for _, tc := range []struct{ name, secret, want string }{
		{"missing", "", "no application secret"},
		{"wrong", "guess", "wrong application secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, opts, _ := setup(t, "grep", grepArgs, "ERROR a\n")
			opts.Secret = tc.secret
			err := Run(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Unauthenticated") {
				t.Fatalf("Run = %v, want a refusal mentioning %q", err, tc.want)
			}
			if len(fake.registered) != 0 {
				t.Errorf("the AM service saw a registration from %v", fake.registered)
			}
		})
	}
}

func TestWorkerRunsItsShareAndReportsFinish(t *testing.T) {
	var lines []string
	var want []string
	for i := range 500 {
		l := fmt.Sprintf("%d INFO ok", i)
		if i%7 == 0 {
			l = fmt.Sprintf("%d ERROR bad", i)
			want = append(want, l)
		}
		lines = append(lines, l)
	}
	fake, opts, out := setup(t, "grep", grepArgs, strings.Join(lines, "\n")+"\n")
	if err := Run(context.Background(), opts); err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, opts.Log)
	}
	if !fake.finished || fake.failed != "" {
		t.Fatalf("AM saw finished=%v failed=%q", fake.finished, fake.failed)
	}
	if len(fake.registered) != 1 || fake.registered[0] != opts.ContainerID {
		t.Errorf("registrations %v, want one from %s", fake.registered, opts.ContainerID)
	}
	var got []string
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(out, file.PartName(i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Fields(strings.ReplaceAll(string(b), " ", "_"))...)
	}
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], " ", "_")
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output has %d lines, want %d matching lines", len(got), len(want))
	}
}

func TestWorkerReportsUserFunctionError(t *testing.T) {
	args := func(in, out string) []string { return []string{"--input", in, "--output", out} }
	fake, opts, _ := setup(t, "worker-test-poison", args, "fine\npoison\nfine\n")
	err := Run(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "poison line found") {
		t.Fatalf("Run = %v, want the user function's error", err)
	}
	if fake.finished || !strings.Contains(fake.failed, "poison line found") || !strings.Contains(fake.failed, "check") {
		t.Fatalf("AM saw finished=%v failed=%q; want the error with its operator", fake.finished, fake.failed)
	}
}

func TestWorkerStopsWhenTheAMSaysSo(t *testing.T) {
	args := func(_, out string) []string { return []string{"--events", "0", "--output", out} }
	fake, opts, _ := setup(t, "windowed-counts", args, "")
	fake.stop = "the job restarts without container_1_0001_01_000002"
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), opts) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "restarts without") {
			t.Fatalf("Run = %v, want ErrStopped with the AM's reason", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker of an endless job did not stop when the AM said so")
	}
	if fake.finished || fake.failed != "" {
		t.Errorf("a stopped worker reported finished=%v failed=%q", fake.finished, fake.failed)
	}
}
