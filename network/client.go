package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/network/proto/shufflepb"
)

// ClientConfig sets the consumer side of the network.
type ClientConfig struct {
	// ExclusiveBuffers is the buffers each remote channel owns (default 2).
	ExclusiveBuffers int
	// FloatingBuffers is the pool each gate lends to its remote channels with
	// a backlog (default 8). A gate holds at most
	// channels*ExclusiveBuffers + FloatingBuffers buffers.
	FloatingBuffers int
	// KeepAlive is the interval and timeout of the pings that find a dead
	// producer whose connection did not close (default 10s; at least 1s).
	KeepAlive time.Duration
	// ConnectTimeout bounds connecting to a partition server (default 10s).
	ConnectTimeout time.Duration
	// Secret is the application secret sent on every stream under
	// SecretMetadata, for partition servers that require it
	// (ServerConfig.Secret). Empty sends none.
	Secret string
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.ExclusiveBuffers <= 0 {
		c.ExclusiveBuffers = 2
	}
	if c.FloatingBuffers < 0 {
		c.FloatingBuffers = 0
	} else if c.FloatingBuffers == 0 {
		c.FloatingBuffers = 8
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 10 * time.Second
	}
	c.KeepAlive = max(c.KeepAlive, time.Second)
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	return c
}

// ErrClientClosed fails the channels still open when their PartitionClient closes.
var ErrClientClosed = errors.New("network: partition client closed")

// PartitionClient is a consumer process's side of the shuffle: one connection
// (one gRPC stream) per partition server it reads from, carrying all of the
// process's remote input channels from that server.
type PartitionClient struct {
	cfg ClientConfig

	mu     sync.Mutex
	conns  map[string]*clientConn // by address; a failed connection is replaced
	closed bool
}

// NewPartitionClient returns a client; it connects on the first Connect to
// each address.
func NewPartitionClient(cfg ClientConfig) *PartitionClient {
	return &PartitionClient{cfg: cfg.withDefaults(), conns: map[string]*clientConn{}}
}

// Connect makes input channel i of g a remote channel reading subpartition id
// from the partition server at addr, decoding batches with bc. Call it for all
// of g's remote channels before the consumer polls g. Failures to reach the
// server come later, as g's Err, naming addr.
func (c *PartitionClient) Connect(g *Gate, i int, addr string, id ChannelID, bc BatchCodec) error {
	if i < 0 || i >= len(g.channels) {
		return fmt.Errorf("connect channel %d of a gate of %d: no such channel", i, len(g.channels))
	}
	if bc == nil {
		return fmt.Errorf("connect channel %d (%v): no batch codec", i, id)
	}
	if _, ok := g.channels[i].(*remoteChannel); ok {
		return fmt.Errorf("connect channel %d (%v): already remote", i, id)
	}
	if g.credit == nil {
		cg, err := NewCreditGate(c.cfg.ExclusiveBuffers, c.cfg.FloatingBuffers)
		if err != nil {
			return err
		}
		g.credit = &gateCredit{cg: cg, chans: make([]*remoteChannel, len(g.channels))}
	}
	conn, err := c.conn(addr)
	if err != nil {
		return err
	}
	ch := &remoteChannel{gate: g, index: i, id: id, bc: bc, conn: conn}
	g.channels[i] = ch
	gc := g.credit
	gc.mu.Lock()
	gc.chans[i] = ch
	gc.mu.Unlock()
	if !conn.add(ch) {
		return nil // the connection already failed, and with it ch
	}
	gc.mu.Lock()
	err = gc.cg.Open(i)
	gc.announce()
	gc.mu.Unlock()
	return err
}

// conn returns the live connection to addr, starting one if needed.
func (c *PartitionClient) conn(addr string) (*clientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("connect to partition server %s: %w", addr, ErrClientClosed)
	}
	if cc := c.conns[addr]; cc != nil {
		return cc, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cc := &clientConn{client: c, addr: addr, ctx: ctx, cancel: cancel, signal: make(chan struct{}, 1), chans: map[uint32]*remoteChannel{}}
	c.conns[addr] = cc
	go cc.run()
	return cc, nil
}

// Close closes every connection; channels that have not ended fail with
// ErrClientClosed.
func (c *PartitionClient) Close() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = map[string]*clientConn{}
	c.mu.Unlock()
	for _, cc := range conns {
		cc.failAll(ErrClientClosed)
	}
}

