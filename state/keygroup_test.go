package state

import (
	"fmt"
	"testing"

	"github.com/loom-yarn/loom/codec"
)

// RangeForSubtask and SubtaskForKeyGroup must agree, and the ranges must
// tile [0, maxParallelism) in subtask order, for every small configuration.
func TestKeyGroupAssignmentAgrees(t *testing.T) {
	for maxP := 1; maxP <= 130; maxP++ {
		for p := 1; p <= maxP; p++ {
			next := 0
			for i := 0; i < p; i++ {
				r := RangeForSubtask(maxP, p, i)
				if r.Start != next || r.Len() < maxP/p || r.Len() > maxP/p+1 {
					t.Fatalf("maxP=%d p=%d subtask %d: range %v (expected start %d, length %d or %d)", maxP, p, i, r, next, maxP/p, maxP/p+1)
				}
				for kg := r.Start; kg < r.End; kg++ {
					if got := SubtaskForKeyGroup(maxP, p, kg); got != i {
						t.Fatalf("maxP=%d p=%d: key group %d is in subtask %d's range %v but SubtaskForKeyGroup says %d", maxP, p, kg, i, r, got)
					}
				}
				next = r.End
			}
			if next != maxP {
				t.Fatalf("maxP=%d p=%d: ranges end at %d", maxP, p, next)
			}
		}
	}
}

func TestDefaultMaxParallelism(t *testing.T) {
	tests := []struct{ p, want int }{
		{1, 128}, {2, 128}, {85, 128}, {86, 256}, {100, 256}, {1000, 2048}, {21845, 32768}, {30000, 32768}, {1 << 20, 32768},
	}
	for _, tt := range tests {
		if got := DefaultMaxParallelism(tt.p); got != tt.want {
			t.Errorf("DefaultMaxParallelism(%d) = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestCheckParallelism(t *testing.T) {
	tests := []struct {
		maxP, p int
		ok      bool
	}{
		{128, 1, true}, {128, 128, true}, {128, 129, false}, {0, 1, false}, {1 << 15, 4, true}, {1<<15 + 1, 4, false}, {128, 0, false},
	}
	for _, tt := range tests {
		if err := CheckParallelism(tt.maxP, tt.p); (err == nil) != tt.ok {
			t.Errorf("CheckParallelism(%d, %d) = %v, want ok=%v", tt.maxP, tt.p, err, tt.ok)
		}
	}
}

// Key groups must not change between releases: a checkpoint taken by one
// loom restores in the next. The values are the published XXH64 (seed 0)
// test vectors.
func TestKeyGroupOfIsStable(t *testing.T) {
	golden := []struct {
		key  string
		maxP int
		want int
	}{
		{"", 128, 0xef46db3751d8e999 % 128},
		{"a", 128, 0xd24ec4f1a98c6e5b % 128},
		{"abc", 32768, 0x44bc2cf5ad770999 % 32768},
	}
	for _, g := range golden {
		if got := KeyGroupOf([]byte(g.key), g.maxP); got != g.want {
			t.Errorf("KeyGroupOf(%q, %d) = %d, want %d", g.key, g.maxP, got, g.want)
		}
	}
}

// Keys should spread over key groups; a skew this large would mean the hash
// is not used as intended.
func TestKeyGroupOfSpreads(t *testing.T) {
	const maxP, n = 128, 128 * 200
	counts := make([]int, maxP)
	var buf []byte
	for i := 0; i < n; i++ {
		buf = codec.Int64.Append(buf[:0], int64(i))
		counts[KeyGroupOf(buf, maxP)]++
	}
	for kg, c := range counts {
		if c < 120 || c > 280 {
			t.Fatalf("key group %d got %d of %d keys (mean 200)", kg, c, n)
		}
	}
}

func TestKeyContextSetKeyAllocatesNothing(t *testing.T) {
	kc := NewKeyContext(codec.String, 128)
	keys := []string{"alpha", "beta", "a-much-longer-key-than-the-others"}
	kc.SetKey(keys[2])
	allocs := testing.AllocsPerRun(100, func() {
		for _, k := range keys {
			kc.SetKey(k)
		}
	})
	if allocs != 0 {
		t.Fatalf("SetKey allocated %.1f times per run", allocs)
	}
	kc.SetKey("beta")
	if kc.Key() != "beta" || string(kc.KeyBytes()) != string(codec.String.Append(nil, "beta")) || kc.KeyGroup() != KeyGroupOf(kc.KeyBytes(), 128) {
		t.Fatalf("key context after SetKey(beta): key %q bytes %x group %d", kc.Key(), kc.KeyBytes(), kc.KeyGroup())
	}
}

func ExampleRangeForSubtask() {
	for i := 0; i < 3; i++ {
		fmt.Println(RangeForSubtask(128, 3, i))
	}
	// Output:
	// [0,43)
	// [43,86)
	// [86,128)
}
