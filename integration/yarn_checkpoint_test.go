//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestYARNExactlyOnceFromCheckpoints runs an unbounded-mode job (paced
// generator -> keyed running totals in the LSM backend -> HDFS file sink) at
// parallelism 4 on 2 workers with the job master's checkpoints every second
// in HDFS, kills a worker container once a checkpoint completed, and checks
// that the job restarted from the latest checkpoint (the AM's log says which)
// rather than from the start, finished SUCCEEDED, and that the committed
// output holds every update exactly once with the final totals of a local
// reference run.
func TestYARNExactlyOnceFromCheckpoints(t *testing.T) {
	const events, accounts, seed = 60000, 100, 7
	c, dir := hdfsClient(t)
	ref := t.TempDir()
	if code, out := runLoom(t, time.Minute, "run", "totals", "--events", strconv.Itoa(events), "--accounts", strconv.Itoa(accounts),
		"--seed", strconv.Itoa(seed), "-p", "2", "--output", ref+"/out"); code != 0 {
		t.Fatalf("local reference run exited %d:\n%s", code, out)
	}
	code, out := runLoom(t, time.Minute, "submit", "totals", "--events", strconv.Itoa(events), "--accounts", strconv.Itoa(accounts),
		"--seed", strconv.Itoa(seed), "--rate", "3000", "--output", "hdfs://"+dir+"/out",
		"-p", "4", "--slots-per-worker", "2", "--worker-memory", "256", "--am-memory", "256", "--detached",
		"-D", "execution.runtime-mode=streaming", "-D", "execution.checkpointing.interval=1s", "-D", "state.backend=lsm",
		"-D", "state.checkpoints.dir=hdfs://"+dir+"/ck",
		"-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=3", "-D", "restart-strategy.fixed-delay.delay=1s")
	if code != 0 {
		t.Fatalf("loom submit --detached exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	t.Cleanup(func() {
		if a := getApp(t, id); !ended(a) {
			rmDo(t, "PUT", rmWeb(t)+"/ws/v1/cluster/apps/"+id+"/state", map[string]string{"state": "KILLED"}, nil)
		}
	})
	// The application's checkpoints are in a directory of its own.
	ckRoot := dir + "/ck/" + id + "/totals"
	if !strings.Contains(out, "checkpoints go to hdfs://") || !strings.Contains(out, id+"/totals") {
		t.Errorf("loom submit does not say where the checkpoints go:\n%s", out)
	}
	deadline := time.Now().Add(time.Minute)
	var completed []string
	for len(completed) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no completed checkpoint in %s within a minute (%s)", ckRoot, getApp(t, id).State)
		}
		time.Sleep(250 * time.Millisecond)
		entries, _ := c.ReadDir(ckRoot)
		for _, e := range entries {
			if _, err := c.Stat(ckRoot + "/" + e.Name() + "/_metadata"); err == nil {
				completed = append(completed, e.Name())
			}
		}
	}
	pids := workerPIDs(id)
	if len(pids) != 2 {
		t.Fatalf("%d worker processes of %s running after checkpoint %v, want 2", len(pids), id, completed)
	}
	time.Sleep(2 * time.Second) // a few more checkpoints
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	app := waitApp(t, id, 3*time.Minute, ended)
	if app.FinalStatus != "SUCCEEDED" || !strings.Contains(app.Diagnostics, "after 1 restart") {
		t.Fatalf("%s: %s/%s, want SUCCEEDED after 1 restart: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}

	// The restarted run restored the latest checkpoint, not the start.
	restored := regexp.MustCompile(`run 1 restores from checkpoint (\d+) `)
	var amLog string
	for cid, d := range containerLogDirs(t, id) {
		if strings.HasSuffix(cid, "_000001") {
			files, _ := filepath.Glob(d + "/*")
			for _, f := range files {
				b, _ := os.ReadFile(f)
				amLog += string(b)
			}
		}
	}
	m := restored.FindStringSubmatch(amLog)
	if m == nil {
		t.Fatalf("the AM's log does not say run 1 restored from a checkpoint:\n%s", tail(amLog, 40))
	}
	t.Logf("worker pid %d killed after checkpoints %v; run 1 restored checkpoint %s; %s", pids[0], completed, m[1], app.Diagnostics)

	got, _ := readParts(t, c, dir+"/out")
	lines := sortedLines(got)
	if len(lines) != events {
		t.Fatalf("%d committed updates for %d payments: lost or duplicated", len(lines), events)
	}
	final := map[string]int{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("update line %q: %v", l, err)
		}
		final[f[0]] = max(final[f[0]], n)
	}
	want := map[string]int{}
	for _, l := range sortedLines(readLocalParts(t, ref+"/out")) {
		f := strings.Split(l, "\t")
		n, _ := strconv.Atoi(f[1])
		want[f[0]] = n
	}
	if len(final) != len(want) {
		t.Fatalf("%d accounts in the output, %d in the reference", len(final), len(want))
	}
	for a, n := range want {
		if final[a] != n {
			t.Errorf("account %s: final total %d, reference %d", a, final[a], n)
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
