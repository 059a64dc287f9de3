package file

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/task"
	"github.com/loom-yarn/loom/vfs"
)

// TestOwnerLiveness is the table of the rules deciding whether the run of
// an owner marker still holds its directory (see owner.go).
func TestOwnerLiveness(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	self := owner{Run: "local me", Host: "h1", PID: 100, PIDNS: "pid:[1]"}
	running := func(pid int, start string) (bool, bool) {
		switch pid {
		case 200:
			return true, true
		case 300:
			return false, true
		}
		return false, false
	}
	tests := []struct {
		name string
		m    owner
		live bool
		why  string
	}{
		{"released", owner{Run: "local x", Host: "h1", PID: 200, PIDNS: "pid:[1]", Renewed: now, Released: now}, false, "released"},
		{"earlier run of this process", owner{Run: "local x", Host: "h1", PID: 100, PIDNS: "pid:[1]", Renewed: now}, false, "an earlier run in this process"},
		{"process on this host runs", owner{Run: "local x", Host: "h1", PID: 200, PIDNS: "pid:[1]", Renewed: now.Add(-time.Hour)}, true, "its process 200 runs on this host"},
		{"process on this host ended", owner{Run: "local x", Host: "h1", PID: 300, PIDNS: "pid:[1]", Renewed: now}, false, "its process 300 has ended"},
		{"process unknown: lease", owner{Run: "local x", Host: "h1", PID: 400, PIDNS: "pid:[1]", Renewed: now.Add(-5 * time.Second)}, true, "renewed its claim 5s ago"},
		{"other pid namespace: lease", owner{Run: "local x", Host: "h1", PID: 300, PIDNS: "pid:[2]", Renewed: now.Add(-5 * time.Second)}, true, "renewed its claim 5s ago"},
		{"other host, renewed", owner{Run: "yarn application_1_2", Host: "h2", PID: 200, PIDNS: "pid:[1]", Renewed: now.Add(-59 * time.Second)}, true, "renewed its claim 59s ago"},
		{"other host, expired", owner{Run: "yarn application_1_2", Host: "h2", PID: 200, PIDNS: "pid:[1]", Renewed: now.Add(-61 * time.Second)}, false, "its claim expired"},
	}
	for _, tt := range tests {
		live, why := tt.m.live(&self, now, running)
		if live != tt.live || !strings.Contains(why, tt.why) {
			t.Errorf("%s: live %v (%s), want %v (%s)", tt.name, live, why, tt.live, tt.why)
		}
	}
}

func TestOwnerMarkerRoundTrip(t *testing.T) {
	o := owner{Run: "yarn application_1700000000000_0003", Host: "h", PID: 7, PIDNS: "pid:[9]", Start: "123", Cmd: "loom am",
		Since: time.Unix(10, 5).UTC(), Renewed: time.Unix(20, 6).UTC(), Released: time.Unix(30, 7).UTC()}
	got, ok := parseOwner(o.encode())
	if !ok || got != o {
		t.Fatalf("round trip: %+v, %v\nwant %+v", got, ok, o)
	}
	if _, ok := parseOwner([]byte("")); ok {
		t.Fatal("an empty marker parsed")
	}
	for _, tt := range []struct{ container, app string }{
		{"container_1700000000000_0003_01_000001", "application_1700000000000_0003"},
		{"container_e17_1700000000000_0003_02_000004", "application_1700000000000_0003"},
		{"", ""}, {"container_x", ""},
	} {
		if got := applicationOf(tt.container); got != tt.app {
			t.Errorf("applicationOf(%q) = %q, want %q", tt.container, got, tt.app)
		}
	}
}

// foreign writes a marker of another run into dir.
func foreign(t *testing.T, fsys vfs.FS, dir string, o owner) {
	t.Helper()
	f, err := fsys.Create(dir + "/" + ownerFile)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(o.encode())
	f.Close()
}