// gateCredit is a gate's credit accounting over its remote channels, on
// whatever connections they use: the floating pool is the gate's.
type gateCredit struct {
	mu    sync.Mutex
	cg    *CreditGate
	chans []*remoteChannel // by gate index; nil for local channels
}

// announce hands the credit due to each channel's connection. gc.mu is held.
func (gc *gateCredit) announce() {
	for _, gr := range gc.cg.Grants() {
		ch := gc.chans[gr.Channel]
		ch.conn.credit(ch.tag, gr.Credit)
	}
}

// remoteChannel is a gate's input channel fed by a connection: the buffers
// that arrived against credit, decoded by the consumer's goroutine.
type remoteChannel struct {
	gate  *Gate
	index int
	id    ChannelID
	bc    BatchCodec
	conn  *clientConn
	tag   uint32 // set by conn.add before any buffer can arrive

	mu    sync.Mutex
	queue [][]byte
	ended bool // the last buffer arrived: a broken connection no longer matters
	err   error

	cur []byte // the buffer being decoded; the consumer's goroutine only
	pos int
}

// push queues a buffer that arrived; it never blocks, since the credit
// protocol guarantees a place for it.
func (ch *remoteChannel) push(buf []byte, last bool) {
	ch.mu.Lock()
	ch.queue = append(ch.queue, buf)
	ch.ended = ch.ended || last
	ch.mu.Unlock()
	ch.gate.notify()
}

// fail ends ch with err unless its data has all arrived; it reports whether
// ch failed.
func (ch *remoteChannel) fail(err error) bool {
	ch.mu.Lock()
	if ch.ended || ch.err != nil {
		ch.mu.Unlock()
		return false
	}
	ch.err = fmt.Errorf("network: input channel %d (%v) from partition server %s: %w", ch.index, ch.id, ch.conn.addr, err)
	ch.queue = nil
	ch.mu.Unlock()
	ch.gate.fail(ch.err)
	return true
}

func (ch *remoteChannel) poll() (Element, bool) {
	if ch.cur == nil {
		ch.mu.Lock()
		if ch.err != nil || len(ch.queue) == 0 {
			ch.mu.Unlock()
			return Element{}, false
		}
		ch.cur, ch.pos = ch.queue[0], 0
		ch.queue[0] = nil
		ch.queue = ch.queue[1:]
		ch.mu.Unlock()
	}
	e, n, err := readFrame(ch.cur[ch.pos:], ch.bc)
	if err != nil {
		ch.fail(fmt.Errorf("element at byte %d of a %d-byte buffer: %w", ch.pos, len(ch.cur), err))
		ch.cur = nil
		return Element{}, false
	}
	ch.pos += n
	if ch.pos >= len(ch.cur) {
		// Decoded elements do not alias the buffer: it is free, and so is
		// its credit.
		ch.cur = nil
		gc := ch.gate.credit
		gc.mu.Lock()
		err := gc.cg.Recycle(ch.index)
		if err == nil && e.Kind == KindEndOfInput {
			err = gc.cg.Close(ch.index)
		}
		gc.announce()
		gc.mu.Unlock()
		if err != nil {
			ch.fail(err)
		}
	}
	return e, true
}

// clientConn is the stream to one partition server: a reader that puts
// buffers on their channels and a writer that sends requests and credit.
type clientConn struct {
	client *PartitionClient
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	signal chan struct{}

	mu       sync.Mutex
	chans    map[uint32]*remoteChannel // channels whose data has not all arrived
	nextTag  uint32
	requests []*shufflepb.Request
	credits  []*shufflepb.Credit
	err      error // set once the connection failed
}

func (c *clientConn) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// add requests ch's subpartition on c; false if c already failed (ch too).
func (c *clientConn) add(ch *remoteChannel) bool {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		ch.fail(err)
		return false
	}
	ch.tag = c.nextTag
	c.nextTag++
	c.chans[ch.tag] = ch
	id := ch.id
	c.requests = append(c.requests, &shufflepb.Request{Tag: ch.tag, Channel: &shufflepb.ChannelID{
		Attempt: id.Attempt, Edge: id.Edge, Producer: id.Producer, Consumer: id.Consumer}})
	c.mu.Unlock()
	c.wake()
	return true
}

