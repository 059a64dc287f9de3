package nexmark

import (
	"cmp"
	"math"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/stream"
)

// The joins of q3, q9, q4 and q20 match many records of one side (auctions
// of a seller, bids of an auction) with one record of the other (the
// person, the auction): person and auction ids are unique, a primary key of
// the Nexmark model. Each is a keyed co-process function that keeps the
// unique side and only the records of the other side that came before it;
// it sees every record of the unique side, so it also knows when one fails
// the query's filter and the records waiting for it can go. The rows are
// those of the SQL's regular join; Flink's plan does not know the keys are
// unique and keeps both sides whole. The records that came before their
// partner wait in a pending.

// pending holds a key's records waiting for their partner: entries 0 to
// n-1 of a map, and n. Every access is a point read or write, O(1) a
// record: a source subtask may run thousands of events ahead of another,
// so a new hot auction can collect thousands of bids before it arrives
// itself (a slice in a value state would be rewritten whole for each),
// and a list state's Get and Clear cost the LSM backend a range
// deletion, which every later iterator of its write batch pays for again.
type pending[T any] struct {
	items state.MapState[int64, T]
	count state.ValueState[int64]
}

func newPending[K comparable, T any](ctx *stream.KeyedContext[K], name string) (p pending[T], err error) {
	if p.items, err = stream.MapState[K, int64, T](ctx, name); err != nil {
		return p, err
	}
	p.count, err = stream.ValueState[K, int64](ctx, name+" count")
	return p, err
}

// Add appends r.
func (p pending[T]) Add(r T) error {
	n, _, err := p.count.Value()
	if err != nil {
		return err
	}
	if err := p.items.Put(n, r); err != nil {
		return err
	}
	return p.count.Update(n + 1)
}

