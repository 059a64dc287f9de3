package ipc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"github.com/loom-yarn/loom/yarn/security"
	"google.golang.org/protobuf/proto"
)

const testProtocol = "org.example.TestProtocolPB"

// fakeServer speaks the server side of Hadoop IPC just far enough to test
// the client: preamble, optional SASL DIGEST-MD5 with one known token,
// connection context, calls handed to handle, pings counted.
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	token  *security.Token // non-nil: require SASL with this token
	handle func(c *fakeCall)

	conns    atomic.Int32
	pings    atomic.Int32
	mu       sync.Mutex
	contexts []*commonpb.IpcConnectionContextProto
	wg       sync.WaitGroup
}

// fakeCall is one call the fake server received.
type fakeCall struct {
	id     int32
	method string
	kind   string // the request is a TokenProto; its kind identifies it
	srv    *fakeServer
	conn   net.Conn
	wmu    *sync.Mutex
}

func (c *fakeCall) reply(kind string) {
	c.srv.send(c.conn, c.wmu, &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(c.id)), Status: commonpb.RpcResponseHeaderProto_SUCCESS.Enum()},
		&commonpb.TokenProto{Kind: proto.String(kind)})
}

func (c *fakeCall) fail(status commonpb.RpcResponseHeaderProto_RpcStatusProto, class, msg string) {
	c.srv.send(c.conn, c.wmu, &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(c.id)), Status: status.Enum(),
		ExceptionClassName: proto.String(class), ErrorMsg: proto.String(msg)})
}

func newFakeServer(t *testing.T, token *security.Token, handle func(*fakeCall)) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, token: token, handle: handle}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(nc) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakeServer) send(nc net.Conn, wmu *sync.Mutex, msgs ...proto.Message) {
	pkt, err := packet(msgs...)
	if err != nil {
		s.t.Error(err)
		return
	}
	wmu.Lock()
	defer wmu.Unlock()
	_, _ = nc.Write(pkt)
}

// readRequest reads one client packet: its header and the rest.
func readRequest(nc net.Conn) (*commonpb.RpcRequestHeaderProto, []byte, error) {
	raw, err := readPacket(nc)
	if err != nil {
		return nil, nil, err
	}
	hb, rest, err := nextDelimited(raw)
	if err != nil {
		return nil, nil, err
	}
	h := &commonpb.RpcRequestHeaderProto{}
	return h, rest, proto.Unmarshal(hb, h)
}

func decodeNext(buf []byte, m proto.Message) []byte {
	b, rest, err := nextDelimited(buf)
	if err != nil {
		panic(err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		panic(err)
	}
	return rest
}

func (s *fakeServer) serve(nc net.Conn) {
	defer nc.Close()
	wmu := &sync.Mutex{}
	pre := make([]byte, 7)
	if _, err := io.ReadFull(nc, pre); err != nil {
		return
	}
	if s.token != nil {
		if pre[6] != authProtocolSASL {
			s.send(nc, wmu, &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(0xffffffff)), Status: commonpb.RpcResponseHeaderProto_FATAL.Enum(),
				ExceptionClassName: proto.String(ClassAccessControl), ErrorMsg: proto.String("SIMPLE authentication is not enabled.  Available:[TOKEN]")})
			// Read what the client already sent, so that closing does not
			// reset the connection before the client has read the error.
			_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = io.Copy(io.Discard, nc)
			return
		}
		if !s.saslServer(nc, wmu) {
			return
		}
	}
	h, rest, err := readRequest(nc)
	if err != nil || h.GetCallId() != callIDConnectionContext {
		s.t.Errorf("connection context: header %v, err %v", h, err)
		return
	}
	cc := &commonpb.IpcConnectionContextProto{}
	decodeNext(rest, cc)
	s.mu.Lock()
	s.contexts = append(s.contexts, cc)
	s.mu.Unlock()
	for {
		h, rest, err := readRequest(nc)
		if err != nil {
			return
		}
		if h.GetCallId() == callIDPing {
			s.pings.Add(1)
			continue
		}
		rh := &commonpb.RequestHeaderProto{}
		rest = decodeNext(rest, rh)
		req := &commonpb.TokenProto{}
		decodeNext(rest, req)
		if rh.GetDeclaringClassProtocolName() != testProtocol || rh.GetClientProtocolVersion() != 1 {
			s.t.Errorf("request header %v", rh)
		}
		c := &fakeCall{id: h.GetCallId(), method: rh.GetMethodName(), kind: req.GetKind(), srv: s, conn: nc, wmu: wmu}
		go s.handle(c)
	}
}

