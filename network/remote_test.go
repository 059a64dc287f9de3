package network_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/task"
)

// killableListener remembers the connections it accepted, so that a test can
// break them as a failing network or a dying process would.
type killableListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *killableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *killableListener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

func startServer(t *testing.T, cfg network.ServerConfig) (*network.PartitionServer, string, *killableListener) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kl := &killableListener{Listener: lis}
	s := network.NewPartitionServer(cfg)
	go s.Serve(kl)
	t.Cleanup(s.Stop)
	return s, lis.Addr().String(), kl
}

var int64Batches = task.NewBatchCodec(codec.Int64)

// script is what producer ch sends: batches of 100 records with event times,
// and every kind of event between them, ending with end of input.
func script(ch, batches int) []network.Element {
	var out []network.Element
	for b := range batches {
		batch := task.NewBatch[int64](100)
		for k := range 100 {
			n := int64(ch)*1_000_000_000 + int64(b*100+k)
			batch.Append(1_700_000_000_000+n, n)
		}
		out = append(out, network.Element{Kind: network.KindBatch, Batch: batch})
		switch {
		case b%10 == 9:
			out = append(out, network.Element{Kind: network.KindWatermark, Timestamp: 1_700_000_000_000 + int64(b*100)})
		case b == batches/2:
			out = append(out, network.Element{Kind: network.KindBarrier, Checkpoint: 1, Timestamp: int64(ch)})
		case b == batches/3:
			out = append(out, network.Element{Kind: network.KindIdle, Idle: true}, network.Element{Kind: network.KindIdle, Idle: false})
		}
	}
	return append(out, network.Element{Kind: network.KindEndOfInput})
}

func sameElement(a, b network.Element) bool {
	if a.Kind != network.KindBatch || b.Kind != network.KindBatch {
		return a == b
	}
	x, y := a.Batch.(*task.Batch[int64]), b.Batch.(*task.Batch[int64])
	return slices.Equal(x.Values, y.Values) && slices.Equal(x.Times, y.Times)
}

