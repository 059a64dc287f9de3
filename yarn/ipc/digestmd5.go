package ipc

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// digestMD5 is the client side of SASL DIGEST-MD5 (RFC 2831) with qop
// "auth": authentication only, no integrity or privacy layer, which is
// what Hadoop negotiates for token connections by default
// (hadoop.rpc.protection=authentication). It is a pure function of its
// inputs; cnonce is a parameter so the RFC example can be replayed.
type digestMD5 struct {
	user, password string
	// digestURI is "<protocol>/<server id>"; "/default" for Hadoop tokens.
	digestURI string
	cnonce    string

	// set by respond, checked by verify
	a1Hex   string
	nonce   string
	qop     string
	expects string // rspauth value the server must send
}

// newDigestMD5 prepares a client; cnonce "" means a random one.
func newDigestMD5(user, password, digestURI, cnonce string) (*digestMD5, error) {
	if cnonce == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("DIGEST-MD5 cnonce: %w", err)
		}
		cnonce = base64.StdEncoding.EncodeToString(b[:])
	}
	return &digestMD5{user: user, password: password, digestURI: digestURI, cnonce: cnonce}, nil
}

// respond answers the server's digest-challenge with a digest-response.
func (d *digestMD5) respond(challenge []byte) ([]byte, error) {
	fields, err := parseDigestFields(string(challenge))
	if err != nil {
		return nil, fmt.Errorf("DIGEST-MD5 challenge: %w", err)
	}
	d.nonce = fields["nonce"]
	if d.nonce == "" {
		return nil, errors.New("DIGEST-MD5 challenge has no nonce")
	}
	if alg := fields["algorithm"]; alg != "md5-sess" {
		return nil, fmt.Errorf("DIGEST-MD5 challenge: algorithm %q, want md5-sess", alg)
	}
	if qops, ok := fields["qop"]; ok && !containsToken(qops, "auth") {
		return nil, fmt.Errorf("DIGEST-MD5: server offers qop %q; loom supports only \"auth\" (set hadoop.rpc.protection=authentication)", qops)
	}
	d.qop = "auth"
	realm := fields["realm"] // the first realm offered; Hadoop offers one
	utf8 := fields["charset"] == "utf-8"

	const nc = "00000001"
	// A1 = H(user:realm:password) ":" nonce ":" cnonce
	inner := md5.Sum([]byte(d.user + ":" + realm + ":" + d.password))
	a1 := append(inner[:], []byte(":"+d.nonce+":"+d.cnonce)...)
	d.a1Hex = md5Hex(a1)
	response := d.kd("AUTHENTICATE:" + d.digestURI)
	d.expects = d.kd(":" + d.digestURI)

	var b strings.Builder
	if utf8 {
		b.WriteString("charset=utf-8,")
	}
	fmt.Fprintf(&b, "username=%s,", quote(d.user))
	if realm != "" {
		fmt.Fprintf(&b, "realm=%s,", quote(realm))
	}
	fmt.Fprintf(&b, "nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,maxbuf=65536,response=%s,qop=%s",
		quote(d.nonce), nc, quote(d.cnonce), quote(d.digestURI), response, d.qop)
	return []byte(b.String()), nil
}

// kd computes HEX(KD(HEX(H(A1)), nonce:nc:cnonce:qop:HEX(H(A2)))) for the
// given A2; the response and the expected rspauth differ only in A2.
func (d *digestMD5) kd(a2 string) string {
	return md5Hex([]byte(d.a1Hex + ":" + d.nonce + ":00000001:" + d.cnonce + ":" + d.qop + ":" + md5Hex([]byte(a2))))
}

// verify checks the server's response-auth, proving the server knew the
// token's password too.
func (d *digestMD5) verify(final []byte) error {
	if d.expects == "" {
		return errors.New("DIGEST-MD5: server finished before the client answered a challenge")
	}
	fields, err := parseDigestFields(string(final))
	if err != nil {
		return fmt.Errorf("DIGEST-MD5 response-auth: %w", err)
	}
	got := fields["rspauth"]
	if subtle.ConstantTimeCompare([]byte(got), []byte(d.expects)) != 1 {
		return errors.New("DIGEST-MD5: the server's rspauth does not match: it does not know the token's secret")
	}
	return nil
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// quote makes an RFC 2831 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func containsToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tok {
			return true
		}
	}
	return false
}

// parseDigestFields parses `key=value, key="quoted value", ...`. A repeated
// key keeps its first value, except that quoted values may hold commas.
func parseDigestFields(s string) (map[string]string, error) {
	out := map[string]string{}
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ',' || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("field %q has no value", s[i:])
		}
		key := strings.ToLower(strings.TrimSpace(s[i : i+eq]))
		i += eq + 1
		var val strings.Builder
		if i < len(s) && s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					val.WriteByte(s[i])
					i++
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted value of %s", key)
			}
		} else {
			j := strings.IndexByte(s[i:], ',')
			if j < 0 {
				j = len(s) - i
			}
			val.WriteString(strings.TrimSpace(s[i : i+j]))
			i += j
		}
		if _, dup := out[key]; !dup {
			out[key] = val.String()
		}
	}
	return out, nil
}
