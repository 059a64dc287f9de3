package network

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/network/proto/shufflepb"
)

// ChannelID names one subpartition across processes: what producer subtask
// sends to consumer subtask over one edge, in one execution attempt (a
// restarted job never reads an earlier attempt's data).
type ChannelID struct {
	Attempt  int64
	Edge     int32
	Producer int32
	Consumer int32
}

func (id ChannelID) String() string {
	return fmt.Sprintf("attempt %d edge %d %d->%d", id.Attempt, id.Edge, id.Producer, id.Consumer)
}

// ServerConfig sets the producer side of the network.
type ServerConfig struct {
	// BufferSize is the size a network buffer is flushed at (bytes, default
	// 32 KiB). An element is never split, so one batch larger than this
	// makes one larger buffer.
	BufferSize int
	// BuffersPerSubpartition bounds a subpartition's memory: the buffers it
	// may hold (filling or waiting for credit) before Send blocks (default 4).
	BuffersPerSubpartition int
	// BufferTimeout is how long a partly filled buffer may wait before it is
	// sent anyway: the latency bound at low rates. 0 means the default, 10ms
	// (the writer upstream already batches records, so a short timeout costs
	// little); FlushEveryElement sends every element at once; a negative
	// timeout sends only full buffers. Barriers, idleness and end of input are
	// always sent at once.
	BufferTimeout time.Duration
	// KeepAlive is the interval of the pings that find a dead consumer
	// (default 10s).
	KeepAlive time.Duration
	// SpillDirs are the local directories blocking subpartitions are written
	// to (SpillSender), spread over them; empty means os.TempDir(). A
	// worker passes its container's LOCAL_DIRS, which YARN cleans up.
	SpillDirs []string
	// Secret, when set, is the application's secret that every consumer
	// must send (ClientConfig.Secret) under SecretMetadata: a stream without
	// it, or with another value, is refused as Unauthenticated before it
	// can request a subpartition. The partition server listens on a port of
	// a shared cluster node, and without the secret any process that can
	// reach it could read the job's records. Empty accepts every consumer
	// (local tests, a process-local shuffle).
	Secret string
}

// SecretMetadata is the gRPC metadata key under which a partition client
// sends the application secret. It is the key the control plane uses
// (deploy.SecretMetadata), so one per-application secret guards both; it is
// defined here because the network stands on its own at the bottom.
const SecretMetadata = "loom-app-secret"

// checkSecret refuses a stream or call that does not carry want under
// SecretMetadata. The comparison takes constant time, and the refusal never
// repeats what was sent.
func checkSecret(ctx context.Context, want string) error {
	from := "unknown peer"
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(SecretMetadata)
	if len(got) == 0 || (len(got) == 1 && got[0] == "") {
		return status.Errorf(codes.Unauthenticated, "partition server: consumer %s sent no application secret (%s): only this job's workers may read its partitions", from, SecretMetadata)
	}
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(want)) != 1 {
		return status.Errorf(codes.Unauthenticated, "partition server: consumer %s sent the wrong application secret: it does not belong to this job", from)
	}
	return nil
}

func (c *ServerConfig) withDefaults() ServerConfig {
	d := *c
	if d.BufferSize <= 0 {
		d.BufferSize = 32 << 10
	}
	if d.BuffersPerSubpartition <= 0 {
		d.BuffersPerSubpartition = 4
	}
	if d.BufferTimeout == 0 {
		d.BufferTimeout = 10 * time.Millisecond
	}
	if d.KeepAlive <= 0 {
		d.KeepAlive = 10 * time.Second
	}
	return d
}

// FlushEveryElement is the BufferTimeout that sends each element at once
// (a zero BufferTimeout means the default).
const FlushEveryElement = time.Duration(1)

// PartitionServer serves a process's subpartitions to consumers in other
// processes. Producers write through RemoteSenders; consumers connect with
// a PartitionClient and request subpartitions by ChannelID, in any order with
// respect to the producers' registration.
type PartitionServer struct {
	shufflepb.UnimplementedShuffleServer
	cfg  ServerConfig
	grpc *grpc.Server
	stop chan struct{}

	mu      sync.Mutex
	subs    map[ChannelID]*subpartition
	stopped bool
	// spillDirs are this server's directories under cfg.SpillDirs, made on
	// the first spill into each; Stop removes them.
	spillDirs []string
}

