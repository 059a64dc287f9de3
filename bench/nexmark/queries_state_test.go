package nexmark

import (
	"slices"
	"testing"
)

const day = 86_400_000

// statsEvents are the bids of TestQ15 to TestQ17 (bidder, auction, price,
// channel, time; rank 1 is a price below 10,000, rank 2 below 1,000,000):
//
//	1  bidder 1, auction 10, price 51,        Apple,  00:00:01  rank 1
//	2  bidder 1, auction 10, price 20,000,    Apple,  00:05:00  rank 2
//	3  bidder 2, auction 10, price 5,000,000, Google, 00:07:30  rank 3
//	4  bidder 3, auction 12, price 70,        Google, 00:59:59  rank 1
//	5  bidder 2, auction 11, price 60,        Apple,  01:02:03  rank 1
//	6  bidder 1, auction 10, price 100,       Apple,  the next day 00:00:10  rank 1
var statsEvents = []Event{
	bidVia(10, 1, 51, 1000, "Apple", testURL),
	bidVia(10, 1, 20_000, 300_000, "Apple", testURL),
	bidVia(10, 2, 5_000_000, 450_000, "Google", testURL),
	bidVia(12, 3, 70, 3_599_000, "Google", testURL),
	bidVia(11, 2, 60, 3_723_000, "Apple", testURL),
	bidVia(10, 1, 100, day+10_000, "Apple", testURL),
}

// TestQ15: on 2024-01-01, 5 bids: 3 of rank 1 (1, 4, 5), 1 of rank 2, 1 of
// rank 3; bidders 1, 2, 3: all three in rank 1 (bids 1, 5, 4), 1 in rank 2,
// 2 in rank 3; auctions 10, 11, 12: all in rank 1, 10 in ranks 2 and 3. On
// 2024-01-02 one bid of rank 1.
func TestQ15(t *testing.T) {
	expect(t, q15, statsEvents,
		line("2024-01-01", 5, 3, 1, 1, 3, 3, 1, 1, 3, 3, 1, 1),
		line("2024-01-02", 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0),
	)
}

// TestQ16: per channel and day, with the latest HH:mm:
//
//	Apple 2024-01-01: bids 1, 2, 5 (ranks 1, 2, 1); bidders 1, 2 (rank 1:
//	  both, rank 2: 1); auctions 10, 11 (rank 1: both, rank 2: 10); 01:02
//	Google 2024-01-01: bids 3, 4 (ranks 3, 1); bidders 2, 3 (rank 1: 3,
//	  rank 3: 2); auctions 10, 12 (rank 1: 12, rank 3: 10); 00:59
//	Apple 2024-01-02: bid 6; 00:00
func TestQ16(t *testing.T) {
	expect(t, q16, statsEvents,
		line("Apple", "2024-01-01", "01:02", 3, 2, 1, 0, 2, 2, 1, 0, 2, 2, 1, 0),
		line("Google", "2024-01-01", "00:59", 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1),
		line("Apple", "2024-01-02", "00:00", 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0),
	)
}

// TestQ17: per auction and day: bids, by rank, min, max, avg, sum. Auction
// 10 on 2024-01-01: 51, 20,000 and 5,000,000: sum 5,020,051, avg
// 1,673,350 (1,673,350.33 truncated).
func TestQ17(t *testing.T) {
	expect(t, q17, statsEvents,
		line(10, "2024-01-01", 3, 1, 1, 1, 51, 5000000, 1673350, 5020051),
		line(11, "2024-01-01", 1, 1, 0, 0, 60, 60, 60, 60),
		line(12, "2024-01-01", 1, 1, 0, 0, 70, 70, 70, 70),
		line(10, "2024-01-02", 1, 1, 0, 0, 100, 100, 100, 100),
	)
}

// TestQ18 keeps the last bid of each bidder on each auction:
//
//	bidder 1 on 10: 5@1000, 7@3000, 9@2000 (late, by less than the 4 s
//	  watermark delay) -> 7@3000
//	bidder 1 on 11: 8@4000 and 6@4000, the same time -> the lower by
//	  tieBreak (same bidder and auction, then price): 6
//	bidder 2 on 10: 3@500 -> itself
func TestQ18(t *testing.T) {
	expect(t, q18, []Event{
		bid(10, 2, 3, 500), bid(10, 1, 5, 1000), bid(10, 1, 7, 3000), bid(10, 1, 9, 2000),
		bid(11, 1, 8, 4000), bid(11, 1, 6, 4000),
	},
		line(10, 1, 7, "Google", testURL, at(3000), "b"),
		line(11, 1, 6, "Google", testURL, at(4000), "b"),
		line(10, 2, 3, "Google", testURL, at(500), "b"),
	)
}

// TestQ19 keeps the 10 highest bids of each auction with their rank:
// auction 10 gets prices 1 to 12, shuffled: 12 down to 3 are ranks 1 to
// 10; auction 11 gets 5 by bidder 2, 9, and 5 by bidder 1: 9 is rank 1,
// then the two 5s, bidder 1's first (tieBreak).
func TestQ19(t *testing.T) {
	var events []Event
	for _, p := range []int64{7, 1, 12, 3, 9, 2, 11, 5, 4, 10, 8, 6} {
		events = append(events, bid(10, p, p, p*10))
	}
	events = append(events, bid(11, 2, 5, 200), bid(11, 7, 9, 210), bid(11, 1, 5, 220))
	var want []string
	for rank := int64(1); rank <= 10; rank++ {
		p := 13 - rank
		want = append(want, line(10, p, p, "Google", testURL, at(p*10), "b", rank))
	}
	want = append(want,
		line(11, 7, 9, "Google", testURL, at(210), "b", 1),
		line(11, 1, 5, "Google", testURL, at(220), "b", 2),
		line(11, 2, 5, "Google", testURL, at(200), "b", 3),
	)
	expect(t, q19, events, want...)
}

// TestUpserts runs the changing-table queries unbounded-style (final
// unset): each change is a row, and the last row per key is the final row.
// q19 on auction 11 of TestQ19: 5 by bidder 2 (rank 1); 9 (rank 1, pushing
// bidder 2 to rank 2); 5 by bidder 1 (rank 2, pushing bidder 2 to 3).
func TestUpserts(t *testing.T) {
	got := runQuery(t, q19, false, []Event{bid(11, 2, 5, 200), bid(11, 7, 9, 210), bid(11, 1, 5, 220)})
	want := []string{
		line(11, 2, 5, "Google", testURL, at(200), "b", 1),
		line(11, 7, 9, "Google", testURL, at(210), "b", 1),
		line(11, 2, 5, "Google", testURL, at(200), "b", 2),
		line(11, 1, 5, "Google", testURL, at(220), "b", 2),
		line(11, 2, 5, "Google", testURL, at(200), "b", 3),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("q19 upserts:\n%q\nwant\n%q", got, want)
	}
	// q15 writes its row after every bid: the counts of bids 1, 1-2, ...
	got = runQuery(t, q15, false, statsEvents[:2])
	want = []string{
		line("2024-01-01", 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0),
		line("2024-01-01", 2, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0),
	}
	if !slices.Equal(got, want) {
		t.Errorf("q15 upserts:\n%q\nwant\n%q", got, want)
	}
}
