package ipc

import (
	"errors"
	"fmt"
	"strings"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"github.com/loom-yarn/loom/yarn/security"
)

// Mechanism is the client side of one SASL mechanism, as Hadoop offers
// them in its NEGOTIATE reply. A Mechanism serves one connection attempt
// and is used from one goroutine. DIGEST-MD5 over a token is built in
// (TokenMechanism); Kerberos (method KERBEROS, mechanism GSSAPI) plugs in by
// implementing this interface.
type Mechanism interface {
	// Method is Hadoop's auth method name: "TOKEN" or "KERBEROS".
	Method() string
	// Mechanism is the SASL mechanism name: "DIGEST-MD5" or "GSSAPI".
	Mechanism() string
	// Start begins the exchange with the protocol and server id the server
	// offered and the challenge it sent along (possibly empty). It returns
	// the initial response, possibly empty.
	Start(protocol, serverID string, challenge []byte) ([]byte, error)
	// Step answers a server CHALLENGE.
	Step(challenge []byte) ([]byte, error)
	// Finish checks the token of the server's final SUCCESS (possibly
	// empty), which lets the client authenticate the server.
	Finish(token []byte) error
}

// TokenMechanism authenticates with a Hadoop token over DIGEST-MD5, as
// every AM-to-RM scheduler and AM-to-NM connection must.
func TokenMechanism(t *security.Token) Mechanism {
	return &tokenMechanism{token: t}
}

type tokenMechanism struct {
	token  *security.Token
	digest *digestMD5
	cnonce string // tests fix it; empty means random
}

func (m *tokenMechanism) Method() string    { return "TOKEN" }
func (m *tokenMechanism) Mechanism() string { return "DIGEST-MD5" }

func (m *tokenMechanism) Start(protocol, serverID string, challenge []byte) ([]byte, error) {
	d, err := newDigestMD5(m.token.DigestUser(), m.token.DigestPassword(), protocol+"/"+serverID, m.cnonce)
	if err != nil {
		return nil, err
	}
	m.digest = d
	if len(challenge) == 0 {
		return nil, nil // DIGEST-MD5 has no initial response; wait for the challenge
	}
	return d.respond(challenge)
}

func (m *tokenMechanism) Step(challenge []byte) ([]byte, error) {
	if m.digest == nil {
		return nil, errors.New("DIGEST-MD5: challenge before start")
	}
	if m.digest.expects != "" {
		return nil, errors.New("DIGEST-MD5: a second challenge (integrity and privacy layers are not supported)")
	}
	return m.digest.respond(challenge)
}

func (m *tokenMechanism) Finish(token []byte) error {
	if m.digest == nil {
		return errors.New("DIGEST-MD5: success before start")
	}
	return m.digest.verify(token)
}

// saslPhase is where a SASL negotiation stands.
type saslPhase int

const (
	saslSentNegotiate saslPhase = iota
	saslSentResponse
	saslDone
)

// saslNegotiation is the client side of Hadoop's SASL exchange as a pure
// state machine: the connection feeds it each RpcSaslProto the server sends
// and writes out what it returns. It does no I/O.
type saslNegotiation struct {
	mech  Mechanism
	phase saslPhase
	// simple is set when the server accepted the client without
	// authentication (it answered NEGOTIATE with SUCCESS); the connection
	// context must then name the user.
	simple bool
}

// start returns the client's first message.
func (n *saslNegotiation) start() *commonpb.RpcSaslProto {
	n.phase = saslSentNegotiate
	return &commonpb.RpcSaslProto{State: commonpb.RpcSaslProto_NEGOTIATE.Enum()}
}

// step consumes one server message; it returns the reply to send (nil if
// none) and whether the negotiation has finished successfully.
func (n *saslNegotiation) step(msg *commonpb.RpcSaslProto) (*commonpb.RpcSaslProto, bool, error) {
	state := msg.GetState()
	switch {
	case n.phase == saslSentNegotiate && state == commonpb.RpcSaslProto_NEGOTIATE:
		auth := n.choose(msg.GetAuths())
		if auth == nil {
			return nil, false, fmt.Errorf("server offers %s; client wants %s/%s", describeAuths(msg.GetAuths()), n.mech.Method(), n.mech.Mechanism())
		}
		tok, err := n.mech.Start(auth.GetProtocol(), auth.GetServerId(), auth.GetChallenge())
		if err != nil {
			return nil, false, err
		}
		chosen := &commonpb.RpcSaslProto_SaslAuth{
			Method:    auth.Method,
			Mechanism: auth.Mechanism,
			Protocol:  auth.Protocol,
			ServerId:  auth.ServerId,
		}
		n.phase = saslSentResponse
		return &commonpb.RpcSaslProto{
			State: commonpb.RpcSaslProto_INITIATE.Enum(),
			Token: tok,
			Auths: []*commonpb.RpcSaslProto_SaslAuth{chosen},
		}, false, nil
	case n.phase == saslSentNegotiate && state == commonpb.RpcSaslProto_SUCCESS:
		n.phase, n.simple = saslDone, true
		return nil, true, nil
	case n.phase == saslSentResponse && state == commonpb.RpcSaslProto_CHALLENGE:
		tok, err := n.mech.Step(msg.GetToken())
		if err != nil {
			return nil, false, err
		}
		return &commonpb.RpcSaslProto{State: commonpb.RpcSaslProto_RESPONSE.Enum(), Token: tok}, false, nil
	case n.phase == saslSentResponse && state == commonpb.RpcSaslProto_SUCCESS:
		if err := n.mech.Finish(msg.GetToken()); err != nil {
			return nil, false, err
		}
		n.phase = saslDone
		return nil, true, nil
	default:
		return nil, false, fmt.Errorf("unexpected SASL %s from the server (phase %d)", state, n.phase)
	}
}

func (n *saslNegotiation) choose(auths []*commonpb.RpcSaslProto_SaslAuth) *commonpb.RpcSaslProto_SaslAuth {
	for _, a := range auths {
		if a.GetMethod() == n.mech.Method() && a.GetMechanism() == n.mech.Mechanism() {
			return a
		}
	}
	return nil
}

func describeAuths(auths []*commonpb.RpcSaslProto_SaslAuth) string {
	if len(auths) == 0 {
		return "no auth method"
	}
	var s []string
	for _, a := range auths {
		s = append(s, a.GetMethod()+"/"+a.GetMechanism())
	}
	return "[" + strings.Join(s, " ") + "]"
}
