package nexmark

import (
	"strings"

	"github.com/loom-yarn/loom/stream"
)

// The stateless queries read events and emit rows in one FlatMap each, as
// Flink fuses a query's projection and filter into one Calc operator.

// q0 passes every bid through:
// SELECT auction, bidder, price, dateTime, extra FROM bid.
func q0(events *stream.Stream[Event], out results) {
	emit(bids(events), out, formatQ0)
}

func formatQ0(dst []byte, b Bid) []byte {
	return cols{b: dst}.Int(b.Auction).Int(b.Bidder).Int(b.Price).Time(b.DateTime).Str(b.Extra).b
}

// q1Row is a bid with its price in thousandths of euros.
type q1Row struct {
	Auction, Bidder int64
	PriceMilli      int64 // 0.908 * price, exactly: price * 908 thousandths
	DateTime        int64
	Extra           string
}

// q1 converts bid prices from dollars to euros:
// SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid.
// The price is DECIMAL(23, 3): kept exact as thousandths.
func q1(events *stream.Stream[Event], out results) {
	emit(stream.FlatMap(events, "q1", q1Of), out, formatQ1)
}

func q1Of(e Event, out *stream.Collector[q1Row]) error {
	if e.Kind == KindBid {
		b := &e.Bid
		out.Collect(q1Row{Auction: b.Auction, Bidder: b.Bidder, PriceMilli: b.Price * 908, DateTime: b.DateTime, Extra: b.Extra})
	}
	return nil
}

func formatQ1(dst []byte, r q1Row) []byte {
	return cols{b: dst}.Int(r.Auction).Int(r.Bidder).Milli(r.PriceMilli).Time(r.DateTime).Str(r.Extra).b
}

// q2Row is an auction and a bid price.
type q2Row struct{ Auction, Price int64 }

// q2 selects the bids on every 123rd auction:
// SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0.
func q2(events *stream.Stream[Event], out results) {
	emit(stream.FlatMap(events, "q2", q2Of), out, formatQ2)
}

func q2Of(e Event, out *stream.Collector[q2Row]) error {
	if e.Kind == KindBid && e.Bid.Auction%123 == 0 {
		out.Collect(q2Row{Auction: e.Bid.Auction, Price: e.Bid.Price})
	}
	return nil
}

func formatQ2(dst []byte, r q2Row) []byte { return cols{b: dst}.Int(r.Auction).Int(r.Price).b }

// q14Row is a bid in euros with its time-of-day class and the number of
// 'c' in its extra.
type q14Row struct {
	Auction, Bidder int64
	PriceMilli      int64
	BidTimeType     string
	DateTime        int64
	Extra           string
	CCounts         int64
}

// q14 keeps the bids of 1,000,000 to 50,000,000 euros (exclusive), with
// their time-of-day class (UTC hours 8 to 18 dayTime, up to 6 and from 20
// nightTime, else otherTime) and count_char(extra, 'c'):
//
//	SELECT auction, bidder, 0.908 * price AS price, CASE ... END AS bidTimeType,
//	       dateTime, extra, count_char(extra, 'c') AS c_counts
//	FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
func q14(events *stream.Stream[Event], out results) {
	emit(stream.FlatMap(events, "q14", q14Of), out, formatQ14)
}

func q14Of(e Event, out *stream.Collector[q14Row]) error {
	if e.Kind != KindBid {
		return nil
	}
	b := &e.Bid
	milli := b.Price * 908
	if milli <= 1_000_000_000 || milli >= 50_000_000_000 {
		return nil
	}
	out.Collect(q14Row{Auction: b.Auction, Bidder: b.Bidder, PriceMilli: milli, BidTimeType: bidTimeType(b.DateTime),
		DateTime: b.DateTime, Extra: b.Extra, CCounts: int64(strings.Count(b.Extra, "c"))})
	return nil
}

// bidTimeType is q14's class of the UTC hour of ms.
func bidTimeType(ms int64) string {
	switch h := (ms - dayOf(ms)*msPerDay) / 3_600_000; {
	case h >= 8 && h <= 18:
		return "dayTime"
	case h <= 6 || h >= 20:
		return "nightTime"
	}
	return "otherTime"
}

