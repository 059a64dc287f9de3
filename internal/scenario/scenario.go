// Package scenario runs loom's scripted state-machine tests: text files that
// read like stories. A file is a sequence of blocks, each a command line, a
// line "----" and the lines the command must print, up to a blank line.
// Lines starting with '#' and blank lines between blocks are kept as they
// are. With -rewrite the expectations are regenerated from what the commands
// print, to be reviewed in the diff.
package scenario

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scenarios")

// Block is one command of a script with what it must print.
type Block struct {
	Cmd  string
	Line int // 1-based line of the command in its file
	Want []string
}

// item is a block or a line kept as is.
type item struct {
	text  string
	block *Block
}

// Parse reads a script.
func Parse(path string) ([]Block, error) {
	items, err := parse(path)
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

func parse(path string) ([]item, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var items []item
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			items = append(items, item{text: l})
			continue
		}
		blk := &Block{Cmd: l, Line: i + 1}
		i++
		if i >= len(lines) || lines[i] != "----" {
			return nil, fmt.Errorf("%s:%d: command %q must be followed by a line \"----\"", path, blk.Line, l)
		}
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			i++
			blk.Want = append(blk.Want, lines[i])
		}
		items = append(items, item{block: blk})
	}
	return items, nil
}

// Run runs every script matching glob as a subtest. For each script, newRun
// makes a fresh command runner (the state machine under test); every block's
// command goes to it and what it returns is compared with the block.
func Run(t *testing.T, glob string, newRun func(t *testing.T) func(cmd string) []string) {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios match %s: %v", glob, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runFile(t, f, newRun(t)) })
	}
}

func runFile(t *testing.T, path string, run func(cmd string) []string) {
	items, err := parse(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, it := range items {
		if it.block == nil {
			out.WriteString(it.text + "\n")
			continue
		}
		b := it.block
		got := run(b.Cmd)
		out.WriteString(b.Cmd + "\n----\n" + strings.Join(got, "\n") + "\n")
		if !*rewrite && strings.Join(got, "\n") != strings.Join(b.Want, "\n") {
			t.Errorf("%s:%d: %s\ngot:\n  %s\nwant:\n  %s", path, b.Line, b.Cmd,
				strings.Join(got, "\n  "), strings.Join(b.Want, "\n  "))
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