// saslServer plays Hadoop's server side of a token negotiation.
func (s *fakeServer) saslServer(nc net.Conn, wmu *sync.Mutex) bool {
	saslHeader := &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(0xffffffdf)), Status: commonpb.RpcResponseHeaderProto_SUCCESS.Enum()}
	h, rest, err := readRequest(nc)
	msg := &commonpb.RpcSaslProto{}
	if err != nil || h.GetCallId() != callIDSASL || len(h.GetClientId()) != 0 || h.GetRetryCount() != -1 {
		s.t.Errorf("SASL header %v, err %v", h, err)
		return false
	}
	decodeNext(rest, msg)
	if msg.GetState() != commonpb.RpcSaslProto_NEGOTIATE {
		s.t.Errorf("first SASL message %v", msg)
		return false
	}
	challenge := `realm="default",nonce="bm9uY2U=",qop="auth",charset=utf-8,algorithm=md5-sess`
	s.send(nc, wmu, saslHeader, &commonpb.RpcSaslProto{State: commonpb.RpcSaslProto_NEGOTIATE.Enum(), Auths: []*commonpb.RpcSaslProto_SaslAuth{
		{Method: proto.String("KERBEROS"), Mechanism: proto.String("GSSAPI"), Protocol: proto.String("rm"), ServerId: proto.String("host")},
		{Method: proto.String("TOKEN"), Mechanism: proto.String("DIGEST-MD5"), Protocol: proto.String(""), ServerId: proto.String("default"), Challenge: []byte(challenge)},
	}})
	if _, rest, err = readRequest(nc); err != nil {
		return false
	}
	msg.Reset()
	decodeNext(rest, msg)
	if msg.GetState() != commonpb.RpcSaslProto_INITIATE || len(msg.GetAuths()) != 1 || msg.GetAuths()[0].GetMechanism() != "DIGEST-MD5" || msg.GetAuths()[0].Challenge != nil {
		s.t.Errorf("INITIATE %v", msg)
		return false
	}
	f, err := parseDigestFields(string(msg.GetToken()))
	if err != nil {
		s.t.Error(err)
		return false
	}
	// Recompute what a client holding the real password would send.
	want, _ := newDigestMD5(s.token.DigestUser(), s.token.DigestPassword(), "/default", f["cnonce"])
	wantResp, _ := want.respond([]byte(challenge))
	wf, _ := parseDigestFields(string(wantResp))
	if f["username"] != s.token.DigestUser() || f["digest-uri"] != "/default" || f["response"] != wf["response"] {
		s.send(nc, wmu, &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(0xffffffdf)), Status: commonpb.RpcResponseHeaderProto_FATAL.Enum(),
			ExceptionClassName: proto.String(ClassInvalidToken), ErrorMsg: proto.String("DIGEST-MD5: digest response format violation. Mismatched response.")})
		return false
	}
	s.send(nc, wmu, saslHeader, &commonpb.RpcSaslProto{State: commonpb.RpcSaslProto_SUCCESS.Enum(), Token: []byte("rspauth=" + want.expects)})
	return true
}

func echo(c *fakeCall) { c.reply("re:" + c.kind) }

func call(t *testing.T, c *Client, ctx context.Context, method, kind string) (string, error) {
	t.Helper()
	resp := &commonpb.TokenProto{}
	err := c.Call(ctx, method, &commonpb.TokenProto{Kind: proto.String(kind)}, resp)
	return resp.GetKind(), err
}