// NewPartitionServer returns a server; Serve starts it on a listener.
func NewPartitionServer(cfg ServerConfig) *PartitionServer {
	cfg = cfg.withDefaults()
	s := &PartitionServer{cfg: cfg, subs: map[ChannelID]*subpartition{}, stop: make(chan struct{})}
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: cfg.KeepAlive, Timeout: cfg.KeepAlive}),
		// Consumers ping as often as every second to find a dead producer.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(1 << 20),
		grpc.MaxSendMsgSize(1 << 30),
	}
	if secret := cfg.Secret; secret != "" {
		// Both kinds of interceptor, so that a call added to the service
		// later is guarded too.
		opts = append(opts,
			grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				if err := checkSecret(ctx, secret); err != nil {
					return nil, err
				}
				return h(ctx, req)
			}),
			grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				if err := checkSecret(ss.Context(), secret); err != nil {
					return err
				}
				return h(srv, ss)
			}),
		)
	}
	s.grpc = grpc.NewServer(opts...)
	shufflepb.RegisterShuffleServer(s.grpc, s)
	return s
}

// Serve accepts consumers on lis until Stop. Buffers are flushed on the
// configured timeout by a goroutine that Serve runs.
func (s *PartitionServer) Serve(lis net.Listener) error {
	if s.cfg.BufferTimeout > FlushEveryElement {
		go s.flushLoop()
	}
	return s.grpc.Serve(lis)
}

// Stop closes every connection and fails every subpartition still open: its
// producer's Send returns the error.
func (s *PartitionServer) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	close(s.stop)
	subs := s.subs
	s.subs = map[ChannelID]*subpartition{}
	dirs := s.spillDirs
	s.mu.Unlock()
	for _, sp := range subs {
		sp.fail(fmt.Errorf("subpartition %v: partition server stopped", sp.id))
	}
	s.grpc.Stop()
	for _, d := range dirs {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

// Drain stops the server once its data is delivered: it waits until every
// subpartition's last buffer went to its consumer and every consumer closed
// its connection (so nothing is left in a connection's send queue). Call it
// after this process's producers ended: consumers in other processes may
// still be reading, and must be able to connect late. When ctx ends first,
// Drain stops the server at once and says what was left.
func (s *PartitionServer) Drain(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.subs)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("partition server stopped with %d subpartition(s) not fully sent: %w", n, context.Cause(ctx))
		}
	}
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		s.Stop()
		return nil
	case <-ctx.Done():
		s.Stop()
		<-done
		return fmt.Errorf("partition server stopped while consumers were still connected: %w", context.Cause(ctx))
	}
}

// flushLoop sends partly filled buffers that waited a buffer timeout.
func (s *PartitionServer) flushLoop() {
	t := time.NewTicker(s.cfg.BufferTimeout)
	defer t.Stop()
	var subs []*subpartition
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		subs = subs[:0]
		for _, sp := range s.subs {
			subs = append(subs, sp)
		}
		s.mu.Unlock()
		for _, sp := range subs {
			sp.mu.Lock()
			if len(sp.cur) > 0 {
				sp.finishLocked()
			}
			c := sp.conn
			sp.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
		clear(subs)
	}
}

// subpartition returns the subpartition of id, making it on first sight by
// either its producer or its consumer.
func (s *PartitionServer) subpartition(id ChannelID) (*subpartition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, fmt.Errorf("subpartition %v: partition server stopped", id)
	}
	sp := s.subs[id]
	if sp == nil {
		credit, err := NewSenderCredit(s.cfg.BuffersPerSubpartition)
		if err != nil {
			return nil, err
		}
		sp = &subpartition{id: id, srv: s, credit: credit, space: make(chan struct{}, 1), failed: make(chan struct{})}
		s.subs[id] = sp
	}
	return sp, nil
}

