package checkpoint

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scenarios")

// TestScenarios runs the scripts in testdata/*.txt against a Coordinator.
// Each script is a story of commands, each followed by "----" and the actions
// it must produce, one per line ("(none)" for none):
//
//	new interval=10s timeout=5s [min-pause=0s] [retain=1] [next=1] tasks=src/0,map/0 sources=src/0 [retained=3,4]
//	tick <time since start>
//	ack <id> <task/subtask>...
//	decline <id> <task/subtask> <reason...>
//	finalized <id> [error...]
//	finish <task/subtask>
//	fail <task/subtask>
//	stats
//
// Times print as offsets from the start. Run with -rewrite to regenerate the
// expectations, then review the diff.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

// scriptItem is a line of text kept as is (comments, blank lines) or a
// command with its expected output.
type scriptItem struct {
	text   string
	cmd    string
	line   int
	want   []string
	isCase bool
}

func parseScript(path string) ([]scriptItem, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var items []scriptItem
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			items = append(items, scriptItem{text: l})
			continue
		}
		it := scriptItem{cmd: l, line: i + 1, isCase: true}
		i++
		if i >= len(lines) || lines[i] != "----" {
			return nil, fmt.Errorf("%s:%d: command %q must be followed by a line \"----\"", path, it.line, l)
		}
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			i++
			it.want = append(it.want, lines[i])
		}
		items = append(items, it)
	}
	return items, nil
}

func runScript(t *testing.T, path string) {
	items, err := parseScript(path)
	if err != nil {
		t.Fatal(err)
	}
	d := &scenario{start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	for i := range items {
		it := &items[i]
		if !it.isCase {
			out.WriteString(it.text + "\n")
			continue
		}
		got := d.run(it.cmd)
		out.WriteString(it.cmd + "\n----\n" + strings.Join(got, "\n") + "\n")
		if !*rewrite && strings.Join(got, "\n") != strings.Join(it.want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n  %s\nwant:\n  %s", path, it.line, it.cmd,
				strings.Join(got, "\n  "), strings.Join(it.want, "\n  "))
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenario holds the coordinator under test and its clock.
type scenario struct {
	start time.Time
	c     *Coordinator
}

func (d *scenario) run(cmd string) []string {
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
		if id, ok := d.c.Pending(); ok {
			pending = strconv.FormatInt(id, 10)
		}
		return []string{
			fmt.Sprintf("triggered=%d completed=%d aborted=%d ignored=%d", s.Triggered, s.Completed, s.Aborted, s.Ignored),
			fmt.Sprintf("last-completed=%d last-duration=%v max-duration=%v total-duration=%v", s.LastCompletedID, s.LastDuration, s.MaxDuration, s.TotalDuration),
			fmt.Sprintf("pending=%s next-id=%d ended=%v", pending, d.c.NextID(), d.c.Ended()),
		}
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
func (d *scenario) format(a Action) string {
	switch a := a.(type) {
	case Trigger:
		return fmt.Sprintf("trigger %d at=%v sources=%s", a.ID, a.Timestamp.Sub(d.start), joinTasks(a.Sources))
	case Finalize:
		return fmt.Sprintf("finalize %d at=%v %s", a.ID, a.Timestamp.Sub(d.start), strings.TrimPrefix(a.String(), fmt.Sprintf("finalize %d ", a.ID)))
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