// elsewhere is a run on another host that renewed its claim at renewed.
func elsewhere(renewed time.Time) owner {
	return owner{Run: "yarn application_1_7", Host: "other-host", PID: 4242, Cmd: "loom am", Since: renewed.Add(-time.Hour), Renewed: renewed}
}

func writeRecords(t *testing.T, w task.SinkWriter[string], recs ...string) {
	t.Helper()
	b := task.NewBatch[string](len(recs))
	for _, r := range recs {
		b.Append(task.NoTimestamp, r)
	}
	if err := w.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestSinkOwnership: a second run refuses a directory a live run owns,
// naming it; a run whose directory was taken over publishes nothing; a
// published file is never overwritten; a restore takes the directory over
// from a dead run (issue 10, item 1).
func TestSinkOwnership(t *testing.T) {
	mem := vfs.NewStrictMem()
	clock := time.Unix(1_000_000, 0)
	newSink := func() *FileSink[string] {
		s := SinkOn(mem, "/out", Lines)
		s.now = func() time.Time { return clock }
		return s
	}

	// A run on another host renewed its claim 10s ago: refused, named.
	if err := mem.MkdirAll("/out"); err != nil {
		t.Fatal(err)
	}
	foreign(t, mem, "/out", elsewhere(clock.Add(-10*time.Second)))
	a := newSink()
	err := a.Prepare(true)
	if err == nil || !strings.Contains(err.Error(), "output directory /out is in use by another run: yarn application_1_7 (loom am), pid 4242 on host other-host") ||
		!strings.Contains(err.Error(), "renewed its claim 10s ago") || !strings.Contains(err.Error(), "remove /out/_loom-owner") {
		t.Fatalf("Prepare over a live run's directory: %v", err)
	}
	if _, err := a.NewWriter(0, 1); err != nil {
		t.Fatal(err)
	}
	if w, _ := a.NewWriter(0, 1); w.Open(&task.Context{}) == nil {
		t.Fatal("a writer opened in a directory a live run owns")
	}
	// Its claim expired a minute later: taken over.
	clock = clock.Add(ownerLease)
	if err := a.Prepare(true); err != nil {
		t.Fatalf("Prepare after the other run's claim expired: %v", err)
	}
	wa, _ := a.NewWriter(0, 1)
	if err := wa.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, wa, "a1", "a2")
	inProgress := func() []string {
		entries, _ := mem.ReadDir("/out")
		var hidden []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), inProgressSuffix) {
				hidden = append(hidden, e.Name())
			}
		}
		return hidden
	}
	aFiles := inProgress()

	// Another run claims the directory meanwhile (it found ours expired):
	// ours must not publish over it.
	clock = clock.Add(2 * ownerLease)
	b := newSink()
	if err := b.Prepare(true); err != nil {
		t.Fatalf("second run after our claim expired: %v", err)
	}
	wb, _ := b.NewWriter(0, 1)
	if err := wb.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, wb, "b1")
	// The two runs' in-progress files have names of their own (b's fresh
	// start removed a's, which it took for a dead run's).
	if bFiles := inProgress(); len(aFiles) != 1 || len(bFiles) != 1 || aFiles[0] == bFiles[0] ||
		!strings.HasPrefix(aFiles[0], ".part-00000.") || !strings.HasPrefix(bFiles[0], ".part-00000.") {
		t.Fatalf("in-progress files of the two runs: %v and %v, want one each, named apart", aFiles, bFiles)
	}
	err = wa.Finish()
	if err == nil || !strings.Contains(err.Error(), "not publishing the part files of subtask 0: output directory /out is owned by another run now: local ") {
		t.Fatalf("Finish of a run whose directory was taken over: %v", err)
	}
	wa.Close()
	if err := wb.Finish(); err != nil {
		t.Fatal(err)
	}
	wb.Close()
	out, _ := vfs.ReadFile(mem, "/out/part-00000")
	if string(out) != "b1\n" {
		t.Fatalf("part-00000 = %q, want the second run's", out)
	}

	// A restore (of a) takes over the directory b released, and never
	// renames over b's published file.
	r := newSink()
	if err := r.Prepare(false); err != nil {
		t.Fatalf("restore after the other run released the directory: %v", err)
	}
	wr, _ := r.NewWriter(0, 1)
	if err := wr.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, wr, "r1")
	// A file of that name appears (written by hand, or by a run that got
	// past the check): it is left alone.
	foreignFile, _ := mem.Create("/out/part-00000")
	foreignFile.Write([]byte("mine\n"))
	foreignFile.Close()
	err = wr.Finish()
	if err == nil || !strings.Contains(err.Error(), "publish /out/part-00000: a file of that name exists already") {
		t.Fatalf("Finish over a published file: %v", err)
	}
	if out, _ := vfs.ReadFile(mem, "/out/part-00000"); string(out) != "mine\n" {
		t.Fatalf("part-00000 was overwritten: %q", out)
	}
}

