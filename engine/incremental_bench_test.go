package engine_test

import (
	"context"
	"flag"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/task"
)

var (
	incJobMiB    = flag.Int("incremental.job.mib", 256, "MiB of keyed state BenchmarkIncrementalCheckpointJob holds (1024 for 1 GiB)")
	incJobCkpts  = flag.Int("incremental.job.ckpts", 10, "incremental checkpoints BenchmarkIncrementalCheckpointJob measures after the load")
	incJobWarmup = flag.Int("incremental.job.warmup", 5, "checkpoints after the load BenchmarkIncrementalCheckpointJob does not measure (Pebble still compacts the load)")
)

// loadWatch is a source that reports when round 0 (the load of every key)
// has been emitted.
type loadWatch struct {
	rounds
	round *atomic.Int64
}

func (l loadWatch) NewReader(subtask, parallelism int) (task.SourceReader[int64], error) {
	return &watchedReader{roundsReader{src: l.rounds}, l.round}, nil
}

type watchedReader struct {
	roundsReader
	round *atomic.Int64
}

func (w *watchedReader) Read(b *task.Batch[int64]) (task.ReadStatus, error) {
	st, err := w.roundsReader.Read(b)
	w.round.Store(w.roundsReader.round)
	return st, err
}

// BenchmarkIncrementalCheckpointJob runs a keyed job on the LSM backend at
// parallelism 2 holding -incremental.job.mib MiB of state (one 100-byte
// incompressible value and a sum per key), updating 1% of its keys per
// checkpoint interval (1 s), with checkpoints into a local directory, and
// then restores the latest checkpoint. It measures, over the
// -incremental.job.ckpts checkpoints after the load and a warm-up of
// -incremental.job.warmup more:
//
//	state-MiB      what the latest checkpoint references (a full upload)
//	incr-MiB       bytes a checkpoint wrote (task files + new tables), mean
//	incr-p50-MiB   the same, median: a checkpoint after no compaction
//	incr-%         incr-MiB over state-MiB
//	ckpt-p50-ms    trigger to completion, median
//	ckpt-p99-ms    trigger to completion, 99th percentile (the worst of few)
//	restore-ms     Start with RestoreFrom: download (here: hard links) and open
//	load-s         the time to load the state through the job
//
// Run it once per invocation (-benchtime 1x); -incremental.job.mib=1024
// holds 1 GiB, which needs about 3 GiB of disk and a few minutes.
func BenchmarkIncrementalCheckpointJob(b *testing.B) {
	const pad = 100
	keys := int64(*incJobMiB) << 20 / (pad + 36) // value, sum, store keys
	src := rounds{keys: keys, perRound: keys / 100, last: 1 << 30, stall: 1 << 30, pace: time.Second}
	for range b.N {
		ck, stateDir := b.TempDir(), b.TempDir()
		root := filepath.Join(ck, "incsum")
		var round atomic.Int64
		var mu sync.Mutex
		var loadedAt int64 = -1 // the first checkpoint triggered after the load
		var durs []time.Duration
		var written []int64
		var latest atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var loaded time.Duration
		x, err := engine.Start(ctx, sumJob(b, loadWatch{src, &round}, 2, pad, false, newFinals()), engine.Options{
			StateBackend: "lsm", StateDir: stateDir, CheckpointDir: ck,
			CheckpointInterval: time.Second, CheckpointsRetain: 2, CheckpointTimeout: 10 * time.Minute,
			OnCheckpoint: func(id int64, d time.Duration, bytes int64) {
				mu.Lock()
				defer mu.Unlock()
				if loadedAt > 0 && id >= loadedAt {
					durs = append(durs, d)
					written = append(written, bytes)
				}
				latest.Store(id)
			},
		})
		if err != nil {
			b.Fatal(err)
		}
		for round.Load() < 1 {
			time.Sleep(10 * time.Millisecond)
		}
		loaded = time.Since(start)
		mu.Lock()
		// The checkpoint after the next one is the first triggered after
		// the load (the one in flight may hold part of it); the warm-up
		// lets the compactions of the load settle.
		loadedAt = latest.Load() + 2 + int64(*incJobWarmup)
		mu.Unlock()
		for {
			mu.Lock()
			n := len(durs)
			mu.Unlock()
			if n >= *incJobCkpts {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		x.Wait()

		mds := retainedMetadata(b, root)
		last := mds[len(mds)-1]
		var stateSize int64
		for _, ts := range last.Tasks {
			stateSize += ts.TotalSize()
		}
		b.StopTimer()
		restoreStart := time.Now()
		ctx2, cancel2 := context.WithCancel(context.Background())
		x2, err := engine.Start(ctx2, sumJob(b, src, 2, pad, false, newFinals()), engine.Options{
			StateBackend: "lsm", StateDir: b.TempDir(), RestoreFrom: root,
		})
		if err != nil {
			b.Fatal(err)
		}
		restore := time.Since(restoreStart)
		cancel2()
		x2.Wait()
		b.StartTimer()

		slices.Sort(durs)
		slices.Sort(written)
		p := func(q float64) time.Duration { return durs[min(len(durs)-1, int(q*float64(len(durs))))] }
		mib := func(n int64) float64 { return float64(n) / (1 << 20) }
		b.ReportMetric(mib(stateSize), "state-MiB")
		var sum int64
		for _, w := range written {
			sum += w
		}
		mean := sum / int64(len(written))
		b.ReportMetric(mib(mean), "incr-MiB")
		b.ReportMetric(mib(written[len(written)/2]), "incr-p50-MiB")
		b.ReportMetric(100*float64(mean)/float64(stateSize), "incr-%")
		b.ReportMetric(float64(p(0.5).Microseconds())/1000, "ckpt-p50-ms")
		b.ReportMetric(float64(p(0.99).Microseconds())/1000, "ckpt-p99-ms")
		b.ReportMetric(float64(restore.Microseconds())/1000, "restore-ms")
		b.ReportMetric(loaded.Seconds(), "load-s")
	}
}
