package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, text string
		want       []Block
		err        string
	}{
		{name: "a story", text: "# a story\nadd 1\n----\nsum=1\n\nadd 2\n----\nsum=3\ncarry\n",
			want: []Block{{"add 1", 2, []string{"sum=1"}}, {"add 2", 6, []string{"sum=3", "carry"}}}},
		{name: "empty output ends at a blank line", text: "tick\n----\n\n# later\nshow\n----\nx\n",
			want: []Block{{"tick", 1, nil}, {"show", 5, []string{"x"}}}},
		{name: "empty output at the end of the file", text: "tick\n----\n",
			want: []Block{{"tick", 1, nil}}},
		{name: "framed output holds blank lines", text: "show\n----\n----\na\n\nb\n----\n----\nnext\n----\nok\n",
			want: []Block{{"show", 1, []string{"a", "", "b"}}, {"next", 9, []string{"ok"}}}},
		{name: "framed output may start with the separator", text: "cat\n----\n----\n----\nx\n----\n----\n",
			want: []Block{{"cat", 1, []string{"----", "x"}}}},
		{name: "output may hold comment-like lines", text: "cat\n----\n# not a comment\n",
			want: []Block{{"cat", 1, []string{"# not a comment"}}}},
		{name: "only comments", text: "# nothing to run\n\n", want: nil},
		{name: "missing separator", text: "add 1\nsum=1\n", err: `s.txt:1: command "add 1" must be followed by a line "----"`},
		{name: "command at the end of the file", text: "ok\n----\n\nadd 1\n", err: `s.txt:4: command "add 1" must be followed`},
		{name: "unclosed frame", text: "show\n----\n----\na\n\n", err: `s.txt:1: the output of "show" opens with two lines "----" but no two lines "----" close it`},
		{name: "separator without command", text: "# c\n----\nx\n", err: `s.txt:2: a line "----" with no command before it`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := parse("s.txt", tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []Block
			for _, it := range items {
				if it.block != nil {
					got = append(got, *it.block)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parsed %+v, want %+v", got, tt.want)
			}
		})
	}
	// Parse reads a file.
	p := writeScript(t, "add 1\n----\nsum=1\n")
	if bs, err := Parse(p); err != nil || len(bs) != 1 || bs[0].Cmd != "add 1" {
		t.Fatalf("Parse = %v, %v", bs, err)
	}
	if _, err := Parse(filepath.Join(t.TempDir(), "missing.txt")); err == nil {
		t.Fatal("Parse of a missing file succeeded")
	}
}

// echoRunner is a state machine for the harness's tests: "say" prints its
// arguments one a line, "quiet" nothing, "para" two lines around a blank
// one, "dashes" output that starts like a frame, "count" how many commands
// it saw (state kept from command to command), "lines" lines with newlines
// of their own, "unframable" what no script can hold.
func echoRunner() func(string) []string {
	n := 0
	return func(cmd string) []string {
		n++
		c := ParseCommand(cmd)
		switch c.Name {
		case "say":
			return c.Args
		case "quiet":
			return nil
		case "para":
			return []string{"a", "", "b"}
		case "dashes":
			return []string{"----", "x"}
		case "count":
			return []string{fmt.Sprint(n)}
		case "lines":
			return []string{"one\ntwo", "three"}
		case "unframable":
			return []string{"a", "", "----"}
		}
		return []string{"error: unknown command " + c.Name}
	}
}

