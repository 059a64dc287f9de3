package nexmark

import (
	"time"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/stream"
)

// windowSize is the size of q5's, q7's, q8's, q11's and q12's windows.
const windowSize = 10 * time.Second

func bidAuction(b Bid) int64 { return b.Auction }
func bidBidder(b Bid) int64  { return b.Bidder }

// formatWindowCount writes key, count, window start, window end: the rows
// of q11 and q12.
func formatWindowCount(dst []byte, r stream.WindowResult[int64, int64]) []byte {
	return cols{b: dst}.Int(r.Key).Int(r.Value).Time(r.Window.Start).Time(r.Window.End).b
}

// q5Row is an auction with the most bids of a window, and their number.
type q5Row struct{ Auction, Num int64 }

// q5 finds the hot items: per sliding window of 10 s every 2 s, the
// auctions with the most bids (all of them on a tie):
//
//	SELECT AuctionBids.auction, AuctionBids.num FROM
//	  (SELECT auction, count(*) AS num, window_start, window_end FROM HOP(bid, 2 s, 10 s) GROUP BY auction, window_start, window_end) AuctionBids
//	JOIN (SELECT max(num) AS maxn, window_start, window_end FROM (... the same counts ...) GROUP BY window_start, window_end) MaxBids
//	ON same window AND AuctionBids.num >= MaxBids.maxn
//
// Built as a sliding-window count per auction, then a keyed process
// function per window (keyed by window end) that keeps the maximum and the
// auctions reaching it, emitted when the watermark passes the window: the
// counts of a window all arrive before that, since the window operator
// emits them before it forwards the watermark that fired them.
func q5(events *stream.Stream[Event], out results) {
	w := stream.Window(stream.KeyBy(bids(events), bidAuction), stream.SlidingEventTime(windowSize, 2*time.Second))
	counts := stream.WindowAggregate(w, "bids per auction", stream.Count[Bid](), nil).UID("q5-counts")
	hottest := stream.Process(stream.KeyBy(counts, windowEnd), "hottest per window", newQ5Hottest).UID("q5-hottest")
	emit(hottest, out, formatQ5)
}

func windowEnd(r stream.WindowResult[int64, int64]) int64 { return r.Window.End }

// q5Max is the highest count of a window so far and the auctions with it.
type q5Max struct {
	Num      int64
	Auctions []int64
}

type q5Hottest struct{ max state.ValueState[q5Max] }

func newQ5Hottest() stream.KeyedProcessFunction[int64, stream.WindowResult[int64, int64], q5Row] {
	return &q5Hottest{}
}

func (f *q5Hottest) Open(ctx *stream.KeyedContext[int64]) (err error) {
	f.max, err = stream.ValueState[int64, q5Max](ctx, "max")
	return err
}

func (f *q5Hottest) ProcessElement(r stream.WindowResult[int64, int64], ctx *stream.KeyedContext[int64], _ *stream.Collector[q5Row]) error {
	m, ok, err := f.max.Value()
	if err != nil {
		return err
	}
	switch {
	case !ok:
		// The window's counts carry its max timestamp: fire then.
		if err := ctx.RegisterEventTimer(r.Window.MaxTimestamp()); err != nil {
			return err
		}
		m = q5Max{Num: r.Value, Auctions: []int64{r.Key}}
	case r.Value > m.Num:
		m = q5Max{Num: r.Value, Auctions: append(m.Auctions[:0], r.Key)}
	case r.Value == m.Num:
		m.Auctions = append(m.Auctions, r.Key)
	default:
		return nil
	}
	return f.max.Update(m)
}

func (f *q5Hottest) OnTimer(_ int64, _ *stream.KeyedContext[int64], out *stream.Collector[q5Row]) error {
	m, ok, err := f.max.Value()
	if err != nil || !ok {
		return err
	}
	for _, a := range m.Auctions {
		out.Collect(q5Row{Auction: a, Num: m.Num})
	}
	return f.max.Clear()
}

func formatQ5(dst []byte, r q5Row) []byte { return cols{b: dst}.Int(r.Auction).Int(r.Num).b }

// q7 finds the highest bids of each 10 s tumbling window [s, e):
//
//	SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra FROM bid B
//	JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime FROM TUMBLE(bid, 10 s) GROUP BY window_start, window_end) B1
//	ON B.price = B1.maxprice WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime
//
// BETWEEN is inclusive: a row is a bid of price max(W) in [s, e], so a bid
// at exactly e (the next window's first millisecond) matches window W too
// when its price equals W's maximum. Built as a two-phase maximum, as
// Flink's local-global aggregation: bids are split into 64 buckets by
// price (hot auctions and bidders would skew any other key), a keyed
// process function per (bucket, window) keeps the bucket's maximum, its
// bids, and the candidates at e with a price at least that maximum; when
// the watermark passes e it sends them to one function per window, which
// does the same over the buckets and emits the bids at the window's
// maximum. A bid is kept only while its price is the maximum so far (or,
// for a candidate, at least that), so the state stays a few bids per
// window once the window has bids.
func q7(events *stream.Stream[Event], out results) {
	split := stream.FlatMap(bids(events), "q7 windows", q7Windows)
	partial := stream.Process(stream.KeyBy(split, q7Bucket), "max per bucket", newQ7Partial).UID("q7-partial")
	highest := stream.Process(stream.KeyBy(partial, q7End), "max per window", newQ7Highest).UID("q7-highest")
	emit(highest, out, formatQ0)
}