// take returns the waiting records in arrival order, if any, and forgets
// them.
func (p pending[T]) take() ([]T, error) {
	n, ok, err := p.count.Value()
	if err != nil || !ok {
		return nil, err
	}
	rs := make([]T, 0, n)
	for i := range n {
		r, _, err := p.items.Get(i)
		if err != nil {
			return nil, err
		}
		if err := p.items.Remove(i); err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, p.count.Clear()
}

// q3Person is a person of q3: Local for the states q3 selects, and then
// with the columns it writes.
type q3Person struct {
	ID                int64
	Local             bool
	Name, City, State string
}

// q3Auction is an auction of category 10 and its seller.
type q3Auction struct{ ID, Seller int64 }

// q3Row is a local seller and one of their auctions.
type q3Row struct {
	Name, City, State string
	ID                int64
}

// q3 suggests local items: who sells in OR, ID or CA in category 10, and
// which auctions:
//
//	SELECT P.name, P.city, P.state, A.id FROM auction AS A INNER JOIN person AS P on A.seller = P.id
//	WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')
func q3(events *stream.Stream[Event], out results) {
	auctions := stream.KeyBy(stream.FlatMap(events, "auctions of category 10", q3AuctionOf), q3Seller)
	people := stream.KeyBy(stream.FlatMap(events, "persons", q3PersonOf), q3PersonID)
	emit(stream.Connect(auctions, people, "local sellers", newQ3Join).UID("q3-join"), out, formatQ3)
}

func q3AuctionOf(e Event, out *stream.Collector[q3Auction]) error {
	if e.Kind == KindAuction && e.Auction.Category == 10 {
		out.Collect(q3Auction{ID: e.Auction.ID, Seller: e.Auction.Seller})
	}
	return nil
}

func q3PersonOf(e Event, out *stream.Collector[q3Person]) error {
	if e.Kind != KindPerson {
		return nil
	}
	p := e.Person
	switch p.State {
	case "OR", "ID", "CA":
		out.Collect(q3Person{ID: p.ID, Local: true, Name: p.Name, City: p.City, State: p.State})
	default:
		out.Collect(q3Person{ID: p.ID})
	}
	return nil
}

func q3Seller(a q3Auction) int64  { return a.Seller }
func q3PersonID(p q3Person) int64 { return p.ID }

type q3Join struct {
	person  state.ValueState[q3Person]
	pending pending[int64] // auction ids of a seller not seen yet
}

func newQ3Join() stream.KeyedCoProcessFunction[int64, q3Auction, q3Person, q3Row] { return &q3Join{} }

func (f *q3Join) Open(ctx *stream.KeyedContext[int64]) (err error) {
	if f.person, err = stream.ValueState[int64, q3Person](ctx, "person"); err != nil {
		return err
	}
	f.pending, err = newPending[int64, int64](ctx, "pending auctions")
	return err
}

func (f *q3Join) ProcessElement1(a q3Auction, _ *stream.KeyedContext[int64], out *stream.Collector[q3Row]) error {
	p, ok, err := f.person.Value()
	switch {
	case err != nil:
		return err
	case !ok:
		return f.pending.Add(a.ID)
	case p.Local:
		out.Collect(q3Row{Name: p.Name, City: p.City, State: p.State, ID: a.ID})
	}
	return nil
}

func (f *q3Join) ProcessElement2(p q3Person, _ *stream.KeyedContext[int64], out *stream.Collector[q3Row]) error {
	if err := f.person.Update(p); err != nil {
		return err
	}
	ids, err := f.pending.take()
	if err != nil || !p.Local {
		return err
	}
	for _, id := range ids {
		out.Collect(q3Row{Name: p.Name, City: p.City, State: p.State, ID: id})
	}
	return nil
}

func (f *q3Join) OnTimer(int64, *stream.KeyedContext[int64], *stream.Collector[q3Row]) error {
	return nil
}

func formatQ3(dst []byte, r q3Row) []byte {
	return cols{b: dst}.Str(r.Name).Str(r.City).Str(r.State).Int(r.ID).b
}

func auctionID(a Auction) int64 { return a.ID }

// q20Row is a bid with its auction.
type q20Row struct {
	Bid     Bid
	Auction Auction
}

// q20 expands the bids on auctions of category 10 with their auction:
//
//	SELECT auction, bidder, price, channel, url, B.dateTime, B.extra,
//	       itemName, description, initialBid, reserve, A.dateTime, expires, seller, category, A.extra
//	FROM bid AS B INNER JOIN auction AS A on B.auction = A.id WHERE A.category = 10
func q20(events *stream.Stream[Event], out results) {
	b := stream.KeyBy(bids(events), bidAuction)
	a := stream.KeyBy(stream.FlatMap(events, "auctions", q20AuctionOf), auctionID)
	emit(stream.Connect(b, a, "bids with auction", newQ20Join).UID("q20-join"), out, formatQ20)
}

// q20AuctionOf passes auctions of category 10 whole, the others as their
// id and category alone (the join only needs to know they fail the filter).
func q20AuctionOf(e Event, out *stream.Collector[Auction]) error {
	if e.Kind != KindAuction {
		return nil
	}
	if a := e.Auction; a.Category == 10 {
		out.Collect(*a)
	} else {
		out.Collect(Auction{ID: a.ID, Category: a.Category})
	}
	return nil
}

type q20Join struct {
	auction state.ValueState[Auction]
	pending pending[Bid] // bids on an auction not seen yet
}

func newQ20Join() stream.KeyedCoProcessFunction[int64, Bid, Auction, q20Row] { return &q20Join{} }

func (f *q20Join) Open(ctx *stream.KeyedContext[int64]) (err error) {
	if f.auction, err = stream.ValueState[int64, Auction](ctx, "auction"); err != nil {
		return err
	}
	f.pending, err = newPending[int64, Bid](ctx, "pending bids")
	return err
}

func (f *q20Join) ProcessElement1(b Bid, _ *stream.KeyedContext[int64], out *stream.Collector[q20Row]) error {
	a, ok, err := f.auction.Value()
	switch {
	case err != nil:
		return err
	case !ok:
		return f.pending.Add(b)
	case a.Category == 10:
		out.Collect(q20Row{Bid: b, Auction: a})
	}
	return nil
}

func (f *q20Join) ProcessElement2(a Auction, _ *stream.KeyedContext[int64], out *stream.Collector[q20Row]) error {
	if err := f.auction.Update(a); err != nil {
		return err
	}
	waiting, err := f.pending.take()
	if err != nil || a.Category != 10 {
		return err
	}
	for _, b := range waiting {
		out.Collect(q20Row{Bid: b, Auction: a})
	}
	return nil
}

func (f *q20Join) OnTimer(int64, *stream.KeyedContext[int64], *stream.Collector[q20Row]) error {
	return nil
}

func formatQ20(dst []byte, r q20Row) []byte {
	b, a := &r.Bid, &r.Auction
	return cols{b: dst}.Int(b.Auction).Int(b.Bidder).Int(b.Price).Str(b.Channel).Str(b.URL).Time(b.DateTime).Str(b.Extra).
		Str(a.ItemName).Str(a.Description).Int(a.InitialBid).Int(a.Reserve).Time(a.DateTime).Time(a.Expires).
		Int(a.Seller).Int(a.Category).Str(a.Extra).b
}

// tieBreak orders bids that a query's ORDER BY ranks equal, so that the
// row a query keeps does not depend on arrival order (in SQL it does: with
// parallel sources two runs may keep different ones). Lower comes first.
func tieBreak(a, b *Bid) int {
	if c := cmp.Compare(a.Bidder, b.Bidder); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Auction, b.Auction); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Price, b.Price); c != 0 {
		return c
	}
	if c := cmp.Compare(a.DateTime, b.DateTime); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Channel, b.Channel); c != 0 {
		return c
	}
	if c := cmp.Compare(a.URL, b.URL); c != 0 {
		return c
	}
	return cmp.Compare(a.Extra, b.Extra)
}

