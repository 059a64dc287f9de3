//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/jobmaster"
)

// TestYARNShuffleWordcount submits wordcount at parallelism 4 over 2 workers
// of 2 slots on an HDFS input: the keyed edge crosses between the workers'
// partition servers. The output equals loom run's locally and an
// independent count (tr | sort | uniq -c).
func TestYARNShuffleWordcount(t *testing.T) {
	c, dir := hdfsClient(t)
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}
	var in strings.Builder
	for i := range 60000 {
		fmt.Fprintf(&in, "%s %s w%c%c\n", words[i%len(words)], words[(i*7+3)%len(words)], 'a'+i%23, 'a'+(i/23)%19)
	}
	writeHDFS(t, c, dir+"/in/part-a.txt", []byte(in.String()))
	local := t.TempDir()
	inFile := filepath.Join(local, "in.txt")
	os.WriteFile(inFile, []byte(in.String()), 0o644)

	// The independent count: words are runs of letters, lower case here.
	indep, err := exec.Command("sh", "-c", `tr -cs 'a-z' '\n' < `+inFile+` | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}'`).Output()
	if err != nil {
		t.Fatalf("independent count: %v", err)
	}
	code, out := runLoom(t, 2*time.Minute, "run", "wordcount", "--input", inFile, "--output", filepath.Join(local, "out"), "-p", "4")
	if code != 0 {
		t.Fatalf("loom run wordcount exited %d:\n%s", code, out)
	}
	localOut := readLocalParts(t, filepath.Join(local, "out"))

	start := time.Now()
	code, out = runLoom(t, 3*time.Minute, "submit", "wordcount", "--input", "hdfs://"+dir+"/in", "--output", "hdfs://"+dir+"/out",
		"--parallelism", "4", "--slots-per-worker", "2", "--worker-memory", "256", "--am-memory", "256")
	if code != 0 {
		t.Fatalf("loom submit wordcount exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	if app := getApp(t, id); app.FinalStatus != "SUCCEEDED" {
		t.Fatalf("%s: %s/%s: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}
	got, parts := readParts(t, c, dir+"/out")
	if parts != 4 {
		t.Errorf("%d part files, want 4", parts)
	}
	g, l, w := sortedLines(got), sortedLines(localOut), sortedLines(string(indep))
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("YARN output (%d words) differs from the independent count (%d words)", len(g), len(w))
	}
	if strings.Join(l, "\n") != strings.Join(w, "\n") {
		t.Errorf("loom run output (%d words) differs from the independent count (%d words)", len(l), len(w))
	}

	// Two workers (two processes, wherever YARN placed them: it does not
	// promise two nodes), each deployed with both partition servers, each
	// delivering its output to the other over the network.
	nodes := map[string]bool{}
	workers := 0
	for _, d := range containerLogDirs(t, id) {
		b, err := os.ReadFile(filepath.Join(d, "worker.err"))
		if err != nil {
			continue
		}
		workers++
		nodes[filepath.Base(filepath.Dir(filepath.Dir(d)))] = true
		log := string(b)
		for _, want := range []string{"deployed by the AM as worker", "network memory at most", "all output delivered"} {
			if !strings.Contains(log, want) {
				t.Errorf("worker log %s lacks %q:\n%s", d, want, log)
			}
		}
	}
	if workers != 2 {
		t.Errorf("%d workers (on NodeManagers %v), want 2", workers, nodes)
	}
	t.Logf("wordcount p=4 on 2 workers (NodeManagers %v): %d input lines, %d distinct words, equal to loom run and to tr|sort|uniq; loom submit took %.1fs",
		nodes, 60000, len(g), time.Since(start).Seconds())
}

func readLocalParts(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// TestYARNShuffleBackpressure runs an endless windowed-counts on 2 workers
// with a deliberately slow sink (2ms per window result): the window tasks
// fall behind, the credit of the keyed edge runs out, and the sources,
// which could generate clicks far faster, wait. For 20 seconds the test
// reads the AM's /status and the workers' VmRSS: the sources are reported
// backpressured most of the time, /metrics has the counter, and every
// worker's resident memory stays under workerRSSBound. Then it kills the
// application.
func TestYARNShuffleBackpressure(t *testing.T) {
	const workerRSSBound = 120 << 20 // bytes; a worker idles at ~20-30 MiB
	const measure = 20 * time.Second
	_, dir := hdfsClient(t)
	code, out := runLoom(t, time.Minute, "submit", "windowed-counts", "--events", "0", "--keys", "1000", "--window", "1s",
		"--sink-delay", "2ms", "--output", "hdfs://"+dir+"/out", "-p", "4", "--slots-per-worker", "2",
		"--worker-memory", "256", "--am-memory", "256", "--detached")
	if code != 0 {
		t.Fatalf("loom submit --detached exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	kill := func() {
		if a := getApp(t, id); !ended(a) {
			rmDo(t, http.MethodPut, rmWeb(t)+"/ws/v1/cluster/apps/"+id+"/state", map[string]string{"state": "KILLED"}, nil)
		}
	}
	t.Cleanup(kill)
	base := amTrackingURL(t, id, time.Minute)

	var rss []int64 // max over the workers, per sample
	var first, last jobmaster.JobStatus
	var metricsText string
	var deadline time.Time
	for deadline.IsZero() || time.Now().Before(deadline) {
		if a := getApp(t, id); ended(a) {
			t.Fatalf("%s ended while measuring: %s/%s: %s", id, a.State, a.FinalStatus, a.Diagnostics)
		}
		var st jobmaster.JobStatus
		if err := getJSON(base+"status", &st); err == nil && len(st.Subtasks) > 0 {
			if deadline.IsZero() {
				first, deadline = st, time.Now().Add(measure)
			}
			last = st
			var m int64
			for _, pid := range workerPIDs(id) {
				m = max(m, vmRSS(pid))
			}
			rss = append(rss, m)
		}
		time.Sleep(500 * time.Millisecond)
	}
	metricsText, _ = httpGet(base + "metrics")
	kill()

	secs := float64(last.Subtasks[0].ElapsedMS-first.Subtasks[0].ElapsedMS) / 1000
	t.Logf("over %.1fs: sources read %d clicks (%.0f/s), sinks wrote %d results (%.0f/s); subtasks at the end:", secs,
		last.RecordsIn-first.RecordsIn, float64(last.RecordsIn-first.RecordsIn)/secs, last.RecordsOut-first.RecordsOut, float64(last.RecordsOut-first.RecordsOut)/secs)
	// Behind a slow sink every source must wait for room downstream, and
	// together they must spend most of their time waiting. How the waiting
	// splits between sources depends on scheduling (a source sharing its
	// worker's cores with busy window tasks waits less), so the bound is on
	// the sources' mean, not on each.
	sources := 0
	var share float64
	for _, s := range last.Subtasks {
		t.Logf("  %.60s #%d worker %d: backpressured %6d of %6d ms (%.0f%%)", s.Name, s.Index, s.Worker,
			s.BackpressuredMS, s.ElapsedMS, 100*s.Backpressure)
		if strings.Contains(s.Name, "clicks") {
			sources++
			share += s.Backpressure
			if s.BackpressuredMS <= 0 {
				t.Errorf("source subtask %d never waited for room downstream behind a slow sink", s.Index)
			}
		}
	}
	if sources != 4 {
		t.Errorf("%d source subtasks in the status, want 4", sources)
	} else if mean := share / float64(sources); mean <= 0.5 {
		t.Errorf("sources backpressured %.0f%% of their time on average, want > 50%% behind a slow sink", 100*mean)
	}
	if !strings.Contains(metricsText, "loom_task_backpressured_seconds_total") {
		t.Errorf("/metrics lacks loom_task_backpressured_seconds_total:\n%.2000s", metricsText)
	}
	var peak int64
	for _, r := range rss {
		peak = max(peak, r)
	}
	if peak == 0 {
		t.Fatalf("no worker process of %s found to measure", id)
	}
	if peak > workerRSSBound {
		t.Errorf("a worker's RSS reached %.1f MiB, above the bound of %d MiB", float64(peak)/(1<<20), workerRSSBound>>20)
	}
	half := len(rss) / 2
	var early, late int64
	for i, r := range rss {
		if i < half {
			early = max(early, r)
		} else {
			late = max(late, r)
		}
	}
	t.Logf("worker VmRSS over %d samples: peak %.1f MiB (bound %d MiB); first half peak %.1f MiB, second half %.1f MiB",
		len(rss), float64(peak)/(1<<20), workerRSSBound>>20, float64(early)/(1<<20), float64(late)/(1<<20))
}

var trackingURLPattern = regexp.MustCompile(`tracking URL (http://\S+/)`)

// amTrackingURL reads the AM's status page address from its log.
func amTrackingURL(t *testing.T, appID string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for cid, d := range containerLogDirs(t, appID) {
			if !strings.HasSuffix(cid, "_000001") {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(d, "am.err"))
			if m := trackingURLPattern.FindSubmatch(b); m != nil {
				return string(m[1])
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no tracking URL in the AM log of %s within %v", appID, timeout)
	return ""
}

func httpGet(url string) (string, error) {
	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String(), sc.Err()
}

func getJSON(url string, v any) error {
	b, err := httpGet(url)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(b), v)
}

// workerPIDs lists the running worker processes of an application.
func workerPIDs(appID string) []int { return rolePIDs(appID, "worker") }

// rolePIDs lists the running processes of an application playing role
// (loom worker, loom am): their command line and container directory.
func rolePIDs(appID, role string) []int {
	var out []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "loom\x00"+role) {
			continue
		}
		if cwd, err := os.Readlink(p + "/cwd"); err == nil && strings.Contains(cwd, appID) {
			pid, _ := strconv.Atoi(filepath.Base(p))
			out = append(out, pid)
		}
	}
	return out
}

// vmRSS is a process's resident memory in bytes (0 if it is gone).
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestYARNShuffleWorkerKilled kills one of the 2 workers of a paced
// windowed-counts: the run fails promptly (its peer loses the connection,
// YARN reports the container), the fixed-delay restart strategy reruns the
// job from the start with a new attempt, and the final output counts every
// click exactly once.
func TestYARNShuffleWorkerKilled(t *testing.T) {
	const events = 40000
	c, dir := hdfsClient(t)
	code, out := runLoom(t, time.Minute, "submit", "windowed-counts", "--events", strconv.Itoa(events), "--rate", "4000", "--keys", "100",
		"--window", "1s", "--output", "hdfs://"+dir+"/out", "-p", "4", "--slots-per-worker", "2", "--worker-memory", "256", "--am-memory", "256",
		"--detached", "-D", "restart-strategy.type=fixed-delay", "-D", "restart-strategy.fixed-delay.attempts=1", "-D", "restart-strategy.fixed-delay.delay=1s")
	if code != 0 {
		t.Fatalf("loom submit --detached exited %d:\n%s", code, out)
	}
	id := appIDIn(t, out)
	t.Cleanup(func() {
		if a := getApp(t, id); !ended(a) {
			rmDo(t, http.MethodPut, rmWeb(t)+"/ws/v1/cluster/apps/"+id+"/state", map[string]string{"state": "KILLED"}, nil)
		}
	})
	deadline := time.Now().Add(time.Minute)
	var pids []int
	for len(pids) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("2 worker processes of %s not running within a minute (%v)", id, pids)
		}
		time.Sleep(200 * time.Millisecond)
		pids = workerPIDs(id)
	}
	time.Sleep(3 * time.Second) // records are crossing between the workers
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	app := waitApp(t, id, 3*time.Minute, ended)
	if app.FinalStatus != "SUCCEEDED" || !strings.Contains(app.Diagnostics, "after 1 restart") {
		t.Fatalf("%s: %s/%s, want SUCCEEDED after 1 restart: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}
	t.Logf("killed worker pid %d; job SUCCEEDED %.1fs later: %s", pids[1], time.Since(killed).Seconds(), app.Diagnostics)
	counts, _ := readParts(t, c, dir+"/out/counts")
	late, _ := readParts(t, c, dir+"/out/late")
	total := 0
	for _, l := range sortedLines(counts) {
		f := strings.Split(l, "\t")
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatalf("count line %q: %v", l, err)
		}
		total += n
	}
	if nLate := len(sortedLines(late)); total+nLate != events {
		t.Errorf("%d clicks counted + %d late = %d, want %d", total, nLate, total+nLate, events)
	}
}
