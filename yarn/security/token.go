// Package security reads and writes Hadoop security tokens and the
// credentials files ("HDTS") that carry them between processes: the file a
// NodeManager writes for every container (HADOOP_TOKEN_FILE_LOCATION) and
// the tokens blob a client puts into a ContainerLaunchContext.
package security

import (
	"encoding/base64"
	"fmt"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"google.golang.org/protobuf/proto"
)

// Token kinds loom selects tokens by. Tokens are found by kind, never by
// alias: Hadoop components choose aliases freely.
const (
	// KindAMRMToken authenticates an ApplicationMaster to the RM scheduler.
	KindAMRMToken = "YARN_AM_RM_TOKEN"
	// KindNMToken authenticates an ApplicationMaster to one NodeManager.
	KindNMToken = "NMToken"
	// KindContainerToken authorises starting one container on a NodeManager.
	KindContainerToken = "ContainerToken"
	// KindHDFSDelegationToken lets a process act on HDFS as the submitter.
	KindHDFSDelegationToken = "HDFS_DELEGATION_TOKEN"
)

// Token is a Hadoop security token: an opaque identifier the issuer can
// check, the password (an HMAC of the identifier) the holder proves it
// knows, the kind that says which secret manager issued it, and the service
// (usually host:port) it is meant for.
type Token struct {
	Identifier []byte
	Password   []byte
	Kind       string
	Service    string
}

// String describes the token without revealing its password.
func (t *Token) String() string {
	if t == nil {
		return "<nil token>"
	}
	return fmt.Sprintf("token{kind=%s service=%s identifier=%d bytes}", t.Kind, t.Service, len(t.Identifier))
}

// DigestUser and DigestPassword are the DIGEST-MD5 user name and password
// Hadoop derives from a token: standard base64 of identifier and password.
func (t *Token) DigestUser() string { return base64.StdEncoding.EncodeToString(t.Identifier) }

// DigestPassword: see DigestUser.
func (t *Token) DigestPassword() string { return base64.StdEncoding.EncodeToString(t.Password) }

// Proto converts the token to its wire form (TokenProto).
func (t *Token) Proto() *commonpb.TokenProto {
	return &commonpb.TokenProto{
		Identifier: append([]byte{}, t.Identifier...),
		Password:   append([]byte{}, t.Password...),
		Kind:       proto.String(t.Kind),
		Service:    proto.String(t.Service),
	}
}

// TokenFromProto converts a TokenProto received from YARN; nil stays nil.
func TokenFromProto(p *commonpb.TokenProto) *Token {
	if p == nil {
		return nil
	}
	return &Token{
		Identifier: append([]byte{}, p.GetIdentifier()...),
		Password:   append([]byte{}, p.GetPassword()...),
		Kind:       p.GetKind(),
		Service:    p.GetService(),
	}
}
