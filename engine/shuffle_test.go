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
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/stream"
)

// TestShuffleBetweenTwoWorkers runs wordcount at parallelism 4 as two
// "workers" (two executions of the same graph, each with its own partition
// server on loopback), subtasks 0-1 on one and 2-3 on the other: the keyed
// shuffle crosses between them, and the result equals the local count.
func TestShuffleBetweenTwoWorkers(t *testing.T) {
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
	for w := range servers {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		servers[w] = network.NewPartitionServer(network.ServerConfig{})
		go servers[w].Serve(lis)
		defer servers[w].Stop()
		addrs[w] = lis.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		g, err := build().Graph()
		if err != nil {
			t.Fatal(err)
		}
		if w == 0 {
			if err := engine.Prepare(g, true); err != nil {
				t.Fatal(err)
			}
		}
		client := network.NewPartitionClient(network.ClientConfig{})
		defer client.Close()
		x, err := engine.Start(ctx, g, engine.Options{
			BatchSize: 128, Prepared: true, Plan: planOn(t, g, 2), Worker: w,
			Shuffle: &engine.Shuffle{Server: servers[w], Client: client, Addresses: addrs},
		})
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- x.Wait() }()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
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

// planOn plans g on workers of slots slots each.
func planOn(t *testing.T, g *graph.Graph, slots int) *scheduler.Plan {
	t.Helper()
	p, err := scheduler.New(g, scheduler.Options{SlotsPerWorker: slots, Worker: scheduler.Resources{MemoryMB: 1, VCores: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