// TestShuffleTwoServers exchanges many batches from two partition servers to
// one consumer gate that also has a local channel. The consumer holds one
// remote channel back (as barrier alignment would): the others must run to
// their end meanwhile, the held channel's producer must block, and memory
// must stay bounded on both sides. Then every channel must have delivered its
// data and events exactly, in order.
func TestShuffleTwoServers(t *testing.T) {
	const batches = 300 // ~60 KB per channel, many buffers of 4 KiB
	scfg := network.ServerConfig{BufferSize: 4 << 10, BuffersPerSubpartition: 3, BufferTimeout: 5 * time.Millisecond}
	a, addrA, _ := startServer(t, scfg)
	b, addrB, _ := startServer(t, scfg)
	ccfg := network.ClientConfig{ExclusiveBuffers: 2, FloatingBuffers: 4}
	client := network.NewPartitionClient(ccfg)
	defer client.Close()

	const channels, slow = 5, 1
	g := network.NewGate(channels, 16) // channel 0 stays local
	senders := make([]network.Sender, channels)
	remote := make([]*network.RemoteSender, channels)
	senders[0] = g.Channel(0)
	for ch := 1; ch < channels; ch++ {
		srv, addr := a, addrA
		if ch >= 3 {
			srv, addr = b, addrB
		}
		id := network.ChannelID{Attempt: 1, Edge: 7, Producer: int32(ch), Consumer: 0}
		s, err := srv.Sender(id, int64Batches)
		if err != nil {
			t.Fatal(err)
		}
		senders[ch], remote[ch] = s, s
		if err := client.Connect(g, ch, addr, id, int64Batches); err != nil {
			t.Fatal(err)
		}
	}
	if g.Channel(1) != nil {
		t.Fatal("Channel(1) returns a local sender for a remote channel")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waited := make([]time.Duration, channels)
	sendErr := make(chan error, channels)
	for ch := range channels {
		go func() {
			for _, e := range script(ch, batches) {
				if err := senders[ch].Send(ctx, e, &waited[ch]); err != nil {
					sendErr <- fmt.Errorf("producer %d: %w", ch, err)
					return
				}
			}
			sendErr <- nil
		}()
	}

	got := make([][]network.Element, channels)
	blocked := make([]bool, channels)
	blocked[slow] = true
	ended := 0
	maxQueued := 0
	for ended < channels {
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		ch, e, ok := g.Poll(blocked)
		if !ok {
			if blocked[slow] {
				q, owned := network.QueuedBuffers(g, slow)
				maxQueued = max(maxQueued, q)
				if q > owned || owned > ccfg.ExclusiveBuffers+ccfg.FloatingBuffers {
					t.Fatalf("held channel has %d buffers queued, owns %d: memory not bounded by credit", q, owned)
				}
				if h := remote[slow].HeldBuffers(); h > scfg.BuffersPerSubpartition {
					t.Fatalf("held channel's subpartition holds %d buffers, capacity %d", h, scfg.BuffersPerSubpartition)
				}
			}
			if blocked[slow] && ended == channels-1 {
				blocked[slow] = false // the others are done: release the held channel
				continue
			}
			select {
			case <-g.Ready():
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("timed out with %d of %d channels ended", ended, channels)
			}
			continue
		}
		got[ch] = append(got[ch], e)
		if e.Kind == network.KindEndOfInput {
			ended++
			if ch == slow && ended != channels {
				t.Fatalf("the held channel ended before the others: it was not held")
			}
		}
	}
	for range channels {
		if err := <-sendErr; err != nil {
			t.Fatal(err)
		}
	}
	for ch := range channels {
		want := script(ch, batches)
		if len(got[ch]) != len(want) {
			t.Fatalf("channel %d delivered %d elements, want %d", ch, len(got[ch]), len(want))
		}
		for i := range want {
			if !sameElement(got[ch][i], want[i]) {
				t.Fatalf("channel %d element %d: got %+v, want %+v", ch, i, got[ch][i], want[i])
			}
		}
	}
	if waited[slow] <= 0 {
		t.Errorf("the held channel's producer never blocked (waited %v): no backpressure", waited[slow])
	}
	if maxQueued < ccfg.ExclusiveBuffers {
		t.Errorf("the held channel queued at most %d buffers: its credit was not used", maxQueued)
	}
	t.Logf("held producer blocked %v; held channel queued at most %d buffers", waited[slow], maxQueued)
}

// waitErr polls g.Err until it is set or the deadline passes.
func waitErr(t *testing.T, g *network.Gate, within time.Duration) error {
	t.Helper()
	deadline := time.After(within)
	for {
		if err := g.Err(); err != nil {
			return err
		}
		for {
			if _, _, ok := g.Poll(nil); !ok {
				break
			}
		}
		select {
		case <-g.Ready():
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no failure within %v", within)
		}
	}
}

// TestShuffleConnectionKilled breaks the connection mid-stream: both the
// consumer's gate and the producer's Send must fail promptly with errors that
// say which peer was lost.
func TestShuffleConnectionKilled(t *testing.T) {
	srv, addr, lis := startServer(t, network.ServerConfig{BufferSize: 1 << 10, BuffersPerSubpartition: 2})
	client := network.NewPartitionClient(network.ClientConfig{})
	defer client.Close()
	g := network.NewGate(2, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sendErr := make(chan error, 2)
	for ch := range 2 {
		id := network.ChannelID{Edge: 1, Producer: int32(ch)}
		s, err := srv.Sender(id, int64Batches)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Connect(g, ch, addr, id, int64Batches); err != nil {
			t.Fatal(err)
		}
		go func() {
			for b := 0; ; b++ { // endless: only a failure stops it
				for _, e := range script(ch, 1)[:1] {
					if err := s.Send(ctx, e, nil); err != nil {
						sendErr <- err
						return
					}
				}
			}
		}()
	}
	// Let data flow, then cut the wire.
	for n := 0; n < 20; {
		if _, _, ok := g.Poll(nil); ok {
			n++
			continue
		}
		select {
		case <-g.Ready():
		case <-ctx.Done():
			t.Fatal("no data before the kill")
		}
	}
	lis.kill()
	err := waitErr(t, g, 5*time.Second)
	t.Logf("consumer: %v", err)
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connection lost") {
		t.Errorf("consumer's error %q does not say the connection to %s was lost", err, addr)
	}
	for range 2 {
		select {
		case err := <-sendErr:
			t.Logf("producer: %v", err)
			if !strings.Contains(err.Error(), "connection to consumer 127.0.0.1:") || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("producer's error %q does not name the lost consumer", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a producer's Send did not fail within 5s of the connection breaking")
		}
	}
}

// TestShuffleUnreachableServer connects to an address nobody listens on.
func TestShuffleUnreachableServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	client := network.NewPartitionClient(network.ClientConfig{ConnectTimeout: 2 * time.Second})
	defer client.Close()
	g := network.NewGate(1, 1)
	if err := client.Connect(g, 0, addr, network.ChannelID{}, int64Batches); err != nil {
		t.Fatal(err)
	}
	err = waitErr(t, g, 10*time.Second)
	t.Logf("consumer: %v", err)
	if !strings.Contains(err.Error(), "partition server "+addr) {
		t.Errorf("error %q does not name the unreachable server %s", err, addr)
	}
}

// TestShuffleRefusedRequest: a subpartition has one consumer; a second request
// fails that channel only, with the reason.
func TestShuffleRefusedRequest(t *testing.T) {
	srv, addr, _ := startServer(t, network.ServerConfig{})
	id := network.ChannelID{Attempt: 3, Edge: 2, Producer: 1, Consumer: 4}
	s, err := srv.Sender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Sender(id, int64Batches); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second sender of %v: %v, want already registered", id, err)
	}
	c1, c2 := network.NewPartitionClient(network.ClientConfig{}), network.NewPartitionClient(network.ClientConfig{})
	defer c1.Close()
	defer c2.Close()
	g1, g2 := network.NewGate(1, 1), network.NewGate(1, 1)
	if err := c1.Connect(g1, 0, addr, id, int64Batches); err != nil {
		t.Fatal(err)
	}
	// The first request must reach the server before the second.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, network.Element{Kind: network.KindWatermark, Timestamp: 5}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, network.Element{Kind: network.KindIdle, Idle: true}, nil); err != nil { // flushes
		t.Fatal(err)
	}
	for {
		if _, e, ok := g1.Poll(nil); ok {
			if e.Kind != network.KindWatermark || e.Timestamp != 5 {
				t.Fatalf("first element %+v, want watermark 5", e)
			}
			break
		}
		select {
		case <-g1.Ready():
		case <-ctx.Done():
			t.Fatal("no data on the first consumer")
		}
	}
	if err := c2.Connect(g2, 0, addr, id, int64Batches); err != nil {
		t.Fatal(err)
	}
	err = waitErr(t, g2, 5*time.Second)
	if !strings.Contains(err.Error(), "already requested") || !strings.Contains(err.Error(), id.String()) {
		t.Errorf("second consumer's error %q, want the subpartition named as already requested", err)
	}
	if err := g1.Err(); err != nil {
		t.Errorf("the first consumer failed too: %v", err)
	}
}

