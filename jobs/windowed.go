package jobs

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/connector/print"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name: "windowed-counts",
		Description: "count generated clicks per user in tumbling event-time windows; records later than the " +
			"out-of-orderness allows go to a late side output. Bounded with --events > 0, endless with --events 0",
		Define: defineWindowedCounts,
	})
}

// Click is a generated event of the windowed-counts job: a user clicked at
// event time Ts (milliseconds since the epoch).
type Click struct {
	User int64
	Ts   int64
}

// clickEpoch is the event time of the first generated click
// (2024-01-01T00:00:00Z): fixed, so that runs are repeatable.
const clickEpoch = 1_704_067_200_000

func defineWindowedCounts(fs *pflag.FlagSet) stream.Builder {
	events := fs.Int64("events", 1_000_000, "number of generated clicks (0: generate forever)")
	rate := fs.Float64("rate", 0, "clicks per second over all subtasks (0: as fast as possible)")
	keys := fs.Int("keys", 100, "number of distinct users")
	window := fs.Duration("window", 10*time.Second, "tumbling window size")
	outOfOrder := fs.Duration("out-of-orderness", 2*time.Second, "how far behind the latest event time a click may arrive and still be counted")
	seed := fs.Uint64("seed", 1, "generator seed")
	output := fs.String("output", "", "directory for the results: counts/ and late/ part files (empty: print to stdout)")
	sinkDelay := fs.Duration("sink-delay", 0, "for backpressure tests: the counts sink waits this long per window result (a deliberately slow sink)")
	return func(env *stream.Env) error {
		switch {
		case *events < 0:
			return fmt.Errorf("--events %d: must be 0 (unbounded) or positive", *events)
		case *rate < 0:
			return fmt.Errorf("--rate %g: must not be negative", *rate)
		case *keys <= 0:
			return fmt.Errorf("--keys %d: must be positive", *keys)
		case window.Milliseconds() <= 0:
			return fmt.Errorf("--window %v: must be at least 1ms", *window)
		case *outOfOrder < 0:
			return fmt.Errorf("--out-of-orderness %v: must not be negative", *outOfOrder)
		case *sinkDelay < 0:
			return fmt.Errorf("--sink-delay %v: must not be negative", *sinkDelay)
		}
		format := formatWindowCount
		if d := *sinkDelay; d > 0 {
			format = func(dst []byte, r stream.WindowResult[int64, int64]) []byte {
				time.Sleep(d)
				return formatWindowCount(dst, r)
			}
		}
		gen := clickGenerator(int64(*keys), *rate, outOfOrder.Milliseconds())
		src := datagen.New(gen, datagen.Options{Count: *events, Rate: *rate, Seed: *seed})
		clicks := stream.FromSource(env, "clicks", src, stream.BoundedOutOfOrderness(*outOfOrder, clickTime)).UID("clicks")
		w := stream.Window(stream.KeyBy(clicks, clickUser), stream.TumblingEventTime(*window))
		counts := stream.WindowAggregate(w, "count per user", stream.Count[Click](), nil).UID("count-per-user")
		late := w.LateRecords()
		if *output == "" {
			counts.SinkTo("print counts", print.New(print.Options[stream.WindowResult[int64, int64]]{Format: format})).UID("counts-sink")
			late.SinkTo("print late", print.New(print.Options[Click]{Format: formatLateClick})).UID("late-sink")
			return nil
		}
		countsDir, lateDir := filepath.Join(*output, "counts"), filepath.Join(*output, "late")
		counts.SinkTo("write "+countsDir, file.Sink(countsDir, format)).UID("counts-sink")
		late.SinkTo("write "+lateDir, file.Sink(lateDir, formatLateClick)).UID("late-sink")
		return nil
	}
}

// clickGenerator makes click i happen at its nominal time (one per
// millisecond, or 1/rate apart with a rate so that event time keeps pace
// with the wall clock) minus a random delay within the out-of-orderness, so
// clicks arrive out of order but are counted; one click in a hundred
// straggles 2 to 3 times the out-of-orderness behind and usually misses its
// window: those show the late side output.
func clickGenerator(keys int64, rate float64, outOfOrder int64) func(int64, *datagen.Rand) Click {
	spacing := 1.0
	if rate > 0 {
		spacing = 1000 / rate
	}
	return func(i int64, r *datagen.Rand) Click {
		user := int64(r.Uint64() % uint64(keys))
		delay := int64(r.Intn(int(outOfOrder) + 1))
		if r.Intn(100) == 0 {
			delay = 2*outOfOrder + int64(r.Intn(int(outOfOrder)+1))
		}
		return Click{User: user, Ts: clickEpoch + int64(float64(i)*spacing) - delay}
	}
}

func clickTime(c Click) int64 { return c.Ts }
func clickUser(c Click) int64 { return c.User }
func appendTime(dst []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
}

// formatWindowCount writes user<TAB>window start<TAB>window end<TAB>count.
func formatWindowCount(dst []byte, r stream.WindowResult[int64, int64]) []byte {
	dst = strconv.AppendInt(dst, r.Key, 10)
	dst = append(dst, '\t')
	dst = appendTime(dst, r.Window.Start)
	dst = append(dst, '\t')
	dst = appendTime(dst, r.Window.End)
	dst = append(dst, '\t')
	return strconv.AppendInt(dst, r.Value, 10)
}

// formatLateClick writes late<TAB>user<TAB>event time.
func formatLateClick(dst []byte, c Click) []byte {
	dst = append(dst, "late\t"...)
	dst = strconv.AppendInt(dst, c.User, 10)
	dst = append(dst, '\t')
	return appendTime(dst, c.Ts)
}