// TestWireBytes checks every byte a SIMPLE client writes for its preamble,
// connection context and first call against the protocol's layout.
func TestWireBytes(t *testing.T) {
	cli, srv := net.Pipe()
	c := NewClient("pipe", Options{Protocol: "x.P", User: "alice", PingInterval: -1,
		Dial: func(context.Context, string, string) (net.Conn, error) { return cli, nil }})
	c.clientID = make([]byte, 16)
	for i := range c.clientID {
		c.clientID[i] = byte(i)
	}
	defer c.Close()
	go func() { _, _ = call(t, c, context.Background(), "m", "k") }()

	clientID := "000102030405060708090a0b0c0d0e0f"
	want := "6872706309" + "00" + "00" + // "hrpc", version 9, service class 0, auth NONE
		// connection context: length 42; header (26 bytes): kind=2, op=0, callId=-3 (zigzag 5), clientId, retry=-1 (zigzag 1)
		"0000002a" + "1a" + "0802" + "1000" + "1805" + "2210" + clientID + "2801" +
		// IpcConnectionContextProto (14 bytes): userInfo{effectiveUser "alice"}, protocol "x.P"
		"0e" + "1207" + "0a05616c696365" + "1a03782e50" +
		// call: length 42; header with callId=0, retry=0
		"0000002a" + "1a" + "0802" + "1000" + "1800" + "2210" + clientID + "2800" +
		// RequestHeaderProto (10 bytes): method "m", protocol "x.P", version 1
		"0a" + "0a016d" + "1203782e50" + "1801" +
		// the request: TokenProto{kind "k"}
		"03" + "1a016b"
	got := make([]byte, len(want)/2)
	if _, err := io.ReadFull(srv, got); err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Fatalf("wire bytes\n got %x\nwant %s", got, want)
	}
	srv.Close()
}

func TestConcurrentCallsOutOfOrder(t *testing.T) {
	s := newFakeServer(t, nil, func(c *fakeCall) {
		var n int
		fmt.Sscan(c.kind, &n)
		time.Sleep(time.Duration(20-n) * 3 * time.Millisecond) // later calls answer first
		echo(c)
	})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol, User: "bob"})
	defer c.Close()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := call(t, c, context.Background(), "echo", fmt.Sprint(i))
			if err != nil || got != fmt.Sprintf("re:%d", i) {
				t.Errorf("call %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 shared", n)
	}
	if u := s.contexts[0].GetUserInfo().GetEffectiveUser(); u != "bob" || s.contexts[0].GetProtocol() != testProtocol {
		t.Fatalf("connection context %v", s.contexts[0])
	}
}

func TestRemoteError(t *testing.T) {
	s := newFakeServer(t, nil, func(c *fakeCall) {
		if c.method == "fail" {
			c.fail(commonpb.RpcResponseHeaderProto_ERROR, ClassApplicationNotFound, "Application with id 'application_1_0001' doesn't exist in RM.\n\tat org.apache...")
			return
		}
		echo(c)
	})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	defer c.Close()
	_, err := call(t, c, context.Background(), "fail", "x")
	var re *RemoteError
	if !errors.As(err, &re) || re.Class != ClassApplicationNotFound || re.Fatal {
		t.Fatalf("err = %#v", err)
	}
	if !IsApplicationNotFound(err) || IsAccessDenied(err) || IsRetriable(err) {
		t.Fatal("class helpers disagree with the class")
	}
	if msg := err.Error(); !strings.Contains(msg, "TestProtocol.fail at 127.0.0.1") ||
		!strings.Contains(msg, "ApplicationNotFoundException: Application with id") || strings.Contains(msg, "at org.apache") {
		t.Fatalf("message %q", msg)
	}
	// ERROR leaves the connection open.
	if got, err := call(t, c, context.Background(), "echo", "y"); err != nil || got != "re:y" {
		t.Fatalf("after error: %q %v", got, err)
	}
	if s.conns.Load() != 1 {
		t.Fatal("an ERROR response closed the connection")
	}
}

func TestTimeoutKeepsConnection(t *testing.T) {
	late := make(chan *fakeCall, 1)
	s := newFakeServer(t, nil, func(c *fakeCall) {
		if c.method == "hang" {
			late <- c
			return
		}
		echo(c)
	})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := call(t, c, ctx, "hang", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	(<-late).reply("too late") // dropped by the reader
	if got, err := call(t, c, context.Background(), "echo", "z"); err != nil || got != "re:z" {
		t.Fatalf("after timeout: %q %v", got, err)
	}
	if s.conns.Load() != 1 {
		t.Fatal("a timed-out call broke the connection")
	}
}

func TestPingWhenIdle(t *testing.T) {
	s := newFakeServer(t, nil, echo)
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol, PingInterval: 40 * time.Millisecond})
	defer c.Close()
	if _, err := call(t, c, context.Background(), "echo", "a"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.pings.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.pings.Load() < 2 {
		t.Fatalf("%d pings while idle", s.pings.Load())
	}
}