// TestShuffleServerStopFailsProducer: a producer blocked on a consumer that
// never comes fails when its server stops, rather than hanging.
func TestShuffleServerStopFailsProducer(t *testing.T) {
	srv, _, _ := startServer(t, network.ServerConfig{BufferSize: 64, BuffersPerSubpartition: 1, BufferTimeout: network.FlushEveryElement})
	s, err := srv.Sender(network.ChannelID{Edge: 9}, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			if err := s.Send(context.Background(), network.Element{Kind: network.KindWatermark, Timestamp: 1}, nil); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	srv.Stop()
	select {
	case err := <-done:
		if !strings.Contains(err.Error(), "partition server stopped") {
			t.Errorf("error %q, want the server's stop named", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send still blocked 5s after the server stopped")
	}
}

// TestShuffleDrain: a server drains only after a consumer that connects
// late read every buffer and closed its connection; with data nobody reads
// it gives up when its context ends, saying so.
func TestShuffleDrain(t *testing.T) {
	srv, addr, _ := startServer(t, network.ServerConfig{BufferSize: 1 << 10, BuffersPerSubpartition: 2})
	id := network.ChannelID{Attempt: 3, Edge: 1, Producer: 0, Consumer: 0}
	s, err := srv.Sender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	want := script(0, 40)
	produced := make(chan error, 1)
	go func() {
		for _, e := range want {
			if err := s.Send(context.Background(), e, nil); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	drained := make(chan error, 1)
	go func() {
		if err := <-produced; err != nil {
			drained <- err
			return
		}
		drained <- srv.Drain(context.Background())
	}()
	time.Sleep(50 * time.Millisecond) // the consumer comes late
	client := network.NewPartitionClient(network.ClientConfig{})
	g := network.NewGate(1, 4)
	if err := client.Connect(g, 0, addr, id, int64Batches); err != nil {
		t.Fatal(err)
	}
	got := 0
	for done := false; !done; {
		select {
		case <-g.Ready():
		case <-time.After(5 * time.Second):
			t.Fatalf("no element for 5s after %d: %v", got, g.Err())
		}
		for {
			_, e, ok := g.Poll(nil)
			if !ok {
				break
			}
			if !sameElement(e, want[got]) {
				t.Fatalf("element %d: %+v, want %+v", got, e, want[got])
			}
			got++
			done = e.Kind == network.KindEndOfInput
		}
	}
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while the consumer was still connected", err)
	case <-time.After(50 * time.Millisecond):
	}
	client.Close()
	select {
	case err := <-drained:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain still waiting 5s after the consumer closed")
	}

	// Nobody reads: Drain ends with its context, naming what was left.
	srv2, _, _ := startServer(t, network.ServerConfig{})
	s2, err := srv2.Sender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Send(context.Background(), network.Element{Kind: network.KindEndOfInput}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv2.Drain(ctx); err == nil || !strings.Contains(err.Error(), "1 subpartition(s) not fully sent") {
		t.Fatalf("Drain with an unread subpartition = %v", err)
	}
}
