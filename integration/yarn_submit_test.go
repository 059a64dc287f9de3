//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/hdfs"
)

// submitResult is one run of the loom binary.
type submitResult struct {
	code           int
	stdout, stderr string
}

func (r submitResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// submitRun runs the loom binary with env added to the test's environment.
func submitRun(t *testing.T, bin string, env []string, args ...string) submitResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := submitResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run loom %s: %v", strings.Join(args, " "), err)
	}
	return r
}

var submitAppIDPattern = regexp.MustCompile(`application_\d+_\d+`)

// submitStagingEntries lists the application directories under the user's loom
// staging root.
func submitStagingEntries(t *testing.T, c *hdfs.Client) []string {
	t.Helper()
	fis, err := c.ReadDir("/user/" + c.User() + "/.loom")
	if err != nil {
		return nil // no staging root yet: nothing staged
	}
	var names []string
	for _, fi := range fis {
		names = append(names, fi.Name())
	}
	sort.Strings(names)
	return names
}

// submitAssertNoStaging fails when the application's staging directory exists.
func submitAssertNoStaging(t *testing.T, c *hdfs.Client, appID string) {
	t.Helper()
	dir := "/user/" + c.User() + "/.loom/" + appID
	if _, err := c.Stat(dir); err == nil {
		t.Fatalf("staging directory %s was left behind", dir)
	}
}

