package state

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/loom-yarn/loom/codec"
)

var incrementalBenchMiB = flag.Int("lsm.incremental.mib", 64, "MiB of state BenchmarkIncrementalCheckpoint holds")

// BenchmarkIncrementalCheckpoint measures what an incremental checkpoint of
// the LSM backend costs when 1% of the keys changed since the previous one:
// state of -lsm.incremental.mib MiB in a value state (100-byte incompressible
// values), each iteration updating 1% of the keys, picked at random, then
// checkpointing. A table is new when the previous checkpoint did not list it
// (what a checkpoint layer uploads, with the private files); compactions run
// as they would in a job, so the figures are averages over -benchtime
// iterations (use e.g. -benchtime=50x: one iteration is one checkpoint).
//
//	new-MiB/ckpt      tables new since the previous checkpoint
//	shared-MiB/ckpt   all tables the checkpoint lists
//	new-%             new-MiB/ckpt over shared-MiB/ckpt
//	private-KiB/ckpt  MANIFEST, OPTIONS, markers, LOOM-STATE
//	ckpt-ms           time CheckpointFiles blocks the task
func BenchmarkIncrementalCheckpoint(b *testing.B) {
	const valueSize = 100
	keys := int64(*incrementalBenchMiB) << 20 / valueSize
	be := newTestLSM(b, all128, 128)
	kc := NewKeyContext(codec.Int64, 128)
	v, err := NewValue(be, kc, "op/value", codec.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	for k := range keys {
		kc.SetKey(k)
		if err := v.Update(incValue(k, 0)); err != nil {
			b.Fatal(err)
		}
	}
	root := b.TempDir()
	checkpoint := func(i int) IncrementalSnapshot {
		s, err := be.(Incremental).CheckpointFiles(filepath.Join(root, strconv.Itoa(i)))
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	listed := func(s IncrementalSnapshot) map[string]bool {
		m := map[string]bool{}
		for _, f := range s.Shared {
			m[f.Name] = true
		}
		return m
	}
	first := checkpoint(0)
	prev := listed(first)
	os.RemoveAll(first.Dir)

	rng := rand.New(rand.NewPCG(1, 2))
	var added, shared, private int64
	var blocked time.Duration
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		for range keys / 100 {
			k := rng.Int64N(keys)
			kc.SetKey(k)
			if err := v.Update(incValue(k, int64(i))); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		s := checkpoint(i)
		blocked += time.Since(start)
		for _, f := range s.Shared {
			shared += f.Size
			if !prev[f.Name] {
				added += f.Size
			}
		}
		for _, f := range s.Private {
			private += f.Size
		}
		prev = listed(s)
		os.RemoveAll(s.Dir)
	}
	n := float64(b.N)
	b.ReportMetric(float64(added)/n/(1<<20), "new-MiB/ckpt")
	b.ReportMetric(float64(shared)/n/(1<<20), "shared-MiB/ckpt")
	b.ReportMetric(100*float64(added)/float64(shared), "new-%")
	b.ReportMetric(float64(private)/n/(1<<10), "private-KiB/ckpt")
	b.ReportMetric(float64(blocked.Microseconds())/n/1000, "ckpt-ms")
}
