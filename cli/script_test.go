package cli_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/cli"
	"github.com/loom-yarn/loom/internal/outputs"
	_ "github.com/loom-yarn/loom/jobs"
)

// TestScripts runs the CLI scenarios in testdata/*.txt. A script is a list of
// commands, one per line ('#' starts a comment); $WORK is a fresh directory:
//
//	file NAME            the following lines, up to "end", are written to $WORK/NAME
//	loom ARGS...         runs the command line in-process
//	exit N               the last command's exit status was N
//	stdout|stderr TEXT   its output contains TEXT; "! stderr TEXT" must not
//	output DIR           the sorted lines of DIR's visible files equal the lines up to "end"
//	contains FILE TEXT   FILE contains TEXT
//	same DIR1 DIR2       the two outputs have the same sorted lines
//	exists PATH / ! exists PATH
//	env NAME=VALUE       sets an environment variable for the rest of the script
func TestScripts(t *testing.T) {
	scripts, _ := filepath.Glob("testdata/*.txt")
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, script := range scripts {
		t.Run(strings.TrimSuffix(filepath.Base(script), ".txt"), func(t *testing.T) {
			runScript(t, script)
		})
	}
}

func runScript(t *testing.T, script string) {
	f, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	work := t.TempDir()
	sc := bufio.NewScanner(f)
	lineNo := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return sc.Text(), true
	}
	block := func() []string {
		var lines []string
		for {
			l, ok := next()
			if !ok || l == "end" {
				return lines
			}
			lines = append(lines, strings.ReplaceAll(l, "$WORK", work))
		}
	}
	var stdout, stderr bytes.Buffer
	status := -1
	for {
		raw, ok := next()
		if !ok {
			break
		}
		line := strings.TrimSpace(strings.ReplaceAll(raw, "$WORK", work))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", script, lineNo)
		neg := strings.HasPrefix(line, "! ")
		line = strings.TrimPrefix(line, "! ")
		cmd, arg, _ := strings.Cut(line, " ")
		switch cmd {
		case "file":
			if err := os.MkdirAll(filepath.Dir(filepath.Join(work, arg)), 0o755); err != nil {
				t.Fatal(err)
			}
			content := strings.Join(block(), "\n") + "\n"
			if err := os.WriteFile(filepath.Join(work, arg), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		case "loom":
			stdout.Reset()
			stderr.Reset()
			status = cli.Run(strings.Fields(arg), &stdout, &stderr)
		case "exit":
			want, _ := strconv.Atoi(arg)
			if status != want {
				t.Fatalf("%s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", where, status, want, stdout.String(), stderr.String())
			}
		case "stdout", "stderr":
			out := stdout.String()
			if cmd == "stderr" {
				out = stderr.String()
			}
			text := arg
			if strings.HasPrefix(arg, `"`) {
				if text, err = strconv.Unquote(arg); err != nil {
					t.Fatalf("%s: bad quoted text %s: %v", where, arg, err)
				}
			}
			if found := strings.Contains(out, text); found == neg {
				t.Fatalf("%s: %s contains %q: %v, want %v\n%s:\n%s", where, cmd, text, found, !neg, cmd, out)
			}
		case "output":
			want := block()
			got := outputLines(t, arg)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%s: output of %s:\n%s\nwant:\n%s", where, arg, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		case "contains":
			path, text, _ := strings.Cut(arg, " ")
			if strings.HasPrefix(text, `"`) {
				if text, err = strconv.Unquote(text); err != nil {
					t.Fatalf("%s: bad quoted text: %v", where, err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if strings.Contains(string(b), text) == neg {
				t.Fatalf("%s: %s contains %q: %v, want %v\n%s", where, path, text, !neg, neg, b)
			}
		case "same":
			a, b, _ := strings.Cut(arg, " ")
			la, lb := outputLines(t, a), outputLines(t, b)
			if len(la) == 0 || strings.Join(la, "\n") != strings.Join(lb, "\n") {
				t.Fatalf("%s: outputs of %s (%d lines) and %s (%d lines) differ", where, a, len(la), b, len(lb))
			}
		case "env":
			name, value, ok := strings.Cut(arg, "=")
			if !ok || name == "" {
				t.Fatalf("%s: env wants NAME=VALUE, got %q", where, arg)
			}
			t.Setenv(name, value)
		case "exists":
			_, err := os.Stat(arg)
			if (err == nil) == neg {
				t.Fatalf("%s: %s exists = %v, want %v", where, arg, err == nil, !neg)
			}
		default:
			t.Fatalf("%s: unknown command %q", where, cmd)
		}
	}
}

func outputLines(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := outputs.Lines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}
