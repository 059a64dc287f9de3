package jobs

import (
	"math"
	"math/big"
	"strings"
	"testing"
)

// FuzzParseNumber: a value column's text is a finite number or refused,
// and an exact one prints back as the same number (issue 10, item 11).
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"12", "-3.25", ".5", "+.5", "0.1", "1e3", "NaN", "Inf", "1e400", "9223372036854775807",
		"123456789012345678901234567890.5", "0x1p-2", "1_000", "", "-", ".", "00012.3400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		if err != nil {
			return
		}
		if math.IsNaN(n.Float) || math.IsInf(n.Float, 0) {
			t.Fatalf("ParseNumber(%q) accepted %v", s, n.Float)
		}
		if n.Inexact {
			return
		}
		printed := string(Sum{}.Add(n).Append(nil))
		want, ok1 := new(big.Rat).SetString(strings.TrimPrefix(s, "+"))
		got, ok2 := new(big.Rat).SetString(printed)
		if !ok1 || !ok2 || want.Cmp(got) != 0 {
			t.Fatalf("ParseNumber(%q) prints as %q", s, printed)
		}
		// Adding it to itself is exact too.
		twice := string(Sum{}.Add(n).Add(n).Append(nil))
		g2, ok := new(big.Rat).SetString(twice)
		if !ok || g2.Cmp(new(big.Rat).Mul(want, big.NewRat(2, 1))) != 0 {
			t.Fatalf("%q twice prints as %q", s, twice)
		}
	})
}
