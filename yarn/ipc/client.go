package ipc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"google.golang.org/protobuf/proto"
)

// Defaults of Options.
const (
	// DefaultPingInterval matches Hadoop's ipc.ping.interval.
	DefaultPingInterval = 60 * time.Second
	// DefaultConnectTimeout bounds dialing and authentication (Hadoop:
	// ipc.client.connect.timeout). A call whose context ends first stops
	// waiting; the connection attempt goes on for the calls that follow.
	DefaultConnectTimeout = 20 * time.Second
)

// Options configure a Client.
type Options struct {
	// Protocol is the Java protocol interface the server dispatches on,
	// e.g. "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB". It is
	// sent in the connection context and in every call.
	Protocol string
	// User is the user a SIMPLE connection acts as. Empty means
	// $HADOOP_USER_NAME, else the OS user, as Hadoop clients do.
	User string
	// SASL, when set, authenticates every new connection with the
	// Mechanism it returns (it is called once per connection, so a caller
	// can switch to a rolled-over token). Nil means SIMPLE authentication.
	SASL func() (Mechanism, error)
	// PingInterval is how long a connection may go without the client
	// writing before it sends a ping, which keeps servers from dropping it.
	// Zero means DefaultPingInterval; negative disables pings.
	PingInterval time.Duration
	// ConnectTimeout bounds dial plus handshake; zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Dial opens the TCP connection; nil means net.Dialer.DialContext. It
	// must return when ctx ends: Close cancels a dial in flight and waits
	// for it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client calls one protocol on one Hadoop IPC server over one connection
// at a time, multiplexing concurrent calls. A call that finds the
// connection closed (server restart, idle drop) opens a new one; calls in
// flight when a connection breaks fail and are not retried, because YARN
// calls such as submitApplication are not idempotent. A Client is safe for
// concurrent use; Close releases it.
//
// One connection is opened at a time, by a goroutine of its own that every
// call needing it waits on with its own context, and no lock is held across
// the network: a slow dial or a silent server holds back only the calls that
// need the connection, each no longer than its context allows, and Close
// interrupts it.
type Client struct {
	addr     string
	opts     Options
	clientID []byte
	nextCall atomic.Int32
	// closing ends when Close is called; it cancels a dial in flight.
	closing context.Context
	stop    context.CancelFunc

	mu     sync.Mutex
	cur    *conn
	dial   *dialing // the connection being opened; nil if none
	closed bool
	wg     sync.WaitGroup // dialer, reader and pinger goroutines of all connections
}

// dialing is one attempt to open a connection, shared by every call that
// finds no live connection while it runs.
type dialing struct {
	done chan struct{} // closed once cn or err is set
	cn   *conn
	err  error
}

// NewClient returns a client for addr ("host:port"). It does not connect:
// the first call does.
func NewClient(addr string, opts Options) *Client {
	if opts.PingInterval == 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Dial == nil {
		var d net.Dialer
		opts.Dial = d.DialContext
	}
	if opts.User == "" && opts.SASL == nil {
		opts.User = defaultUser()
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id) // crypto/rand.Read never fails on supported platforms
	closing, stop := context.WithCancel(context.Background())
	return &Client{addr: addr, opts: opts, clientID: id, closing: closing, stop: stop}
}

// defaultUser is the user Hadoop's SIMPLE auth would name.
func defaultUser() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// Addr is the server address the client calls.
func (c *Client) Addr() string { return c.addr }

// Call invokes method with req and decodes the reply into resp. The
// context bounds the whole call, including connecting; when it ends first
// the call is abandoned (the server may still execute it). A server-side
// failure is a *RemoteError.
func (c *Client) Call(ctx context.Context, method string, req, resp proto.Message) error {
	if err := c.call(ctx, method, req, resp); err != nil {
		return fmt.Errorf("%s.%s at %s: %w", shortProtocol(c.opts.Protocol), method, c.addr, err)
	}
	return nil
}

func shortProtocol(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		p = p[i+1:]
	}
	return strings.TrimSuffix(p, "PB")
}