// q7In is a bid in window [End-10s, End), or, with Edge, at exactly End.
type q7In struct {
	Bid  Bid
	End  int64
	Edge bool
}

// q7Key is a bucket of bids of one window.
type q7Key struct{ Bucket, End int64 }

const q7Buckets = 64

// q7Windows sends each bid to its window, and a bid at a window's first
// millisecond also to the window before, as an edge candidate.
func q7Windows(b Bid, out *stream.Collector[q7In]) error {
	size := windowSize.Milliseconds()
	start := floorDiv(b.DateTime, size) * size
	out.Collect(q7In{Bid: b, End: start + size})
	if b.DateTime == start {
		out.Collect(q7In{Bid: b, End: start, Edge: true})
	}
	return nil
}

func q7Bucket(in q7In) q7Key { return q7Key{Bucket: in.Bid.Price % q7Buckets, End: in.End} }
func q7End(in q7In) int64    { return in.End }

// q7Max is the maximum price of a window's bids so far (HasMax once there
// is one) and the bids with it.
type q7Max struct {
	HasMax bool
	Max    int64
	Top    []Bid
}

func (m *q7Max) add(b Bid) {
	switch {
	case !m.HasMax || b.Price > m.Max:
		m.HasMax, m.Max = true, b.Price
		m.Top = append(m.Top[:0], b)
	case b.Price == m.Max:
		m.Top = append(m.Top, b)
	}
}

// q7Window keeps, per key, a window's q7Max and its edge candidates by
// price (a map, so that each of the thousands of bids a window's last
// millisecond may hold costs one entry, not a copy of all the others), and
// fires at the window's end (the watermark past End: every bid of
// [End-10s, End] has arrived). The first phase (global unset) forwards its
// bids at the maximum and the edge candidates that may still equal the
// window's maximum; the second emits the window's maximum bids.
type q7Window[K comparable, OUT any] struct {
	global bool
	emit   func(in q7In, out *stream.Collector[OUT])
	max    state.ValueState[q7Max]
	edges  state.MapState[int64, []Bid]
}

func (f *q7Window[K, OUT]) Open(ctx *stream.KeyedContext[K]) (err error) {
	if f.max, err = stream.ValueState[K, q7Max](ctx, "max"); err != nil {
		return err
	}
	f.edges, err = stream.MapState[K, int64, []Bid](ctx, "edge bids")
	return err
}

func (f *q7Window[K, OUT]) ProcessElement(in q7In, ctx *stream.KeyedContext[K], _ *stream.Collector[OUT]) error {
	if err := ctx.RegisterEventTimer(in.End); err != nil {
		return err
	}
	m, _, err := f.max.Value()
	if err != nil {
		return err
	}
	if !in.Edge {
		m.add(in.Bid)
		return f.max.Update(m)
	}
	// An edge bid below the maximum so far can never equal the final one.
	if m.HasMax && in.Bid.Price < m.Max {
		return nil
	}
	same, _, err := f.edges.Get(in.Bid.Price)
	if err != nil {
		return err
	}
	return f.edges.Put(in.Bid.Price, append(same, in.Bid))
}

func (f *q7Window[K, OUT]) OnTimer(end int64, _ *stream.KeyedContext[K], out *stream.Collector[OUT]) error {
	m, _, err := f.max.Value()
	if err != nil {
		return err
	}
	for _, b := range m.Top {
		f.emit(q7In{Bid: b, End: end}, out)
	}
	switch {
	case !f.global:
		err = f.edges.Range(func(p int64, bids []Bid) error {
			if !m.HasMax || p >= m.Max {
				for _, b := range bids {
					f.emit(q7In{Bid: b, End: end, Edge: true}, out)
				}
			}
			return nil
		})
	case m.HasMax: // else the window had edge bids only: no bids of its own
		var bids []Bid
		bids, _, err = f.edges.Get(m.Max)
		for _, b := range bids {
			f.emit(q7In{Bid: b, End: end, Edge: true}, out)
		}
	}
	if err != nil {
		return err
	}
	if err := f.max.Clear(); err != nil {
		return err
	}
	return f.edges.Clear()
}

// newQ7Partial is the first phase, per price bucket and window.
func newQ7Partial() stream.KeyedProcessFunction[q7Key, q7In, q7In] {
	return &q7Window[q7Key, q7In]{emit: func(in q7In, out *stream.Collector[q7In]) { out.Collect(in) }}
}