// TestSinkCheckpointPublishChecksOwner: a commit at a completed checkpoint
// also checks the owner first.
func TestSinkCheckpointPublishChecksOwner(t *testing.T) {
	mem := vfs.NewStrictMem()
	clock := time.Unix(1_000_000, 0)
	s := SinkOn(mem, "/out", Lines)
	s.now = func() time.Time { return clock }
	if err := s.Prepare(true); err != nil {
		t.Fatal(err)
	}
	w, _ := s.NewWriter(0, 1)
	if err := w.Open(&task.Context{Config: map[string]string{"sink.rolling-policy.file-size": "1b"}}); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, w, "x") // rolls
	if _, err := w.Snapshot(1); err != nil {
		t.Fatal(err)
	}
	foreign(t, mem, "/out", elsewhere(clock))
	err := w.NotifyCheckpointComplete(1)
	if err == nil || !strings.Contains(err.Error(), "not publishing the files of checkpoint 1: output directory /out is owned by another run now: yarn application_1_7") {
		t.Fatalf("commit after a takeover: %v", err)
	}
	if _, err := mem.Stat("/out/part-00000"); err == nil {
		t.Fatal("published after a takeover")
	}
}

// TestSinkOwnerLifecycle: the claim is renewed while held, released when
// the last writer ends, claimed again by a restart of the same run, and
// a sink of the same run in another process (a YARN worker) writes no
// marker of its own.
func TestSinkOwnerLifecycle(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1_000_000, 0)
	s := Sink(dir, Lines)
	s.now = func() time.Time { return clock }
	s.own.every = 5 * time.Millisecond
	if err := s.Prepare(true); err != nil {
		t.Fatal(err)
	}
	marker := func() owner {
		data, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			t.Fatal(err)
		}
		o, ok := parseOwner(data)
		if !ok {
			t.Fatalf("damaged marker %q", data)
		}
		return o
	}
	if m := marker(); m.Run != s.own.self.Run || m.PID != os.Getpid() || !m.Released.IsZero() {
		t.Fatalf("marker after Prepare: %+v", m)
	}
	clock = clock.Add(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for !marker().Renewed.Equal(clock) {
		if time.Now().After(deadline) {
			t.Fatal("the claim was not renewed")
		}
		time.Sleep(time.Millisecond)
	}

	// A worker of the same run (another sink, that did not prepare)
	// finds the run's marker, adopts its run and writes none.
	worker := Sink(dir, Lines)
	worker.now = func() time.Time { return clock.Add(time.Hour) }
	ww, _ := worker.NewWriter(1, 2)
	if err := ww.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	if m := marker(); m.Renewed.After(clock) || worker.own.self.Run != s.own.self.Run {
		t.Fatalf("the worker's sink rewrote the marker, or did not adopt its run: %+v, worker's run %s", m, worker.own.self.Run)
	}
	// On YARN a worker knows its run: another application's marker is
	// refused.
	yarnWorker := Sink(dir, Lines)
	yarnWorker.own.self.Run, yarnWorker.own.known = "yarn application_1_99", true
	yw, _ := yarnWorker.NewWriter(0, 2)
	if err := yw.Open(&task.Context{}); err == nil || !strings.Contains(err.Error(), "is owned by another run: local ") {
		t.Fatalf("a YARN worker opened in another run's directory: %v", err)
	}
	w0, _ := s.NewWriter(0, 2)
	if err := w0.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := w0.Close(); err != nil { // a failure: the last writer of s ends
		t.Fatal(err)
	}
	if m := marker(); m.Released.IsZero() {
		t.Fatalf("not released after the last writer ended: %+v", m)
	}
	// The run's restart claims it again.
	w0, _ = s.NewWriter(0, 2)
	if err := w0.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	if m := marker(); !m.Released.IsZero() || m.Run != s.own.self.Run {
		t.Fatalf("not claimed again by the restart: %+v", m)
	}
	if err := w0.Finish(); err != nil {
		t.Fatal(err)
	}
	w0.Close()
	ww.Finish()
	ww.Close()
	if m := marker(); m.Released.IsZero() {
		t.Fatalf("not released at the end: %+v", m)
	}
	// Another run took over (after the release); a restart of the first
	// may not write there any more.
	other := Sink(dir, Lines)
	if err := other.Prepare(false); err != nil {
		t.Fatal(err)
	}
	w0, _ = s.NewWriter(0, 2)
	if err := w0.Open(&task.Context{}); err == nil || !strings.Contains(err.Error(), "is owned by another run") {
		t.Fatalf("restart after a takeover: %v", err)
	}
}

