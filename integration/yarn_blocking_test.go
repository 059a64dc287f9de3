//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/jobmaster"
)

// stagesLine is the AM's log of how the stages of a blocking job ran: its
// /status stages at the end.
var stagesLine = regexp.MustCompile(`stages of run \d+: (\[.*\])`)

// TestYARNBlockingWordcount submits wordcount at parallelism 4 over 2
// workers of 2 slots in blocking shuffle mode on an HDFS input: the AM runs
// the read stage on both workers, which spill the keyed shuffle to their
// containers' local dirs, and starts the count stage only when both
// finished. The output equals an independent count (tr | sort | uniq -c),
// the AM's status shows stage 1 starting no earlier than stage 0 finished,
// and the workers' logs show both stages.
func TestYARNBlockingWordcount(t *testing.T) {
	c, dir := hdfsClient(t)
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}
	var in strings.Builder
	for i := range 60000 {
		fmt.Fprintf(&in, "%s %s w%c%c\n", words[i%len(words)], words[(i*7+3)%len(words)], 'a'+i%23, 'a'+(i/23)%19)
	}
	writeHDFS(t, c, dir+"/in/part-a.txt", []byte(in.String()))
	inFile := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(inFile, []byte(in.String()), 0o644)
	indep, err := exec.Command("sh", "-c", `tr -cs 'a-z' '\n' < `+inFile+` | grep -v '^$' | sort | uniq -c | awk '{print $2 "\t" $1}'`).Output()
	if err != nil {
		t.Fatalf("independent count: %v", err)
	}

	start := time.Now()
	code, out := runLoom(t, 3*time.Minute, "submit", "wordcount", "--input", "hdfs://"+dir+"/in", "--output", "hdfs://"+dir+"/out",
		"--parallelism", "4", "--slots-per-worker", "2", "--worker-memory", "256", "--am-memory", "256",
		"-D", "execution.batch-shuffle-mode=blocking")
	if code != 0 {
		t.Fatalf("loom submit wordcount (blocking) exited %d:\n%s", code, out)
	}
	took := time.Since(start)
	id := appIDIn(t, out)
	if app := getApp(t, id); app.FinalStatus != "SUCCEEDED" {
		t.Fatalf("%s: %s/%s: %s", id, app.State, app.FinalStatus, app.Diagnostics)
	}
	got, parts := readParts(t, c, dir+"/out")
	if parts != 4 {
		t.Errorf("%d part files, want 4", parts)
	}
	g, w := sortedLines(got), sortedLines(string(indep))
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("YARN output (%d words) differs from the independent count (%d words)", len(g), len(w))
	}

	var stages []jobmaster.StageStatus
	workers := 0
	for cid, d := range containerLogDirs(t, id) {
		if strings.HasSuffix(cid, "_000001") {
			b, _ := os.ReadFile(filepath.Join(d, "am.err"))
			m := stagesLine.FindSubmatch(b)
			if m == nil {
				t.Fatalf("the AM log has no stages line:\n%s", b)
			}
			if err := json.Unmarshal(m[1], &stages); err != nil {
				t.Fatalf("AM stages %s: %v", m[1], err)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "worker.err"))
		if err != nil {
			continue
		}
		workers++
		log := string(b)
		for _, want := range []string{"stage 0: running 2 subtasks", "stage 1 started", "stage 1: running 2 subtasks", "all output delivered"} {
			if !strings.Contains(log, want) {
				t.Errorf("worker log %s lacks %q:\n%s", d, want, log)
			}
		}
	}
	if workers != 2 {
		t.Errorf("%d worker logs, want 2", workers)
	}
	if len(stages) != 2 {
		t.Fatalf("the AM reports %d stages %+v, want 2 (read, count)", len(stages), stages)
	}
	for _, s := range stages {
		if s.State != "FINISHED" || s.Started <= 0 || s.Finished < s.Started {
			t.Errorf("stage %+v: want FINISHED with a start and an end", s)
		}
	}
	if !strings.HasPrefix(stages[0].Chains[0], "Source: read") || !strings.HasPrefix(stages[1].Chains[0], "Process: count") {
		t.Errorf("stage chains %v / %v: want the read chain first, the count chain second", stages[0].Chains, stages[1].Chains)
	}
	if stages[1].Started < stages[0].Finished {
		t.Errorf("stage 1 started at %.3fs, before stage 0 finished at %.3fs", stages[1].Started, stages[0].Finished)
	}
	t.Logf("blocking wordcount p=4 on 2 workers: %d distinct words equal to tr|sort|uniq; stage 0 %.2fs-%.2fs, stage 1 %.2fs-%.2fs after submission; loom submit took %.1fs",
		len(g), stages[0].Started, stages[0].Finished, stages[1].Started, stages[1].Finished, took.Seconds())
}

// TestSubmitBlockingStreamingRefused: blocking shuffle mode for an unbounded
// job is refused by loom submit before anything is uploaded, naming the
// option.
func TestSubmitBlockingStreamingRefused(t *testing.T) {
	_, dir := hdfsClient(t)
	code, out := runLoom(t, time.Minute, "submit", "windowed-counts", "--events", "0", "--output", "hdfs://"+dir+"/out", "-p", "2",
		"-D", "execution.batch-shuffle-mode=blocking")
	if code == 0 {
		t.Fatalf("loom submit of an unbounded job in blocking mode succeeded:\n%s", out)
	}
	for _, want := range []string{"execution.batch-shuffle-mode=blocking", "unbounded", "set it to pipelined"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if appIDPattern.MatchString(out) {
		t.Errorf("an application was submitted:\n%s", out)
	}
}
