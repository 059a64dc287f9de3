// Package ipc is a client for Hadoop IPC, RPC version 9, the protocol of
// the YARN ResourceManager and NodeManagers (and HDFS). One Client is one
// TCP connection to one server and protocol, shared by concurrent calls
// that a reader goroutine matches to their responses by call id. It
// authenticates with SIMPLE or with SASL through a Mechanism (DIGEST-MD5
// over a Hadoop token is built in; Kerberos can plug in the same way).
package ipc

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"google.golang.org/protobuf/proto"
)

// Special call ids of the IPC protocol; calls use ids >= 0.
const (
	callIDAuthFailed        = -1
	callIDInvalid           = -2
	callIDConnectionContext = -3
	callIDPing              = -4
	callIDSASL              = -33
)

// Auth-protocol byte of the connection preamble.
const (
	authProtocolNone byte = 0
	authProtocolSASL byte = 0xDF // -33
)

// maxPacket bounds one response so a corrupt length cannot make the
// reader allocate without limit (Hadoop's default ipc.maximum.response.length
// is 128 MiB).
const maxPacket = 128 << 20

// preamble is the first bytes on a connection: "hrpc", version 9, service
// class 0 and the auth protocol.
func preamble(auth byte) []byte {
	return []byte{'h', 'r', 'p', 'c', 9, 0, auth}
}

// requestHeader builds the RpcRequestHeaderProto of one packet. rpcKind and
// rpcOp are always set explicitly: the server rejects a header without them.
// clientId is a required field for the server: an empty one (SASL) must
// still be present, so nil becomes an empty, non-nil slice.
func requestHeader(callID, retry int32, clientID []byte) *commonpb.RpcRequestHeaderProto {
	if clientID == nil {
		clientID = []byte{}
	}
	return &commonpb.RpcRequestHeaderProto{
		RpcKind:    commonpb.RpcKindProto_RPC_PROTOCOL_BUFFER.Enum(),
		RpcOp:      commonpb.RpcRequestHeaderProto_RPC_FINAL_PACKET.Enum(),
		CallId:     proto.Int32(callID),
		ClientId:   clientID,
		RetryCount: proto.Int32(retry),
	}
}

// packet frames messages as Hadoop expects: a 4-byte big-endian length of
// the rest, then each message varint-length-delimited.
func packet(msgs ...proto.Message) ([]byte, error) {
	body := make([]byte, 4, 128)
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
		}
		body = binary.AppendUvarint(body, uint64(len(b)))
		body = append(body, b...)
	}
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	return body, nil
}

// callPacket frames one RPC call: request header, method header, request.
func callPacket(callID, retry int32, clientID []byte, method, protocol string, req proto.Message) ([]byte, error) {
	rh := &commonpb.RequestHeaderProto{
		MethodName:                 proto.String(method),
		DeclaringClassProtocolName: proto.String(protocol),
		ClientProtocolVersion:      proto.Uint64(1),
	}
	return packet(requestHeader(callID, retry, clientID), rh, req)
}

// readPacket reads one length-prefixed packet.
func readPacket(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxPacket {
		return nil, fmt.Errorf("response of %d bytes exceeds the limit of %d", size, maxPacket)
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("response body: %w", err)
	}
	return buf, nil
}

// nextDelimited splits the first varint-delimited message off buf.
func nextDelimited(buf []byte) (msg, rest []byte, err error) {
	n, k := binary.Uvarint(buf)
	if k <= 0 || uint64(len(buf)-k) < n {
		return nil, nil, fmt.Errorf("malformed delimited message (%d bytes left)", len(buf))
	}
	return buf[k : k+int(n)], buf[k+int(n):], nil
}

// response is one decoded server packet: its header and, for SUCCESS, the
// undecoded body.
type response struct {
	header *commonpb.RpcResponseHeaderProto
	body   []byte
}

// parseResponse decodes the header of a packet and keeps the body bytes.
func parseResponse(pkt []byte) (*response, error) {
	hb, rest, err := nextDelimited(pkt)
	if err != nil {
		return nil, fmt.Errorf("response header: %w", err)
	}
	h := &commonpb.RpcResponseHeaderProto{}
	if err := proto.Unmarshal(hb, h); err != nil {
		return nil, fmt.Errorf("response header: %w", err)
	}
	if h.CallId == nil || h.Status == nil {
		return nil, fmt.Errorf("response header without call id or status")
	}
	return &response{header: h, body: rest}, nil
}

// callID is the header's call id as the client's signed number.
func (r *response) callID() int32 { return int32(r.header.GetCallId()) }

// err is the RemoteError of a failed response, nil on SUCCESS.
func (r *response) err() error {
	h := r.header
	if h.GetStatus() == commonpb.RpcResponseHeaderProto_SUCCESS {
		return nil
	}
	class := h.GetExceptionClassName()
	if class == "" {
		class = ClassRPCServer
	}
	return &RemoteError{
		Class:   class,
		Message: h.GetErrorMsg(),
		Code:    int32(h.GetErrorDetail()),
		Fatal:   h.GetStatus() == commonpb.RpcResponseHeaderProto_FATAL,
	}
}

// decodeBody decodes the delimited response message into m.
func (r *response) decodeBody(m proto.Message) error {
	b, _, err := nextDelimited(r.body)
	if err != nil {
		return fmt.Errorf("response body: %w", err)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("decode %s: %w", m.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}