func (c *Client) call(ctx context.Context, method string, req, resp proto.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Call ids are non-negative and wrap around, as in Hadoop's client.
	id := (c.nextCall.Add(1) - 1) & math.MaxInt32
	pkt, err := callPacket(id, 0, c.clientID, method, c.opts.Protocol, req)
	if err != nil {
		return err
	}
	ch := make(chan *response, 1)
	var cn *conn
	// A connection that broke before this call was registered on it has
	// not seen the call, so a second, fresh connection is safe to try.
	for attempt := 0; ; attempt++ {
		if cn, err = c.connection(ctx); err != nil {
			return err
		}
		if err = cn.register(id, ch); err == nil {
			break
		}
		if attempt == 1 {
			return err
		}
	}
	if err := cn.write(ctx, pkt); err != nil {
		cn.unregister(id)
		return err
	}
	select {
	case r := <-ch:
		return finish(r, resp)
	case <-cn.done:
		select {
		case r := <-ch:
			return finish(r, resp)
		default:
			return cn.err
		}
	case <-ctx.Done():
		cn.unregister(id)
		return ctx.Err()
	}
}

func finish(r *response, resp proto.Message) error {
	if err := r.err(); err != nil {
		return err
	}
	return r.decodeBody(resp)
}

// Close closes the connection; calls in flight fail with ErrClosed. A dial
// in flight is cancelled (its socket closed), not waited out.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cn := c.cur
	c.cur = nil
	c.mu.Unlock()
	c.stop()
	if cn != nil {
		cn.fail(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// connection returns the live connection, or waits, as long as ctx allows,
// for the one being opened, starting to open one if there is none or the last
// one broke.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if c.cur != nil && !c.cur.broken() {
		cn := c.cur
		c.mu.Unlock()
		return cn, nil
	}
	d := c.dial
	if d == nil {
		d = &dialing{done: make(chan struct{})}
		c.dial = d
		c.wg.Add(1)
		go c.runDial(d)
	}
	c.mu.Unlock()
	select {
	case <-d.done:
		return d.cn, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
}

// runDial opens a connection for d's waiters and makes it the client's. It
// runs on its own goroutine so that no caller's context, and no lock, is tied
// to the network: the connection is bounded by ConnectTimeout and by Close.
func (c *Client) runDial(d *dialing) {
	defer c.wg.Done()
	cn, err := c.open(c.closing)
	c.mu.Lock()
	c.dial = nil
	if c.closed {
		if cn != nil {
			cn.fail(ErrClosed) // closes the socket
		}
		cn, err = nil, ErrClosed
	}
	if err == nil {
		c.cur = cn
		c.wg.Add(2)
		go func() { defer c.wg.Done(); cn.readLoop() }()
		go func() { defer c.wg.Done(); cn.pingLoop(c.opts.PingInterval, c.clientID) }()
	}
	d.cn, d.err = cn, err
	c.mu.Unlock()
	close(d.done)
}

// open dials, sends the preamble, authenticates and sends the connection
// context. Ending ctx closes the socket, which interrupts the handshake.
func (c *Client) open(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	nc, err := c.opts.Dial(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	// Closing the socket is how a cancelled context interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	err = c.handshake(nc)
	if !stop() || ctx.Err() != nil {
		nc.Close()
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("connect: %w", ctx.Err())
		}
		return nil, err
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	cn := &conn{nc: nc, pending: map[int32]chan *response{}, done: make(chan struct{})}
	cn.lastWrite.Store(time.Now().UnixNano())
	return cn, nil
}

func (c *Client) handshake(nc net.Conn) error {
	userInfo := &commonpb.UserInformationProto{EffectiveUser: proto.String(c.opts.User)}
	if c.opts.SASL == nil {
		if _, err := nc.Write(preamble(authProtocolNone)); err != nil {
			return fmt.Errorf("send preamble: %w", err)
		}
	} else {
		if _, err := nc.Write(preamble(authProtocolSASL)); err != nil {
			return fmt.Errorf("send preamble: %w", err)
		}
		mech, err := c.opts.SASL()
		if err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		simple, err := c.negotiate(nc, mech)
		if err != nil {
			return fmt.Errorf("sasl %s: %w", mech.Mechanism(), err)
		}
		if !simple {
			userInfo = nil // the token names the user; naming another fails the connection
		} else if userInfo.GetEffectiveUser() == "" {
			userInfo.EffectiveUser = proto.String(defaultUser())
		}
	}
	ctxPkt, err := packet(requestHeader(callIDConnectionContext, -1, c.clientID),
		&commonpb.IpcConnectionContextProto{UserInfo: userInfo, Protocol: proto.String(c.opts.Protocol)})
	if err != nil {
		return err
	}
	if _, err := nc.Write(ctxPkt); err != nil {
		return fmt.Errorf("send connection context: %w", err)
	}
	return nil
}

// negotiate runs the SASL exchange; it reports whether the server let the
// client in without authentication.
func (c *Client) negotiate(nc net.Conn, mech Mechanism) (bool, error) {
	n := &saslNegotiation{mech: mech}
	msg := n.start()
	for {
		pkt, err := packet(requestHeader(callIDSASL, -1, nil), msg)
		if err != nil {
			return false, err
		}
		if _, err := nc.Write(pkt); err != nil {
			return false, fmt.Errorf("send %s: %w", msg.GetState(), err)
		}
		for {
			raw, err := readPacket(nc)
			if err != nil {
				return false, fmt.Errorf("read reply to %s: %w", msg.GetState(), noEOF(err))
			}
			r, err := parseResponse(raw)
			if err != nil {
				return false, err
			}
			if err := r.err(); err != nil {
				return false, err
			}
			if r.callID() != callIDSASL {
				return false, fmt.Errorf("reply with call id %d during SASL", r.callID())
			}
			in := &commonpb.RpcSaslProto{}
			if err := r.decodeBody(in); err != nil {
				return false, err
			}
			reply, done, err := n.step(in)
			if err != nil {
				return false, err
			}
			if done {
				return n.simple, nil
			}
			if reply != nil {
				msg = reply
				break
			}
		}
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("server closed the connection: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// conn is one authenticated connection and its calls in flight.
type conn struct {
	nc        net.Conn
	wmu       sync.Mutex // one packet at a time
	lastWrite atomic.Int64

	mu      sync.Mutex
	pending map[int32]chan *response
	err     error         // why the connection broke; set once
	done    chan struct{} // closed when err is set
}

func (cn *conn) broken() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

func (cn *conn) register(id int32, ch chan *response) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return cn.err
	}
	cn.pending[id] = ch
	return nil
}

func (cn *conn) unregister(id int32) {
	cn.mu.Lock()
	delete(cn.pending, id)
	cn.mu.Unlock()
}

// write sends one packet. A failed or timed-out write may leave half a
// packet on the wire, so it breaks the connection.
func (cn *conn) write(ctx context.Context, pkt []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.broken() {
		return cn.err
	}
	dl, _ := ctx.Deadline()
	_ = cn.nc.SetWriteDeadline(dl)
	if _, err := cn.nc.Write(pkt); err != nil {
		err = fmt.Errorf("send: %w", err)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// A server that rejects a connection says why in a response
			// and then closes; the reader reports that better than the
			// broken pipe does, so give it a moment.
			select {
			case <-cn.done:
			case <-time.After(time.Second):
			}
		}
		cn.fail(err)
		return cn.err
	}
	cn.lastWrite.Store(time.Now().UnixNano())
	return nil
}

// fail breaks the connection with err (the first error wins), which wakes
// every call waiting on it.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err != nil {
		return
	}
	cn.err = err
	cn.pending = nil
	close(cn.done)
	cn.nc.Close()
}

