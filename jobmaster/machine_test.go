package jobmaster

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata scenarios")

// TestJobMasterScenarios replays the stories in testdata/jobmaster/*.txt.
// A line "> event args [@time]" feeds the Machine one event; the lines
// after it are what the Machine answered (actions, registrations, state).
// "config k=v ..." sets up a new Machine; '#' lines are comments. The
// whole file is regenerated and compared; -update rewrites it.
func TestJobMasterScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/jobmaster/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata/jobmaster (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, string(data))
			if *update {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(data) {
				t.Errorf("scenario output differs (run with -update to see it in the file):\n--- got\n%s\n--- want\n%s", got, data)
			}
		})
	}
}

func replay(t *testing.T, script string) string {
	var out strings.Builder
	var m *Machine
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	for n, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "config"):
			m = NewMachine(parseConfig(t, n+1, line))
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "> "):
			out.WriteString(line + "\n")
			if m == nil {
				t.Fatalf("line %d: event before config", n+1)
			}
			args := strings.Fields(line[2:])
			if last := args[len(args)-1]; strings.HasPrefix(last, "@") {
				d, err := time.ParseDuration(last[1:])
				if err != nil {
					t.Fatalf("line %d: time %q: %v", n+1, last, err)
				}
				now, args = t0.Add(d), args[:len(args)-1]
			}
			for _, r := range event(t, n+1, m, now, args) {
				out.WriteString(r + "\n")
			}
		case line == "" || strings.HasPrefix(line, "#"):
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

func parseConfig(t *testing.T, n int, line string) MachineConfig {
	var cfg MachineConfig
	for _, kv := range strings.Fields(line)[1:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "workers":
			cfg.Workers, err = strconv.Atoi(v)
		case "restarts":
			cfg.Restarts, err = strconv.Atoi(v)
		case "delay":
			cfg.RestartDelay, err = time.ParseDuration(v)
		case "register-timeout":
			cfg.RegisterTimeout, err = time.ParseDuration(v)
		case "heartbeat-timeout":
			cfg.HeartbeatTimeout, err = time.ParseDuration(v)
		case "stages":
			cfg.Stages, err = strconv.Atoi(v)
		default:
			t.Fatalf("line %d: unknown config key %q", n, k)
		}
		if err != nil {
			t.Fatalf("line %d: %s: %v", n, kv, err)
		}
	}
	return cfg
}

func event(t *testing.T, n int, m *Machine, now time.Time, args []string) []string {
	need := func(k int) {
		if len(args) < k {
			t.Fatalf("line %d: %s needs %d arguments", n, args[0], k-1)
		}
	}
	rest := func(i int) string { return strings.Join(args[i:], " ") }
	var acts []Action
	switch args[0] {
	case "start":
		acts = m.Start()
	case "allocated":
		need(3)
		acts = m.ContainerAllocated(args[1], args[2], now)
	case "launch-failed":
		need(3)
		acts = m.LaunchFailed(args[1], rest(2))
	case "completed":
		need(3)
		exit, err := strconv.Atoi(args[2])
		if err != nil {
			t.Fatalf("line %d: exit status %q", n, args[2])
		}
		acts = m.ContainerCompleted(args[1], int32(exit), rest(3))
	case "register":
		// register <container> [partition server address]; the address
		// defaults to host-<container>:7000.
		need(2)
		addr := "host-" + args[1] + ":7000"
		if len(args) > 2 {
			addr = args[2]
		}
		r, racts, err := m.Register(args[1], addr, now)
		if err != nil {
			return []string{"refused: " + err.Error()}
		}
		out := []string{fmt.Sprintf("registered worker=%d run=%d", r.Worker, r.Run)}
		for _, a := range racts {
			out = append(out, a.String())
		}
		return out
	case "heartbeat":
		need(2)
		if stop := m.Heartbeat(args[1], now); stop != "" {
			return []string{"stop: " + stop}
		}
		return []string{"ok"}
	case "finished":
		need(2)
		acts = m.WorkerFinished(args[1], now)
	case "failed":
		need(3)
		acts = m.WorkerFailed(args[1], rest(2))
	case "stage-finished":
		// stage-finished <container> <stage>
		need(3)
		stage, err := strconv.Atoi(args[2])
		if err != nil {
			t.Fatalf("line %d: stage %q", n, args[2])
		}
		var serr error
		acts, serr = m.StageFinished(args[1], stage, now)
		if serr != nil {
			return []string{"refused: " + serr.Error()}
		}
	case "stages":
		var ss []string
		for _, st := range m.Stages() {
			s := fmt.Sprintf("%d:%s", st.Index, st.State)
			if !st.Started.IsZero() {
				s += " from " + st.Started.Format("15:04:05")
			}
			if !st.Finished.IsZero() {
				s += " to " + st.Finished.Format("15:04:05")
			}
			ss = append(ss, s)
		}
		return []string{"stages [" + strings.Join(ss, ", ") + "]"}
	case "tick":
		acts = m.Tick(now)
	case "restart-due":
		acts = m.RestartDue()
	case "kill":
		m.Kill()
	case "fail":
		need(2)
		acts = m.Fail(rest(1))
	case "state":
		var ws []string
		for _, w := range m.Workers() {
			ws = append(ws, fmt.Sprintf("%d:%s:%s@%s", w.Index, w.State, w.Container, w.Node))
		}
		s := fmt.Sprintf("phase=%s run=%d restarts=%d progress=%.2f workers=[%s]", m.Phase(), m.Run(), m.Restarts(), m.Progress(), strings.Join(ws, " "))
		if at := m.AllRunningAt(); !at.IsZero() {
			s += " all-running=" + at.Format("15:04:05")
		}
		if c := m.LastFailure(); c != "" {
			s += " last-failure=" + c
		}
		return []string{s}
	default:
		t.Fatalf("line %d: unknown event %q", n, args[0])
	}
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}
