package jobmaster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/internal/scenario"
)

// TestJobMasterScenarios replays the stories in testdata/jobmaster/*.txt
// (internal/scenario's scripts) against a Machine. Each command feeds the
// Machine one event and prints what it answered, one line each: its
// actions, a registration, a refusal, or the state asked for. A trailing
// @<time since the start> sets the clock for that event and the ones after
// it. Commands:
//
//	config workers=N [restarts=N] [delay=D] [register-timeout=D] [heartbeat-timeout=D] [stages=N]
//	                                         a new Machine
//	start | tick | restart-due | kill | state | stages
//	allocated <container> <node>
//	launch-failed <container> <reason...>
//	completed <container> <exit status> <diagnostics...>
//	register <container> [address]           the address defaults to host-<container>:7000
//	heartbeat <container> | finished <container>
//	failed <container> <error...>
//	stage-finished <container> <stage>
//	fail <cause...>                          the AM itself gives up
//
// Run with -rewrite to regenerate the expectations, then review the diff.
func TestJobMasterScenarios(t *testing.T) {
	scenario.Run(t, "testdata/jobmaster/*.txt", func(t *testing.T) func(string) []string {
		s := &machineScenario{t: t, start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		s.now = s.start
		return s.run
	})
}

// machineScenario is the Machine under test and its clock.
type machineScenario struct {
	t          *testing.T
	m          *Machine
	start, now time.Time
}

func (s *machineScenario) run(line string) []string {
	t := s.t
	c := scenario.ParseCommand(line)
	if c.Name == "config" {
		var cfg MachineConfig
		if err := c.Scan(0, map[string]any{"workers": &cfg.Workers, "restarts": &cfg.Restarts, "delay": &cfg.RestartDelay,
			"register-timeout": &cfg.RegisterTimeout, "heartbeat-timeout": &cfg.HeartbeatTimeout, "stages": &cfg.Stages,
			"peer-loss-grace": &cfg.PeerLossGrace,
			"backoff":         &cfg.BackoffMultiplier, "max-delay": &cfg.MaxRestartDelay, "reset-after": &cfg.ResetAfter}); err != nil {
			t.Fatal(err)
		}
		s.m = NewMachine(cfg)
		return nil
	}
	if s.m == nil {
		t.Fatalf("%s before config", c.Name)
	}
	if n := len(c.Args); n > 0 && strings.HasPrefix(c.Args[n-1], "@") {
		d, err := time.ParseDuration(c.Args[n-1][1:])
		if err != nil {
			t.Fatalf("time %q: %v", c.Args[n-1], err)
		}
		s.now, c.Args = s.start.Add(d), c.Args[:n-1]
	}
	need := func(k int) {
		if len(c.Args) < k {
			t.Fatalf("%s needs %d arguments", c.Name, k)
		}
	}
	m, now, args := s.m, s.now, c.Args
	var acts []Action
	switch c.Name {
	case "start":
		acts = m.Start()
	case "allocated":
		need(2)
		acts = m.ContainerAllocated(args[0], args[1], now)
	case "launch-failed":
		need(2)
		acts = m.LaunchFailed(args[0], c.Rest(1))
	case "completed":
		need(2)
		exit, err := strconv.Atoi(args[1])
		if err != nil {
			t.Fatalf("exit status %q", args[1])
		}
		acts = m.ContainerCompleted(args[0], int32(exit), c.Rest(2))
	case "register":
		need(1)
		addr := "host-" + args[0] + ":7000"
		if len(args) > 1 {
			addr = args[1]
		}
		r, racts, err := m.Register(args[0], addr, now)
		if err != nil {
			return []string{"refused: " + err.Error()}
		}
		return append([]string{fmt.Sprintf("registered worker=%d run=%d", r.Worker, r.Run)}, actionLines(racts)...)
	case "heartbeat":
		need(1)
		if stop := m.Heartbeat(args[0], now); stop != "" {
			return []string{"stop: " + stop}
		}
		return []string{"ok"}
	case "finished":
		need(1)
		acts = m.WorkerFinished(args[0], now)
	case "failed":
		need(2)
		acts = m.WorkerFailed(args[0], c.Rest(1), false, now)
	case "failed-peer-lost":
		need(2)
		acts = m.WorkerFailed(args[0], c.Rest(1), true, now)
	case "stage-finished":
		need(2)
		stage, err := strconv.Atoi(args[1])
		if err != nil {
			t.Fatalf("stage %q", args[1])
		}
		var serr error
		if acts, serr = m.StageFinished(args[0], stage, now); serr != nil {
			return []string{"refused: " + serr.Error()}
		}
	case "stages":
		var ss []string
		for _, st := range m.Stages() {
			desc := fmt.Sprintf("%d:%s", st.Index, st.State)
			if !st.Started.IsZero() {
				desc += " from " + st.Started.Format("15:04:05")
			}
			if !st.Finished.IsZero() {
				desc += " to " + st.Finished.Format("15:04:05")
			}
			ss = append(ss, desc)
		}
		return []string{"stages [" + strings.Join(ss, ", ") + "]"}
	case "tick":
		acts = m.Tick(now)
	case "restart-due":
		acts = m.RestartDue()
	case "kill":
		m.Kill()
	case "fail":
		need(1)
		acts = m.Fail(c.Rest(0))
	case "fail-run":
		need(1)
		acts = m.FailRun(c.Rest(0), now)
	case "state":
		var ws []string
		for _, w := range m.Workers() {
			ws = append(ws, fmt.Sprintf("%d:%s:%s@%s", w.Index, w.State, w.Container, w.Node))
		}
		st := fmt.Sprintf("phase=%s run=%d restarts=%d progress=%.2f workers=[%s]", m.Phase(), m.Run(), m.Restarts(), m.Progress(), strings.Join(ws, " "))
		if at := m.AllRunningAt(); !at.IsZero() {
			st += " all-running=" + at.Format("15:04:05")
		}
		if f := m.LastFailure(); f != "" {
			st += " last-failure=" + f
		}
		return []string{st}
	default:
		t.Fatalf("unknown event %q", c.Name)
	}
	return actionLines(acts)
}

func actionLines(acts []Action) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}
