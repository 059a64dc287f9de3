package checkpoint

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/internal/scenario"
)

// TestSharedRegistryScenarios runs the scripts in testdata/shared/*.txt
// against a SharedRegistry. Commands:
//
//	new                                  a fresh, empty registry
//	rebuild <id>:<file>,<file>... ...    a registry rebuilt from retained checkpoints
//	register <id> <file>...
//	release <id>
//	abort <id> [<uploaded file>...]
//	pin <id>
//	unpin <id>
//	refs <file>...
//	state
//
// release, abort and unpin print the files to delete ("delete a b", sorted)
// or "keep all"; state prints each held checkpoint's files and the number of
// distinct files. Run with -rewrite to regenerate the expectations, then
// review the diff.
func TestSharedRegistryScenarios(t *testing.T) {
	scenario.Run(t, "testdata/shared/*.txt", func(t *testing.T) func(string) []string {
		d := &sharedScenario{r: NewSharedRegistry()}
		return func(cmd string) []string { return d.run(t, cmd) }
	})
}

// sharedScenario holds the registry under test.
type sharedScenario struct{ r *SharedRegistry }

func (d *sharedScenario) run(t *testing.T, line string) []string {
	cmd := scenario.ParseCommand(line)
	id := func() int64 {
		if len(cmd.Args) == 0 {
			t.Fatalf("%s: want a checkpoint id", cmd.Name)
		}
		return parseID(cmd.Args[0])
	}
	switch cmd.Name {
	case "new":
		d.r = NewSharedRegistry()
		return []string{"ok"}
	case "rebuild":
		var retained []CheckpointFiles
		for _, a := range cmd.Args {
			s, files, _ := strings.Cut(a, ":")
			c := CheckpointFiles{ID: parseID(s)}
			if files != "" {
				c.Files = strings.Split(files, ",")
			}
			retained = append(retained, c)
		}
		r, err := RebuildSharedRegistry(retained)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		d.r = r
		return d.state()
	case "register":
		if err := d.r.Register(id(), cmd.Args[1:]); err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{"ok"}
	case "release":
		return deletions(d.r.Release(id()))
	case "abort":
		return deletions(d.r.Abort(id(), cmd.Args[1:]))
	case "pin":
		if err := d.r.Pin(id()); err != nil {
			return []string{"error: " + err.Error()}
		}
		return []string{"ok"}
	case "unpin":
		return deletions(d.r.Unpin(id()))
	case "refs":
		var out []string
		for _, f := range cmd.Args {
			out = append(out, fmt.Sprintf("%s: %d", f, d.r.Referenced(f)))
		}
		return out
	case "state":
		return d.state()
	}
	return []string{fmt.Sprintf("error: unknown command %q", cmd.Name)}
}

func deletions(files []string) []string {
	if len(files) == 0 {
		return []string{"keep all"}
	}
	sorted := slices.Sorted(slices.Values(files))
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		return []string{fmt.Sprintf("error: a file to delete is listed twice: %v", files)}
	}
	return []string{"delete " + strings.Join(sorted, " ")}
}

// state prints the registry from its inside, checkpoint by checkpoint, and
// checks that the reference counts agree with what the checkpoints hold.
func (d *sharedScenario) state() []string {
	r := d.r
	var out []string
	count := map[uint32]int32{}
	for _, id := range slices.Sorted(maps.Keys(r.checkpoints)) {
		c := r.checkpoints[id]
		files := make([]string, len(c.files))
		for i, f := range c.files {
			files[i] = r.paths[f]
			count[f]++
		}
		slices.Sort(files)
		if len(files) == 0 {
			files = []string{"(no files)"}
		}
		l := "checkpoint " + strconv.FormatInt(id, 10) + ": " + strings.Join(files, " ")
		if c.pins > 0 {
			l += fmt.Sprintf(" (pinned %d", c.pins)
			if c.released {
				l += ", released"
			}
			l += ")"
		}
		out = append(out, l)
	}
	for p, i := range r.index {
		if r.refs[i] != count[i] || r.paths[i] != p {
			out = append(out, fmt.Sprintf("error: file %s (index %d, path %q) counts %d references, checkpoints hold %d", p, i, r.paths[i], r.refs[i], count[i]))
		}
	}
	if len(count) != len(r.index) {
		out = append(out, fmt.Sprintf("error: checkpoints hold %d files, the index has %d", len(count), len(r.index)))
	}
	return append(out, fmt.Sprintf("files=%d", r.Files()))
}
