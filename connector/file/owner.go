package file

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loom-yarn/loom/vfs"
)

// Ownership of an output directory.
//
// Two runs writing one directory (an overlapping cron schedule) would
// overwrite each other's part files, since both name them alike. So a run
// owns its output directory, recorded in an owner marker, ownerFile, in
// it (hidden from readers by its "_"):
//
//   - Prepare (once per job, in the job master) refuses a directory whose
//     marker names another run that is live, naming that run; otherwise it
//     writes this run's marker. The workers' writers find it and write
//     none (acquire). A writer opened without Prepare claims the directory
//     the same way Prepare does.
//   - Before publishing a file (at a completed checkpoint, at end of input)
//     a writer checks that the marker still names its run, and it never
//     renames over a published file.
//   - In-progress files carry a tag unique to the writer's attempt
//     (.part-00000.<tag>.inprogress), so two runs never write into one
//     file even if both got past the check at the same time.
//   - A restored run (Prepare(false)) is a new run of the same job: it
//     takes the directory over from the run that failed, which is not live.
//
// HDFS has no file locks, so liveness is decided from the marker, which
// names the run (a YARN application, or a random id of a local run), its
// process (host, pid, pid namespace, start time) and when it was renewed:
//
//   - a marker released (the run's writers all ended) is of no live run;
//   - a marker written by this process for another run (a job run before
//     in the same process, such as a test) is not live either: loom runs one
//     job per process;
//   - a marker of a process on this host, in this pid namespace, is live
//     while that process runs, which is checked at once;
//   - any other marker is live while it was renewed within ownerLease: the
//     process that claimed the directory renews it every ownerRenewEvery
//     while the run holds it (the ApplicationMaster, for a job on YARN).
//
// The check and the claim are not one atomic step (vfs has no exclusive
// create): two runs starting within the same moment may both pass it. The
// claim reads the marker back, and the check at publish lets at most one
// of them publish; the other fails, naming the owner.
const (
	ownerFile       = "_loom-owner"
	ownerRenewEvery = 10 * time.Second
	ownerLease      = 60 * time.Second
)

// owner is the content of an owner marker.
type owner struct {
	Run   string // the run: "yarn application_..." or "local <random id>"
	Host  string
	PID   int
	PIDNS string // the pid namespace, "" if unknown
	Start string // the process's start in clock ticks since boot, "" if unknown
	Cmd   string // the command, for people: "loom run wordcount"
	Since time.Time
	// Renewed is when the run last said it holds the directory.
	Renewed time.Time
	// Released is when the run's writers all ended, zero while it holds
	// the directory.
	Released time.Time
}

func (o *owner) encode() []byte {
	var b bytes.Buffer
	b.WriteString("# loom: the run that owns this output directory. A run refuses a directory another live run owns;\n")
	b.WriteString("# remove this file only if no run writes here.\n")
	fmt.Fprintf(&b, "run: %s\nhost: %s\npid: %d\npidns: %s\nstart: %s\ncmd: %s\nsince: %s\nrenewed: %s\n",
		o.Run, o.Host, o.PID, o.PIDNS, o.Start, o.Cmd, o.Since.Format(time.RFC3339Nano), o.Renewed.Format(time.RFC3339Nano))
	if !o.Released.IsZero() {
		fmt.Fprintf(&b, "released: %s\n", o.Released.Format(time.RFC3339Nano))
	}
	return b.Bytes()
}

// parseOwner reads a marker; ok is false for one that is not (damaged).
func parseOwner(data []byte) (o owner, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), ": ")
		if !found || strings.HasPrefix(k, "#") {
			continue
		}
		switch k {
		case "run":
			o.Run = v
		case "host":
			o.Host = v
		case "pid":
			o.PID, _ = strconv.Atoi(v)
		case "pidns":
			o.PIDNS = v
		case "start":
			o.Start = v
		case "cmd":
			o.Cmd = v
		case "since":
			o.Since, _ = time.Parse(time.RFC3339Nano, v)
		case "renewed":
			o.Renewed, _ = time.Parse(time.RFC3339Nano, v)
		case "released":
			o.Released, _ = time.Parse(time.RFC3339Nano, v)
		}
	}
	return o, o.Run != "" && !o.Renewed.IsZero()
}