// credit queues a credit announcement for the writer.
func (c *clientConn) credit(tag uint32, n int) {
	c.mu.Lock()
	c.credits = append(c.credits, &shufflepb.Credit{Tag: tag, Credit: int32(n)})
	c.mu.Unlock()
	c.wake()
}

// failAll ends the connection, failing each channel whose data has not all
// arrived with err.
func (c *clientConn) failAll(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	chans := c.chans
	c.chans = map[uint32]*remoteChannel{}
	c.mu.Unlock()
	c.cancel()
	cl := c.client
	cl.mu.Lock()
	if cl.conns[c.addr] == c {
		delete(cl.conns, c.addr)
	}
	cl.mu.Unlock()
	for _, ch := range chans {
		ch.fail(err)
	}
}

func (c *clientConn) run() {
	cfg := c.client.cfg
	cc, err := grpc.NewClient(c.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: cfg.KeepAlive, Timeout: cfg.KeepAlive, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)),
	)
	if err != nil {
		c.failAll(fmt.Errorf("connect: %w", err))
		return
	}
	defer cc.Close()
	streamCtx := c.ctx
	if cfg.Secret != "" {
		streamCtx = metadata.AppendToOutgoingContext(streamCtx, SecretMetadata, cfg.Secret)
	}
	openCtx, cancelOpen := context.WithTimeout(c.ctx, cfg.ConnectTimeout)
	stop := context.AfterFunc(openCtx, func() {
		if errors.Is(openCtx.Err(), context.DeadlineExceeded) {
			c.failAll(fmt.Errorf("connect: no connection within %v", cfg.ConnectTimeout))
		}
	})
	stream, err := shufflepb.NewShuffleClient(cc).Exchange(streamCtx)
	stop()
	cancelOpen()
	if err != nil {
		c.failAll(fmt.Errorf("connect: %w", err))
		return
	}
	go c.write(stream)
	for {
		m, err := stream.Recv()
		if err != nil {
			switch {
			case c.ctx.Err() != nil:
			case status.Code(err) == codes.Unauthenticated:
				// The server's message says whether the secret was
				// missing or wrong.
				err = fmt.Errorf("refused (check that this worker runs with the application's secret): %w", err)
			default:
				err = fmt.Errorf("connection %w: %w", ErrPeerLost, err)
			}
			c.failAll(err)
			return
		}
		if err := c.deliver(m); err != nil {
			c.failAll(err)
			return
		}
	}
}

// deliver hands a producer message to its channel.
func (c *clientConn) deliver(m *shufflepb.ProducerMessage) error {
	c.mu.Lock()
	ch := c.chans[m.Tag]
	if ch != nil && (m.Last || m.Failure != "") {
		delete(c.chans, m.Tag)
	}
	c.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("protocol error: a buffer for channel tag %d, which is not open", m.Tag)
	}
	if m.Failure != "" {
		ch.fail(fmt.Errorf("producer refused: %s", m.Failure))
		return nil
	}
	gc := ch.gate.credit
	gc.mu.Lock()
	err := gc.cg.Buffer(ch.index, int(m.Backlog))
	gc.announce()
	gc.mu.Unlock()
	if err != nil {
		return fmt.Errorf("protocol error on input channel %d (%v): %w", ch.index, ch.id, err)
	}
	ch.push(m.Data, m.Last)
	return nil
}

// write sends requests and credit as they come, a batch of them per message.
func (c *clientConn) write(stream shufflepb.Shuffle_ExchangeClient) {
	msg := &shufflepb.ConsumerMessage{}
	for {
		select {
		case <-c.signal:
		case <-c.ctx.Done():
			return
		}
		c.mu.Lock()
		msg.Requests, c.requests = c.requests, msg.Requests[:0]
		msg.Credits, c.credits = c.credits, msg.Credits[:0]
		c.mu.Unlock()
		if len(msg.Requests) == 0 && len(msg.Credits) == 0 {
			continue
		}
		if err := stream.Send(msg); err != nil {
			if err == io.EOF {
				// The server ended the stream; the reader's Recv returns
				// its status (a refusal, say), which says more than EOF.
				return
			}
			c.failAll(fmt.Errorf("connection %w: %w", ErrPeerLost, err))
			return
		}
		clear(msg.Requests)
		clear(msg.Credits)
	}
}
