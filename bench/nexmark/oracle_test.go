package nexmark

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/stream"
)

// TestQueriesAgainstOracle runs the stateful queries over generated events,
// from the Nexmark source at parallelism 2 (so the two subtasks' events
// interleave), and compares their rows with the SQL computed directly over
// all events by the loops below. The event rate of 1500 events per second
// spreads the 30,000 events over 20 s: several windows of every size, and
// auctions open for up to a few seconds.
func TestQueriesAgainstOracle(t *testing.T) {
	cfg := Config{Events: 30_000, EventRate: 1500, Seed: 4}
	g := NewGenerator(cfg)
	var all []Event
	var bidList []Bid
	for n := int64(0); n < cfg.Events; n++ {
		e := g.Event(n)
		all = append(all, e)
		if e.Kind == KindBid {
			bidList = append(bidList, e.Bid)
		}
	}
	source := func(env *stream.Env) *stream.Stream[Event] {
		s, err := Events(env, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oracles := []struct {
		name  string
		build func(*stream.Stream[Event], results)
		rows  func() []string
	}{
		{"q3", q3, func() []string { return oracleQ3(all) }},
		{"q4", q4, func() []string { return oracleQ4(all) }},
		{"q5", q5, func() []string { return oracleQ5(bidList) }},
		{"q7", q7, func() []string { return oracleQ7(bidList) }},
		{"q8", q8, func() []string { return oracleQ8(all) }},
		{"q9", q9, func() []string { return oracleQ9(all) }},
		{"q11", q11, func() []string { return oracleQ11(bidList) }},
		{"q17", q17, func() []string { return oracleQ17(bidList) }},
		{"q18", q18, func() []string { return oracleQ18(bidList) }},
		{"q19", q19, func() []string { return oracleQ19(bidList) }},
		{"q20", q20, func() []string { return oracleQ20(all) }},
	}
	for _, o := range oracles {
		t.Run(o.name, func(t *testing.T) {
			want := o.rows()
			slices.Sort(want)
			got := runOn(t, o.build, true, source)
			if len(want) == 0 {
				t.Fatal("the oracle has no rows: the test data does not exercise the query")
			}
			if !slices.Equal(got, want) {
				t.Errorf("%d rows, the oracle %d; first differences:\n%s", len(got), len(want), diff(got, want))
			}
		})
	}
}

// diff lists up to 5 rows only one side has.
func diff(got, want []string) string {
	var b strings.Builder
	n := 0
	i, j := 0, 0
	for (i < len(got) || j < len(want)) && n < 5 {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			b.WriteString("  extra:   " + got[i] + "\n")
			i++
			n++
		case i == len(got) || want[j] < got[i]:
			b.WriteString("  missing: " + want[j] + "\n")
			j++
			n++
		default:
			i++
			j++
		}
	}
	return b.String()
}

func rowsOf[T any](vs []T, format func([]byte, T) []byte) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(format(nil, v))
	}
	return out
}

func oracleQ3(all []Event) []string {
	people := map[int64]*Person{}
	for _, e := range all {
		if e.Kind == KindPerson {
			people[e.Person.ID] = e.Person
		}
	}
	var rows []q3Row
	for _, e := range all {
		if e.Kind != KindAuction || e.Auction.Category != 10 {
			continue
		}
		if p := people[e.Auction.Seller]; p != nil && (p.State == "OR" || p.State == "ID" || p.State == "CA") {
			rows = append(rows, q3Row{Name: p.Name, City: p.City, State: p.State, ID: e.Auction.ID})
		}
	}
	return rowsOf(rows, formatQ3)
}

// winners is the winning bid of each auction that has one (q9's SQL).
func winners(all []Event) []q9Row {
	byAuction := map[int64][]Bid{}
	for _, e := range all {
		if e.Kind == KindBid {
			byAuction[e.Bid.Auction] = append(byAuction[e.Bid.Auction], e.Bid)
		}
	}
	var rows []q9Row
	for _, e := range all {
		if e.Kind != KindAuction {
			continue
		}
		a := e.Auction
		var best *Bid
		for i := range byAuction[a.ID] {
			if b := &byAuction[a.ID][i]; b.DateTime >= a.DateTime && b.DateTime <= a.Expires {
				if best == nil || winsOver(b, best) {
					best = b
				}
			}
		}
		if best != nil {
			rows = append(rows, q9Row{Auction: *a, Bid: *best})
		}
	}
	return rows
}

func oracleQ9(all []Event) []string { return rowsOf(winners(all), formatQ9) }

func oracleQ4(all []Event) []string {
	sums := map[int64]*q4Avg{}
	for _, w := range winners(all) {
		s := sums[w.Auction.Category]
		if s == nil {
			s = &q4Avg{}
			sums[w.Auction.Category] = s
		}
		s.Sum += w.Bid.Price
		s.Count++
	}
	var rows []stream.KV[int64, int64]
	for c, s := range sums {
		rows = append(rows, stream.KV[int64, int64]{Key: c, Value: s.Sum / s.Count})
	}
	return rowsOf(rows, formatKV)
}

