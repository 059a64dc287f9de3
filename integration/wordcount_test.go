//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/vfs"
)

// buildLoom builds the loom binary for tests that run it as a user would.
func buildLoom(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "loom")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/loom")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/loom: %v\n%s", err, out)
	}
	return bin
}

// TestWordCountOnHDFS runs `loom run wordcount` in local mode with input and
// output on the real HDFS and compares the result with an independent count
// by tr, sort and uniq.
func TestWordCountOnHDFS(t *testing.T) {
	c, base := hdfsClient(t)
	bin := buildLoom(t)

	words := strings.Fields("alpha Beta gamma DELTA epsilon zeta eta theta iota Kappa lambda mu")
	rng := rand.New(rand.NewPCG(5, 5))
	var text bytes.Buffer
	for i := 0; i < 30000; i++ {
		for j := rng.IntN(8); j >= 0; j-- {
			fmt.Fprintf(&text, "%s%d, ", words[rng.IntN(len(words))], rng.IntN(3))
		}
		text.WriteString("\n")
	}
	local := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(local, text.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	writeHDFS(t, c, base+"/in/part-a.txt", text.Bytes())

	expected, err := exec.Command("bash", "-c", `tr 'A-Z' 'a-z' < "$1" | tr -cs 'a-z' '\n' | grep -v '^$' | sort | uniq -c | awk '{print $2"\t"$1}' | sort`, "count", local).Output()
	if err != nil {
		t.Fatalf("independent count: %v", err)
	}

	for _, p := range []string{"1", "3"} {
		out := base + "/out" + p
		cmd := exec.Command(bin, "run", "wordcount", "--input", "hdfs://"+base+"/in", "--output", "hdfs://"+out, "-p", p)
		cmd.Env = os.Environ()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("loom run wordcount -p %s on HDFS: %v\n%s", p, err, b)
		}
		got := readHDFSDir(t, c, out)
		if got != string(expected) {
			t.Fatalf("p=%s: wordcount on HDFS differs from the independent count:\n%s\nwant\n%s", p, got, expected)
		}
	}
}

// readHDFSDir returns the sorted lines of the visible files of dir.
func readHDFSDir(t *testing.T, c *hdfs.Client, dir string) string {
	t.Helper()
	fsys, p, err := hdfs.For("hdfs://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := vfs.List(fsys, p)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var lines []string
	for _, n := range names {
		f, err := fsys.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}