// describe names the run for an error message.
func (o *owner) describe(now time.Time) string {
	s := o.Run
	if o.Cmd != "" {
		s += fmt.Sprintf(" (%s)", o.Cmd)
	}
	s += fmt.Sprintf(", pid %d on host %s, since %s, renewed %s ago", o.PID, o.Host, o.Since.Format(time.RFC3339), now.Sub(o.Renewed).Round(time.Second))
	return s
}

// processAlive reports whether process pid, started at start ("" for
// any), runs on this host; known is false when that cannot be told.
type processAlive func(pid int, start string) (alive, known bool)

// live reports whether the run of marker o still holds the directory, as
// seen by process self at now, and why (for messages). See the comment
// at the top of this file for the rules.
func (o *owner) live(self *owner, now time.Time, alive processAlive) (bool, string) {
	if !o.Released.IsZero() {
		return false, "released"
	}
	sameHost := o.Host == self.Host && o.PIDNS != "" && o.PIDNS == self.PIDNS
	if sameHost && o.PID == self.PID {
		return false, "an earlier run in this process"
	}
	if sameHost {
		if ok, known := alive(o.PID, o.Start); known {
			if ok {
				return true, fmt.Sprintf("its process %d runs on this host", o.PID)
			}
			return false, fmt.Sprintf("its process %d has ended", o.PID)
		}
	}
	if age := now.Sub(o.Renewed); age < ownerLease {
		return true, fmt.Sprintf("it renewed its claim %s ago, and a run renews it every %s; if it is dead, the directory is free %s after that",
			age.Round(time.Second), ownerRenewEvery, ownerLease)
	}
	return false, "its claim expired"
}

// thisProcess is the identity of this process in markers, without a run.
var thisProcess = sync.OnceValue(func() owner {
	host, _ := os.Hostname()
	cmd := os.Args
	if len(cmd) > 3 {
		cmd = cmd[:3] // program, command, job: flags may hold anything
	}
	if len(cmd) > 0 {
		cmd = append([]string{path.Base(cmd[0])}, cmd[1:]...)
	}
	o := owner{Host: host, PID: os.Getpid(), Cmd: strings.Join(cmd, " ")}
	o.PIDNS, o.Start = processNamespace(), processStart(o.PID)
	return o
})

// runID names this run: on YARN, the application, which the
// ApplicationMaster and every worker container share (CONTAINER_ID names
// it; known is true); elsewhere, a random id of this sink, which loom
// run's job master and workers share in their one process, and which the
// sinks of other workers of the run adopt from the marker (see acquire).
func runID() (id string, known bool) {
	if app := applicationOf(os.Getenv("CONTAINER_ID")); app != "" {
		return "yarn " + app, true
	}
	return "local " + randomTag(8), false
}

// applicationOf is the application of a YARN container id:
// container_[e<epoch>_]<cluster>_<app>_<attempt>_<container>.
func applicationOf(container string) string {
	f := strings.Split(container, "_")
	if len(f) > 0 && f[0] == "container" && len(f) >= 5 && strings.HasPrefix(f[1], "e") {
		f = append(f[:1], f[2:]...)
	}
	if len(f) != 5 || f[0] != "container" {
		return ""
	}
	return "application_" + f[1] + "_" + f[2]
}

func randomTag(n int) string {
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return hex.EncodeToString(b)
}