func oracleQ5(bids []Bid) []string {
	counts := map[int64]map[int64]int64{} // window start -> auction -> bids
	for _, b := range bids {
		for s := floorDiv(b.DateTime, 2000) * 2000; s > b.DateTime-10_000; s -= 2000 {
			if counts[s] == nil {
				counts[s] = map[int64]int64{}
			}
			counts[s][b.Auction]++
		}
	}
	var rows []q5Row
	for _, byAuction := range counts {
		var most int64
		for _, n := range byAuction {
			most = max(most, n)
		}
		for a, n := range byAuction {
			if n == most {
				rows = append(rows, q5Row{Auction: a, Num: n})
			}
		}
	}
	return rowsOf(rows, formatQ5)
}

func oracleQ7(bids []Bid) []string {
	maxes := map[int64]int64{} // window start -> max price
	for _, b := range bids {
		s := floorDiv(b.DateTime, 10_000) * 10_000
		maxes[s] = max(maxes[s], b.Price)
	}
	var rows []Bid
	for s, m := range maxes {
		for _, b := range bids {
			if b.Price == m && b.DateTime >= s && b.DateTime <= s+10_000 {
				rows = append(rows, b)
			}
		}
	}
	return rowsOf(rows, formatQ0)
}

func oracleQ8(all []Event) []string {
	type key struct{ window, id int64 }
	names, sellers := map[key]string{}, map[key]bool{}
	for _, e := range all {
		switch e.Kind {
		case KindPerson:
			names[key{floorDiv(e.Person.DateTime, 10_000) * 10_000, e.Person.ID}] = e.Person.Name
		case KindAuction:
			sellers[key{floorDiv(e.Auction.DateTime, 10_000) * 10_000, e.Auction.Seller}] = true
		}
	}
	var rows []q8Row
	for k, name := range names {
		if sellers[k] {
			rows = append(rows, q8Row{ID: k.id, Name: name, Start: k.window})
		}
	}
	return rowsOf(rows, formatQ8)
}

func oracleQ11(bids []Bid) []string {
	times := map[int64][]int64{}
	for _, b := range bids {
		times[b.Bidder] = append(times[b.Bidder], b.DateTime)
	}
	var rows []stream.WindowResult[int64, int64]
	for bidder, ts := range times {
		slices.Sort(ts)
		start, n := ts[0], int64(1)
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i] > ts[i-1]+10_000 {
				rows = append(rows, stream.WindowResult[int64, int64]{Key: bidder, Window: stream.TimeWindow{Start: start, End: ts[i-1] + 10_000}, Value: n})
				if i < len(ts) {
					start, n = ts[i], 0
				}
			}
			n++
		}
	}
	return rowsOf(rows, formatWindowCount)
}

func oracleQ17(bids []Bid) []string {
	stats := map[q17Key]q17Stats{}
	for _, b := range bids {
		k := q17Key{Auction: b.Auction, Day: dayOf(b.DateTime)}
		stats[k] = q17Agg{}.Add(stats[k], b)
	}
	var rows []stream.KV[q17Key, q17Stats]
	for k, s := range stats {
		rows = append(rows, stream.KV[q17Key, q17Stats]{Key: k, Value: s})
	}
	return rowsOf(rows, formatQ17)
}

func oracleQ18(bids []Bid) []string {
	last := map[q18Key]Bid{}
	for _, b := range bids {
		k := q18Key{Bidder: b.Bidder, Auction: b.Auction}
		if cur, ok := last[k]; !ok || b.DateTime > cur.DateTime || (b.DateTime == cur.DateTime && tieBreak(&b, &cur) < 0) {
			last[k] = b
		}
	}
	var rows []Bid
	for _, b := range last {
		rows = append(rows, b)
	}
	return rowsOf(rows, formatBid)
}

func oracleQ19(bids []Bid) []string {
	byAuction := map[int64][]Bid{}
	for _, b := range bids {
		byAuction[b.Auction] = append(byAuction[b.Auction], b)
	}
	var rows []q19Row
	for _, bs := range byAuction {
		slices.SortFunc(bs, func(x, y Bid) int {
			if c := cmp.Compare(y.Price, x.Price); c != 0 {
				return c
			}
			return tieBreak(&x, &y)
		})
		for i := 0; i < len(bs) && i < topN; i++ {
			rows = append(rows, q19Row{Bid: bs[i], Rank: int64(i + 1)})
		}
	}
	return rowsOf(rows, formatQ19)
}

func oracleQ20(all []Event) []string {
	auctions := map[int64]*Auction{}
	for _, e := range all {
		if e.Kind == KindAuction {
			auctions[e.Auction.ID] = e.Auction
		}
	}
	var rows []q20Row
	for _, e := range all {
		if e.Kind == KindBid {
			if a := auctions[e.Bid.Auction]; a != nil && a.Category == 10 {
				rows = append(rows, q20Row{Bid: e.Bid, Auction: *a})
			}
		}
	}
	return rowsOf(rows, formatQ20)
}