// submitConfWith copies $HADOOP_CONF_DIR and replaces one yarn-site.xml value.
func submitConfWith(t *testing.T, key, old, new string) string {
	t.Helper()
	src := clusterEnv(t, "HADOOP_CONF_DIR")
	dir := t.TempDir()
	for _, n := range hdfs.HadoopConfFiles {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if n == "yarn-site.xml" {
			from := fmt.Sprintf("<name>%s</name>\n    <value>%s</value>", key, old)
			if !bytes.Contains(b, []byte(from)) {
				// Whitespace differs: fall back to replacing the value alone.
				if !bytes.Contains(b, []byte(old)) {
					t.Fatalf("%s in %s has no %s = %s", n, src, key, old)
				}
				b = bytes.ReplaceAll(b, []byte(old), []byte(new))
			} else {
				b = bytes.Replace(b, []byte(from), []byte(fmt.Sprintf("<name>%s</name>\n    <value>%s</value>", key, new)), 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSubmitUnreachableRM: an RM address nobody listens at fails at once,
// naming the address and the setting it came from; nothing is staged.
func TestSubmitUnreachableRM(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)
	writeHDFS(t, c, base+"/in.txt", []byte("alpha\nbeta\n"))
	rmAddr := submitRMAddress(t)
	conf := submitConfWith(t, "yarn.resourcemanager.address", rmAddr, "127.0.0.1:1")
	before := submitStagingEntries(t, c)
	r := submitRun(t, bin, []string{"HADOOP_CONF_DIR=" + conf}, "submit", "grep",
		"--input", "hdfs://"+base+"/in.txt", "--pattern", "alpha", "--output", "hdfs://"+base+"/out")
	want := "cannot reach the ResourceManager at 127.0.0.1:1 (yarn.resourcemanager.address in " + conf + "/yarn-site.xml)"
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("want a non-zero exit saying %q; got %v", want, r)
	}
	if after := submitStagingEntries(t, c); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("staging changed: %v -> %v", before, after)
	}
}

// submitRMAddress is yarn.resourcemanager.address of the dev cluster.
func submitRMAddress(t *testing.T) string {
	t.Helper()
	conf, err := hdfs.LoadHadoopConf(clusterEnv(t, "HADOOP_CONF_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	a := conf["yarn.resourcemanager.address"]
	if a == "" {
		t.Fatal("yarn.resourcemanager.address is not set in $HADOOP_CONF_DIR/yarn-site.xml")
	}
	return a
}

// TestSubmitRejections: an unknown queue is refused by the RM, and a
// container above the cluster's maximum is refused before any upload;
// neither leaves a staging directory.
func TestSubmitRejections(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)
	writeHDFS(t, c, base+"/in.txt", []byte("alpha\nbeta\n"))
	job := []string{"submit", "grep", "--input", "hdfs://" + base + "/in.txt", "--pattern", "alpha", "--output", "hdfs://" + base + "/out"}

	r := submitRun(t, bin, nil, append(job, "--queue", "no-such-queue")...)
	if r.code == 0 || !strings.Contains(r.stderr, `rejected by YARN for queue "no-such-queue"`) {
		t.Fatalf("unknown queue: want a non-zero exit naming the queue; got %v", r)
	}
	app := submitAppIDPattern.FindString(r.stdout)
	if app == "" {
		t.Fatalf("unknown queue: no application id printed; %v", r)
	}
	submitAssertNoStaging(t, c, app)

	before := submitStagingEntries(t, c)
	r = submitRun(t, bin, nil, append(job, "--worker-memory", "1000000")...)
	if r.code == 0 || !strings.Contains(r.stderr, "--worker-memory 1000000 MB is above the cluster's largest container") {
		t.Fatalf("too much memory: want a non-zero exit naming the flag and the maximum; got %v", r)
	}
	if after := submitStagingEntries(t, c); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("staging changed: %v -> %v", before, after)
	}
}

// TestSubmitDetachedListKill: a detached submission returns at once, loom
// list finds it by tag, loom kill ends it KILLED and loom status then exits
// non-zero; its staging directory is gone.
func TestSubmitDetachedListKill(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)
	// A big input keeps the job busy long enough to be killed while it runs.
	var text bytes.Buffer
	for i := 0; i < 400000; i++ {
		fmt.Fprintf(&text, "line %d alpha beta gamma delta\n", i)
	}
	writeHDFS(t, c, base+"/in.txt", text.Bytes())
	tag := fmt.Sprintf("it-kill-%d", time.Now().UnixNano())
	r := submitRun(t, bin, nil, "submit", "grep", "--input", "hdfs://"+base+"/in.txt", "--pattern", "alpha",
		"--output", "hdfs://"+base+"/out", "--detached", "--tags", tag)
	app := submitAppIDPattern.FindString(r.stdout)
	if r.code != 0 || app == "" {
		t.Fatalf("detached submit: %v", r)
	}
	if !strings.Contains(r.stdout, "loom kill "+app) {
		t.Fatalf("detached submit does not say how to kill: %v", r)
	}

	r = submitRun(t, bin, nil, "list", "--tags", tag)
	if r.code != 0 || !strings.Contains(r.stdout, app) {
		t.Fatalf("loom list --tags %s does not show %s: %v", tag, app, r)
	}
	r = submitRun(t, bin, nil, "list", "--tags", tag, "--state", "finished")
	if r.code != 0 || strings.Contains(r.stdout, app) {
		t.Fatalf("loom list --state finished shows the running %s: %v", app, r)
	}

	r = submitRun(t, bin, nil, "kill", app)
	if r.code != 0 || !strings.Contains(r.stdout, app+" KILLED") {
		t.Fatalf("loom kill %s: %v", app, r)
	}
	r = submitRun(t, bin, nil, "status", app)
	if r.code == 0 || !regexp.MustCompile(`state\s+KILLED`).MatchString(r.stdout) {
		t.Fatalf("loom status of a killed application: want state KILLED and a non-zero exit; got %v", r)
	}
	var rep struct {
		App struct {
			State, FinalStatus, ApplicationType string
		} `json:"app"`
	}
	rmDo(t, "GET", rmWeb(t)+"/ws/v1/cluster/apps/"+app, nil, &rep)
	if rep.App.State != "KILLED" || rep.App.ApplicationType != "LOOM" {
		t.Fatalf("RM REST: %s is %s of type %s, want KILLED of type LOOM", app, rep.App.State, rep.App.ApplicationType)
	}
	submitAssertNoStaging(t, c, app)
	r = submitRun(t, bin, nil, "kill", app)
	if r.code == 0 || !strings.Contains(r.stderr, "already ended KILLED") {
		t.Fatalf("second kill: %v", r)
	}
}

// TestSubmitGrepAttached: loom submit grep, attached, across 2 workers of 2
// slots, exits 0 once YARN reports FINISHED/SUCCEEDED; the output equals
// the matching lines and the staging directory is gone.
func TestSubmitGrepAttached(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)
	var text, want bytes.Buffer
	for i := 0; i < 50000; i++ {
		line := fmt.Sprintf("%d %s", i, []string{"alpha", "beta", "gamma alpha", "delta"}[i%4])
		text.WriteString(line + "\n")
		if strings.Contains(line, "alpha") {
			want.WriteString(line + "\n")
		}
	}
	writeHDFS(t, c, base+"/in.txt", text.Bytes())
	start := time.Now()
	r := submitRun(t, bin, nil, "submit", "grep", "--input", "hdfs://"+base+"/in.txt", "--pattern", "alpha",
		"--output", "hdfs://"+base+"/out", "--parallelism", "4", "--slots-per-worker", "2")
	app := submitAppIDPattern.FindString(r.stdout)
	if r.code != 0 {
		t.Fatalf("loom submit grep: %v", r)
	}
	t.Logf("%s finished in %v", app, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(r.stdout, "tracking URL: ") || !strings.Contains(r.stdout, "FINISHED with final status SUCCEEDED") {
		t.Fatalf("attached submit output: %v", r)
	}
	var rep struct {
		App struct{ State, FinalStatus string } `json:"app"`
	}
	rmDo(t, "GET", rmWeb(t)+"/ws/v1/cluster/apps/"+app, nil, &rep)
	if rep.App.State != "FINISHED" || rep.App.FinalStatus != "SUCCEEDED" {
		t.Fatalf("RM: %s is %s/%s", app, rep.App.State, rep.App.FinalStatus)
	}
	wantLines := strings.Split(strings.TrimRight(want.String(), "\n"), "\n")
	sort.Strings(wantLines)
	// readHDFSDir gives an empty line for an empty part file (a subtask
	// without a split); those are not output.
	var gotLines []string
	for _, l := range strings.Split(readHDFSDir(t, c, base+"/out"), "\n") {
		if l != "" {
			gotLines = append(gotLines, l)
		}
	}
	if strings.Join(gotLines, "\n") != strings.Join(wantLines, "\n") {
		first := ""
		for i := range min(len(gotLines), len(wantLines)) {
			if gotLines[i] != wantLines[i] {
				first = fmt.Sprintf("; first difference at sorted line %d: %q, want %q", i+1, gotLines[i], wantLines[i])
				break
			}
		}
		t.Fatalf("output has %d lines, want the %d matching lines%s", len(gotLines), len(wantLines), first)
	}
	submitAssertNoStaging(t, c, app)
}

// TestSubmitMissingInput: the client builds the job's graph before it
// stages anything, so a missing HDFS input fails there, naming the file.
func TestSubmitMissingInput(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)
	before := submitStagingEntries(t, c)
	r := submitRun(t, bin, nil, "submit", "grep", "--input", "hdfs://"+base+"/missing.txt", "--pattern", "x", "--output", "hdfs://"+base+"/out")
	if r.code == 0 || !strings.Contains(r.stderr, "missing.txt") {
		t.Fatalf("missing input: want a non-zero exit naming the file; got %v", r)
	}
	if after := submitStagingEntries(t, c); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Fatalf("staging changed: %v -> %v", before, after)
	}
}
