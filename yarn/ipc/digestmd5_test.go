package ipc

import (
	"strings"
	"testing"
)

// The example exchange of RFC 2831 section 4 (IMAP, user chris, password
// secret); its response and rspauth values are printed in the RFC.
func TestDigestMD5RFC2831Example(t *testing.T) {
	d, err := newDigestMD5("chris", "secret", "imap/elwood.innosoft.com", "OA6MHXh6VqTrRk")
	if err != nil {
		t.Fatal(err)
	}
	challenge := `realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`
	resp, err := d.respond([]byte(challenge))
	if err != nil {
		t.Fatal(err)
	}
	fields, err := parseDigestFields(string(resp))
	if err != nil {
		t.Fatalf("own response does not parse: %v", err)
	}
	want := map[string]string{
		"charset": "utf-8", "username": "chris", "realm": "elwood.innosoft.com",
		"nonce": "OA6MG9tEQGm2hh", "nc": "00000001", "cnonce": "OA6MHXh6VqTrRk",
		"digest-uri": "imap/elwood.innosoft.com", "qop": "auth",
		"response": "d388dad90d4bbd760a152321f2143af7",
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%s = %q, want %q (response %s)", k, fields[k], v, resp)
		}
	}
	if err := d.verify([]byte("rspauth=ea40f60335c427b5527b84dbabcdfffd")); err != nil {
		t.Fatalf("RFC rspauth rejected: %v", err)
	}
	if err := d.verify([]byte("rspauth=ea40f60335c427b5527b84dbabcdfffe")); err == nil {
		t.Fatal("wrong rspauth accepted")
	}
}

func TestDigestMD5BadChallenges(t *testing.T) {
	cases := []struct{ challenge, want string }{
		{`realm="r",qop="auth",algorithm=md5-sess`, "no nonce"},
		{`nonce="n",qop="auth",algorithm=md5`, "algorithm"},
		{`nonce="n",qop="auth-conf",algorithm=md5-sess`, "qop"},
		{`nonce="n,algorithm=md5-sess`, "unterminated"},
		{`nonce`, "no value"},
	}
	for _, c := range cases {
		d, _ := newDigestMD5("u", "p", "/default", "c")
		_, err := d.respond([]byte(c.challenge))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("challenge %q: err %v, want %q", c.challenge, err, c.want)
		}
	}
	d, _ := newDigestMD5("u", "p", "/default", "c")
	if err := d.verify([]byte("rspauth=00")); err == nil {
		t.Error("verify before respond succeeded")
	}
}

func TestParseDigestFieldsQuoting(t *testing.T) {
	f, err := parseDigestFields(`a="x,\"y\"", b=plain ,c=""`)
	if err != nil {
		t.Fatal(err)
	}
	if f["a"] != `x,"y"` || f["b"] != "plain" || f["c"] != "" {
		t.Fatalf("got %q", f)
	}
	if quote(`x"\`) != `"x\"\\"` {
		t.Fatalf("quote = %s", quote(`x"\`))
	}
}
