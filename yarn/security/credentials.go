package security

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"google.golang.org/protobuf/proto"
)

// Credentials file format versions ("HDTS" followed by one of these bytes).
const (
	// FormatWritable is Hadoop's Writable encoding, what Hadoop 3.x writes by
	// default (also for every container's token file).
	FormatWritable byte = 0
	// FormatProtobuf is a varint-delimited CredentialsProto.
	FormatProtobuf byte = 1
)

// credentialsMagic starts every credentials file.
var credentialsMagic = []byte("HDTS")

// maxField bounds one length in a credentials file; real tokens are a few
// hundred bytes, so anything larger means corruption.
const maxField = 16 << 20

// EnvTokenFile names the environment variable in which a NodeManager tells
// a container where its credentials file is.
const EnvTokenFile = "HADOOP_TOKEN_FILE_LOCATION"

// Credentials are the tokens and secret keys a Hadoop process carries,
// each under an alias. The zero value is empty and ready to use.
type Credentials struct {
	Tokens  map[string]*Token
	Secrets map[string][]byte
}

// AddToken stores t under alias, replacing any token of that alias.
func (c *Credentials) AddToken(alias string, t *Token) {
	if c.Tokens == nil {
		c.Tokens = map[string]*Token{}
	}
	c.Tokens[alias] = t
}

// AddSecret stores a secret key under alias.
func (c *Credentials) AddSecret(alias string, secret []byte) {
	if c.Secrets == nil {
		c.Secrets = map[string][]byte{}
	}
	c.Secrets[alias] = secret
}

// TokenByKind returns the token of the given kind, choosing the smallest
// alias when several match so that the choice is deterministic.
func (c *Credentials) TokenByKind(kind string) (*Token, bool) {
	for _, alias := range slices.Sorted(maps.Keys(c.Tokens)) {
		if c.Tokens[alias].Kind == kind {
			return c.Tokens[alias], true
		}
	}
	return nil, false
}

// WithoutKind returns a copy of c without tokens of the given kinds: an AM
// strips its AMRMToken before handing credentials on to workers.
func (c *Credentials) WithoutKind(kinds ...string) *Credentials {
	out := &Credentials{}
	for alias, t := range c.Tokens {
		drop := false
		for _, k := range kinds {
			drop = drop || t.Kind == k
		}
		if !drop {
			out.AddToken(alias, t)
		}
	}
	for alias, s := range c.Secrets {
		out.AddSecret(alias, s)
	}
	return out
}

// ReadCredentialsFile reads a credentials file of either format.
func ReadCredentialsFile(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	c, err := ParseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("read credentials %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials decodes the bytes of a credentials file (the same bytes
// a ContainerLaunchContext carries in its tokens field), either format.
// Empty input is empty credentials, as YARN treats an empty tokens field.
func ParseCredentials(data []byte) (*Credentials, error) {
	if len(data) == 0 {
		return &Credentials{}, nil
	}
	if len(data) < len(credentialsMagic)+1 || !bytes.Equal(data[:4], credentialsMagic) {
		return nil, errors.New(`not a Hadoop credentials file (no "HDTS" header)`)
	}
	r := bufio.NewReader(bytes.NewReader(data[5:]))
	var (
		c   *Credentials
		err error
	)
	switch v := data[4]; v {
	case FormatWritable:
		c, err = parseWritable(r)
	case FormatProtobuf:
		c, err = parseProtobuf(r)
	default:
		return nil, fmt.Errorf("credentials format version %d not supported (want 0 or 1)", v)
	}
	if err != nil {
		return nil, fmt.Errorf("credentials version %d: %w", data[4], err)
	}
	return c, nil
}

func parseWritable(r *bufio.Reader) (*Credentials, error) {
	c := &Credentials{}
	n, err := readLen(r, "token count")
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		alias, err := readBytes(r, fmt.Sprintf("token %d alias", i))
		if err != nil {
			return nil, err
		}
		t := &Token{}
		fields := []*[]byte{&t.Identifier, &t.Password}
		for j, name := range []string{"identifier", "password"} {
			if *fields[j], err = readBytes(r, fmt.Sprintf("token %q %s", alias, name)); err != nil {
				return nil, err
			}
		}
		kind, err := readBytes(r, fmt.Sprintf("token %q kind", alias))
		if err != nil {
			return nil, err
		}
		service, err := readBytes(r, fmt.Sprintf("token %q service", alias))
		if err != nil {
			return nil, err
		}
		t.Kind, t.Service = string(kind), string(service)
		c.AddToken(string(alias), t)
	}
	n, err = readLen(r, "secret count")
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		alias, err := readBytes(r, fmt.Sprintf("secret %d alias", i))
		if err != nil {
			return nil, err
		}
		secret, err := readBytes(r, fmt.Sprintf("secret %q", alias))
		if err != nil {
			return nil, err
		}
		c.AddSecret(string(alias), secret)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, errors.New("trailing bytes after the secrets")
	}
	return c, nil
}