// release forgets a subpartition that was sent or failed, deleting its
// spill file if it has one: nobody will read it again.
func (s *PartitionServer) release(sp *subpartition) {
	s.mu.Lock()
	if s.subs[sp.id] == sp {
		delete(s.subs, sp.id)
	}
	s.mu.Unlock()
	sp.mu.Lock()
	sf := sp.spill
	sp.spill = nil
	sp.mu.Unlock()
	if sf != nil {
		sf.remove()
	}
}

// Sender registers the producer of subpartition id and returns its Sender.
// Batches are encoded with bc. Only the producer's goroutine may call Send.
func (s *PartitionServer) Sender(id ChannelID, bc BatchCodec) (*RemoteSender, error) {
	if bc == nil {
		return nil, fmt.Errorf("sender of subpartition %v: no batch codec", id)
	}
	sp, err := s.subpartition(id)
	if err != nil {
		return nil, err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.registered {
		return nil, fmt.Errorf("sender of subpartition %v: already registered", id)
	}
	sp.registered = true
	return &RemoteSender{sp: sp, bc: bc, size: s.cfg.BufferSize, flushAll: s.cfg.BufferTimeout == FlushEveryElement}, nil
}

// subpartition is the producer side of one remote channel: the buffers the
// producer fills and the queue the connection's writer sends against credit.
type subpartition struct {
	id  ChannelID
	srv *PartitionServer

	mu         sync.Mutex
	credit     SenderCredit
	cur        []byte   // the buffer being filled, if one is held
	queue      [][]byte // finished buffers waiting for credit
	free       [][]byte // sent buffers, kept for reuse
	conn       *serverConn
	tag        uint32
	registered bool
	ended      bool // end of input is in a finished buffer (or in spill)
	// spill is the finished file of a blocking subpartition, served a
	// block at a time instead of queue; nil for a pipelined one.
	spill  *spillFile
	err    error
	space  chan struct{} // signaled when a buffer slot frees
	failed chan struct{} // closed with err
}

// finishLocked queues the buffer being filled.
func (sp *subpartition) finishLocked() {
	if err := sp.credit.Enqueue(); err != nil {
		panic(fmt.Sprintf("network: subpartition %v: %v", sp.id, err)) // cur is held, so Enqueue cannot fail
	}
	sp.queue = append(sp.queue, sp.cur)
	sp.cur = nil
}

func (sp *subpartition) fail(err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.err == nil {
		sp.err = err
		close(sp.failed)
	}
}

// RemoteSender is the producer's end of a channel to another process: it
// frames elements into network buffers, which the partition server sends to
// the consumer against its credit. Send blocks while the subpartition holds
// its configured number of buffers, so a slow consumer holds its producer
// back with bounded memory.
type RemoteSender struct {
	sp       *subpartition
	bc       BatchCodec
	size     int
	flushAll bool
	frame    []byte // the producer's scratch, reused for every element
}

// Send implements Sender. A batch is encoded at once, so the producer may
// reuse it when Send returns. Barriers, idleness and end of input flush.
func (r *RemoteSender) Send(ctx context.Context, e Element, waited *time.Duration) error {
	var err error
	if r.frame, err = appendFrame(r.frame[:0], e, r.bc); err != nil {
		return fmt.Errorf("subpartition %v: %w", r.sp.id, err)
	}
	flush := r.flushAll || e.Kind == KindBarrier || e.Kind == KindIdle || e.Kind == KindEndOfInput
	sp := r.sp
	sp.mu.Lock()
	for {
		if sp.err != nil {
			err := sp.err
			sp.mu.Unlock()
			return err
		}
		if sp.ended {
			sp.mu.Unlock()
			return fmt.Errorf("subpartition %v: send of a %v element after end of input", sp.id, e.Kind)
		}
		if len(sp.cur) > 0 && len(sp.cur)+len(r.frame) > r.size {
			sp.finishLocked()
		}
		if sp.cur != nil {
			break
		}
		if sp.credit.Acquire() {
			if n := len(sp.free); n > 0 {
				sp.cur = sp.free[n-1][:0]
				sp.free = sp.free[:n-1]
			} else {
				sp.cur = make([]byte, 0, r.size)
			}
			break
		}
		// Every buffer is taken: wait for the connection to send one.
		c := sp.conn
		sp.mu.Unlock()
		if c != nil {
			c.wake()
		}
		start := time.Now()
		select {
		case <-sp.space:
		case <-sp.failed:
		case <-ctx.Done():
			return ctx.Err()
		}
		if waited != nil {
			*waited += time.Since(start)
		}
		sp.mu.Lock()
	}
	sp.cur = append(sp.cur, r.frame...)
	if flush || len(sp.cur) >= r.size {
		sp.finishLocked()
	}
	if e.Kind == KindEndOfInput {
		sp.ended = true
	}
	c := sp.conn
	sendable := sp.credit.Sendable()
	sp.mu.Unlock()
	if c != nil && sendable {
		c.wake()
	}
	return nil
}

// serverConn is one consumer's Exchange stream: the subpartitions it
// requested, and a writer that sends their buffers round-robin, each only
// against credit, so that a channel without credit never holds up the others.
type serverConn struct {
	srv    *PartitionServer
	stream shufflepb.Shuffle_ExchangeServer
	peer   string
	signal chan struct{}

	mu       sync.Mutex
	subs     map[uint32]*subpartition
	list     []*subpartition              // subs in request order, for the writer's round-robin
	failures []*shufflepb.ProducerMessage // refused requests, for the writer to report
}

func (c *serverConn) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Exchange implements shufflepb.ShuffleServer: it serves one consumer.
func (s *PartitionServer) Exchange(stream shufflepb.Shuffle_ExchangeServer) error {
	c := &serverConn{srv: s, stream: stream, peer: "unknown peer", signal: make(chan struct{}, 1), subs: map[uint32]*subpartition{}}
	if p, ok := peer.FromContext(stream.Context()); ok {
		c.peer = p.Addr.String()
	}
	writeErr := make(chan error, 1)
	done := make(chan struct{})
	go func() { writeErr <- c.write(done) }()
	err := c.read()
	close(done)
	// A broken stream fails the writer's Send too, so this wait is short.
	if werr := <-writeErr; err == nil {
		err = werr
	}
	if err != nil {
		err = fmt.Errorf("connection to consumer %s %w: %w", c.peer, ErrPeerLost, err)
	} else {
		err = fmt.Errorf("consumer %s closed the connection before end of input", c.peer)
	}
	c.mu.Lock()
	subs := c.list
	c.list, c.subs = nil, nil
	c.mu.Unlock()
	for _, sp := range subs {
		sp.fail(fmt.Errorf("subpartition %v: %w", sp.id, err))
		s.release(sp)
	}
	return nil
}

// read handles the consumer's requests and credit until the stream ends.
func (c *serverConn) read() error {
	for {
		m, err := c.stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, r := range m.Requests {
			if err := c.request(r); err != nil {
				// The channel fails; the connection and its other channels go
				// on. Only the writer sends on the stream.
				c.mu.Lock()
				c.failures = append(c.failures, &shufflepb.ProducerMessage{Tag: r.Tag, Failure: err.Error()})
				c.mu.Unlock()
			}
		}
		for _, cr := range m.Credits {
			c.mu.Lock()
			sp := c.subs[cr.Tag]
			c.mu.Unlock()
			if sp == nil {
				continue // a channel that ended or failed; its credit is moot
			}
			sp.mu.Lock()
			err := sp.credit.Grant(int(cr.Credit))
			sp.mu.Unlock()
			if err != nil {
				return fmt.Errorf("subpartition %v: %w", sp.id, err)
			}
		}
		c.wake()
	}
}

func (c *serverConn) request(r *shufflepb.Request) error {
	if r.Channel == nil {
		return fmt.Errorf("request for channel tag %d names no subpartition", r.Tag)
	}
	id := ChannelID{Attempt: r.Channel.Attempt, Edge: r.Channel.Edge, Producer: r.Channel.Producer, Consumer: r.Channel.Consumer}
	sp, err := c.srv.subpartition(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs[r.Tag] != nil {
		return fmt.Errorf("subpartition %v: tag %d already in use on this connection", id, r.Tag)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.conn != nil {
		return fmt.Errorf("subpartition %v: already requested by consumer %s", id, sp.conn.peer)
	}
	sp.conn, sp.tag = c, r.Tag
	c.subs[r.Tag] = sp
	c.list = append(c.list, sp)
	return nil
}

// write sends buffers until done or the stream fails: each turn visits every
// subpartition once and sends one buffer from each that has one and credit.
func (c *serverConn) write(done <-chan struct{}) error {
	msg := &shufflepb.ProducerMessage{}
	var list []*subpartition
	next := 0
	for {
		c.mu.Lock()
		list = append(list[:0], c.list...)
		failures := c.failures
		c.failures = nil
		c.mu.Unlock()
		for _, f := range failures {
			if err := c.stream.Send(f); err != nil {
				return err
			}
		}
		sent := false
		for k := range list {
			sp := list[(next+k)%len(list)]
			if err := c.loadSpill(sp); err != nil {
				if err := c.stream.Send(&shufflepb.ProducerMessage{Tag: sp.tag, Failure: err.Error()}); err != nil {
					return err
				}
				c.finished(sp)
				continue
			}
			sp.mu.Lock()
			if !sp.credit.Sendable() {
				sp.mu.Unlock()
				continue
			}
			backlog, err := sp.credit.Send()
			if err != nil {
				sp.mu.Unlock()
				return err
			}
			buf := sp.queue[0]
			sp.queue[0] = nil
			sp.queue = sp.queue[1:]
			last := sp.ended && len(sp.queue) == 0 && sp.cur == nil
			if sp.spill != nil {
				// The file's unread blocks are the backlog.
				backlog = sp.spill.remaining()
				last = last && backlog == 0
			}
			msg.Tag, msg.Backlog, msg.Data, msg.Last = sp.tag, int32(backlog), buf, last
			sp.mu.Unlock()
			select {
			case sp.space <- struct{}{}:
			default:
			}
			// The stream encodes the message before Send returns, so buf is
			// free for reuse afterwards.
			if err := c.stream.Send(msg); err != nil {
				return fmt.Errorf("send buffer of subpartition %v: %w", sp.id, err)
			}
			msg.Data = nil
			sent = true
			if last {
				c.finished(sp)
				continue
			}
			sp.mu.Lock()
			if len(sp.free) < sp.credit.capacity {
				sp.free = append(sp.free, buf[:0])
			}
			sp.mu.Unlock()
		}
		if len(list) > 0 {
			next = (next + 1) % len(list)
		}
		if sent {
			continue
		}
		select {
		case <-c.signal:
		case <-done:
			return nil
		case <-c.stream.Context().Done():
			return c.stream.Context().Err()
		}
	}
}

// loadSpill queues the next block of a spilled subpartition when its
// consumer has credit and nothing else is queued, so the server holds at
// most one block of the file in memory. Only the connection's writer reads
// a spill file.
func (c *serverConn) loadSpill(sp *subpartition) error {
	sp.mu.Lock()
	sf := sp.spill
	if sf == nil || sf.remaining() == 0 || sp.credit.Queued() > 0 || sp.credit.Credit() == 0 {
		sp.mu.Unlock()
		return nil
	}
	var buf []byte
	if n := len(sp.free); n > 0 {
		buf, sp.free = sp.free[n-1], sp.free[:n-1]
	}
	sp.mu.Unlock()
	data, err := sf.read(buf)
	if err != nil {
		return fmt.Errorf("spilled subpartition %v: %w", sp.id, err)
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.credit.Acquire() {
		return fmt.Errorf("spilled subpartition %v: no buffer slot for block %d", sp.id, sf.next-1)
	}
	if err := sp.credit.Enqueue(); err != nil {
		return fmt.Errorf("spilled subpartition %v: %w", sp.id, err)
	}
	sp.queue = append(sp.queue, data)
	return nil
}

// finished drops a subpartition whose end of input has been sent.
func (c *serverConn) finished(sp *subpartition) {
	c.mu.Lock()
	delete(c.subs, sp.tag)
	for i, x := range c.list {
		if x == sp {
			c.list = append(c.list[:i], c.list[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.srv.release(sp)
}

var _ Sender = (*RemoteSender)(nil)