// readLoop delivers each response to the call that waits for it; responses
// to abandoned calls are dropped.
func (cn *conn) readLoop() {
	for {
		raw, err := readPacket(cn.nc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server closed the connection")
			}
			cn.fail(fmt.Errorf("connection lost: %w", err))
			return
		}
		r, err := parseResponse(raw)
		if err != nil {
			cn.fail(err)
			return
		}
		id := r.callID()
		if id == callIDAuthFailed || id == callIDInvalid || r.header.GetStatus() == commonpb.RpcResponseHeaderProto_FATAL {
			// A connection-level failure: the server closes the connection.
			err := r.err()
			if err == nil {
				err = fmt.Errorf("server answered with connection-level call id %d", id)
			}
			cn.fail(err)
			return
		}
		cn.mu.Lock()
		ch, ok := cn.pending[id]
		delete(cn.pending, id)
		cn.mu.Unlock()
		if ok {
			ch <- r
		}
	}
}

// pingLoop sends a ping whenever the connection has gone interval without
// a write; servers drop connections that stay silent.
func (cn *conn) pingLoop(interval time.Duration, clientID []byte) {
	if interval < 0 {
		return
	}
	pkt, err := packet(requestHeader(callIDPing, -1, clientID))
	if err != nil {
		cn.fail(err)
		return
	}
	t := time.NewTicker(interval / 4)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case now := <-t.C:
			if now.Sub(time.Unix(0, cn.lastWrite.Load())) >= interval {
				_ = cn.write(context.Background(), pkt)
			}
		}
	}
}