func TestReconnectAfterServerClose(t *testing.T) {
	s := newFakeServer(t, nil, func(c *fakeCall) {
		if c.method == "bye" {
			c.conn.Close()
			return
		}
		echo(c)
	})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	defer c.Close()
	if _, err := call(t, c, context.Background(), "bye", "x"); err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("call on a closed connection: %v", err)
	}
	if got, err := call(t, c, context.Background(), "echo", "again"); err != nil || got != "re:again" {
		t.Fatalf("after reconnect: %q %v", got, err)
	}
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestFatalFailsPendingCalls(t *testing.T) {
	started := make(chan struct{}, 2)
	s := newFakeServer(t, nil, func(c *fakeCall) {
		started <- struct{}{}
		if c.method == "fatal" {
			<-started
			c.fail(commonpb.RpcResponseHeaderProto_FATAL, "org.apache.hadoop.ipc.IpcException", "boom")
		}
	})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	defer c.Close()
	errs := make(chan error, 2)
	go func() { _, err := call(t, c, context.Background(), "hang", "a"); errs <- err }()
	go func() {
		for len(started) == 0 {
			time.Sleep(time.Millisecond)
		}
		_, err := call(t, c, context.Background(), "fatal", "b")
		errs <- err
	}()
	for i := 0; i < 2; i++ {
		var re *RemoteError
		if err := <-errs; !errors.As(err, &re) || !re.Fatal || re.Class != "org.apache.hadoop.ipc.IpcException" {
			t.Fatalf("err = %v, want the fatal remote error", err)
		}
	}
}

func TestTokenAuth(t *testing.T) {
	tok := &security.Token{Identifier: []byte("appattempt_1_0001_000001"), Password: []byte{1, 2, 3, 4}, Kind: security.KindAMRMToken}
	s := newFakeServer(t, tok, echo)
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol,
		SASL: func() (Mechanism, error) { return TokenMechanism(tok), nil }})
	defer c.Close()
	if got, err := call(t, c, context.Background(), "echo", "t"); err != nil || got != "re:t" {
		t.Fatalf("token call: %q %v", got, err)
	}
	if s.contexts[0].UserInfo != nil {
		t.Fatalf("token connection named a user: %v", s.contexts[0])
	}

	bad := &security.Token{Identifier: tok.Identifier, Password: []byte{9}}
	c2 := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol,
		SASL: func() (Mechanism, error) { return TokenMechanism(bad), nil }})
	defer c2.Close()
	if _, err := call(t, c2, context.Background(), "echo", "t"); !IsAccessDenied(err) {
		t.Fatalf("wrong password: %v", err)
	}

	c3 := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	defer c3.Close()
	_, err := call(t, c3, context.Background(), "echo", "t")
	if !IsAccessDenied(err) || !strings.Contains(err.Error(), "SIMPLE authentication is not enabled") {
		t.Fatalf("SIMPLE against a token server: %v", err)
	}
}

func TestCloseFailsCalls(t *testing.T) {
	s := newFakeServer(t, nil, func(*fakeCall) {})
	c := NewClient(s.ln.Addr().String(), Options{Protocol: testProtocol})
	errs := make(chan error, 1)
	go func() { _, err := call(t, c, context.Background(), "hang", "a"); errs <- err }()
	for s.conns.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	c.Close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Fatalf("in-flight call after Close: %v", err)
	}
	if _, err := call(t, c, context.Background(), "echo", "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	// A server that accepts but never answers the SASL negotiation.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			defer nc.Close()
			_, _ = io.Copy(io.Discard, nc)
		}
	}()
	c := NewClient(ln.Addr().String(), Options{Protocol: testProtocol, ConnectTimeout: 50 * time.Millisecond,
		SASL: func() (Mechanism, error) { return TokenMechanism(&security.Token{}), nil }})
	defer c.Close()
	start := time.Now()
	if _, err := call(t, c, context.Background(), "echo", "a"); err == nil {
		t.Fatal("handshake against a silent server succeeded")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("connect timeout not applied")
	}
}

