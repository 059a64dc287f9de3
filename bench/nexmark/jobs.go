package nexmark

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/connector/blackhole"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// Blackhole as --output discards the results (the suite's blackhole sink).
const Blackhole = "blackhole"

// query is one Nexmark query as a loom job: build adds its operators
// over the event stream and writes its rows to out.
type query struct {
	name        string // q0, q1, ...: the job is nexmark-<name>
	description string
	build       func(events *stream.Stream[Event], out results)
}

// queries are the queries loom runs, in the suite's order.
var queries = []query{
	{"q0", "pass-through: every bid", q0},
	{"q1", "currency conversion: bid prices in euros", q1},
	{"q2", "selection: bids on every 123rd auction", q2},
	{"q3", "local item suggestion: sellers in OR, ID or CA of auctions in category 10 (person x auction join)", q3},
	{"q4", "average winning price per category (auction x bid join, then an aggregate)", q4},
	{"q5", "hot items: the auctions with the most bids per sliding window (10 s every 2 s)", q5},
	{"q7", "highest bid per 10 s tumbling window", q7},
	{"q8", "new users: persons who created auctions in the 10 s window they joined in (window join)", q8},
	{"q9", "winning bids: the highest bid of each auction while it was open", q9},
	{"q11", "user sessions: bids per bidder session (10 s gap)", q11},
	{"q12", "bids per bidder per 10 s processing-time window", q12},
	{"q14", "calculation: euro prices in a range, with a time-of-day class and a UDF", q14},
	{"q15", "bidding statistics per day: counts and distinct bidders and auctions by price rank", q15},
	{"q16", "channel statistics per channel and day", q16},
	{"q17", "auction statistics per auction and day", q17},
	{"q18", "last bid of each bidder on each auction (deduplication)", q18},
	{"q19", "top 10 bids of each auction by price (top-N)", q19},
	{"q20", "bids joined with their auction's details, for auctions in category 10", q20},
	{"q21", "bids with a channel id, from the channel or the url", q21},
	{"q22", "bids with the first three directories of their url", q22},
}

// results says where a query writes its rows and how.
type results struct {
	// final is set for bounded runs: the queries whose SQL result is a
	// changing table (unbounded aggregates, top-N, deduplication) emit its
	// final rows only, at end of input. Unset, they emit a row each time
	// one changes (an upsert stream keyed as the SQL's GROUP BY or
	// PARTITION BY), as Flink's changelog would.
	final bool
	// dir is the output directory of part files, or Blackhole.
	dir string
	// collect, if set, receives every formatted row instead (tests). It is
	// called from every sink subtask.
	collect func(line string)
}

// emit writes s's rows, each formatted by format, to out.
func emit[T any](s *stream.Stream[T], out results, format func(dst []byte, v T) []byte) {
	switch {
	case out.collect != nil:
		s.SinkTo("collect", &funcSink[T]{format: format, line: out.collect})
	case out.dir == Blackhole:
		s.SinkTo("blackhole", blackhole.New[T]()).UID("results")
	default:
		s.SinkTo("write "+out.dir, file.Sink(out.dir, format)).UID("results")
	}
}

// funcSink hands each formatted record to a function.
type funcSink[T any] struct {
	format func([]byte, T) []byte
	line   func(string)
}

func (s *funcSink[T]) NewWriter(int, int) (task.SinkWriter[T], error) {
	return &funcWriter[T]{s: s}, nil
}

type funcWriter[T any] struct {
	s   *funcSink[T]
	buf []byte
}

func (w *funcWriter[T]) Open(*task.Context) error { return nil }
func (w *funcWriter[T]) Write(b *task.Batch[T]) error {
	for _, v := range b.Values {
		w.buf = w.s.format(w.buf[:0], v)
		w.s.line(string(w.buf))
	}
	return nil
}
func (w *funcWriter[T]) Snapshot(int64) ([]byte, error)       { return nil, nil }
func (w *funcWriter[T]) NotifyCheckpointComplete(int64) error { return nil }
func (w *funcWriter[T]) Finish() error                        { return nil }
func (w *funcWriter[T]) Close() error                         { return nil }

func init() {
	stream.Register(stream.Job{
		Name: "nexmark-gen",
		Description: "write Nexmark events as JSON lines (the suite's datagen table: event_type and a person, auction or bid) " +
			"into one part file, in event-number order, for another engine to read; --output blackhole only generates them",
		Define: defineGen,
	})
	for _, q := range queries {
		stream.Register(stream.Job{
			Name: "nexmark-" + q.name,
			Description: "Nexmark " + q.name + ", " + q.description + ", over generated events; writes TAB-separated rows " +
				"(bounded runs: the final rows; see bench/nexmark/doc.go)",
			Define: defineQuery(q),
		})
	}
}

// flags are the options every Nexmark job takes.
type flags struct {
	cfg    Config
	output *string
}

func addFlags(fs *pflag.FlagSet, outputUsage string) *flags {
	f := &flags{}
	fs.Int64Var(&f.cfg.Events, "events", 1_000_000, "number of events (0: generate forever)")
	fs.Float64Var(&f.cfg.Rate, "rate", 0, "events per second emitted over all subtasks (0: as fast as possible); event time follows the event number")
	fs.Float64Var(&f.cfg.EventRate, "event-rate", 0, fmt.Sprintf("events per second of event time: event n happens n/rate s after the base time (0: --rate, or %d when that is 0)", DefaultEventRate))
	fs.Uint64Var(&f.cfg.Seed, "seed", 1, "generator seed")
	fs.Int64Var(&f.cfg.BaseTime, "base-time", DefaultBaseTime, "event time of event 0, in milliseconds since the epoch")
	f.output = fs.String("output", Blackhole, outputUsage)
	return f
}

func (f *flags) validate() error {
	if f.cfg.Events < 0 {
		return fmt.Errorf("--events %d: must be 0 (unbounded) or positive", f.cfg.Events)
	}
	if *f.output == "" {
		return errors.New("--output: give a directory, or blackhole")
	}
	return f.cfg.Validate()
}

func defineQuery(q query) func(fs *pflag.FlagSet) stream.Builder {
	return func(fs *pflag.FlagSet) stream.Builder {
		f := addFlags(fs, "directory for the result part files, or blackhole to discard them")
		return func(env *stream.Env) error {
			if err := f.validate(); err != nil {
				return err
			}
			events, err := Events(env, f.cfg)
			if err != nil {
				return err
			}
			q.build(events, results{final: f.cfg.Events > 0, dir: *f.output})
			return nil
		}
	}
}

func defineGen(fs *pflag.FlagSet) stream.Builder {
	f := addFlags(fs, "directory for the JSON lines file (required), or blackhole to only generate the events")
	return func(env *stream.Env) error {
		if err := f.validate(); err != nil {
			return err
		}
		events, err := Events(env, f.cfg)
		if err != nil {
			return err
		}
		if *f.output == Blackhole {
			events.SinkTo("blackhole", blackhole.New[Event]())
			return nil
		}
		// One source subtask and one file: the file holds the events in
		// event-number order, so a reader sees event time ascending.
		events.Parallelism(1)
		events.SinkTo("write "+*f.output, file.Sink(*f.output, AppendJSON)).Parallelism(1).UID("events-file")
		return nil
	}
}
