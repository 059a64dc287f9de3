//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/hdfs"
)

var (
	loomBinOnce sync.Once
	loomBin     string
	loomBinErr  error
)

// loomBinary builds cmd/loom once per test run: what `loom submit` ships.
func loomBinary(t *testing.T) string {
	t.Helper()
	loomBinOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			loomBinErr = err
			return
		}
		dir, err := os.MkdirTemp("", "loom-it-bin")
		if err != nil {
			loomBinErr = err
			return
		}
		loomBin = filepath.Join(dir, "loom")
		cmd := exec.Command("go", "build", "-o", loomBin, "./cmd/loom")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			loomBinErr = fmt.Errorf("go build ./cmd/loom: %v\n%s", err, out)
		}
	})
	if loomBinErr != nil {
		t.Fatal(loomBinErr)
	}
	return loomBin
}

// runLoom runs the loom binary with the cluster's HADOOP_CONF_DIR and returns
// its exit code and combined output.
func runLoom(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	clusterEnv(t, "HADOOP_CONF_DIR")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, loomBinary(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("loom %s: %v", strings.Join(args, " "), err)
	}
	return code, out.String()
}

var appIDPattern = regexp.MustCompile(`application_\d+_\d+`)

func appIDIn(t *testing.T, out string) string {
	t.Helper()
	id := appIDPattern.FindString(out)
	if id == "" {
		t.Fatalf("no application id in loom submit's output:\n%s", out)
	}
	return id
}

// rmApp is the part of the RM's application report the tests read.
type rmApp struct {
	State             string `json:"state"`
	FinalStatus       string `json:"finalStatus"`
	Diagnostics       string `json:"diagnostics"`
	AMRPCAddress      string `json:"amRPCAddress"`
	RunningContainers int    `json:"runningContainers"`
}

func getApp(t *testing.T, id string) rmApp {
	t.Helper()
	var r struct {
		App rmApp `json:"app"`
	}
	rmDo(t, http.MethodGet, rmWeb(t)+"/ws/v1/cluster/apps/"+id, nil, &r)
	return r.App
}

func waitApp(t *testing.T, id string, timeout time.Duration, done func(rmApp) bool) rmApp {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		a := getApp(t, id)
		if done(a) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s/%s after %v: %s", id, a.State, a.FinalStatus, timeout, a.Diagnostics)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ended(a rmApp) bool {
	return a.State == "FINISHED" || a.State == "FAILED" || a.State == "KILLED"
}

// readParts reads and concatenates the visible part files of dir.
func readParts(t *testing.T, c *hdfs.Client, dir string) (string, int) {
	t.Helper()
	entries, err := c.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "part-") {
			continue
		}
		n++
		f, err := c.Open(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String(), n
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	sort.Strings(lines)
	return lines
}

// containerLogDirs finds the log directories of an application's
// containers under the dev cluster's state directory, by NodeManager
// ("...nm-0_0", "...nm-1_0") and container id.
func containerLogDirs(t *testing.T, appID string) map[string]string {
	t.Helper()
	root := os.Getenv("LOOM_CLUSTER_DIR")
	if root == "" {
		r, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(r, ".cluster")
	}
	dirs := map[string]string{}
	filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "container_") && filepath.Base(filepath.Dir(p)) == appID {
			dirs[d.Name()] = p
			return filepath.SkipDir
		}
		return nil
	})
	return dirs
}

