package nexmark

import (
	"slices"

	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// The unbounded aggregations (q15, q16, q17), the deduplication (q18) and
// the top-N (q19) keep a changing row per key. With results.final (bounded
// runs) they emit each key's final row at end of input, from a timer at
// the end of event time; otherwise they emit the key's row whenever it
// changes, an upsert stream keyed as the SQL's GROUP BY or PARTITION BY.

// priceRank is the price class of q15 to q17: 1 below 10,000, 2 below
// 1,000,000, else 3.
func priceRank(price int64) int {
	switch {
	case price < 10_000:
		return 1
	case price < 1_000_000:
		return 2
	}
	return 3
}

// bidStats are q15's and q16's columns: at index 0 over all bids, at 1 to
// 3 over the bids of that priceRank: the number of bids, of distinct
// bidders and of distinct auctions; and the latest bid time (q16's max of
// HH:mm is that time's).
type bidStats struct {
	Bids, Bidders, Auctions [4]int64
	Latest                  int64
}

// distinctStats is the keyed process function of q15 and q16: the counts
// of a key's bids, and for the distinct counts a map per key from bidder
// (auction) to the bit set of the ranks it was seen in (bit 0: any).
type distinctStats[K comparable, OUT any] struct {
	final    bool
	row      func(K, bidStats) OUT
	stats    state.ValueState[bidStats]
	bidders  state.MapState[int64, uint8]
	auctions state.MapState[int64, uint8]
}

func (f *distinctStats[K, OUT]) Open(ctx *stream.KeyedContext[K]) (err error) {
	if f.stats, err = stream.ValueState[K, bidStats](ctx, "stats"); err != nil {
		return err
	}
	if f.bidders, err = stream.MapState[K, int64, uint8](ctx, "bidder ranks"); err != nil {
		return err
	}
	f.auctions, err = stream.MapState[K, int64, uint8](ctx, "auction ranks")
	return err
}

// seen marks id as seen in rank r in m and counts the ranks it is new in.
func seen(m state.MapState[int64, uint8], id int64, r int, counts *[4]int64) error {
	old, _, err := m.Get(id)
	if err != nil {
		return err
	}
	now := old | 1 | 1<<r
	if now == old {
		return nil
	}
	if old&1 == 0 {
		counts[0]++
	}
	if old&(1<<r) == 0 {
		counts[r]++
	}
	return m.Put(id, now)
}

func (f *distinctStats[K, OUT]) ProcessElement(b Bid, ctx *stream.KeyedContext[K], out *stream.Collector[OUT]) error {
	s, ok, err := f.stats.Value()
	if err != nil {
		return err
	}
	if !ok && f.final {
		if err := ctx.RegisterEventTimer(task.MaxWatermark); err != nil {
			return err
		}
	}
	r := priceRank(b.Price)
	s.Bids[0]++
	s.Bids[r]++
	s.Latest = max(s.Latest, b.DateTime)
	if err := seen(f.bidders, b.Bidder, r, &s.Bidders); err != nil {
		return err
	}
	if err := seen(f.auctions, b.Auction, r, &s.Auctions); err != nil {
		return err
	}
	if err := f.stats.Update(s); err != nil {
		return err
	}
	if !f.final {
		out.Collect(f.row(ctx.Key(), s))
	}
	return nil
}

func (f *distinctStats[K, OUT]) OnTimer(_ int64, ctx *stream.KeyedContext[K], out *stream.Collector[OUT]) error {
	s, ok, err := f.stats.Value()
	if err != nil || !ok {
		return err
	}
	out.CollectAt(task.NoTimestamp, f.row(ctx.Key(), s))
	return nil
}

func (s *bidStats) appendTo(c cols) cols {
	for _, counts := range [][4]int64{s.Bids, s.Bidders, s.Auctions} {
		for _, n := range counts {
			c = c.Int(n)
		}
	}
	return c
}

// q15Row is one day's bidding statistics.
type q15Row struct {
	Day   int64
	Stats bidStats
}

// q15 reports bidding statistics per day:
//
//	SELECT DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,
//	       count(*) AS total_bids, count(*) filter (where price < 10000) AS rank1_bids, ... rank2_bids, rank3_bids,
//	       count(distinct bidder) AS total_bidders, ... rank1..3_bidders,
//	       count(distinct auction) AS total_auctions, ... rank1..3_auctions
//	FROM bid GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd')
func q15(events *stream.Stream[Event], out results) {
	final := out.final
	stats := stream.Process(stream.KeyBy(bids(events), bidDay), "stats per day", func() stream.KeyedProcessFunction[int64, Bid, q15Row] {
		return &distinctStats[int64, q15Row]{final: final, row: func(day int64, s bidStats) q15Row { return q15Row{Day: day, Stats: s} }}
	}).UID("q15-stats")
	emit(stats, out, formatQ15)
}

func bidDay(b Bid) int64 { return dayOf(b.DateTime) }

func formatQ15(dst []byte, r q15Row) []byte {
	return r.Stats.appendTo(cols{b: dst}.Date(r.Day)).b
}

// q16Key is a channel and a day.
type q16Key struct {
	Channel string
	Day     int64
}

// q16Row is one channel's statistics of a day.
type q16Row struct {
	Key   q16Key
	Stats bidStats
}

// q16 reports q15's statistics per channel and day, with the latest HH:mm:
//
//	SELECT channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`, max(DATE_FORMAT(dateTime, 'HH:mm')) as `minute`,
//	       ... the columns of q15 ...
//	FROM bid GROUP BY channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd')
func q16(events *stream.Stream[Event], out results) {
	final := out.final
	stats := stream.Process(stream.KeyBy(bids(events), bidChannelDay), "stats per channel and day", func() stream.KeyedProcessFunction[q16Key, Bid, q16Row] {
		return &distinctStats[q16Key, q16Row]{final: final, row: func(k q16Key, s bidStats) q16Row { return q16Row{Key: k, Stats: s} }}
	}).UID("q16-stats")
	emit(stats, out, formatQ16)
}

func bidChannelDay(b Bid) q16Key { return q16Key{Channel: b.Channel, Day: dayOf(b.DateTime)} }

func formatQ16(dst []byte, r q16Row) []byte {
	c := cols{b: dst}.Str(r.Key.Channel).Date(r.Key.Day).next()
	c.b = appendClock(c.b, r.Stats.Latest)
	return r.Stats.appendTo(c).b
}

// q17Key is an auction and a day.
type q17Key struct{ Auction, Day int64 }

// q17Stats are the bids of an auction on a day.
type q17Stats struct {
	Total, Rank1, Rank2, Rank3 int64
	Min, Max, Sum              int64
}

// q17 reports per auction and day:
//
//	SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`, count(*) AS total_bids,
//	       count(*) filter (where price < 10000) AS rank1_bids, ... rank2_bids, rank3_bids,
//	       min(price) AS min_price, max(price) AS max_price, avg(price) AS avg_price, sum(price) AS sum_price
//	FROM bid GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd')
//
// A keyed aggregate (stream.Aggregate: final rows in bounded runs, updates
// in unbounded ones); avg is the BIGINT average, truncated.
func q17(events *stream.Stream[Event], out results) {
	agg := stream.Aggregate[q17Key, Bid, q17Stats, q17Stats](stream.KeyBy(bids(events), bidAuctionDay), "stats per auction and day", q17Agg{}, nil).UID("q17-stats")
	emit(agg, out, formatQ17)
}

func bidAuctionDay(b Bid) q17Key { return q17Key{Auction: b.Auction, Day: dayOf(b.DateTime)} }

type q17Agg struct{}

func (q17Agg) Create() q17Stats { return q17Stats{} }
func (q17Agg) Add(s q17Stats, b Bid) q17Stats {
	if s.Total == 0 || b.Price < s.Min {
		s.Min = b.Price
	}
	if s.Total == 0 || b.Price > s.Max {
		s.Max = b.Price
	}
	s.Total++
	switch priceRank(b.Price) {
	case 1:
		s.Rank1++
	case 2:
		s.Rank2++
	default:
		s.Rank3++
	}
	s.Sum += b.Price
	return s
}
func (q17Agg) Merge(a, b q17Stats) q17Stats {
	if a.Total == 0 {
		return b
	}
	if b.Total == 0 {
		return a
	}
	return q17Stats{Total: a.Total + b.Total, Rank1: a.Rank1 + b.Rank1, Rank2: a.Rank2 + b.Rank2, Rank3: a.Rank3 + b.Rank3,
		Min: min(a.Min, b.Min), Max: max(a.Max, b.Max), Sum: a.Sum + b.Sum}
}
func (q17Agg) Result(s q17Stats) q17Stats { return s }

func formatQ17(dst []byte, kv stream.KV[q17Key, q17Stats]) []byte {
	s := &kv.Value
	return cols{b: dst}.Int(kv.Key.Auction).Date(kv.Key.Day).Int(s.Total).Int(s.Rank1).Int(s.Rank2).Int(s.Rank3).
		Int(s.Min).Int(s.Max).Int(s.Sum / s.Total).Int(s.Sum).b
}

// q18Key is a bidder and an auction.
type q18Key struct{ Bidder, Auction int64 }

// q18 keeps each bidder's last bid on each auction:
//
//	SELECT auction, bidder, price, channel, url, dateTime, extra
//	FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) AS rank_number FROM bid)
//	WHERE rank_number <= 1
//
// Bids of one bidder on one auction in the same millisecond are common
// (hot bidders bid on hot auctions thousands of times a second): of those
// the first by tieBreak is kept, not the last to arrive as in Flink, so
// that the result does not depend on arrival order.
func q18(events *stream.Stream[Event], out results) {
	final := out.final
	last := stream.Process(stream.KeyBy(bids(events), bidderAuction), "last bid", func() stream.KeyedProcessFunction[q18Key, Bid, Bid] {
		return &lastBid{final: final}
	}).UID("q18-last")
	emit(last, out, formatBid)
}

func bidderAuction(b Bid) q18Key { return q18Key{Bidder: b.Bidder, Auction: b.Auction} }

type lastBid struct {
	final bool
	last  state.ValueState[Bid]
}

func (f *lastBid) Open(ctx *stream.KeyedContext[q18Key]) (err error) {
	f.last, err = stream.ValueState[q18Key, Bid](ctx, "last")
	return err
}

func (f *lastBid) ProcessElement(b Bid, ctx *stream.KeyedContext[q18Key], out *stream.Collector[Bid]) error {
	cur, ok, err := f.last.Value()
	switch {
	case err != nil:
		return err
	case !ok:
		if f.final {
			if err := ctx.RegisterEventTimer(task.MaxWatermark); err != nil {
				return err
			}
		}
	case b.DateTime < cur.DateTime || (b.DateTime == cur.DateTime && tieBreak(&b, &cur) >= 0):
		return nil
	}
	if err := f.last.Update(b); err != nil {
		return err
	}
	if !f.final {
		out.Collect(b)
	}
	return nil
}

func (f *lastBid) OnTimer(_ int64, _ *stream.KeyedContext[q18Key], out *stream.Collector[Bid]) error {
	b, ok, err := f.last.Value()
	if err != nil || !ok {
		return err
	}
	out.CollectAt(task.NoTimestamp, b)
	return nil
}

// formatBid writes every column of a bid: q18's rows.
func formatBid(dst []byte, b Bid) []byte {
	return cols{b: dst}.Int(b.Auction).Int(b.Bidder).Int(b.Price).Str(b.Channel).Str(b.URL).Time(b.DateTime).Str(b.Extra).b
}

// topN is q19's N.
const topN = 10

// q19Row is a bid and its rank in its auction.
type q19Row struct {
	Bid  Bid
	Rank int64
}

// q19 keeps the 10 highest bids of each auction:
//
//	SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
//	WHERE rank_number <= 10
//
// A keyed process function per auction keeps its top 10, and the price of
// the 10th once there are 10, which most bids of a busy auction fall below
// without the list being read. Equal prices rank by tieBreak. Unbounded
// runs write a row for each rank whose bid changed (upserts keyed by
// auction and rank).
func q19(events *stream.Stream[Event], out results) {
	final := out.final
	top := stream.Process(stream.KeyBy(bids(events), bidAuction), "top 10", func() stream.KeyedProcessFunction[int64, Bid, q19Row] {
		return &topBids{final: final}
	}).UID("q19-top")
	emit(top, out, formatQ19)
}

type topBids struct {
	final bool
	top   state.ValueState[[]Bid]
	floor state.ValueState[int64] // the 10th price, once there are 10
}

func (f *topBids) Open(ctx *stream.KeyedContext[int64]) (err error) {
	if f.top, err = stream.ValueState[int64, []Bid](ctx, "top"); err != nil {
		return err
	}
	f.floor, err = stream.ValueState[int64, int64](ctx, "floor")
	return err
}

// ranksBefore reports whether a ranks before b: higher price, then tieBreak.
func ranksBefore(a, b *Bid) bool {
	if a.Price != b.Price {
		return a.Price > b.Price
	}
	return tieBreak(a, b) < 0
}

func (f *topBids) ProcessElement(b Bid, ctx *stream.KeyedContext[int64], out *stream.Collector[q19Row]) error {
	if floor, full, err := f.floor.Value(); err != nil || (full && b.Price < floor) {
		return err
	}
	top, ok, err := f.top.Value()
	if err != nil {
		return err
	}
	if !ok && f.final {
		if err := ctx.RegisterEventTimer(task.MaxWatermark); err != nil {
			return err
		}
	}
	at := len(top)
	for i := range top {
		if ranksBefore(&b, &top[i]) {
			at = i
			break
		}
	}
	if at == topN {
		return nil
	}
	top = slices.Insert(top, at, b)
	if len(top) > topN {
		top = top[:topN]
	}
	if err := f.top.Update(top); err != nil {
		return err
	}
	if len(top) == topN {
		if err := f.floor.Update(top[topN-1].Price); err != nil {
			return err
		}
	}
	if !f.final {
		for i := at; i < len(top); i++ {
			out.Collect(q19Row{Bid: top[i], Rank: int64(i + 1)})
		}
	}
	return nil
}

func (f *topBids) OnTimer(_ int64, _ *stream.KeyedContext[int64], out *stream.Collector[q19Row]) error {
	top, _, err := f.top.Value()
	if err != nil {
		return err
	}
	for i, b := range top {
		out.CollectAt(task.NoTimestamp, q19Row{Bid: b, Rank: int64(i + 1)})
	}
	return nil
}

func formatQ19(dst []byte, r q19Row) []byte {
	return cols{b: formatBid(dst, r.Bid), started: true}.Int(r.Rank).b
}
