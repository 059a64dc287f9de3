// Package scenario runs loom's scripted state-machine tests, in the manner of
// cockroachdb/datadriven: text files under testdata/ that read like stories,
// one harness and one rewrite flag for every state machine. A script is a
// sequence of blocks:
//
//	# Comments, and blank lines between blocks, are kept as they are.
//	command arg key=value ...
//	----
//	what the command printed, one line each,
//	up to a blank line or the end of the file
//
// A command that prints nothing has an empty block: its "----" is followed
// by a blank line or the end of the file. Output with a blank line of its
// own is framed by two lines "----" on each side:
//
//	command
//	----
//	----
//	first paragraph
//
//	second paragraph
//	----
//	----
//
// Run gives each command line to the state machine under test and compares
// what it prints with the block. With the flag -rewrite, the one switch for
// every package's scenarios, it writes what the commands print into the
// scripts instead, to be reviewed in the diff:
//
//	go test ./jobmaster ./state -run Scenarios -args -rewrite
//
// (-args goes to every test binary named, so name only packages with
// scenarios.) A command that panics or stops its test (t.Fatal) fails at its
// line of the script, and the script is not rewritten. ParseCommand splits a
// command line into its name and arguments, and Command.Scan reads key=value
// arguments into typed variables.
package scenario

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scenarios")

// separator ends a command line; twice, it frames output with blank lines.
const separator = "----"

// Block is one command of a script with what it must print.
type Block struct {
	Cmd  string
	Line int // 1-based line of the command in its file
	Want []string
}

// item is a block or a line kept as is (a comment or a blank line).
type item struct {
	text  string
	block *Block
}

// Parse reads a script.
func Parse(path string) ([]Block, error) {
	items, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	var bs []Block
	for _, it := range items {
		if it.block != nil {
			bs = append(bs, *it.block)
		}
	}
	return bs, nil
}

func parseFile(path string) ([]item, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, string(b))
}

func blank(l string) bool { return strings.TrimSpace(l) == "" }

// parse reads a script's text; path names it in errors.
func parse(path, text string) ([]item, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		lines = nil
	}
	var items []item
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if blank(l) || strings.HasPrefix(l, "#") {
			items = append(items, item{text: l})
			continue
		}
		if l == separator {
			return nil, fmt.Errorf("%s:%d: a line %q with no command before it", path, i+1, separator)
		}
		blk := &Block{Cmd: l, Line: i + 1}
		i++
		if i >= len(lines) || lines[i] != separator {
			return nil, fmt.Errorf("%s:%d: command %q must be followed by a line %q", path, blk.Line, l, separator)
		}
		if i+1 < len(lines) && lines[i+1] == separator {
			// Framed output: up to the next two lines "----".
			i += 2
			for ; i+1 < len(lines) && (lines[i] != separator || lines[i+1] != separator); i++ {
				blk.Want = append(blk.Want, lines[i])
			}
			if i+1 >= len(lines) {
				return nil, fmt.Errorf("%s:%d: the output of %q opens with two lines %q but no two lines %q close it", path, blk.Line, l, separator, separator)
			}
			i++
		} else {
			for i+1 < len(lines) && !blank(lines[i+1]) {
				i++
				blk.Want = append(blk.Want, lines[i])
			}
		}
		items = append(items, item{block: blk})
	}
	return items, nil
}

// format writes a script back with got[k] as the output of its k-th block.
// It ends each block with a blank line unless one follows anyway, so that
// the next line cannot be read as output.
func format(items []item, got [][]string) (string, error) {
	var out strings.Builder
	k := 0
	for i, it := range items {
		if it.block == nil {
			out.WriteString(it.text + "\n")
			continue
		}
		b, lines := it.block, got[k]
		k++
		out.WriteString(b.Cmd + "\n" + separator + "\n")
		framed := len(lines) > 0 && lines[0] == separator || slices.ContainsFunc(lines, blank)
		if framed {
			// The frame's end is two lines "----": the output must hold
			// neither them nor one "----" just before them.
			for j := range lines {
				if lines[j] == separator && (j == len(lines)-1 || lines[j+1] == separator) {
					return "", fmt.Errorf("%d: %s: output with a blank line and a line %q at its end or twice in a row cannot be held in a script", b.Line, b.Cmd, separator)
				}
			}
			out.WriteString(separator + "\n")
		}
		for _, l := range lines {
			out.WriteString(l + "\n")
		}
		if framed {
			out.WriteString(separator + "\n" + separator + "\n")
		}
		if i+1 < len(items) && !(items[i+1].block == nil && blank(items[i+1].text)) {
			out.WriteString("\n")
		}
	}
	return out.String(), nil
}

// tb is the part of testing.TB the harness reports to; the harness's own
// tests record it.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Run runs every script matching glob as a subtest named after the file.
// For each script, newRun makes a fresh command runner (the state machine
// under test), which may stop the subtest it is given with t.Fatal on a
// malformed command; every block's command line goes to the runner and what
// it returns is compared with the block.
func Run(t *testing.T, glob string, newRun func(t *testing.T) func(cmd string) []string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios match %s: %v", glob, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runFile(t, f, newRun(t), *rewrite) })
	}
}

