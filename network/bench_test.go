package network_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/task"
)

// The benchmarks run the producer in a second OS process: this test binary,
// re-executed with LOOM_SHUFFLE_PEER set, runs TestShufflePeerProcess as the
// peer, prints its address and serves until its stdin closes.
//
//	go test -run '^$' -bench 'Shuffle|RawTCP' -benchtime 20x ./network

const (
	benchChannels  = 4
	benchBatchSize = 1000
)

// benchBatch is batch number i of a producer: 1000 int64 records with rising
// event times, as a source or a keyed aggregation would send them.
func benchBatch(b *task.Batch[int64], i int) {
	b.Reset()
	base := int64(i) * benchBatchSize
	for k := range int64(benchBatchSize) {
		b.Append(1_700_000_000_000+base+k, (base+k)*7919)
	}
}

// TestShufflePeerProcess is the peer process of the benchmarks; run on its
// own it does nothing.
func TestShufflePeerProcess(t *testing.T) {
	mode := os.Getenv("LOOM_SHUFFLE_PEER")
	if mode == "" {
		t.Skip("the benchmarks' peer process; runs only when they start it")
	}
	n, _ := strconv.Atoi(os.Getenv("LOOM_SHUFFLE_N"))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(lis.Addr().String())
	exitOnStdinClose := func() { io.Copy(io.Discard, os.Stdin); os.Exit(0) }
	switch mode {
	case "tcp": // n bytes in 32 KiB writes: the baseline
		go exitOnStdinClose()
		c, err := lis.Accept()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 32<<10)
		for n > 0 {
			k := min(n, len(buf))
			if _, err := c.Write(buf[:k]); err != nil {
				t.Fatal(err)
			}
			n -= k
		}
		c.Close()
		select {}
	case "shuffle": // n batches per channel
		srv := network.NewPartitionServer(network.ServerConfig{})
		go srv.Serve(lis)
		var wg sync.WaitGroup
		for ch := range benchChannels {
			s, err := srv.Sender(network.ChannelID{Edge: 1, Producer: int32(ch)}, int64Batches)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				b := task.NewBatch[int64](benchBatchSize)
				for i := range n {
					benchBatch(b, i) // Send encodes at once, so the batch is reused
					if err := s.Send(context.Background(), network.Element{Kind: network.KindBatch, Batch: b}, nil); err != nil {
						panic(err)
					}
				}
				if err := s.Send(context.Background(), network.Element{Kind: network.KindEndOfInput}, nil); err != nil {
					panic(err)
				}
			})
		}
		wg.Wait()
		exitOnStdinClose()
	case "latency": // n records, one per millisecond, each carrying its send time
		timeout, _ := time.ParseDuration(os.Getenv("LOOM_SHUFFLE_TIMEOUT"))
		srv := network.NewPartitionServer(network.ServerConfig{BufferTimeout: timeout})
		go srv.Serve(lis)
		s, err := srv.Sender(network.ChannelID{Edge: 2}, int64Batches)
		if err != nil {
			t.Fatal(err)
		}
		b := task.NewBatch[int64](1)
		tick := time.NewTicker(time.Millisecond)
		for range n {
			<-tick.C
			b.Reset()
			b.Append(task.NoTimestamp, time.Now().UnixNano())
			if err := s.Send(context.Background(), network.Element{Kind: network.KindBatch, Batch: b}, nil); err != nil {
				panic(err)
			}
		}
		if err := s.Send(context.Background(), network.Element{Kind: network.KindEndOfInput}, nil); err != nil {
			panic(err)
		}
		exitOnStdinClose()
	}
	t.Fatalf("unknown peer mode %q", mode)
}

// startPeer starts the peer process and returns its address; the peer exits
// when the benchmark ends.
func startPeer(b *testing.B, mode string, n int, env ...string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestShufflePeerProcess$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "LOOM_SHUFFLE_PEER="+mode, "LOOM_SHUFFLE_N="+strconv.Itoa(n))
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("peer process: %v", err)
	}
	return strings.TrimSpace(addr)
}