// TestSinkTwoProcesses is the case with real processes: while one
// process writes a directory, a second run into it is refused, naming the
// first's pid; once the first is killed, a restore takes the directory
// over at once (its process is gone), and a fresh run is refused only for
// the files the first published.
func TestSinkTwoProcesses(t *testing.T) {
	if os.Getenv("LOOM_TEST_HOLD_DIR") != "" {
		t.Skip("the helper process")
	}
	dir := filepath.Join(t.TempDir(), "out")
	start := func() (*exec.Cmd, io.WriteCloser) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsOutput$")
		cmd.Env = append(os.Environ(), "LOOM_TEST_HOLD_DIR="+dir)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				return cmd, stdin
			}
		}
		cmd.Wait()
		t.Fatal("the helper process did not get ready")
		return nil, nil
	}
	cmd, stdin := start()
	err := Sink(dir, Lines).Prepare(true)
	want := fmt.Sprintf("output directory %s is in use by another run: local ", dir)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("its process %d runs on this host", cmd.Process.Pid)) {
		t.Fatalf("second run while the first writes: %v, want %q naming pid %d", err, want, cmd.Process.Pid)
	}
	// Killed: a restore takes over without waiting for a lease.
	cmd.Process.Kill()
	cmd.Wait()
	stdin.Close()
	r := Sink(dir, Lines)
	if err := r.Prepare(false); err != nil {
		t.Fatalf("restore after the first run was killed: %v", err)
	}
	w, _ := r.NewWriter(0, 1)
	if err := w.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// A helper that ends normally publishes and releases.
	dir2 := dir + "2"
	dir = dir2
	cmd, stdin = start()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	err = Sink(dir2, Lines).Prepare(true)
	if err == nil || !strings.Contains(err.Error(), "is not empty (it has part-00000)") {
		t.Fatalf("fresh run after the first published: %v", err)
	}
}

// TestHelperHoldsOutput is the helper process of TestSinkTwoProcesses: it
// writes into LOOM_TEST_HOLD_DIR until its standard input closes.
func TestHelperHoldsOutput(t *testing.T) {
	dir := os.Getenv("LOOM_TEST_HOLD_DIR")
	if dir == "" {
		t.Skip("run by TestSinkTwoProcesses")
	}
	s := Sink(dir, Lines)
	if err := s.Prepare(true); err != nil {
		t.Fatal(err)
	}
	w, _ := s.NewWriter(0, 1)
	if err := w.Open(&task.Context{}); err != nil {
		t.Fatal(err)
	}
	writeRecords(t, w, "held")
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	w.Close()
}