// winsOver reports whether bid a ranks before b in q9's ORDER BY price
// DESC, dateTime ASC.
func winsOver(a, b *Bid) bool {
	if a.Price != b.Price {
		return a.Price > b.Price
	}
	if a.DateTime != b.DateTime {
		return a.DateTime < b.DateTime
	}
	return tieBreak(a, b) < 0
}

// q9Row is an auction and its winning bid.
type q9Row struct {
	Auction Auction
	Bid     Bid
}

// q9 finds the winning bid of each auction, the highest (then earliest)
// bid placed while it was open:
//
//	SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category, extra,
//	       auction, bidder, price, bid_dateTime, bid_extra
//	FROM (SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
//	        ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
//	      FROM auction A, bid B WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires)
//	WHERE rownum <= 1
//
// Built as a co-process function keyed by auction (see winningBids): a
// bid can only win while its auction is open, so the winner is final when
// the watermark passes the auction's expiry, and is emitted then, once:
// the result is append-only in bounded and unbounded runs alike. Ties on
// price and time go to tieBreak.
func q9(events *stream.Stream[Event], out results) {
	b := stream.KeyBy(bids(events), bidAuction)
	a := stream.KeyBy(auctions(events), auctionID)
	winners := stream.Connect(b, a, "winning bids", func() stream.KeyedCoProcessFunction[int64, Bid, Auction, q9Row] {
		return &winningBids[q9Row]{row: func(a Auction, b Bid) q9Row { return q9Row{Auction: a, Bid: b} }}
	}).UID("q9-winners")
	emit(winners, out, formatQ9)
}

func formatQ9(dst []byte, r q9Row) []byte {
	a, b := &r.Auction, &r.Bid
	return cols{b: dst}.Int(a.ID).Str(a.ItemName).Str(a.Description).Int(a.InitialBid).Int(a.Reserve).Time(a.DateTime).
		Time(a.Expires).Int(a.Seller).Int(a.Category).Str(a.Extra).
		Int(b.Auction).Int(b.Bidder).Int(b.Price).Time(b.DateTime).Str(b.Extra).b
}

// winningBids keeps, per auction, the auction, the best bid placed while it
// is open, and the bids that came before the auction did; when the
// watermark passes the auction's expiry it emits row(auction, best), if a
// bid qualified, and closes the auction: the auction stays as an empty
// interval (DateTime after Expires), which every later bid for it fails.
type winningBids[OUT any] struct {
	row     func(Auction, Bid) OUT
	auction state.ValueState[Auction]
	best    state.ValueState[Bid]
	pending pending[Bid]
}

func (f *winningBids[OUT]) Open(ctx *stream.KeyedContext[int64]) (err error) {
	if f.auction, err = stream.ValueState[int64, Auction](ctx, "auction"); err != nil {
		return err
	}
	if f.best, err = stream.ValueState[int64, Bid](ctx, "best bid"); err != nil {
		return err
	}
	f.pending, err = newPending[int64, Bid](ctx, "pending bids")
	return err
}

