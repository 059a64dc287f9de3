package network

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateRoundRobinAndBlocked(t *testing.T) {
	g := NewGate(3, 4)
	ctx := context.Background()
	for ch := 0; ch < 3; ch++ {
		for i := 0; i < 2; i++ {
			if err := g.Channel(ch).Send(ctx, Element{Kind: KindWatermark, Timestamp: int64(ch*10 + i)}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []int64
	blocked := []bool{false, true, false}
	for {
		_, e, ok := g.Poll(blocked)
		if !ok {
			break
		}
		got = append(got, e.Timestamp)
	}
	want := []int64{0, 20, 1, 21}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v (round-robin, channel 1 held back)", got, want)
		}
	}
	// Unblocked, channel 1 delivers in order.
	for i := 0; i < 2; i++ {
		ch, e, ok := g.Poll(nil)
		if !ok || ch != 1 || e.Timestamp != int64(10+i) {
			t.Fatalf("poll %d: ch %d e %+v ok %v", i, ch, e, ok)
		}
	}
}

func TestSendBlocksWhenFullAndCountsWait(t *testing.T) {
	g := NewGate(1, 2)
	ctx := context.Background()
	c := g.Channel(0)
	for i := 0; i < 2; i++ {
		if err := c.Send(ctx, Element{Timestamp: int64(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var waited time.Duration
	sent := make(chan error, 1)
	go func() { sent <- c.Send(ctx, Element{Timestamp: 2}, &waited) }()
	select {
	case err := <-sent:
		t.Fatalf("send on a full channel returned (%v) before the consumer took anything", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, e, ok := g.Poll(nil); !ok || e.Timestamp != 0 {
		t.Fatalf("poll: %+v %v", e, ok)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if waited < 40*time.Millisecond {
		t.Errorf("waited %v, want the time the producer was blocked", waited)
	}
	for i := int64(1); i <= 2; i++ {
		if _, e, ok := g.Poll(nil); !ok || e.Timestamp != i {
			t.Fatalf("poll %d: %+v %v", i, e, ok)
		}
	}
}

func TestSendCancelled(t *testing.T) {
	g := NewGate(1, 1)
	c := g.Channel(0)
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Send(ctx, Element{}, nil); err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if err := c.Send(ctx, Element{}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("send on a full channel after cancel: %v", err)
	}
}

func TestReadySignalsArrival(t *testing.T) {
	g := NewGate(2, 1)
	go func() { g.Channel(1).Send(context.Background(), Element{Kind: KindEndOfInput}, nil) }()
	select {
	case <-g.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no ready signal")
	}
	if ch, e, ok := g.Poll(nil); !ok || ch != 1 || e.Kind != KindEndOfInput {
		t.Fatalf("poll: %d %+v %v", ch, e, ok)
	}
}