// newQ7Highest is the second phase, per window: it writes the bids.
func newQ7Highest() stream.KeyedProcessFunction[int64, q7In, Bid] {
	return &q7Window[int64, Bid]{global: true, emit: func(in q7In, out *stream.Collector[Bid]) { out.Collect(in.Bid) }}
}

// q8In is a person who joined (Person set) or the seller of an auction.
type q8In struct {
	ID     int64
	Name   string
	Person bool
}

// q8Seen is what a 10 s window saw of one person id.
type q8Seen struct {
	Name              string
	Person, Auctioned bool
}

// q8Row is a new person who created an auction in the window it joined in.
type q8Row struct {
	ID    int64
	Name  string
	Start int64
}

// q8 monitors new users: the persons who joined and created an auction in
// the same 10 s tumbling window:
//
//	SELECT P.id, P.name, P.starttime FROM
//	  (SELECT id, name, window_start AS starttime, window_end AS endtime FROM TUMBLE(person, 10 s) GROUP BY id, name, window_start, window_end) P
//	JOIN (SELECT seller, window_start AS starttime, window_end AS endtime FROM TUMBLE(auction, 10 s) GROUP BY seller, window_start, window_end) A
//	ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
//
// A window join of two grouped inputs, built as one tumbling window
// aggregate over persons and sellers keyed by the id, which notes whether
// the window saw the person and an auction of theirs: no records are
// buffered, and each (id, window) is one row at most, as in the SQL.
func q8(events *stream.Stream[Event], out results) {
	ids := stream.FlatMap(events, "persons and sellers", q8Of)
	w := stream.Window(stream.KeyBy(ids, q8ID), stream.TumblingEventTime(windowSize))
	seen := stream.WindowAggregate[int64, q8In, q8Seen, q8Seen](w, "persons with auctions", q8Agg{}, nil).UID("q8-window")
	emit(stream.FlatMap(seen, "q8 join", q8Join), out, formatQ8)
}

func q8Of(e Event, out *stream.Collector[q8In]) error {
	switch e.Kind {
	case KindPerson:
		out.Collect(q8In{ID: e.Person.ID, Name: e.Person.Name, Person: true})
	case KindAuction:
		out.Collect(q8In{ID: e.Auction.Seller})
	}
	return nil
}

func q8ID(in q8In) int64 { return in.ID }

// q8Agg notes the person's name and whether an auction came.
type q8Agg struct{}

func (q8Agg) Create() q8Seen { return q8Seen{} }
func (q8Agg) Add(s q8Seen, in q8In) q8Seen {
	if in.Person {
		s.Person, s.Name = true, in.Name
	} else {
		s.Auctioned = true
	}
	return s
}
func (q8Agg) Merge(a, b q8Seen) q8Seen {
	if b.Person {
		a.Person, a.Name = true, b.Name
	}
	a.Auctioned = a.Auctioned || b.Auctioned
	return a
}
func (q8Agg) Result(s q8Seen) q8Seen { return s }

func q8Join(r stream.WindowResult[int64, q8Seen], out *stream.Collector[q8Row]) error {
	if r.Value.Person && r.Value.Auctioned {
		out.Collect(q8Row{ID: r.Key, Name: r.Value.Name, Start: r.Window.Start})
	}
	return nil
}

func formatQ8(dst []byte, r q8Row) []byte { return cols{b: dst}.Int(r.ID).Str(r.Name).Time(r.Start).b }

// q11 counts each bidder's bids per session (a session ends after 10 s
// without a bid of theirs):
//
//	SELECT B.bidder, count(*) AS bid_count, SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
//	       SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
//	FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)
//
// loom's session windows: a session is [first bid, last bid + 10 s).
func q11(events *stream.Stream[Event], out results) {
	w := stream.Window(stream.KeyBy(bids(events), bidBidder), stream.SessionEventTime(windowSize))
	emit(stream.WindowAggregate(w, "bids per session", stream.Count[Bid](), nil).UID("q11-sessions"), out, formatWindowCount)
}

// q12 counts each bidder's bids per 10 s processing-time window:
//
//	SELECT bidder, count(*) AS bid_count, window_start AS starttime, window_end AS endtime
//	FROM TUMBLE(B, DESCRIPTOR(p_time), INTERVAL '10' SECOND) GROUP BY bidder, window_start, window_end
//
// Its rows depend on when bids arrive, so no two runs agree on them; the
// windows still open at the end of a bounded input fire then (Flink drops
// them), so a bounded run counts every bid.
func q12(events *stream.Stream[Event], out results) {
	w := stream.Window(stream.KeyBy(bids(events), bidBidder), stream.TumblingProcessingTime(windowSize))
	emit(stream.WindowAggregate(w, "bids per window", stream.Count[Bid](), nil).UID("q12-windows"), out, formatWindowCount)
}