func open(a *Auction, b *Bid) bool { return b.DateTime >= a.DateTime && b.DateTime <= a.Expires }

func (f *winningBids[OUT]) offer(b Bid) error {
	cur, ok, err := f.best.Value()
	if err != nil || (ok && !winsOver(&b, &cur)) {
		return err
	}
	return f.best.Update(b)
}

func (f *winningBids[OUT]) ProcessElement1(b Bid, _ *stream.KeyedContext[int64], _ *stream.Collector[OUT]) error {
	a, ok, err := f.auction.Value()
	switch {
	case err != nil:
		return err
	case !ok:
		return f.pending.Add(b)
	case open(&a, &b):
		return f.offer(b)
	}
	return nil
}

func (f *winningBids[OUT]) ProcessElement2(a Auction, ctx *stream.KeyedContext[int64], _ *stream.Collector[OUT]) error {
	if err := f.auction.Update(a); err != nil {
		return err
	}
	if err := ctx.RegisterEventTimer(a.Expires); err != nil {
		return err
	}
	waiting, err := f.pending.take()
	if err != nil {
		return err
	}
	for _, b := range waiting {
		if open(&a, &b) {
			if err := f.offer(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *winningBids[OUT]) OnTimer(_ int64, _ *stream.KeyedContext[int64], out *stream.Collector[OUT]) error {
	a, ok, err := f.auction.Value()
	if err != nil || !ok {
		return err
	}
	b, won, err := f.best.Value()
	if err != nil {
		return err
	}
	if won {
		out.Collect(f.row(a, b))
		if err := f.best.Clear(); err != nil {
			return err
		}
	}
	return f.auction.Update(Auction{ID: a.ID, DateTime: math.MaxInt64, Expires: math.MinInt64})
}

// q4Final is the winning price of an auction of a category.
type q4Final struct{ Category, Price int64 }

// q4Avg sums winning prices to average them.
type q4Avg struct{ Sum, Count int64 }

// q4 averages the winning prices per category:
//
//	SELECT Q.category, AVG(Q.final) FROM
//	  (SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
//	   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires GROUP BY A.id, A.category) Q
//	GROUP BY Q.category
//
// The winning price per auction is q9's winner (winningBids) over
// auctions stripped to their times and category; the average is a keyed
// aggregate per category, as a BIGINT AVG truncated toward zero. Bounded
// runs write each category's final average, unbounded ones every update.
func q4(events *stream.Stream[Event], out results) {
	b := stream.KeyBy(bids(events), bidAuction)
	a := stream.KeyBy(stream.FlatMap(events, "auction times", q4AuctionOf), auctionID)
	finals := stream.Connect(b, a, "winning prices", func() stream.KeyedCoProcessFunction[int64, Bid, Auction, q4Final] {
		return &winningBids[q4Final]{row: func(a Auction, b Bid) q4Final { return q4Final{Category: a.Category, Price: b.Price} }}
	}).UID("q4-winners")
	avg := stream.Aggregate[int64, q4Final, q4Avg, int64](stream.KeyBy(finals, q4Category), "average per category", q4Average{}, nil).UID("q4-average")
	emit(avg, out, formatKV)
}

func q4AuctionOf(e Event, out *stream.Collector[Auction]) error {
	if e.Kind == KindAuction {
		a := e.Auction
		out.Collect(Auction{ID: a.ID, DateTime: a.DateTime, Expires: a.Expires, Category: a.Category})
	}
	return nil
}

func q4Category(f q4Final) int64 { return f.Category }

type q4Average struct{}

func (q4Average) Create() q4Avg { return q4Avg{} }
func (q4Average) Add(s q4Avg, f q4Final) q4Avg {
	return q4Avg{Sum: s.Sum + f.Price, Count: s.Count + 1}
}
func (q4Average) Merge(a, b q4Avg) q4Avg { return q4Avg{Sum: a.Sum + b.Sum, Count: a.Count + b.Count} }
func (q4Average) Result(s q4Avg) int64   { return s.Sum / s.Count }

func formatKV(dst []byte, kv stream.KV[int64, int64]) []byte {
	return cols{b: dst}.Int(kv.Key).Int(kv.Value).b
}
