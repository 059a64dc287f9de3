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

	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/deploy/controlpb"
	"github.com/loom-yarn/loom/engine"
	_ "github.com/loom-yarn/loom/jobs"
	"github.com/loom-yarn/loom/network"
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

// fakeAM is an in-process AM control service: it answers registrations
// once every worker of the plan registered, with the plan's subtasks and
// every worker's partition server, and records what the workers report.
type fakeAM struct {
	controlpb.UnimplementedControlServer
	job  *deploy.Job
	stop string // heartbeat answer

	mu         sync.Mutex
	registered []string
	addrs      []string
	deployed   chan struct{}
	heartbeats int
	lastBeat   *controlpb.HeartbeatRequest
	finished   int
	failed     string
	peerLost   bool
	// stageReports counts the StageFinished reports of each stage;
	// stageStarted is closed when every worker reported the stage before.
	stageReports map[int]int
	stageStarted map[int]chan struct{}
}

// StageFinished answers once every worker of the plan finished stage.
func (f *fakeAM) StageFinished(ctx context.Context, req *controlpb.StageFinishedRequest) (*controlpb.Ack, error) {
	f.mu.Lock()
	next := int(req.GetStage()) + 1
	if f.stageStarted[next] == nil {
		f.stageStarted[next] = make(chan struct{})
	}
	c := f.stageStarted[next]
	f.stageReports[next-1]++
	if f.stageReports[next-1] == f.job.Plan.Workers {
		close(c)
	}
	f.mu.Unlock()
	select {
	case <-c:
		return &controlpb.Ack{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeAM) Register(ctx context.Context, req *controlpb.RegisterRequest) (*controlpb.Assignment, error) {
	f.mu.Lock()
	f.registered = append(f.registered, req.GetContainerId())
	w := int(req.GetWorker())
	f.addrs[w] = req.GetShuffleAddress()
	if len(f.registered) == f.job.Plan.Workers {
		close(f.deployed)
	}
	f.mu.Unlock()
	select {
	case <-f.deployed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := &controlpb.Assignment{Worker: int32(w), HeartbeatIntervalMs: 20, ShuffleTable: deploy.EncodeAddresses(f.addrs)}
	for _, s := range f.job.Plan.Subtasks(w) {
		a.Subtasks = append(a.Subtasks, &controlpb.Subtask{Chain: s.Chain, Index: int32(s.Index)})
	}
	return a, nil
}

func (f *fakeAM) Heartbeat(_ context.Context, req *controlpb.HeartbeatRequest) (*controlpb.HeartbeatResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats++
	f.lastBeat = req
	return &controlpb.HeartbeatResponse{Stop: f.stop != "", Reason: f.stop}, nil
}

func (f *fakeAM) Finished(context.Context, *controlpb.FinishedRequest) (*controlpb.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished++
	return &controlpb.Ack{}, nil
}

func (f *fakeAM) Failed(_ context.Context, req *controlpb.FailedRequest) (*controlpb.Ack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed, f.peerLost = req.GetError(), req.GetPeerLost()
	return &controlpb.Ack{}, nil
}

// setup writes a job spec and input into a working directory, prepares the
// job as the AM would and starts a fake AM that wants secret; the job runs
// at parallelism 2 on one worker.
func setup(t *testing.T, job string, args func(in, out string) []string, input string) (*fakeAM, Options, string) {
	return setupPlan(t, job, args, input, 2, 2)
}

// setupPlan is setup with the parallelism and slots per worker given.
func setupPlan(t *testing.T, job string, args func(in, out string) []string, input string, parallelism, slots int) (*fakeAM, Options, string) {
	t.Helper()
	return setupPlanConf(t, job, args, input, parallelism, slots, map[string]string{})
}

// setupPlanConf is setupPlan with the job's options.
func setupPlanConf(t *testing.T, job string, args func(in, out string) []string, input string, parallelism, slots int, cfg map[string]string) (*fakeAM, Options, string) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "input.txt"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &deploy.JobSpec{Job: job, Args: args(in, out), Conf: cfg, Parallelism: parallelism, SlotsPerWorker: slots}
	b, _ := spec.Marshal()
	if err := os.WriteFile(filepath.Join(dir, deploy.SpecFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := deploy.BuildJob(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Prepare(j.Graph, true); err != nil {
		t.Fatal(err)
	}
	fake := &fakeAM{job: j, addrs: make([]string, j.Plan.Workers), deployed: make(chan struct{}),
		stageReports: map[int]int{}, stageStarted: map[int]chan struct{}{}}
	srv := deploy.NewControlServer("s3cret")
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
	if fake.finished != 1 || fake.failed != "" {
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
	if fake.finished != 0 || fake.peerLost || !strings.Contains(fake.failed, "poison line found") || !strings.Contains(fake.failed, "check") {
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
	if fake.finished != 0 || fake.failed != "" {
		t.Errorf("a stopped worker reported finished=%v failed=%q", fake.finished, fake.failed)
	}
}

func init() {
	// An endless keyed job of built-in types: generated words, counted.
	stream.Register(stream.Job{Name: "worker-test-endless", Description: "counts generated words forever", Define: func(fs *pflag.FlagSet) stream.Builder {
		output := fs.String("output", "", "")
		return func(env *stream.Env) error {
			words := stream.FromSource(env, "words", datagen.New(func(i int64, _ *datagen.Rand) string { return fmt.Sprintf("w%d", i%50) },
				datagen.Options{Rate: 5000}), nil)
			counts := stream.Aggregate(stream.KeyBy(words, func(w string) string { return w }), "count", stream.Count[string](), nil)
			counts.SinkTo("write", file.Sink(*output, func(dst []byte, kv stream.KV[string, int64]) []byte {
				return append(dst, kv.Key...)
			}))
			return nil
		}
	}})
}

// workerOpts is opts for worker w of a multi-worker run.
func workerOpts(opts Options, w int) Options {
	opts.WorkerID = w
	opts.ContainerID = fmt.Sprintf("container_1_0001_01_%06d", w+2)
	opts.Log = &syncLog{}
	return opts
}

// syncLog is a log two goroutines of a worker may write.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTwoWorkersShuffle runs wordcount at parallelism 4 on two workers of
// 2 slots: neither is deployed before both registered, the keyed edge
// crosses between their partition servers, both finish, and the counts are
// right.
func TestTwoWorkersShuffle(t *testing.T) {
	testTwoWorkers(t, map[string]string{})
}

// TestTwoWorkersBlocking is TestTwoWorkersShuffle in blocking shuffle mode:
// both workers run the read stage, spill the keyed shuffle into their
// LOCAL_DIRS, report the stage to the AM, run the count stage only when the
// AM says both finished, and leave no spill file behind.
func TestTwoWorkersBlocking(t *testing.T) {
	local := t.TempDir()
	t.Setenv("LOCAL_DIRS", local)
	logs := testTwoWorkers(t, map[string]string{"execution.batch-shuffle-mode": "blocking"})
	for w, l := range logs {
		for _, s := range []string{"stage 0: running 2 subtasks", "stage 1 started", "stage 1: running 2 subtasks"} {
			if !strings.Contains(l, s) {
				t.Errorf("worker %d log lacks %q:\n%s", w, s, l)
			}
		}
	}
	if left, _ := filepath.Glob(filepath.Join(local, "*")); len(left) > 0 {
		t.Errorf("spill files left in LOCAL_DIRS: %v", left)
	}
}

func testTwoWorkers(t *testing.T, cfg map[string]string) []string {
	var in strings.Builder
	want := map[string]int{}
	for i := range 5000 {
		w := fmt.Sprintf("w%c%c", 'a'+i%7, 'a'+i%11)
		fmt.Fprintf(&in, "%s x\n", w)
		want[w]++
		want["x"]++
	}
	args := func(in, out string) []string { return []string{"--input", in, "--output", out} }
	fake, opts, out := setupPlanConf(t, "wordcount", args, in.String(), 4, 2, cfg)
	if fake.job.Plan.Workers != 2 {
		t.Fatalf("plan of %d workers, want 2", fake.job.Plan.Workers)
	}
	errs := make([]chan error, 2)
	logs := make([]*syncLog, 2)
	for w := range 2 {
		o := workerOpts(opts, w)
		logs[w] = o.Log.(*syncLog)
		errs[w] = make(chan error, 1)
		go func() { errs[w] <- Run(context.Background(), o) }()
		if w == 0 {
			// Worker 0 waits for worker 1 before it runs anything.
			time.Sleep(100 * time.Millisecond)
			fake.mu.Lock()
			beats := fake.heartbeats
			fake.mu.Unlock()
			if beats != 0 || strings.Contains(logs[0].String(), "deployed") {
				t.Fatalf("worker 0 runs before worker 1 registered:\n%s", logs[0])
			}
		}
	}
	for w := range 2 {
		select {
		case err := <-errs[w]:
			if err != nil {
				t.Fatalf("worker %d: %v\nlog:\n%s", w, err, logs[w])
			}
		case <-time.After(time.Minute):
			t.Fatalf("worker %d still running after a minute:\n%s", w, logs[w])
		}
	}
	if fake.finished != 2 || fake.failed != "" {
		t.Fatalf("AM saw %d finished, failed %q", fake.finished, fake.failed)
	}
	for w := range 2 {
		l := logs[w].String()
		for _, s := range []string{"network memory at most", "all output delivered"} {
			if !strings.Contains(l, s) {
				t.Errorf("worker %d log lacks %q:\n%s", w, s, l)
			}
		}
	}
	var got []string
	for i := range 4 {
		b, err := os.ReadFile(filepath.Join(out, file.PartName(i)))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	var expect []string
	for k, n := range want {
		expect = append(expect, fmt.Sprintf("%s\t%d", k, n))
	}
	sort.Strings(got)
	sort.Strings(expect)
	if strings.Join(got, "\n") != strings.Join(expect, "\n") {
		t.Errorf("got %d counts, want %d:\n%v", len(got), len(expect), got)
	}
	if n := fake.job.Plan.NumStages(); n > 1 && fake.stageReports[0] != 2 {
		t.Errorf("the AM heard %d reports of stage 0, want 2", fake.stageReports[0])
	}
	return []string{logs[0].String(), logs[1].String()}
}

// brokenConnection says whether err tells of a lost peer: as a consumer (its
// partition server) or as a producer (its consumer's connection).
func brokenConnection(err string) bool {
	return strings.Contains(err, "lost") &&
		(strings.Contains(err, "from partition server 127.0.0.1:") || strings.Contains(err, "connection to consumer 127.0.0.1:"))
}

// TestWorkerFailsWhenAPeerDies: of two workers running an endless job, one
// dies (its partition server goes with it); the other fails promptly and
// reports the broken connection to the AM.
func TestWorkerFailsWhenAPeerDies(t *testing.T) {
	args := func(_, out string) []string { return []string{"--output", out} }
	fake, opts, _ := setupPlan(t, "worker-test-endless", args, "", 2, 1)
	ctx1, kill1 := context.WithCancel(context.Background())
	defer kill1()
	errs := make([]chan error, 2)
	logs := make([]*syncLog, 2)
	for w := range 2 {
		o := workerOpts(opts, w)
		logs[w] = o.Log.(*syncLog)
		errs[w] = make(chan error, 1)
		ctx := context.Background()
		if w == 1 {
			ctx = ctx1
		}
		go func() { errs[w] <- Run(ctx, o) }()
	}
	// Both run and exchange records (heartbeats show elapsed time and records).
	deadline := time.Now().Add(20 * time.Second)
	for {
		fake.mu.Lock()
		hb := fake.lastBeat
		fake.mu.Unlock()
		if hb != nil && hb.GetRecordsOut() > 0 && len(hb.GetSubtasks()) > 0 && hb.GetSubtasks()[0].GetElapsedMs() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat with records and elapsed time within 20s:\n%s\n%s", logs[0], logs[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	kill1()
	if err := <-errs[1]; err == nil {
		t.Fatal("the killed worker returned nil")
	}
	start := time.Now()
	select {
	case err := <-errs[0]:
		if err == nil || !brokenConnection(err.Error()) {
			t.Fatalf("surviving worker: %v, want a failure naming the lost peer", err)
		}
		t.Logf("surviving worker failed %v after its peer died: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(15 * time.Second):
		t.Fatalf("surviving worker still running 15s after its peer died:\n%s", logs[0])
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if !brokenConnection(fake.failed) || !fake.peerLost {
		t.Errorf("AM was told %q (peer lost: %v), want the broken connection, marked as a lost peer", fake.failed, fake.peerLost)
	}
}

// TestPartitionServerNeedsTheSecret: a worker's partition server refuses a
// consumer without the application secret, while the job's own workers
// (which have it) exchange records through it.
func TestPartitionServerNeedsTheSecret(t *testing.T) {
	args := func(_, out string) []string { return []string{"--output", out} }
	fake, opts, _ := setupPlan(t, "worker-test-endless", args, "", 2, 1)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	errs := make(chan error, 2)
	for w := range 2 {
		o := workerOpts(opts, w)
		go func() { errs <- Run(ctx, o) }()
	}
	deadline := time.Now().Add(20 * time.Second)
	var addr string
	for {
		fake.mu.Lock()
		hb, a := fake.lastBeat, fake.addrs[0]
		fake.mu.Unlock()
		if hb != nil && hb.GetRecordsOut() > 0 && a != "" {
			addr = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two workers exchanged no records within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An intruder asks for a subpartition the job really has (attempt 0,
	// the keyed edge, producer 0 to consumer 1).
	intruder := network.NewPartitionClient(network.ClientConfig{})
	defer intruder.Close()
	g := network.NewGate(1, 1)
	ep := fake.job.Plan.Edges[0]
	bc, err := fake.job.Graph.Edges[ep.Index].NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	id := network.ChannelID{Attempt: 0, Edge: ep.Index, Producer: 0, Consumer: 1}
	if err := intruder.Connect(g, 0, addr, id, bc); err != nil {
		t.Fatal(err)
	}
	for g.Err() == nil && time.Now().Before(deadline) {
		select {
		case <-g.Ready():
			if _, e, ok := g.Poll(nil); ok {
				t.Fatalf("a consumer without the secret read %+v from %s", e, addr)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := g.Err(); err == nil || !strings.Contains(err.Error(), "sent no application secret") {
		t.Fatalf("consumer without the secret: %v, want a refusal saying so", err)
	}
	stop()
	for range 2 {
		<-errs
	}
}
