package jobs

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
)

func init() {
	stream.Register(stream.Job{
		Name: "totals",
		Description: "sum generated amounts per account (keyed state); writes account<TAB>total at end of input. " +
			"Deterministic by seed, so a run restored from a checkpoint must write what an uninterrupted run writes",
		Define: defineTotals,
	})
}

// Payment is a generated record of the totals job.
type Payment struct {
	Seq     int64 // index of the generated record
	Account int64
	Amount  int64
}

func defineTotals(fs *pflag.FlagSet) stream.Builder {
	events := fs.Int64("events", 1_000_000, "number of generated payments (must be > 0: the job is bounded)")
	rate := fs.Float64("rate", 0, "payments per second over all subtasks (0: as fast as possible)")
	accounts := fs.Int("accounts", 1000, "number of distinct accounts")
	seed := fs.Uint64("seed", 1, "generator seed")
	output := fs.String("output", "", "directory to write part files to (required)")
	failAt := fs.Int64("fail-once-at", -1, "for recovery tests: fail the job once, at the payment with this index")
	panicAt := fs.Int64("panic-at", -1, "for tests: a user function panics (a bug) at the payment with this index")
	return func(env *stream.Env) error {
		if *output == "" {
			return errors.New("--output is required")
		}
		if *events <= 0 || *accounts <= 0 {
			return fmt.Errorf("--events (%d) and --accounts (%d) must be positive", *events, *accounts)
		}
		n := int64(*accounts)
		gen := func(i int64, r *datagen.Rand) Payment {
			return Payment{Seq: i, Account: int64(r.Uint64() % uint64(n)), Amount: int64(r.Intn(10_000))}
		}
		payments := stream.FromSource(env, "payments", datagen.New(gen, datagen.Options{Count: *events, Rate: *rate, Seed: *seed}), nil)
		if *failAt >= 0 {
			at, out := *failAt, *output
			payments = stream.TryMap(payments, "fail once", func(p Payment) (Payment, error) {
				if p.Seq != at {
					return p, nil
				}
				if _, failed := failedOnce.LoadOrStore(out, true); failed {
					return p, nil
				}
				return p, fmt.Errorf("injected failure at payment %d (--fail-once-at)", at)
			})
		}
		if *panicAt >= 0 {
			at := *panicAt
			payments = stream.Map(payments, "panic at", func(p Payment) Payment {
				if p.Seq == at {
					panic(fmt.Sprintf("payment %d: deliberate bug (--panic-at)", at))
				}
				return p
			})
		}
		totals := stream.Aggregate[int64, Payment, int64, int64](stream.KeyBy(payments, accountOf), "sum per account", amountSum{}, nil).UID("sum-per-account")
		totals.SinkTo("write "+*output, file.Sink(*output, formatTotal)).UID("totals-sink")
		return nil
	}
}

func accountOf(p Payment) int64 { return p.Account }

// failedOnce makes --fail-once-at fail only the first attempt in a process
// of the job writing to an output directory (the key).
var failedOnce sync.Map

// amountSum sums payment amounts.
type amountSum struct{}

func (amountSum) Create() int64                  { return 0 }
func (amountSum) Add(acc int64, p Payment) int64 { return acc + p.Amount }
func (amountSum) Merge(a, b int64) int64         { return a + b }
func (amountSum) Result(acc int64) int64         { return acc }

func formatTotal(dst []byte, kv stream.KV[int64, int64]) []byte {
	dst = strconv.AppendInt(dst, kv.Key, 10)
	dst = append(dst, '\t')
	return strconv.AppendInt(dst, kv.Value, 10)
}