func parseProtobuf(r *bufio.Reader) (*Credentials, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("CredentialsProto length: %w", noEOF(err))
	}
	if n > maxField {
		return nil, fmt.Errorf("CredentialsProto length %d too large", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("CredentialsProto (%d bytes): %w", n, noEOF(err))
	}
	var p commonpb.CredentialsProto
	if err := proto.Unmarshal(buf, &p); err != nil {
		return nil, fmt.Errorf("CredentialsProto: %w", err)
	}
	c := &Credentials{}
	for _, kv := range p.GetTokens() {
		if kv.GetToken() == nil {
			return nil, fmt.Errorf("token entry %q has no token", kv.GetAlias())
		}
		c.AddToken(kv.GetAlias(), TokenFromProto(kv.GetToken()))
	}
	for _, kv := range p.GetSecrets() {
		c.AddSecret(kv.GetAlias(), append([]byte{}, kv.GetSecret()...))
	}
	return c, nil
}

// Marshal encodes c as a credentials file in the given format. Entries are
// written in alias order, so equal credentials give equal bytes.
func (c *Credentials) Marshal(format byte) ([]byte, error) {
	out := append([]byte{}, credentialsMagic...)
	out = append(out, format)
	switch format {
	case FormatWritable:
		out = appendVLong(out, int64(len(c.Tokens)))
		for _, alias := range slices.Sorted(maps.Keys(c.Tokens)) {
			t := c.Tokens[alias]
			out = appendBytes(out, []byte(alias))
			out = appendBytes(out, t.Identifier)
			out = appendBytes(out, t.Password)
			out = appendBytes(out, []byte(t.Kind))
			out = appendBytes(out, []byte(t.Service))
		}
		out = appendVLong(out, int64(len(c.Secrets)))
		for _, alias := range slices.Sorted(maps.Keys(c.Secrets)) {
			out = appendBytes(out, []byte(alias))
			out = appendBytes(out, c.Secrets[alias])
		}
		return out, nil
	case FormatProtobuf:
		p := &commonpb.CredentialsProto{}
		for _, alias := range slices.Sorted(maps.Keys(c.Tokens)) {
			p.Tokens = append(p.Tokens, &commonpb.CredentialsKVProto{Alias: proto.String(alias), Token: c.Tokens[alias].Proto()})
		}
		for _, alias := range slices.Sorted(maps.Keys(c.Secrets)) {
			p.Secrets = append(p.Secrets, &commonpb.CredentialsKVProto{Alias: proto.String(alias), Secret: append([]byte{}, c.Secrets[alias]...)})
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode CredentialsProto: %w", err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		return append(out, body...), nil
	default:
		return nil, fmt.Errorf("credentials format version %d not supported (want 0 or 1)", format)
	}
}

// WriteFile writes c to path in the given format with mode 0600: the file
// holds secrets.
func (c *Credentials) WriteFile(path string, format byte) error {
	data, err := c.Marshal(format)
	if err != nil {
		return fmt.Errorf("write credentials %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}
