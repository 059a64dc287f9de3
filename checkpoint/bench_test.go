package checkpoint

import (
	"fmt"
	"testing"

	"github.com/loom-yarn/loom/state"
)

// BenchmarkTaskFile measures writing and restoring keyed entries: the path a
// large state takes at every checkpoint and restore. It must not allocate per
// entry.
func BenchmarkTaskFile(b *testing.B) {
	const perKG = 1000
	kgs := state.KeyGroupRange{Start: 0, End: 64}
	val := make([]byte, 32)
	keys := make([][]byte, perKG)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%08d", i))
	}
	s := NewLocalStorage(b.TempDir())
	var snap TaskSnapshot
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			w, err := s.NewTaskWriter(1, "t", 0, 1, kgs)
			if err != nil {
				b.Fatal(err)
			}
			for kg := kgs.Start; kg < kgs.End; kg++ {
				for _, k := range keys {
					if err := w.WriteEntry(state.Entry{KeyGroup: kg, State: "op/v", Key: k, Value: val}); err != nil {
						b.Fatal(err)
					}
				}
			}
			if snap, err = w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*kgs.Len()*perKG), "ns/entry")
	})
	md := &Metadata{Version: MetadataVersion, ID: 1, Tasks: []TaskSnapshot{snap}}
	b.Run("restore", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, err := OpenRestore(s.Dir(1), md, "t", 0, kgs)
			if err != nil {
				b.Fatal(err)
			}
			k := r.Keyed()
			n := 0
			for {
				_, ok, err := k.Next()
				if err != nil {
					b.Fatal(err)
				}
				if !ok {
					break
				}
				n++
			}
			r.Close()
			if n != kgs.Len()*perKG {
				b.Fatalf("restored %d entries, want %d", n, kgs.Len()*perKG)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*kgs.Len()*perKG), "ns/entry")
	})
}