func TestSASLNegotiationSteps(t *testing.T) {
	auth := func(method, mech string) *commonpb.RpcSaslProto_SaslAuth {
		return &commonpb.RpcSaslProto_SaslAuth{Method: proto.String(method), Mechanism: proto.String(mech), ServerId: proto.String("default")}
	}
	sasl := func(state commonpb.RpcSaslProto_SaslState, token string, auths ...*commonpb.RpcSaslProto_SaslAuth) *commonpb.RpcSaslProto {
		return &commonpb.RpcSaslProto{State: state.Enum(), Token: []byte(token), Auths: auths}
	}
	challenge := `realm="default",nonce="n",qop="auth",algorithm=md5-sess`
	cases := []struct {
		name    string
		server  []*commonpb.RpcSaslProto
		replies []string // state of each client reply, "" for none
		done    bool
		simple  bool
		wantErr string
	}{
		{"no usable auth", []*commonpb.RpcSaslProto{sasl(commonpb.RpcSaslProto_NEGOTIATE, "", auth("KERBEROS", "GSSAPI"))},
			nil, false, false, "server offers [KERBEROS/GSSAPI]; client wants TOKEN/DIGEST-MD5"},
		{"server waives auth", []*commonpb.RpcSaslProto{sasl(commonpb.RpcSaslProto_SUCCESS, "")}, []string{""}, true, true, ""},
		{"challenge after initiate", []*commonpb.RpcSaslProto{
			sasl(commonpb.RpcSaslProto_NEGOTIATE, "", auth("TOKEN", "DIGEST-MD5")),
			sasl(commonpb.RpcSaslProto_CHALLENGE, challenge),
			sasl(commonpb.RpcSaslProto_SUCCESS, "rspauth=bad"),
		}, []string{"INITIATE", "RESPONSE"}, false, false, "rspauth does not match"},
		{"second challenge", []*commonpb.RpcSaslProto{
			sasl(commonpb.RpcSaslProto_NEGOTIATE, "", auth("TOKEN", "DIGEST-MD5")),
			sasl(commonpb.RpcSaslProto_CHALLENGE, challenge),
			sasl(commonpb.RpcSaslProto_CHALLENGE, challenge),
		}, []string{"INITIATE", "RESPONSE"}, false, false, "second challenge"},
		{"out of order", []*commonpb.RpcSaslProto{sasl(commonpb.RpcSaslProto_CHALLENGE, challenge)}, nil, false, false, "unexpected SASL CHALLENGE"},
	}
	for _, c := range cases {
		n := &saslNegotiation{mech: TokenMechanism(&security.Token{Identifier: []byte("id"), Password: []byte("pw")})}
		if n.start().GetState() != commonpb.RpcSaslProto_NEGOTIATE {
			t.Fatal("first message is not NEGOTIATE")
		}
		var err error
		var done bool
		for i, msg := range c.server {
			var reply *commonpb.RpcSaslProto
			reply, done, err = n.step(msg)
			if err != nil {
				break
			}
			got := ""
			if reply != nil {
				got = reply.GetState().String()
			}
			if i >= len(c.replies) || got != c.replies[i] {
				t.Errorf("%s: reply %d = %q, want %v", c.name, i, got, c.replies)
			}
		}
		if (err == nil) != (c.wantErr == "") || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.wantErr)
		}
		if done != c.done || n.simple != c.simple {
			t.Errorf("%s: done %v simple %v", c.name, done, n.simple)
		}
	}
}

// TestSlowDialHoldsNoLock dials a server that accepts and never answers the
// SASL negotiation, with a connect timeout far beyond the test. A second call
// with a short context and a concurrent Close must not wait for that dial:
// the call gives up at its own deadline, Close cancels the dial, the socket
// it opened is closed, and the first call fails with ErrClosed.
func TestSlowDialHoldsNoLock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	serverSawClose := make(chan struct{})
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		close(accepted)
		_, _ = io.Copy(io.Discard, nc) // returns when the client closes its socket
		close(serverSawClose)
	}()
	c := NewClient(ln.Addr().String(), Options{Protocol: testProtocol, ConnectTimeout: 10 * time.Second,
		SASL: func() (Mechanism, error) { return TokenMechanism(&security.Token{}), nil }})
	first := make(chan error, 1)
	go func() { _, err := call(t, c, context.Background(), "echo", "a"); first <- err }()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not connect")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = call(t, c, ctx, "echo", "b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second call during a stuck dial: got %v, want its own deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second call with a 50ms context returned after %v: it waited for the dial", d)
	}

	start = time.Now()
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for the dial to time out")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case err := <-first:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call whose dial Close interrupted: got %v, want ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the call whose dial Close interrupted did not return")
	}
	select {
	case <-serverSawClose:
	case <-time.After(2 * time.Second):
		t.Error("the socket of the interrupted dial is still open")
	}
}