func formatQ14(dst []byte, r q14Row) []byte {
	return cols{b: dst}.Int(r.Auction).Int(r.Bidder).Milli(r.PriceMilli).Str(r.BidTimeType).Time(r.DateTime).Str(r.Extra).Int(r.CCounts).b
}

// q21Row is a bid with its channel id.
type q21Row struct {
	Auction, Bidder, Price int64
	Channel, ChannelID     string
}

// q21 adds a channel id: 0 to 3 for the hot channels apple, google,
// facebook and baidu (any case), else the url's channel_id parameter; bids
// with neither are dropped:
//
//	SELECT auction, bidder, price, channel,
//	       CASE WHEN lower(channel) = 'apple' THEN '0' ... ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END
//	FROM bid WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
//	            OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')
func q21(events *stream.Stream[Event], out results) {
	emit(stream.FlatMap(events, "q21", q21Of), out, formatQ21)
}

func q21Of(e Event, out *stream.Collector[q21Row]) error {
	if e.Kind != KindBid {
		return nil
	}
	b := &e.Bid
	id, ok := hotChannelID(b.Channel)
	if !ok {
		if id, ok = channelIDOf(b.URL); !ok {
			return nil
		}
	}
	out.Collect(q21Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel, ChannelID: id})
	return nil
}

// hotChannelID is q21's id of the hot channels, in any case.
func hotChannelID(ch string) (string, bool) {
	switch {
	case strings.EqualFold(ch, "apple"):
		return "0", true
	case strings.EqualFold(ch, "google"):
		return "1", true
	case strings.EqualFold(ch, "facebook"):
		return "2", true
	case strings.EqualFold(ch, "baidu"):
		return "3", true
	}
	return "", false
}

// channelIDOf is REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2): the
// value of the first channel_id parameter at the start of url or after a
// '&', up to the next '&'.
func channelIDOf(url string) (string, bool) {
	const param = "channel_id="
	for from := 0; ; {
		i := strings.Index(url[from:], param)
		if i < 0 {
			return "", false
		}
		i += from
		if i == 0 || url[i-1] == '&' {
			v := url[i+len(param):]
			if j := strings.IndexByte(v, '&'); j >= 0 {
				v = v[:j]
			}
			return v, true
		}
		from = i + 1
	}
}

func formatQ21(dst []byte, r q21Row) []byte {
	return cols{b: dst}.Int(r.Auction).Int(r.Bidder).Int(r.Price).Str(r.Channel).Str(r.ChannelID).b
}

// q22Row is a bid with the first three directories of its url.
type q22Row struct {
	Auction, Bidder, Price int64
	Channel                string
	Dir1, Dir2, Dir3       string
}

// q22 splits bid urls into directories:
// SELECT auction, bidder, price, channel, SPLIT_INDEX(url, '/', 3) AS dir1,
// SPLIT_INDEX(url, '/', 4) AS dir2, SPLIT_INDEX(url, '/', 5) AS dir3 FROM bid.
// SPLIT_INDEX keeps empty tokens ("https:", "", host, dir1, ...); an index
// past the end is NULL, written as an empty column (generated urls always
// have the three).
func q22(events *stream.Stream[Event], out results) {
	emit(stream.FlatMap(events, "q22", q22Of), out, formatQ22)
}

func q22Of(e Event, out *stream.Collector[q22Row]) error {
	if e.Kind != KindBid {
		return nil
	}
	b := &e.Bid
	r := q22Row{Auction: b.Auction, Bidder: b.Bidder, Price: b.Price, Channel: b.Channel}
	// Skip the first three tokens, then take three.
	u := b.URL
	for i := 0; i < 6; i++ {
		tok, rest, found := strings.Cut(u, "/")
		switch i {
		case 3:
			r.Dir1 = tok
		case 4:
			r.Dir2 = tok
		case 5:
			r.Dir3 = tok
		}
		if !found {
			break
		}
		u = rest
	}
	out.Collect(r)
	return nil
}

func formatQ22(dst []byte, r q22Row) []byte {
	return cols{b: dst}.Int(r.Auction).Int(r.Bidder).Int(r.Price).Str(r.Channel).Str(r.Dir1).Str(r.Dir2).Str(r.Dir3).b
}
