package security

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestVLong(t *testing.T) {
	// Expected bytes follow WritableUtils.writeVLong's rules by hand.
	cases := []struct {
		v    int64
		want string
	}{
		{0, "00"}, {1, "01"}, {127, "7f"}, {-1, "ff"}, {-112, "90"},
		{128, "8f80"}, {255, "8fff"}, {256, "8e0100"}, {65536, "8d010000"},
		{-113, "8770"}, {-129, "8780"}, {-257, "860100"},
		{1<<63 - 1, "887fffffffffffffff"}, {-1 << 63, "807fffffffffffffff"},
	}
	for _, c := range cases {
		got := hex.EncodeToString(appendVLong(nil, c.v))
		if got != c.want {
			t.Errorf("appendVLong(%d) = %s, want %s", c.v, got, c.want)
		}
		raw, _ := hex.DecodeString(c.want)
		back, err := readVLong(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil || back != c.v {
			t.Errorf("readVLong(%s) = %d, %v; want %d", c.want, back, err, c.v)
		}
	}
}

func sample() *Credentials {
	c := &Credentials{}
	c.AddToken("amrm", &Token{Identifier: []byte{1, 2, 3}, Password: []byte{9, 8}, Kind: KindAMRMToken, Service: "rm:8030"})
	c.AddToken("hdfs", &Token{Identifier: bytes.Repeat([]byte{0xab}, 200), Password: []byte("pw"), Kind: KindHDFSDelegationToken, Service: "ha-hdfs:ns"})
	c.AddSecret("key", []byte("s3cr3t"))
	return c
}

func TestWritableBytesExact(t *testing.T) {
	c := &Credentials{}
	c.AddToken("a", &Token{Identifier: []byte{0x01}, Password: []byte{0x02, 0x03}, Kind: "K", Service: "S"})
	c.AddSecret("s", []byte{0xff})
	got, err := c.Marshal(FormatWritable)
	if err != nil {
		t.Fatal(err)
	}
	// HDTS, version 0, 1 token: Text "a", id (1 byte), password (2 bytes),
	// Text "K", Text "S"; 1 secret: Text "s", 1 byte.
	want := "4844545300" + "01" + "0161" + "0101" + "020203" + "014b" + "0153" + "01" + "0173" + "01ff"
	if hex.EncodeToString(got) != want {
		t.Fatalf("bytes\n got %x\nwant %s", got, want)
	}
}

func TestProtobufBytesExact(t *testing.T) {
	c := &Credentials{}
	c.AddToken("a", &Token{Identifier: []byte{0x01}, Password: []byte{0x02}, Kind: "K", Service: "S"})
	got, err := c.Marshal(FormatProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	// CredentialsProto{tokens=1: {alias=1 "a", token=2: {1:01, 2:02, 3:"K", 4:"S"}}}
	token := "0a0101" + "120102" + "1a014b" + "220153"
	kv := "0a0161" + "120c" + token
	want := "4844545301" + "13" + "0a11" + kv
	if hex.EncodeToString(got) != want {
		t.Fatalf("bytes\n got %x\nwant %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, format := range []byte{FormatWritable, FormatProtobuf} {
		for name, c := range map[string]*Credentials{"empty": {}, "sample": sample()} {
			data, err := c.Marshal(format)
			if err != nil {
				t.Fatalf("v%d %s: %v", format, name, err)
			}
			path := filepath.Join(t.TempDir(), "creds")
			if err := c.WriteFile(path, format); err != nil {
				t.Fatal(err)
			}
			back, err := ReadCredentialsFile(path)
			if err != nil {
				t.Fatalf("v%d %s: %v", format, name, err)
			}
			if len(c.Tokens) == 0 {
				if len(back.Tokens)+len(back.Secrets) != 0 {
					t.Fatalf("v%d %s: got %+v", format, name, back)
				}
				continue
			}
			if !reflect.DeepEqual(back, c) {
				t.Fatalf("v%d %s: round trip\n got %+v\nwant %+v", format, name, back, c)
			}
			again, _ := back.Marshal(format)
			if !bytes.Equal(again, data) {
				t.Fatalf("v%d %s: re-encoding differs", format, name)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	good0, _ := sample().Marshal(FormatWritable)
	good1, _ := sample().Marshal(FormatProtobuf)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"no magic", []byte("XXXX\x00\x00\x00"), "HDTS"},
		{"short", []byte("HDT"), "HDTS"},
		{"bad version", []byte("HDTS\x07\x00\x00"), "version 7"},
		{"v0 truncated", good0[:len(good0)-3], "unexpected EOF"},
		{"v0 trailing", append(append([]byte{}, good0...), 0), "trailing"},
		{"v0 huge length", []byte("HDTS\x00\x01\x88\x7f\xff\xff\xff\xff\xff\xff\xff"), "out of range"},
		{"v0 negative count", []byte("HDTS\x00\xff"), "out of range"},
		{"v1 truncated", good1[:len(good1)-2], "unexpected EOF"},
		{"v1 token without token", []byte("HDTS\x01\x05\x0a\x03\x0a\x01a"), "has no token"},
	}
	for _, c := range cases {
		_, err := ParseCredentials(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestTokenByKindAndStrip(t *testing.T) {
	c := sample()
	tok, ok := c.TokenByKind(KindAMRMToken)
	if !ok || tok.Service != "rm:8030" {
		t.Fatalf("TokenByKind = %v, %v", tok, ok)
	}
	stripped := c.WithoutKind(KindAMRMToken)
	if _, ok := stripped.TokenByKind(KindAMRMToken); ok {
		t.Fatal("AMRM token survived WithoutKind")
	}
	if _, ok := stripped.TokenByKind(KindHDFSDelegationToken); !ok || len(stripped.Secrets) != 1 {
		t.Fatalf("WithoutKind dropped too much: %+v", stripped)
	}
	if _, ok := c.TokenByKind(KindAMRMToken); !ok {
		t.Fatal("WithoutKind changed its receiver")
	}
	if got := (&Token{Identifier: []byte{0xfb, 0xff}, Password: []byte("p")}).DigestUser(); got != "+/8=" {
		t.Fatalf("DigestUser uses standard base64, got %q", got)
	}
}
