// Package bench holds loom's end-to-end benchmarks: each runs a job through
// the engine and the same work as a hand-fused Go loop in the same run, and
// prints both rates and their ratio. `make bench` runs them.
package bench

import (
	"syscall"
	"time"

	"github.com/loom-yarn/loom/connector/datagen"
)

// Event is the generated record of the benchmarks.
type Event struct {
	ID       int64
	Price    int64
	Category int64
	Key      int64
}

// genEvent is the generator shared by the engine job and the fused loop.
func genEvent(keys int64) func(i int64, r *datagen.Rand) Event {
	return func(i int64, r *datagen.Rand) Event {
		return Event{ID: i, Price: int64(r.Uint64() % 100_000_000), Category: 10 + int64(r.Intn(5)), Key: int64(r.Uint64() % uint64(keys))}
	}
}

func keep(e Event) bool { return e.Price%123 != 0 }

func convert(e Event) Event {
	e.Price = e.Price * 908 / 1000
	return e
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rate measures records per wall second and per CPU second of run.
type rate struct{ wall, cpu float64 }

func measure(records int64, run func()) rate {
	c0, w0 := cpuTime(), time.Now()
	run()
	c, w := cpuTime()-c0, time.Since(w0)
	return rate{wall: float64(records) / w.Seconds(), cpu: float64(records) / c.Seconds()}
}
