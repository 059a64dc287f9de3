package engine_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/stream"
)

// TestBlockingShuffleStageByStage runs wordcount at parallelism 4 on two
// "workers" (each with its own partition server on loopback and spill
// directory) stage by stage, as the AM runs a job in blocking mode: first
// every source subtask, which writes the keyed shuffle to local disk, then,
// after all of them finished, every count subtask, which reads the spilled
// subpartitions from both workers. The result must equal the pipelined run's
// (TestShuffleBetweenTwoWorkers) and an independent count, and the spill
// files must be gone once read.
func TestBlockingShuffleStageByStage(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	var sb strings.Builder
	want := map[string]int{}
	for i := 0; i < 20000; i++ {
		w := fmt.Sprintf("w%c%c", 'a'+i%7, 'a'+i%11)
		fmt.Fprintf(&sb, "%s x\n", w)
		want[strings.ToLower(w)]++
		want["x"]++
	}
	if err := os.WriteFile(in, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	build := func() *stream.Env {
		env := stream.NewEnv("wc")
		env.SetParallelism(4)
		lines := stream.FromSource(env, "read", file.Text(in).WithSplitSize(4096), nil)
		counts := stream.Aggregate(stream.KeyBy(stream.FlatMap(lines, "split", splitWords), identity), "count", stream.Count[string](), nil)
		counts.SinkTo("write", file.Sink(out, formatKV))
		return env
	}

	const workers = 2
	servers := make([]*network.PartitionServer, workers)
	addrs := make([]string, workers)
	spillDirs := make([]string, workers)
	for w := range servers {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		spillDirs[w] = filepath.Join(dir, fmt.Sprintf("spill%d", w))
		if err := os.Mkdir(spillDirs[w], 0o755); err != nil {
			t.Fatal(err)
		}
		servers[w] = network.NewPartitionServer(network.ServerConfig{BufferSize: 4 << 10, SpillDirs: []string{spillDirs[w]}})
		go servers[w].Serve(lis)
		defer servers[w].Stop()
		addrs[w] = lis.Addr().String()
	}
	g0, err := build().Graph()
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Prepare(g0, true); err != nil {
		t.Fatal(err)
	}
	plan, err := scheduler.New(g0, scheduler.Options{SlotsPerWorker: 2, Worker: scheduler.Resources{MemoryMB: 1, VCores: 1}, Blocking: true})
	if err != nil {
		t.Fatal(err)
	}
	stages := plan.Stages
	if len(stages) != 2 {
		t.Fatalf("wordcount splits into %d stages %v, want 2 (read+split, count+write)", len(stages), stages)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for s := range stages {
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			g, err := build().Graph()
			if err != nil {
				t.Fatal(err)
			}
			client := network.NewPartitionClient(network.ClientConfig{ExclusiveBuffers: 2, FloatingBuffers: 2})
			defer client.Close()
			x, err := engine.Start(ctx, g, engine.Options{
				BatchSize: 128, Prepared: true,
				Plan: plan, Worker: w, Stage: s,
				Shuffle: &engine.Shuffle{Server: servers[w], Client: client, Attempt: 7, Addresses: addrs},
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(x.TaskMetrics()); n != 2*len(stages[s].Chains) {
				t.Fatalf("stage %d, worker %d runs %d subtasks, want %d", s, w, n, 2*len(stages[s].Chains))
			}
			go func() { errs <- x.Wait() }()
		}
		for w := 0; w < workers; w++ {
			if err := <-errs; err != nil {
				t.Fatalf("stage %d: %v", s, err)
			}
		}
		if s == 0 {
			// Each worker's 2 producers spilled a file for each of the 4 consumers.
			for w, d := range spillDirs {
				files, _ := filepath.Glob(filepath.Join(d, "*", "*.spill"))
				if len(files) != 8 {
					t.Fatalf("after stage 0 worker %d spilled %d files, want 8: %v", w, len(files), files)
				}
			}
			// Only part files count: Prepare claims the directory with the
			// run's owner marker before any stage runs.
			if parts, _ := filepath.Glob(filepath.Join(out, "*part-*")); len(parts) > 0 {
				t.Fatalf("the sink wrote %d part files in stage 0: the count stage ran early", len(parts))
			}
		}
	}
	// A file is deleted right after its last block is sent.
	deadline := time.Now().Add(5 * time.Second)
	for w, d := range spillDirs {
		for {
			files, _ := filepath.Glob(filepath.Join(d, "*", "*.spill"))
			if len(files) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d kept %d spill files after their consumers read them: %v", w, len(files), files)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var expect []string
	for k, n := range want {
		expect = append(expect, fmt.Sprintf("%s\t%d", k, n))
	}
	sort.Strings(expect)
	if got := readParts(t, out); strings.Join(got, "\n") != strings.Join(expect, "\n") {
		t.Fatalf("got %d lines, want %d:\n%v\nwant\n%v", len(got), len(expect), got, expect)
	}
}