// BenchmarkShuffleLoopback moves b.N batches of 1000 int64 records on each
// of 4 channels from a producer process to this one, over one connection,
// into a gate polled as a task would.
func BenchmarkShuffleLoopback(b *testing.B) {
	payload, err := int64Batches.Encode(nil, func() *task.Batch[int64] {
		x := task.NewBatch[int64](benchBatchSize)
		benchBatch(x, 0)
		return x
	}())
	if err != nil {
		b.Fatal(err)
	}
	addr := startPeer(b, "shuffle", b.N)
	client := network.NewPartitionClient(network.ClientConfig{})
	defer client.Close()
	g := network.NewGate(benchChannels, 1)
	for ch := range benchChannels {
		if err := client.Connect(g, ch, addr, network.ChannelID{Edge: 1, Producer: int32(ch)}, int64Batches); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	records, ended := 0, 0
	for ended < benchChannels {
		if err := g.Err(); err != nil {
			b.Fatal(err)
		}
		_, e, ok := g.Poll(nil)
		if !ok {
			<-g.Ready()
			continue
		}
		switch e.Kind {
		case network.KindBatch:
			records += e.Batch.(*task.Batch[int64]).Len()
		case network.KindEndOfInput:
			ended++
		}
	}
	b.StopTimer()
	if records != b.N*benchBatchSize*benchChannels {
		b.Fatalf("received %d records, want %d", records, b.N*benchBatchSize*benchChannels)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/sec, "records/s")
	b.ReportMetric(float64(len(payload)*b.N*benchChannels)/sec/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRawTCPLoopback copies as many bytes as BenchmarkShuffleLoopback's
// encoded batches over a plain TCP connection between the same two kinds of
// process: the ceiling the shuffle is measured against.
func BenchmarkRawTCPLoopback(b *testing.B) {
	payload, err := int64Batches.Encode(nil, func() *task.Batch[int64] {
		x := task.NewBatch[int64](benchBatchSize)
		benchBatch(x, 0)
		return x
	}())
	if err != nil {
		b.Fatal(err)
	}
	total := len(payload) * b.N * benchChannels
	addr := startPeer(b, "tcp", total)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ResetTimer()
	n, err := io.CopyBuffer(io.Discard, c, make([]byte, 32<<10))
	b.StopTimer()
	if err != nil || int(n) != total {
		b.Fatalf("read %d of %d bytes: %v", n, total, err)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkShuffleLatency sends a record a millisecond from the peer process
// and reports the time from its Send to its Poll in this process: with the
// default buffer timeout, and with a flush after every element (the
// transport's own latency).
func BenchmarkShuffleLatency(b *testing.B) {
	b.Run("default-timeout", func(b *testing.B) { benchLatency(b, 0) })
	b.Run("flush-every-element", func(b *testing.B) { benchLatency(b, network.FlushEveryElement) })
}

func benchLatency(b *testing.B, timeout time.Duration) {
	const records = 2000
	for range b.N {
		addr := startPeer(b, "latency", records, "LOOM_SHUFFLE_TIMEOUT="+timeout.String())
		client := network.NewPartitionClient(network.ClientConfig{})
		g := network.NewGate(1, 1)
		if err := client.Connect(g, 0, addr, network.ChannelID{Edge: 2}, int64Batches); err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, 0, records)
		for done := false; !done; {
			if err := g.Err(); err != nil {
				b.Fatal(err)
			}
			_, e, ok := g.Poll(nil)
			if !ok {
				<-g.Ready()
				continue
			}
			switch e.Kind {
			case network.KindBatch:
				now := time.Now().UnixNano()
				for _, v := range e.Batch.(*task.Batch[int64]).Values {
					lat = append(lat, time.Duration(now-v))
				}
			case network.KindEndOfInput:
				done = true
			}
		}
		client.Close()
		if len(lat) != records {
			b.Fatalf("received %d records, want %d", len(lat), records)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	}
	b.ReportMetric(0, "ns/op")
}
