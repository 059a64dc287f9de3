package nexmark

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// The query tests feed a few dozen hand-made events to a query and compare
// its rows with rows derived by hand in each test's comment. Times are
// written as offsets from t0, 2024-01-01 00:00:00.000 UTC, which is a
// multiple of every window size.

const t0 = DefaultBaseTime

// at is the timestamp column of t0+ms, formatted by the standard library
// (not by the code under test).
func at(ms int64) string {
	return time.UnixMilli(t0 + ms).UTC().Format("2006-01-02 15:04:05.000")
}

// line joins columns with TABs.
func line(cols ...any) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, "\t")
}

// Event builders: times are offsets from t0.

func person(id int64, name, state string, ms int64) Event {
	return Event{Kind: KindPerson, Person: &Person{ID: id, Name: name, EmailAddress: "e@x.com", CreditCard: "0000 0000 0000 0000",
		City: "Bend", State: state, DateTime: t0 + ms, Extra: "p"}}
}

func auction(id, seller, category, ms, expiresMs int64) Event {
	return Event{Kind: KindAuction, Auction: &Auction{ID: id, ItemName: "item", Description: "desc", InitialBid: 1, Reserve: 2,
		DateTime: t0 + ms, Expires: t0 + expiresMs, Seller: seller, Category: category, Extra: "a"}}
}

// testURL is the url of test bids made with bid.
const testURL = "https://www.nexmark.com/aa/bb/cc/item.htm?query=1"

func bid(auction, bidder, price, ms int64) Event {
	return Event{Kind: KindBid, Bid: Bid{Auction: auction, Bidder: bidder, Price: price, Channel: "Google", URL: testURL, DateTime: t0 + ms, Extra: "b"}}
}

// bidVia is bid through channel from url.
func bidVia(auction, bidder, price, ms int64, channel, url string) Event {
	e := bid(auction, bidder, price, ms)
	e.Bid.Channel, e.Bid.URL = channel, url
	return e
}

// eventSource emits events in order from subtask 0, then ends; the other
// subtasks end at once. It runs at the job's parallelism so that the
// operators after it are chained to it and see the events in order (a
// source of parallelism 1 would be rebalanced over them).
type eventSource struct{ events []Event }

func (s *eventSource) Bounded() bool { return true }

func (s *eventSource) NewReader(subtask, parallelism int) (task.SourceReader[Event], error) {
	if subtask != 0 {
		return &eventReader{}, nil
	}
	return &eventReader{events: s.events}, nil
}

type eventReader struct {
	events []Event
	next   int
}

func (r *eventReader) Open(*task.Context) error { return nil }
func (r *eventReader) Read(b *task.Batch[Event]) (task.ReadStatus, error) {
	for r.next < len(r.events) && b.Len() < cap(b.Values) {
		b.Append(task.NoTimestamp, r.events[r.next])
		r.next++
	}
	return task.ReadStatus{End: r.next == len(r.events)}, nil
}
func (r *eventReader) Snapshot() ([]byte, error) { return fmt.Appendf(nil, "%d", r.next), nil }
func (r *eventReader) Close() error              { return nil }

// runQuery runs build over events (all from source subtask 0, watermarks
// as the Nexmark source's) at parallelism 2 with small batches, on each state
// backend, and returns the sorted rows, failing t if the backends disagree.
func runQuery(t *testing.T, build func(*stream.Stream[Event], results), final bool, events []Event) []string {
	t.Helper()
	return runOn(t, build, final, func(env *stream.Env) *stream.Stream[Event] {
		return stream.FromSource(env, "events", &eventSource{events: events}, Watermarks())
	})
}

// runOn is runQuery over the events of source.
func runOn(t *testing.T, build func(*stream.Stream[Event], results), final bool, source func(*stream.Env) *stream.Stream[Event]) []string {
	t.Helper()
	var rows []string
	for _, backend := range []string{"heap", "lsm"} {
		var mu sync.Mutex
		var got []string
		env := stream.NewEnv("nexmark-test")
		env.SetParallelism(2)
		build(source(env), results{final: final, collect: func(l string) {
			mu.Lock()
			got = append(got, l)
			mu.Unlock()
		}})
		g, err := env.Graph()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		x, err := engine.Start(ctx, g, engine.Options{BatchSize: 4, StateBackend: backend, StateDir: t.TempDir()})
		if err == nil {
			err = x.Wait()
		}
		cancel()
		if err != nil {
			t.Fatalf("%s backend: %v", backend, err)
		}
		slices.Sort(got)
		if rows != nil && !slices.Equal(rows, got) {
			t.Fatalf("the backends disagree:\nheap %q\nlsm  %q", rows, got)
		}
		rows = got
	}
	return rows
}

// expect runs the query and compares its rows with want, in any order.
func expect(t *testing.T, build func(*stream.Stream[Event], results), events []Event, want ...string) {
	t.Helper()
	got := runQuery(t, build, true, events)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