// TestYARNGrepJob submits grep over an HDFS file with parallelism 4 and 2
// slots per worker: 2 workers on the 2 NodeManagers, output equal to grep's,
// the application SUCCEEDED and its staging directory gone. It prints the
// start-up figures (submit -> AM registered -> all workers running -> done).
func TestYARNGrepJob(t *testing.T) {
	c, dir := hdfsClient(t)
	var in strings.Builder
	for i := range 40000 {
		lvl := [...]string{"INFO", "WARN", "ERROR", "DEBUG"}[(i*7+i/3)%4]
		fmt.Fprintf(&in, "%d %s request %d took %dms\n", i, lvl, i*31%977, i%113)
	}
	writeHDFS(t, c, dir+"/in/log.txt", []byte(in.String()))
	local := filepath.Join(t.TempDir(), "log.txt")
	os.WriteFile(local, []byte(in.String()), 0o644)
	want, err := exec.Command("grep", "-E", "ERROR|WARN.*took 1[0-9]ms", local).Output()
	if err != nil {
		t.Fatalf("grep: %v", err)
	}

	loomBinary(t) // built before the clock starts
	start := time.Now()
	code, out := runLoom(t, 3*time.Minute, "submit", "grep", "--input", "hdfs://"+dir+"/in", "--pattern", "ERROR|WARN.*took 1[0-9]ms",
		"--output", "hdfs://"+dir+"/out", "-p", "4", "--slots-per-worker", "2", "--worker-memory", "256", "--am-memory", "256")
	elapsed := time.Since(start)
	if code != 0 {
		t.Fatalf("loom submit grep exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	app := getApp(t, id)
	if app.State != "FINISHED" || app.FinalStatus != "SUCCEEDED" {
		t.Fatalf("%s: %s/%s, want FINISHED/SUCCEEDED: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}
	got, parts := readParts(t, c, dir+"/out")
	if parts != 4 {
		t.Errorf("%d part files, want 4 (parallelism 4)", parts)
	}
	if g, w := sortedLines(got), sortedLines(string(want)); strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("output has %d lines, grep found %d", len(g), len(w))
	}

	// The AM plus 2 worker containers, whose logs sit in their
	// NodeManager's log directory (YARN does not promise two nodes).
	nodes := map[string]bool{}
	workers := 0
	var amLog string
	for cid, d := range containerLogDirs(t, id) {
		if _, err := os.Stat(filepath.Join(d, "worker.err")); err == nil {
			workers++
			nodes[filepath.Base(filepath.Dir(filepath.Dir(d)))] = true
		}
		if strings.HasSuffix(cid, "_000001") {
			b, _ := os.ReadFile(filepath.Join(d, "am.err"))
			amLog = string(b)
		}
	}
	if workers != 2 {
		t.Errorf("%d worker containers (on NodeManagers %v), want 2", workers, nodes)
	}

	staging := fmt.Sprintf("/user/%s/.loom/%s", c.User(), id)
	if _, err := c.Stat(staging); !errors.Is(err, iofs.ErrNotExist) {
		t.Errorf("staging directory %s: %v, want it deleted", staging, err)
	}

	// Figures: seconds since submission, from the AM's log.
	figure := func(re string) string {
		if m := regexp.MustCompile(re).FindStringSubmatch(amLog); m != nil {
			return m[1] + "s"
		}
		t.Errorf("AM log lacks %q:\n%s", re, amLog)
		return "?"
	}
	t.Logf("grep on YARN, %d input lines, %d matching: submit -> AM registered %s -> all workers running %s -> job finished %s; loom submit returned after %.2fs",
		40000, len(sortedLines(got)), figure(`, ([\d.]+)s after submission; tracking URL`), figure(`workers running, ([\d.]+)s after submission`),
		figure(`job SUCCEEDED, ([\d.]+)s after submission`), elapsed.Seconds())
}

// TestYARNJobUserFunctionFails: a job whose user function returns an error
// ends FAILED with the error text in YARN's diagnostics and loom submit
// exits non-zero.
func TestYARNJobUserFunctionFails(t *testing.T) {
	_, dir := hdfsClient(t)
	code, out := runLoom(t, 3*time.Minute, "submit", "totals", "--events", "2000", "--fail-once-at", "100",
		"--output", "hdfs://"+dir+"/out", "-p", "1", "--worker-memory", "256", "--am-memory", "256")
	if code == 0 {
		t.Fatalf("loom submit of a failing job exited 0:\n%s", out)
	}
	id := appIDIn(t, out)
	app := waitApp(t, id, time.Minute, ended)
	if app.FinalStatus != "FAILED" {
		t.Fatalf("%s: final status %s, want FAILED: %s", id, app.FinalStatus, app.Diagnostics)
	}
	for _, want := range []string{"injected failure at payment 100", "fail once", "worker 0"} {
		if !strings.Contains(app.Diagnostics, want) {
			t.Errorf("diagnostics lack %q: %s", want, app.Diagnostics)
		}
	}
	if !strings.Contains(out, "injected failure at payment 100") {
		t.Errorf("loom submit's output lacks the root cause:\n%s", out)
	}
}

// TestYARNJobUserFunctionPanics: a user function that panics fails its
// task, not the worker process: the job ends FAILED with the panic text,
// the operator, the subtask and the stack in YARN's diagnostics, the other
// worker is stopped cleanly, and loom submit exits non-zero.
func TestYARNJobUserFunctionPanics(t *testing.T) {
	_, dir := hdfsClient(t)
	code, out := runLoom(t, 3*time.Minute, "submit", "totals", "--events", "200000", "--panic-at", "100",
		"--output", "hdfs://"+dir+"/out", "-p", "2", "--worker-memory", "256", "--am-memory", "256")
	if code == 0 {
		t.Fatalf("loom submit of a panicking job exited 0:\n%s", out)
	}
	id := appIDIn(t, out)
	app := waitApp(t, id, time.Minute, ended)
	if app.FinalStatus != "FAILED" {
		t.Fatalf("%s: final status %s, want FAILED: %s", id, app.FinalStatus, app.Diagnostics)
	}
	for _, want := range []string{"operator Map: panic at (subtask ", "panicked: payment 100: deliberate bug", "goroutine ", "jobs.defineTotals"} {
		if !strings.Contains(app.Diagnostics, want) {
			t.Errorf("diagnostics lack %q: %s", want, app.Diagnostics)
		}
	}
	for _, d := range containerLogDirs(t, id) {
		b, err := os.ReadFile(filepath.Join(d, "worker.err"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), "panic: ") {
			t.Errorf("worker log %s has Go's raw panic dump: the process crashed:\n%s", d, b)
		}
	}
}

// TestYARNWorkerKilledAndSecretRequired runs a paced job on one worker. While
// it runs, a worker process started without the application secret is
// refused by the AM; then the real worker is killed with SIGKILL, and the
// job still completes under the fixed-delay restart strategy.
func TestYARNWorkerKilledAndSecretRequired(t *testing.T) {
	c, dir := hdfsClient(t)
	code, out := runLoom(t, time.Minute, "submit", "totals", "--events", "16000", "--rate", "2000",
		"--output", "hdfs://"+dir+"/out", "-p", "1", "--worker-memory", "256", "--am-memory", "256", "--detached",
		"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=1", "-D", "restart-strategy.fixed-delay.delay=1s")
	if code != 0 {
		t.Fatalf("loom submit --detached exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	t.Cleanup(func() {
		if a := getApp(t, id); !ended(a) {
			rmDo(t, http.MethodPut, rmWeb(t)+"/ws/v1/cluster/apps/"+id+"/state", map[string]string{"state": "KILLED"}, nil)
		}
	})
	app := waitApp(t, id, time.Minute, func(a rmApp) bool { return a.State == "RUNNING" && a.AMRPCAddress != "" && a.RunningContainers >= 2 })

	// A worker without the secret.
	wd := t.TempDir()
	spec := &deploy.JobSpec{Job: "totals", Args: []string{"--events", "10", "--output", filepath.Join(wd, "out")}, Conf: map[string]string{}}
	b, _ := spec.Marshal()
	os.WriteFile(filepath.Join(wd, deploy.SpecFile), b, 0o644)
	cmd := exec.Command(loomBinary(t), "worker")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), deploy.EnvAMAddress+"="+app.AMRPCAddress, deploy.EnvWorkerID+"=0", "CONTAINER_ID=container_intruder")
	wout, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(wout), "no application secret") {
		t.Errorf("worker without secret: err %v, output:\n%s\nwant a refusal naming the missing secret", err, wout)
	}

	// SIGKILL the real worker.
	pid := waitWorkerPID(t, id, 30*time.Second)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", pid, err)
	}
	t.Logf("killed worker pid %d", pid)
	app = waitApp(t, id, 2*time.Minute, ended)
	if app.FinalStatus != "SUCCEEDED" {
		t.Fatalf("%s after a killed worker: %s/%s: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}
	if !strings.Contains(app.Diagnostics, "after 1 restart") || !strings.Contains(app.Diagnostics, "exited with status 137") {
		t.Errorf("diagnostics do not tell of the restart after the killed worker: %s", app.Diagnostics)
	}
	got, _ := readParts(t, c, dir+"/out")
	if n := len(sortedLines(got)); n != 1000 {
		t.Errorf("totals wrote %d accounts, want 1000", n)
	}
}

// waitWorkerPID finds the process of the application's worker: a `loom
// worker` whose working directory is one of the application's containers.
func waitWorkerPID(t *testing.T, appID string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			cmdline, err := os.ReadFile(p + "/cmdline")
			if err != nil || !strings.Contains(string(cmdline), "loom\x00worker") {
				continue
			}
			cwd, err := os.Readlink(p + "/cwd")
			if err != nil || !strings.Contains(cwd, appID) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(p))
			return pid
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no running worker process of %s within %v", appID, timeout)
	return 0
}
