package deploy

import (
	"fmt"
	"strings"
	"testing"
)

func TestAddressTable(t *testing.T) {
	for _, n := range []int{1, 2, 10000} {
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = fmt.Sprintf("node%04d.example.com:%d", i%500, 40000+i)
		}
		got, err := DecodeAddresses(EncodeAddresses(addrs), n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(addrs, ",") {
			t.Fatalf("%d addresses: round trip differs", n)
		}
	}
	if _, err := DecodeAddresses(EncodeAddresses([]string{"a:1", "b:2"}), 3); err == nil || !strings.Contains(err.Error(), "sent 2 partition server addresses for the 3 workers") {
		t.Errorf("wrong count: %v", err)
	}
	if _, err := DecodeAddresses([]byte("not deflate"), 1); err == nil || !strings.Contains(err.Error(), "shuffle table") {
		t.Errorf("corrupt table: %v", err)
	}
}
