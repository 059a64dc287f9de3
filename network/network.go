// Package network moves batches and in-band events between tasks. A channel
// connects one producer subtask to one consumer subtask; a consumer's channels
// form its input gate. Watermarks, checkpoint barriers and end of input travel
// on the same channels as the data, in order with it.
//
// This file holds the contract and the in-memory implementation used when
// producer and consumer share a process. Bounded channels give backpressure:
// a producer waits when its consumer's channel is full.
package network

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Kind says what an Element carries.
type Kind uint8

const (
	// KindBatch carries a *task.Batch[T] of the edge's record type.
	KindBatch Kind = iota
	// KindWatermark carries event-time progress in Timestamp.
	KindWatermark
	// KindBarrier carries checkpoint barrier Checkpoint.
	KindBarrier
	// KindIdle says the producer is idle (Idle true) or active again: an idle
	// channel does not hold back the consumer's watermark.
	KindIdle
	// KindEndOfInput is the last element a producer sends on a channel.
	KindEndOfInput
)

// Element is one item on a channel.
type Element struct {
	Kind       Kind
	Batch      any   // KindBatch
	Timestamp  int64 // KindWatermark: the watermark; KindBarrier: trigger time (unix ms)
	Checkpoint int64 // KindBarrier
	Idle       bool  // KindIdle
}

// Sender is the producer's end of one channel.
type Sender interface {
	// Send queues e, waiting while the channel is full. It returns ctx's error
	// if ctx ends first; the time spent waiting is added to *waited.
	Send(ctx context.Context, e Element, waited *time.Duration) error
}

// LocalChannel is an in-memory channel: a bounded FIFO of elements between two
// goroutines of one process. A batch is handed over without copying or
// serialization; the producer must not reuse it after Send.
type LocalChannel struct {
	gate  *Gate
	index int // position in the gate

	mu    sync.Mutex
	buf   []Element // ring buffer
	head  int
	n     int
	space chan struct{} // signaled when an element is taken
}

// Send implements Sender.
func (c *LocalChannel) Send(ctx context.Context, e Element, waited *time.Duration) error {
	for {
		c.mu.Lock()
		if c.n < len(c.buf) {
			c.buf[(c.head+c.n)%len(c.buf)] = e
			c.n++
			c.mu.Unlock()
			c.gate.notify()
			return nil
		}
		c.mu.Unlock()
		start := time.Now()
		select {
		case <-c.space:
		case <-ctx.Done():
			return ctx.Err()
		}
		if waited != nil {
			*waited += time.Since(start)
		}
	}
}

func (c *LocalChannel) poll() (Element, bool) {
	c.mu.Lock()
	if c.n == 0 {
		c.mu.Unlock()
		return Element{}, false
	}
	e := c.buf[c.head]
	c.buf[c.head] = Element{}
	c.head = (c.head + 1) % len(c.buf)
	c.n--
	c.mu.Unlock()
	select {
	case c.space <- struct{}{}:
	default:
	}
	return e, true
}

// inputChannel is the consumer's side of a channel, local or remote: the gate
// polls it from the consumer's goroutine only.
type inputChannel interface {
	poll() (Element, bool)
}

// Gate is a consumer subtask's set of input channels. Only the consumer's
// goroutine calls Poll and Ready; producers of any goroutine Send.
type Gate struct {
	channels []inputChannel
	ready    chan struct{}
	next     int // round-robin start, so no channel starves the others

	failed  atomic.Bool // set once, so that Err costs an atomic load
	failMu  sync.Mutex
	failErr error
	credit  *gateCredit // accounting of the remote channels; nil while all are local
}

// NewGate makes a gate of n local channels, each holding up to capacity elements.
func NewGate(n, capacity int) *Gate {
	if capacity < 1 {
		capacity = 1
	}
	g := &Gate{ready: make(chan struct{}, 1)}
	for i := 0; i < n; i++ {
		g.channels = append(g.channels, &LocalChannel{gate: g, index: i, buf: make([]Element, capacity), space: make(chan struct{}, 1)})
	}
	return g
}

// Channel returns the sender of local channel i, or nil if channel i was made
// remote (PartitionClient.Connect).
func (g *Gate) Channel(i int) *LocalChannel {
	c, _ := g.channels[i].(*LocalChannel)
	return c
}

// Err is the failure of a remote channel (its connection broke, its producer's
// server failed, its data was corrupt), nil while every channel is healthy.
// Poll skips a failed channel, so the consumer checks Err on every turn of its
// loop (an atomic load) and fails with it; Ready is signaled when it is set.
func (g *Gate) Err() error {
	if !g.failed.Load() {
		return nil
	}
	g.failMu.Lock()
	defer g.failMu.Unlock()
	return g.failErr
}

// fail records the gate's first failure and wakes the consumer.
func (g *Gate) fail(err error) {
	g.failMu.Lock()
	if g.failErr == nil {
		g.failErr = err
		g.failed.Store(true)
	}
	g.failMu.Unlock()
	g.notify()
}

// NumChannels is the number of input channels.
func (g *Gate) NumChannels() int { return len(g.channels) }

func (g *Gate) notify() {
	select {
	case g.ready <- struct{}{}:
	default:
	}
}

// Ready is signaled after an element arrives. A consumer that found nothing
// with Poll waits on it; a signal may be stale, so Poll again.
func (g *Gate) Ready() <-chan struct{} { return g.ready }

// Poll returns the next element of some channel not blocked, without waiting.
// blocked may be nil; channels it reports true for are skipped (barrier
// alignment holds them back).
func (g *Gate) Poll(blocked []bool) (ch int, e Element, ok bool) {
	n := len(g.channels)
	for k := 0; k < n; k++ {
		i := (g.next + k) % n
		if blocked != nil && blocked[i] {
			continue
		}
		if e, ok := g.channels[i].poll(); ok {
			g.next = (i + 1) % n
			return i, e, true
		}
	}
	return 0, Element{}, false
}

// ErrPeerLost is wrapped by the errors of a connection to another process
// that broke (the peer died or the network failed), so that a worker can
// tell the job master its failure may only echo another worker's end.
var ErrPeerLost = errors.New("lost")
