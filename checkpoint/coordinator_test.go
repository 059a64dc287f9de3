package checkpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/internal/scenario"
)

// TestScenarios runs the scripts in testdata/*.txt against a Coordinator.
// Each script is a story of commands, each followed by "----" and the actions
// it must produce, one per line ("(none)" for none):
//
//	new interval=10s timeout=5s [min-pause=0s] [max-concurrent=1] [tolerable=0] [retain=1] [next=1] tasks=src/0,map/0 sources=src/0 [retained=3,4]
//	tick <time since start>
//	ack <id> <task/subtask>...
//	decline <id> <task/subtask> <reason...>
//	finalized <id> [error...]
//	finish <task/subtask>
//	fail <task/subtask>
//	stats
//	failures
//
// Times print as offsets from the start. Run with -rewrite to regenerate the
// expectations, then review the diff.
func TestScenarios(t *testing.T) {
	scenario.Run(t, "testdata/*.txt", func(*testing.T) func(string) []string {
		d := &coordScenario{start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		return d.run
	})
}

// coordScenario holds the coordinator under test and its clock.
type coordScenario struct {
	start time.Time
	c     *Coordinator
}

func (d *coordScenario) run(cmd string) []string {
	f := strings.Fields(cmd)
	args := f[1:]
	if f[0] != "new" && d.c == nil {
		return []string{"error: no coordinator: start the script with new"}
	}
	var acts []Action
	switch f[0] {
	case "new":
		cfg, next, err := parseConfig(args)
		if err == nil {
			d.c, err = New(cfg, next)
		}
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{"ok"}
	case "tick":
		dur, err := time.ParseDuration(arg(args, 0))
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		acts = d.c.Tick(d.start.Add(dur))
	case "savepoint", "stop-savepoint":
		// savepoint AT: a savepoint triggered at AT (a stop-savepoint
		// stops the job).
		dur, err := time.ParseDuration(arg(args, 0))
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		var id int64
		id, acts, err = d.c.TriggerSavepoint(d.start.Add(dur), f[0] == "stop-savepoint")
		if err != nil {
			return []string{"refused: " + err.Error()}
		}
		_ = id
	case "ack":
		id := parseID(arg(args, 0))
		for _, a := range args[1:] {
			task := parseTask(a)
			acts = append(acts, d.c.Ack(id, task, TaskSnapshot{Task: task.Task, Subtask: task.Subtask, File: taskFileName(task.Task, task.Subtask)})...)
		}
	case "decline":
		acts = d.c.Decline(parseID(arg(args, 0)), parseTask(arg(args, 1)), strings.Join(args[min(2, len(args)):], " "))
	case "finalized":
		var err error
		if len(args) > 1 {
			err = errors.New(strings.Join(args[1:], " "))
		}
		acts = d.c.Finalized(parseID(arg(args, 0)), err)
	case "finish":
		acts = d.c.TaskFinished(parseTask(arg(args, 0)))
	case "fail":
		acts = d.c.TaskFailed(parseTask(arg(args, 0)))
	case "stats":
		s := d.c.Stats()
		pending := "none"
		if ids := d.c.PendingIDs(); len(ids) > 0 {
			pending = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), ","), "[]")
		}
		return []string{
			fmt.Sprintf("triggered=%d completed=%d aborted=%d ignored=%d", s.Triggered, s.Completed, s.Aborted, s.Ignored),
			fmt.Sprintf("last-completed=%d last-duration=%v max-duration=%v total-duration=%v", s.LastCompletedID, s.LastDuration, s.MaxDuration, s.TotalDuration),
			fmt.Sprintf("pending=%s next-id=%d ended=%v", pending, d.c.NextID(), d.c.Ended()),
		}
	case "failures":
		return []string{fmt.Sprintf("consecutive=%d", d.c.Stats().ConsecutiveFailures)}
	default:
		return []string{fmt.Sprintf("error: unknown command %q", f[0])}
	}
	if len(acts) == 0 {
		return []string{"(none)"}
	}
	lines := make([]string, len(acts))
	for i, a := range acts {
		lines[i] = d.format(a)
	}
	return lines
}

// format prints an action with times as offsets from the start.
func (d *coordScenario) format(a Action) string {
	switch a := a.(type) {
	case Trigger:
		kind := "trigger"
		switch {
		case a.Stop:
			kind = "trigger stop-savepoint"
		case a.Savepoint:
			kind = "trigger savepoint"
		}
		return fmt.Sprintf("%s %d at=%v sources=%s", kind, a.ID, a.Timestamp.Sub(d.start), joinTasks(a.Sources))
	case Finalize:
		kind := "finalize"
		if a.Savepoint {
			kind = "finalize savepoint"
		}
		line := fmt.Sprintf("%s %d at=%v %s", kind, a.ID, a.Timestamp.Sub(d.start), strings.TrimPrefix(a.String(), fmt.Sprintf("finalize %d ", a.ID)))
		if len(a.Finished) > 0 {
			line += " finished=" + joinTasks(a.Finished)
		}
		return line
	default:
		return a.String()
	}
}

func arg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}

func parseID(s string) int64 {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad checkpoint id %q in script", s))
	}
	return id
}

func parseTask(s string) TaskID {
	name, sub, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(sub)
	if !ok || err != nil {
		panic(fmt.Sprintf("bad task %q in script, want task/subtask", s))
	}
	return TaskID{name, n}
}

func parseTasks(s string) []TaskID {
	var ts []TaskID
	for _, t := range strings.Split(s, ",") {
		if t != "" {
			ts = append(ts, parseTask(t))
		}
	}
	return ts
}

func parseConfig(args []string) (Config, int64, error) {
	var cfg Config
	next := int64(1)
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "interval":
			cfg.Interval, err = time.ParseDuration(v)
		case "timeout":
			cfg.Timeout, err = time.ParseDuration(v)
		case "min-pause":
			cfg.MinPause, err = time.ParseDuration(v)
		case "max-concurrent":
			cfg.MaxConcurrent, err = strconv.Atoi(v)
		case "tolerable":
			cfg.TolerableFailures, err = strconv.Atoi(v)
		case "retain":
			cfg.Retain, err = strconv.Atoi(v)
		case "next":
			next, err = strconv.ParseInt(v, 10, 64)
		case "tasks":
			cfg.Tasks = parseTasks(v)
		case "sources":
			cfg.Sources = parseTasks(v)
		case "retained":
			for _, s := range strings.Split(v, ",") {
				cfg.Retained = append(cfg.Retained, parseID(s))
			}
		default:
			err = fmt.Errorf("unknown option %q", k)
		}
		if err != nil {
			return cfg, 0, err
		}
	}
	return cfg, next, nil
}