// ownership is a sink's hold on its output directory in this process.
type ownership struct {
	mu   sync.Mutex
	self owner // this run's marker
	// known is set when self.Run is the run's identity in every process
	// (a YARN application); otherwise another process of the run has
	// another id, and a sink that did not prepare adopts the marker's.
	known bool
	// prepared is set once Prepare ran on this sink: it is the job
	// master's, which claims the directory; the others are workers'.
	prepared bool
	// claimed is set once this sink wrote the marker: it then renews it
	// and releases it when its writers have ended. The job master claims;
	// workers find their run's marker and write nothing.
	claimed bool
	held    bool // claimed and not released
	open    int  // writers holding the directory: opened, not finished or closed
	stop    chan struct{}
	every   time.Duration // renewal interval, ownerRenewEvery but in tests
	alive   processAlive
}

func newOwnership() *ownership {
	self := thisProcess()
	var known bool
	self.Run, known = runID()
	return &ownership{self: self, known: known, every: ownerRenewEvery, alive: processRunning}
}

func (s *FileSink[T]) ownerPath() string { return path.Join(s.path, ownerFile) }

// readOwner reads the marker: nil if there is none, ok false if damaged.
func (s *FileSink[T]) readOwner() (o *owner, ok bool, err error) {
	data, err := vfs.ReadFile(s.fsys, s.ownerPath())
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("file sink: read the owner marker of %s: %w", s.dir, err)
	}
	m, ok := parseOwner(data)
	return &m, ok, nil
}

// errOwned is the error of a directory another live run owns.
func (s *FileSink[T]) errOwned(m *owner, why string) error {
	now := s.now()
	return fmt.Errorf("output directory %s is in use by another run: %s (%s); wait for it to end or write elsewhere. If that run is gone, remove %s",
		s.dir, m.describe(now), why, path.Join(s.dir, ownerFile))
}

// claim takes the output directory for this run, under own.mu: it refuses
// one that another live run owns, runs check (Prepare's check of a fresh
// directory's content), then writes this run's marker and starts renewing
// it.
func (s *FileSink[T]) claim(check func() error) error {
	own := s.own
	m, ok, err := s.readOwner()
	if err != nil {
		return err
	}
	if m != nil && ok && m.Run != own.self.Run {
		if live, why := m.live(&own.self, s.now(), own.alive); live {
			return s.errOwned(m, why)
		}
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	if !own.held {
		own.self.Since = s.now()
	}
	own.self.Released = time.Time{}
	if err := s.writeOwner(); err != nil {
		return err
	}
	entries, err := s.fsys.ReadDir(s.path)
	if err != nil {
		return fmt.Errorf("file sink: list output directory %s: %w", s.dir, err)
	}
	if err := s.removeStaleClaims(entries); err != nil {
		return err
	}
	// Read it back: of two runs claiming at once, the second to rename
	// wins, and the first learns it here.
	back, ok, err := s.readOwner()
	if err != nil {
		return err
	}
	if back == nil || !ok || back.Run != own.self.Run {
		if back != nil && ok {
			return fmt.Errorf("output directory %s was claimed at the same moment by another run: %s; wait for it to end or write elsewhere", s.dir, back.describe(s.now()))
		}
		return fmt.Errorf("output directory %s: its owner marker changed while this run claimed it; is another run starting there?", s.dir)
	}
	own.claimed, own.held = true, true
	if own.stop == nil {
		own.stop = make(chan struct{})
		go s.renew(own.stop)
	}
	return nil
}

// writeOwner writes own.self as the marker, atomically: under a name of
// this run, then renamed over the marker. A marker need not survive a
// machine crash (its run does not), so it is not synced.
func (s *FileSink[T]) writeOwner() error {
	own := s.own
	own.self.Renewed = s.now()
	tmp := path.Join(s.path, ownerFile+"."+strings.ReplaceAll(own.self.Run, " ", "-")+".tmp")
	f, err := s.fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("file sink: claim output directory %s: create %s: %w", s.dir, tmp, err)
	}
	_, err = f.Write(own.self.encode())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file sink: claim output directory %s: write %s: %w", s.dir, tmp, err)
	}
	if err := s.fsys.Rename(tmp, s.ownerPath()); err != nil {
		return fmt.Errorf("file sink: claim output directory %s: %w", s.dir, err)
	}
	return nil
}

