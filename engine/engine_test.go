package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/internal/outputs"
	"github.com/loom-yarn/loom/stream"
)

func splitWords(line string, out *stream.Collector[string]) error {
	for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool { return r < 'a' || r > 'z' }) {
		out.Collect(w)
	}
	return nil
}

func identity(s string) string { return s }

func formatKV(dst []byte, kv stream.KV[string, int64]) []byte {
	return fmt.Appendf(dst, "%s\t%d", kv.Key, kv.Value)
}

// readParts returns the sorted lines of every visible file in dir.
func readParts(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := outputs.Lines(dir)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestWordCountParallelism(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	var sb strings.Builder
	want := map[string]int{}
	words := []string{"alpha", "Beta", "gamma", "DELTA", "eps"}
	for i := 0; i < 5000; i++ {
		w := words[(i*7+i/3)%len(words)]
		fmt.Fprintf(&sb, "%s, %s-%d x\n", w, words[i%len(words)], i%10)
		want[strings.ToLower(w)]++
		want[strings.ToLower(words[i%len(words)])]++
		want["x"]++
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var expect []string
	for w, n := range want {
		expect = append(expect, fmt.Sprintf("%s\t%d", w, n))
	}
	sort.Strings(expect)
	for _, backend := range []string{"heap", "lsm"} {
		for _, p := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/p%d", backend, p), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				env := stream.NewEnv("wc")
				env.SetParallelism(p)
				lines := stream.FromSource(env, "read", file.Text(in).WithSplitSize(4096), nil)
				counts := stream.Aggregate(stream.KeyBy(stream.FlatMap(lines, "split", splitWords), identity), "count", stream.Count[string](), nil)
				counts.SinkTo("write", file.Sink(out, formatKV))
				g, err := env.Graph()
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				x, err := engine.Start(ctx, g, engine.Options{BatchSize: 64, StateBackend: backend, StateDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if err := x.Wait(); err != nil {
					t.Fatal(err)
				}
				got := readParts(t, out)
				if strings.Join(got, "\n") != strings.Join(expect, "\n") {
					t.Fatalf("got %d lines %v, want %d lines %v", len(got), got, len(expect), expect)
				}
				if p := x.Progress(); p.RecordsIn != 5000 {
					t.Errorf("records in = %d, want 5000", p.RecordsIn)
				}
			})
		}
	}
}

func TestSubsetRefusesEdgesToOtherProcesses(t *testing.T) {
	env := stream.NewEnv("wc")
	env.SetParallelism(2)
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("a b\n"), 0o644)
	lines := stream.FromSource(env, "read", file.Text(in), nil)
	counts := stream.Aggregate(stream.KeyBy(stream.FlatMap(lines, "split", splitWords), identity), "count", stream.Count[string](), nil)
	counts.SinkTo("write", file.Sink(filepath.Join(t.TempDir(), "out"), formatKV))
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.Start(context.Background(), g, engine.Options{Plan: planOn(t, g, 1), Worker: 0})
	if err == nil || !strings.Contains(err.Error(), "needs a network shuffle") {
		t.Fatalf("Start = %v, want an error about the shuffle", err)
	}
}

func TestSubsetRunsItsShare(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	os.WriteFile(in, []byte(sb.String()), 0o644)
	out := filepath.Join(dir, "out")
	build := func() *stream.Env {
		env := stream.NewEnv("copy")
		env.SetParallelism(4)
		lines := stream.FromSource(env, "read", file.Text(in).WithSplitSize(512), nil)
		stream.Filter(lines, "all", func(string) bool { return true }).SinkTo("write", file.Sink(out, file.Lines))
		return env
	}
	// Two "workers", each running half the subtasks of the same graph.
	for w := 0; w < 2; w++ {
		g, err := build().Graph()
		if err != nil {
			t.Fatal(err)
		}
		if w == 0 {
			if err := engine.Prepare(g, true); err != nil {
				t.Fatal(err)
			}
		}
		x, err := engine.Start(context.Background(), g, engine.Options{Prepared: true, Plan: planOn(t, g, 2), Worker: w})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readParts(t, out); len(got) != 1000 {
		t.Fatalf("%d lines, want 1000", len(got))
	}
}

// TestFailedStartLeavesNoState: a Start that fails after its LSM backends
// were opened (here: the checkpoint directory is a file) closes them and
// removes the execution's state directory.
func TestFailedStartLeavesNoState(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("a b a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := stream.NewEnv("wc")
	env.SetParallelism(2)
	lines := stream.FromSource(env, "read", file.Text(in), nil)
	counts := stream.Aggregate(stream.KeyBy(stream.FlatMap(lines, "split", splitWords), identity), "count", stream.Count[string](), nil)
	counts.SinkTo("write", file.Sink(filepath.Join(dir, "out"), formatKV))
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ck := filepath.Join(dir, "ck")
	if err := os.MkdirAll(ck, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ck, "wc"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	_, err = engine.Start(context.Background(), g, engine.Options{StateBackend: "lsm", StateDir: stateDir,
		CheckpointDir: ck, CheckpointInterval: time.Second})
	if err == nil {
		t.Fatal("Start with a checkpoint directory that is a file succeeded")
	}
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		t.Errorf("state left behind after a failed Start: %s", e.Name())
	}
}
