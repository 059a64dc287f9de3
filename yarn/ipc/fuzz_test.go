package ipc

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
)

// FuzzResponseFrame feeds arbitrary bytes as what a server sends: a
// length-prefixed packet, its response header and body. Reading refuses
// or decodes them, never panics, and never allocates more than the
// packet limit.
func FuzzResponseFrame(f *testing.F) {
	ok := &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(3), Status: commonpb.RpcResponseHeaderProto_SUCCESS.Enum()}
	failed := &commonpb.RpcResponseHeaderProto{CallId: proto.Uint32(4), Status: commonpb.RpcResponseHeaderProto_ERROR.Enum(),
		ExceptionClassName: proto.String("org.apache.hadoop.security.AccessControlException"), ErrorMsg: proto.String("denied")}
	for _, h := range []proto.Message{ok, failed} {
		pkt, err := packet(h, &commonpb.RpcSaslProto{State: commonpb.RpcSaslProto_SUCCESS.Enum()})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt)
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, 0x85, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		pkt, err := readPacket(bytes.NewReader(data))
		if err != nil {
			return
		}
		r, err := parseResponse(pkt)
		if err != nil {
			return
		}
		_ = r.callID()
		if rerr := r.err(); rerr != nil {
			_ = rerr.Error()
			return
		}
		_ = r.decodeBody(&commonpb.RpcSaslProto{})
	})
}

// FuzzDigestChallenge feeds arbitrary bytes as a server's SASL DIGEST-MD5
// challenge and final message.
func FuzzDigestChallenge(f *testing.F) {
	for _, s := range []string{
		`realm="default",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess`,
		`nonce="n",qop="auth",algorithm=md5-sess`, `nonce="n,algorithm=md5-sess`, `nonce`, `a="x,\"y\"", b=plain ,c=""`, "",
	} {
		f.Add([]byte(s), []byte("rspauth=00"))
	}
	f.Fuzz(func(t *testing.T, challenge, final []byte) {
		d, err := newDigestMD5("user", "password", "/default", "cnonce")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.respond(challenge); err != nil {
			return
		}
		_ = d.verify(final)
	})
}