func TestRewrite(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"outputs change, comments and blank lines stay",
			"# story\nsay a b\n----\nold\n\n# quiet ones\nquiet\n----\nstale\n\n\ncount\n----\n1\n",
			"# story\nsay a b\n----\na\nb\n\n# quiet ones\nquiet\n----\n\n\ncount\n----\n3\n"},
		{"empty output at the end",
			"say x\n----\nx\n\nquiet\n----\nwas something\n",
			"say x\n----\nx\n\nquiet\n----\n"},
		{"empty output before a command",
			"quiet\n----\n\nsay y\n----\n",
			"quiet\n----\n\nsay y\n----\ny\n"},
		{"framed when the output has a blank line, unframed when not",
			"para\n----\nold\n\nsay z\n----\n----\nz\n\n----\n----\n# after a frame\nsay q\n----\nq\n",
			"para\n----\n----\na\n\nb\n----\n----\n\nsay z\n----\nz\n\n# after a frame\nsay q\n----\nq\n"},
		{"framed when the output starts with the separator",
			"dashes\n----\n",
			"dashes\n----\n----\n----\nx\n----\n----\n"},
		{"a line with newlines is as many lines",
			"lines\n----\n",
			"lines\n----\none\ntwo\nthree\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeScript(t, tt.in)
			if msgs := record(func(r tb) { runFile(r, p, echoRunner(), true) }); len(msgs) > 0 {
				t.Fatalf("rewrite reported %q", msgs)
			}
			if got := readScript(t, p); got != tt.want {
				t.Fatalf("rewritten to\n%s\nwant\n%s", got, tt.want)
			}
			// The rewritten script passes, and rewriting it changes nothing.
			if msgs := record(func(r tb) { runFile(r, p, echoRunner(), false) }); len(msgs) > 0 {
				t.Fatalf("the rewritten script fails: %q", msgs)
			}
			q := writeScript(t, tt.want)
			record(func(r tb) { runFile(r, q, echoRunner(), true) })
			if got := readScript(t, q); got != tt.want {
				t.Fatalf("a second rewrite changed the script to\n%s", got)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	script := "say a\n----\na\n\nsay b\n----\nc\n\nboom\n----\n\nquiet\n----\n"
	runner := func(r tb) func(string) []string {
		echo := echoRunner()
		return func(cmd string) []string {
			switch cmd {
			case "boom":
				panic("kaboom")
			case "stop":
				r.Fatalf("stop: malformed")
			}
			return echo(cmd)
		}
	}
	tests := []struct {
		name, script string
		rewrite      bool
		want         []string // one substring per message
	}{
		{"a mismatch names the line, and the run goes on to a panic", script, false,
			[]string{"s.txt:5: say b\ngot:\n  b\nwant:\n  c\n", "s.txt:9: boom: panic: kaboom"}},
		{"a panic stops a rewrite", script, true, []string{"s.txt:9: boom: panic: kaboom"}},
		{"t.Fatal in a command names its line", "say a\n----\na\n\nstop\n----\n", true,
			[]string{"stop: malformed", "s.txt:5: stop: the test stopped in this command"}},
		{"a malformed script", "say a\n", false, []string{`s.txt:1: command "say a" must be followed`}},
		{"output no script can hold", "say a\n----\na\n\nunframable\n----\n", true,
			[]string{`s.txt:5: unframable: output with a blank line and a line "----" at its end or twice in a row cannot be held`}},
		{"nor one that starts and ends with the separator", "say ----\n----\n", true, []string{`s.txt:1: say ----: output with`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.txt")
			if err := os.WriteFile(p, []byte(tt.script), 0o644); err != nil {
				t.Fatal(err)
			}
			msgs := record(func(r tb) { runFile(r, p, runner(r), tt.rewrite) })
			if len(msgs) != len(tt.want) {
				t.Fatalf("reported %q, want %d messages", msgs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(msgs[i], w) {
					t.Errorf("message %d is %q, want it to contain %q", i, msgs[i], w)
				}
			}
			if got := readScript(t, p); got != tt.script {
				t.Errorf("the script changed to\n%s", got)
			}
		})
	}
}

// TestRewriteTwice: a script run under two configurations that disagree is
// not silently rewritten to the last one's output.
func TestRewriteTwice(t *testing.T) {
	p := writeScript(t, "count\n----\n")
	first := func(string) []string { return []string{"heap"} }
	second := func(string) []string { return []string{"lsm"} }
	if msgs := record(func(r tb) { runFile(r, p, first, true) }); len(msgs) > 0 {
		t.Fatal(msgs)
	}
	if msgs := record(func(r tb) { runFile(r, p, first, true) }); len(msgs) > 0 {
		t.Fatalf("the same rewrite twice: %q", msgs)
	}
	msgs := record(func(r tb) { runFile(r, p, second, true) })
	if len(msgs) != 1 || !strings.Contains(msgs[0], `rewritten twice in this run with different output`) ||
		!strings.Contains(msgs[0], `line 3: first "heap", then "lsm"`) {
		t.Fatalf("reported %q", msgs)
	}
	if got := readScript(t, p); got != "count\n----\nheap\n" {
		t.Fatalf("the script holds\n%s", got)
	}
}

func TestCommand(t *testing.T) {
	c := ParseCommand("failed  c1 match ERROR subtask 0: boom @3s")
	if c.Name != "failed" || len(c.Args) != 7 || c.Args[0] != "c1" || c.Rest(1) != "match ERROR subtask 0: boom @3s" || c.Rest(7) != "" {
		t.Fatalf("parsed %+v, rest %q", c, c.Rest(1))
	}
	if c := ParseCommand("   "); c.Name != "" || c.Args != nil {
		t.Fatalf("blank line parsed as %+v", c)
	}
}

func TestScan(t *testing.T) {
	type vars struct {
		n   int
		n32 int32
		n64 int64
		f   float64
		b   bool
		s   string
		d   time.Duration
	}
	newVars := func() (*vars, map[string]any) {
		v := &vars{n: 7} // a default that an absent key keeps
		return v, map[string]any{"n": &v.n, "n32": &v.n32, "n64": &v.n64, "f": &v.f, "b": &v.b, "s": &v.s, "d": &v.d}
	}
	tests := []struct {
		line string
		from int
		want vars
		err  string
	}{
		{line: "config n32=-3 n64=9000000000 f=0.5 b=true s=x=y d=1m30s", want: vars{n: 7, n32: -3, n64: 9000000000, f: 0.5, b: true, s: "x=y", d: 90 * time.Second}},
		{line: "buffer 0 n=2", from: 1, want: vars{n: 2}},
		{line: "config", want: vars{n: 7}},
		{line: "config 0 n=2", err: `config: argument "0": want key=value`},
		{line: "config m=2", err: `config: argument "m=2": unknown key "m" (want one of b, d, f, n, n32, n64, s)`},
		{line: "config n32=1 n32=2", err: `config: argument "n32=2": key "n32" given twice`},
		{line: "config n=x", err: `config: argument "n=x": strconv.Atoi: parsing "x": invalid syntax`},
		{line: "config n32=3000000000", err: `argument "n32=3000000000"`},
		{line: "config d=5", err: `argument "d=5": time: missing unit`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			v, dests := newVars()
			err := ParseCommand(tt.line).Scan(tt.from, dests)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if v.n != 7 {
					t.Errorf("a failed scan changed n to %d", v.n) // the bad value of "n=x" must not stick
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *v != tt.want {
				t.Fatalf("scanned %+v, want %+v", *v, tt.want)
			}
		})
	}
	var u uint
	if err := ParseCommand("c u=1").Scan(0, map[string]any{"u": &u}); err == nil || !strings.Contains(err.Error(), "cannot scan into *uint") {
		t.Fatalf("scan into *uint: %v", err)
	}
}

// recorder stands for a test: it keeps what the harness reports, and Fatalf
// ends the goroutine as testing.T's does.
type recorder struct{ msgs []string }

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// record runs f as a test of its own and returns what it reported.
func record(f func(r tb)) []string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.msgs
}

func writeScript(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.txt")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readScript(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