func runFile(t tb, path string, run func(cmd string) []string, rewrite bool) {
	t.Helper()
	items, err := parseFile(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var got [][]string
	for _, it := range items {
		if it.block == nil {
			continue
		}
		b := it.block
		out := runCommand(t, path, b, run)
		if len(out) > 0 {
			// A line with newlines of its own is as many lines in the
			// file; split it so that a blank one among them is seen.
			out = strings.Split(strings.Join(out, "\n"), "\n")
		}
		got = append(got, out)
		if !rewrite && strings.Join(out, "\n") != strings.Join(b.Want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n  %s\nwant:\n  %s\n(if the new output is right: -args -rewrite, then review the diff)", path, b.Line, b.Cmd,
				strings.Join(out, "\n  "), strings.Join(b.Want, "\n  "))
		}
	}
	if !rewrite {
		return
	}
	text, err := format(items, got)
	if err != nil {
		t.Fatalf("%s:%v", path, err)
	}
	if err := rewriteOnce(path, text); err != nil {
		t.Errorf("%v", err)
	}
}

// runCommand runs one command, turning a panic or a t.Fatal in the runner
// into a failure at the command's line: without it a malformed script
// would fail with no hint of where.
func runCommand(t tb, path string, b *Block, run func(cmd string) []string) []string {
	t.Helper()
	returned := false
	defer func() {
		if returned {
			return
		}
		if p := recover(); p != nil {
			t.Fatalf("%s:%d: %s: panic: %v\n%s", path, b.Line, b.Cmd, p, debug.Stack())
		}
		t.Errorf("%s:%d: %s: the test stopped in this command", path, b.Line, b.Cmd)
	}()
	out := run(b.Cmd)
	returned = true
	return out
}

// rewritten holds what each script was rewritten to in this process: a
// script run against several configurations (as the timers' against both
// state backends) must print the same under each, and a rewrite must not
// hide that the last one differs.
var (
	rewrittenMu sync.Mutex
	rewritten   = map[string]string{}
)

func rewriteOnce(path, text string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	rewrittenMu.Lock()
	defer rewrittenMu.Unlock()
	if prev, ok := rewritten[abs]; ok {
		if prev != text {
			return fmt.Errorf("%s: rewritten twice in this run with different output (its runners disagree); the file holds the first:\n%s", path, firstDiff(prev, text))
		}
		return nil
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	rewritten[abs] = text
	return nil
}

// firstDiff shows the first line where two rewrites of a script differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: first %q, then %q", i+1, x, y)
		}
	}
	return "no line differs"
}

// Command is a command line split into words: the command's name and its
// arguments.
type Command struct {
	Name string
	Args []string
}

// ParseCommand splits a command line at runs of spaces.
func ParseCommand(line string) Command {
	f := strings.Fields(line)
	if len(f) == 0 {
		return Command{}
	}
	return Command{Name: f[0], Args: f[1:]}
}

// Rest joins the arguments from the i-th on with single spaces: free text,
// such as the reason a worker failed.
func (c Command) Rest(i int) string {
	if i >= len(c.Args) {
		return ""
	}
	return strings.Join(c.Args[i:], " ")
}

// Scan reads the arguments from the from-th on, each key=value, into the
// variables dests holds by key: *int, *int32, *int64, *float64, *bool,
// *string or *time.Duration. A key left out keeps its variable's value. An
// argument that is not key=value, a key not in dests or given twice, or a
// value that does not parse is an error naming the argument, so that a
// typo in a script fails rather than passing as a default. Arguments are
// read in order up to the first bad one, whose variable keeps its value.
func (c Command) Scan(from int, dests map[string]any) error {
	seen := map[string]bool{}
	for _, a := range c.Args[min(from, len(c.Args)):] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("%s: argument %q: want key=value", c.Name, a)
		}
		d, known := dests[k]
		if !known {
			return fmt.Errorf("%s: argument %q: unknown key %q (want one of %s)", c.Name, a, k, strings.Join(slices.Sorted(maps.Keys(dests)), ", "))
		}
		if seen[k] {
			return fmt.Errorf("%s: argument %q: key %q given twice", c.Name, a, k)
		}
		seen[k] = true
		if err := scanValue(v, d); err != nil {
			return fmt.Errorf("%s: argument %q: %w", c.Name, a, err)
		}
	}
	return nil
}

// scanValue parses v into dest, which it leaves as it was on an error.
func scanValue(v string, dest any) error {
	switch d := dest.(type) {
	case *int:
		return parseInto(d, v, strconv.Atoi)
	case *int32:
		return parseInto(d, v, func(s string) (int32, error) { n, err := strconv.ParseInt(s, 10, 32); return int32(n), err })
	case *int64:
		return parseInto(d, v, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
	case *float64:
		return parseInto(d, v, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
	case *bool:
		return parseInto(d, v, strconv.ParseBool)
	case *string:
		*d = v
		return nil
	case *time.Duration:
		return parseInto(d, v, time.ParseDuration)
	}
	return fmt.Errorf("cannot scan into %T", dest)
}

func parseInto[T any](dest *T, v string, parse func(string) (T, error)) error {
	x, err := parse(v)
	if err != nil {
		return err
	}
	*dest = x
	return nil
}