// removeStaleClaims removes the temporary markers runs that crashed while
// claiming left in entries.
func (s *FileSink[T]) removeStaleClaims(entries []iofs.FileInfo) error {
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ownerFile+".") && strings.HasSuffix(n, ".tmp") {
			if err := s.fsys.RemoveAll(path.Join(s.path, n)); err != nil {
				return fmt.Errorf("file sink: remove %s, left by a run that crashed while claiming %s: %w", path.Join(s.dir, n), s.dir, err)
			}
		}
	}
	return nil
}

// renew renews this run's marker every own.every until stop is closed or
// the marker is no longer this run's (then the writers' checks fail).
func (s *FileSink[T]) renew(stop chan struct{}) {
	own := s.own
	t := time.NewTicker(own.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		own.mu.Lock()
		ok := own.held && own.stop == stop
		if ok {
			m, good, err := s.readOwner()
			ok = err == nil && m != nil && good && m.Run == own.self.Run && s.writeOwner() == nil
		}
		if !ok && own.stop == stop {
			own.stop = nil
		}
		own.mu.Unlock()
		if !ok {
			return
		}
	}
}

// acquire is a writer's hold on the directory, taken in Open. The job
// master's sink (it prepared) must still own the directory, and claims it
// again after releasing it (a restart). A worker's sink finds the marker
// its job master wrote and writes none: on YARN it must name the worker's
// application; elsewhere the worker adopts the marker's run, which is the
// one its job master claimed, since Prepare refuses a directory another
// live run holds. A sink used without Prepare claims the directory.
func (s *FileSink[T]) acquire() error {
	own := s.own
	own.mu.Lock()
	defer own.mu.Unlock()
	m, ok, err := s.readOwner()
	if err != nil {
		return err
	}
	takenOver := func() error {
		return fmt.Errorf("file sink: output directory %s is owned by another run: %s; this run must not write there",
			s.dir, m.describe(s.now()))
	}
	switch {
	case m == nil || !ok:
		err = s.claim(nil)
	case m.Run == own.self.Run:
		if own.claimed && !own.held {
			err = s.claim(nil)
		}
	case own.prepared || own.claimed:
		return takenOver()
	case !m.Released.IsZero():
		err = s.claim(nil) // no run holds it: take it, as Prepare would
	case own.known:
		return takenOver()
	default:
		own.self.Run = m.Run
	}
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	own.open++
	return nil
}

// releaseWriter drops a writer's hold; with the last one of the sink that
// claimed the directory, the marker is released: another run may take the
// directory at once, and a restart of this run claims it again.
func (s *FileSink[T]) releaseWriter() error {
	own := s.own
	own.mu.Lock()
	defer own.mu.Unlock()
	if own.open--; own.open > 0 || !own.held {
		return nil
	}
	own.held = false
	if own.stop != nil {
		close(own.stop)
		own.stop = nil
	}
	m, ok, err := s.readOwner()
	if err != nil || m == nil || !ok || m.Run != own.self.Run {
		return err // gone or taken over: nothing of this run's to release
	}
	own.self.Released = s.now()
	if err := s.writeOwner(); err != nil {
		return fmt.Errorf("%w (releasing it after the last writer ended)", err)
	}
	return nil
}

// checkOwner checks, before a writer publishes, that the directory is
// still this run's.
func (s *FileSink[T]) checkOwner(what string) error {
	m, ok, err := s.readOwner()
	if err != nil {
		return fmt.Errorf("%w (before publishing %s)", err, what)
	}
	if m == nil || !ok || m.Run == s.own.self.Run {
		return nil
	}
	return fmt.Errorf("file sink: not publishing %s: output directory %s is owned by another run now: %s; this run must not write there any more",
		what, s.dir, m.describe(s.now()))
}
