package state

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/loom-yarn/loom/codec"
)

const benchKeys = 100_000

// BenchmarkValueStateRMW is the per-record cost of a keyed counter: SetKey,
// Value, Update, over 100k keys in random order, on each backend.
func BenchmarkValueStateRMW(b *testing.B) {
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchKeys)
	for _, bm := range backendMakers {
		b.Run(bm.name, func(b *testing.B) {
			be := bm.make(b, all128, 128)
			kc := NewKeyContext(codec.Int64, 128)
			s, err := NewValue(be, kc, "op/count", codec.Int64)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				kc.SetKey(int64(order[i%benchKeys]))
				v, _, err := s.Value()
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Update(v + 1); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkPebbleBatchWrite is the ceiling for LSM writes: raw 16-byte keys
// and 8-byte values in batches of 1000, with the LSM backend's options.
func BenchmarkPebbleBatchWrite(b *testing.B) {
	be, err := NewLSM(filepath.Join(b.TempDir(), "raw"), all128, 128)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	db := be.(*lsmBackend).db
	batch := db.NewBatch()
	key := make([]byte, 16)
	val := make([]byte, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		binary.BigEndian.PutUint64(key, uint64(i%benchKeys)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint64(val, uint64(i))
		if err := batch.Set(key, val, nil); err != nil {
			b.Fatal(err)
		}
		if batch.Count() == 1000 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
		i++
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}
