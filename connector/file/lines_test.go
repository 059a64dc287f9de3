package file

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/task"
)

// TestLineBoundaries reads each content with every split size from 1 to its
// length and parallelism 1..3: the lines of all subtasks together, in split
// order, must be the file's lines, none lost or duplicated.
func TestLineBoundaries(t *testing.T) {
	huge := strings.Repeat("x", 3*initialLineBuffer+17)
	cases := map[string]string{
		"empty":                "",
		"one line no newline":  "abc",
		"one line":             "abc\n",
		"crlf":                 "a\r\nbb\r\n\r\nccc\r\n",
		"empty lines":          "\n\n\na\n\n",
		"last line no newline": "first\nsecond\nthird",
		"lone cr kept inside":  "a\rb\nc\n",
		"single newline":       "\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			checkAllSplits(t, content, 1, len(content)+1)
		})
	}
	t.Run("huge line", func(t *testing.T) {
		content := "a\n" + huge + "\nb\n" + huge
		for _, size := range []int{1000, initialLineBuffer - 1, len(huge), len(content)} {
			checkAllSplits(t, content, size, size)
		}
	})
}

func TestLineBoundariesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 25; round++ {
		var sb strings.Builder
		for n := rng.IntN(30); n > 0; n-- {
			sb.WriteString(strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(12)))
			if rng.IntN(4) == 0 {
				sb.WriteByte('\r')
			}
			sb.WriteByte('\n')
		}
		if rng.IntN(2) == 0 {
			sb.WriteString("tail")
		}
		content := sb.String()
		checkAllSplits(t, content, 1, len(content)+1)
	}
}

// checkAllSplits reads content for split sizes lo..hi.
func checkAllSplits(t *testing.T, content string, lo, hi int) {
	t.Helper()
	dir := t.TempDir()
	path := writeFile(t, dir, "in.txt", content)
	want := splitLines(content)
	for size := lo; size <= hi; size++ {
		for p := 1; p <= 3; p++ {
			src := Text(path).WithSplitSize(int64(size))
			plan, err := src.plan(p)
			if err != nil {
				t.Fatal(err)
			}
			// Read split by split (in split order) to check the order too.
			var got []string
			for i := range plan.splits {
				got = append(got, readSplit(t, src, plan, i)...)
			}
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("content %q split size %d p %d:\n got %q\nwant %q", content, size, p, got, want)
			}
			// And by subtask, as the engine does: the multiset must match.
			var all []string
			for s := 0; s < p; s++ {
				lines, err := readAll[string](t, src, s, p, 3, nil)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, lines...)
			}
			if len(all) != len(want) {
				t.Fatalf("content %q split size %d p %d: subtasks read %d lines, want %d", content, size, p, len(all), len(want))
			}
		}
	}
}

// readSplit reads one split alone through the scanner.
func readSplit(t *testing.T, src *Source[string], plan *splitPlan, i int) []string {
	t.Helper()
	sp := plan.splits[i]
	in := src.list.files[sp.file]
	f, err := in.fsys.Open(in.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sc lineScanner
	if err := sc.reset(f, in.size, sp.start, sp.end, true); err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		line, _, ok, err := sc.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(line))
	}
}

func TestLineCounter(t *testing.T) {
	dir := t.TempDir()
	content := "a\nbb\n\nccc\nd"
	path := writeFile(t, dir, "x", content)
	f, err := Text(path).list0(t)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c lineCounter
	// Offsets asked out of order too: the counter restarts when going back.
	for _, tc := range []struct{ off, line int64 }{{0, 1}, {2, 2}, {5, 3}, {6, 4}, {2, 2}, {10, 5}} {
		got, err := c.lineAt(f, tc.off)
		if err != nil || got != tc.line {
			t.Fatalf("lineAt(%d) = %d, %v; want %d", tc.off, got, err, tc.line)
		}
	}
}

// list0 opens the first listed file of s.
func (s *Source[T]) list0(t *testing.T) (interface {
	ReadAt([]byte, int64) (int, error)
	Close() error
}, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	return l.files[0].fsys.Open(l.files[0].path)
}

func TestTextMultipleFilesAndRestore(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for f := 0; f < 4; f++ {
		var sb strings.Builder
		for i := 0; i < 50+f*7; i++ {
			line := fmt.Sprintf("file%d-line%03d", f, i)
			sb.WriteString(line + "\n")
			want = append(want, line)
		}
		writeFile(t, dir, fmt.Sprintf("part-%d.txt", f), sb.String())
	}
	writeFile(t, dir, "_SUCCESS", "")
	writeFile(t, dir, ".crc", "junk")
	for _, p := range []int{1, 2, 3} {
		src := Text(filepath.Join(dir)).WithSplitSize(97)
		var got []string
		for s := 0; s < p; s++ {
			lines := readWithRestores(t, src, s, p, 7)
			got = append(got, lines...)
		}
		if !sameMultiset(got, want) {
			t.Fatalf("p=%d: read %d lines with restores, want %d (lost or duplicated)", p, len(got), len(want))
		}
	}
}

// readWithRestores reads subtask s, and after every Read snapshots, throws
// the reader away and restores a new one from the snapshot.
func readWithRestores(t *testing.T, src *Source[string], s, p, batchCap int) []string {
	t.Helper()
	var out []string
	var snap []byte
	for calls := 0; calls < 100000; calls++ {
		r, err := src.NewReader(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Open(&task.Context{Restored: snap}); err != nil {
			t.Fatal(err)
		}
		b := task.NewBatch[string](batchCap)
		st, err := r.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Values...)
		if snap, err = r.Snapshot(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if st.End {
			return out
		}
	}
	t.Fatal("reader never ends")
	return nil
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		if count[s]--; count[s] < 0 {
			return false
		}
	}
	return true
}

func TestRestoreMidSplitResumesExactly(t *testing.T) {
	dir := t.TempDir()
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "%d\r\n", i)
	}
	path := writeFile(t, dir, "n.txt", sb.String())
	want := splitLines(sb.String())
	src := Text(path).WithSplitSize(1000)
	for _, after := range []int{1, 5, 123, 999} {
		r, _ := src.NewReader(0, 1)
		if err := r.Open(&task.Context{}); err != nil {
			t.Fatal(err)
		}
		b := task.NewBatch[string](after)
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		first := append([]string(nil), b.Values...)
		snap, _ := r.Snapshot()
		r.Close()
		r2, _ := src.NewReader(0, 1)
		if err := r2.Open(&task.Context{Restored: snap}); err != nil {
			t.Fatal(err)
		}
		rest, err := drain(t, r2, 64)
		if err != nil {
			t.Fatal(err)
		}
		got := append(first, rest...)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("snapshot after %d records: got %d records, want %d; first after restore %q", after, len(got), len(want), rest[:1])
		}
	}
}
