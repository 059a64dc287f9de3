package state

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
)

// cpuTime is the CPU time the process has used (user and system, all
// threads, Pebble's background work included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStateRMWKeys is the per-record cost of a keyed counter (value
// state) and of a per-key map entry update (map state) for working sets of
// several sizes, on each backend. cpu-ns/op is CPU time per operation, a
// steadier figure than ns/op on a loaded machine.
func BenchmarkStateRMWKeys(b *testing.B) {
	for _, keys := range []int{1_000, 10_000, benchKeys} {
		order := rand.New(rand.NewPCG(1, 2)).Perm(keys)
		for _, bm := range backendMakers {
			b.Run(fmt.Sprintf("value/keys%d/%s", keys, bm.name), func(b *testing.B) {
				be := bm.make(b, all128, 128)
				kc := NewKeyContext(codec.Int64, 128)
				s, err := NewValue(be, kc, "op/count", codec.Int64)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu := cpuTime()
				i := 0
				for b.Loop() {
					kc.SetKey(int64(order[i%keys]))
					v, _, err := s.Value()
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Update(v + 1); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
			b.Run(fmt.Sprintf("map/keys%d/%s", keys, bm.name), func(b *testing.B) {
				be := bm.make(b, all128, 128)
				kc := NewKeyContext(codec.Int64, 128)
				s, err := NewMap(be, kc, "op/sums", codec.Int64, codec.Int64)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu := cpuTime()
				i := 0
				for b.Loop() {
					k := order[i%keys]
					kc.SetKey(int64(k / 4))
					uk := int64(k % 4)
					v, _, err := s.Get(uk)
					if err != nil {
						b.Fatal(err)
					}
					if err := s.Put(uk, v+1); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
