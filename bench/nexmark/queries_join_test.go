package nexmark

import "testing"

// TestQ3 joins auctions of category 10 with their sellers in OR, ID or CA:
//
//	person 1000 (OR): auction 2000 (category 10) -> row; 2001 is category 11
//	person 1001 (WA): auction 2002 -> not local
//	auction 2003 by 1002 comes before person 1002 (CA): row when she comes;
//	  auction 2005 by her after -> row
//	auction 2004 by 1003, who never comes -> nothing
func TestQ3(t *testing.T) {
	expect(t, q3, []Event{
		person(1000, "Ann", "OR", 0), person(1001, "Bob", "WA", 0),
		auction(2000, 1000, 10, 1, 99), auction(2001, 1000, 11, 2, 99), auction(2002, 1001, 10, 3, 99),
		auction(2003, 1002, 10, 4, 99), auction(2004, 1003, 10, 5, 99), bid(2000, 1001, 5, 6),
		person(1002, "Cid", "CA", 7), auction(2005, 1002, 10, 8, 99),
	},
		line("Ann", "Bend", "OR", 2000),
		line("Cid", "Bend", "CA", 2003),
		line("Cid", "Bend", "CA", 2005),
	)
}

// TestQ20 joins bids with auctions of category 10:
//
//	auction 1000 (category 10): a bid before it (price 1) and after (2) -> 2 rows
//	auction 1001 (category 12): a bid before it and after -> none
//	auction 1002 never comes: its bid -> none
func TestQ20(t *testing.T) {
	a := auction(1000, 7, 10, 10, 20)
	expect(t, q20, []Event{
		bid(1000, 1, 1, 5), bid(1001, 1, 3, 6), a, auction(1001, 7, 12, 11, 20),
		bid(1000, 2, 2, 12), bid(1001, 2, 4, 13), bid(1002, 2, 5, 14),
	},
		line(1000, 1, 1, "Google", testURL, at(5), "b", "item", "desc", 1, 2, at(10), at(20), 7, 10, "a"),
		line(1000, 2, 2, "Google", testURL, at(12), "b", "item", "desc", 1, 2, at(10), at(20), 7, 10, "a"),
	)
}

// winnerEvents are the auctions and bids of TestQ9 and TestQ4 (prices in
// cents, times in ms after t0):
//
//	auction 1000 (category 10), open [0, 10000]:
//	  a bid at -1 (before it opened) of 9999; 500@1000, 700@2000, 700@1500
//	  (the earlier of the two 700s wins their tie), 800@10000 (the last
//	  millisecond it is open: the winner), 900@10001 (closed)
//	auction 1001 (category 10), open [100, 200]: 301@150 by 2 and 301@150 by
//	  1: the same price and time, broken by bidder: 1 wins
//	auction 1002 (category 11), open [300, 400]: 50@300 comes before the
//	  auction (in its first millisecond: it counts) and wins; 40@350
//	auction 1003 (category 12), open [500, 600]: only 60@700, after it closed
//
// Every event is at most 4 s behind the latest, so none is late.
var winnerEvents = []Event{
	bid(1000, 9, 9999, -1),
	auction(1000, 5, 10, 0, 10000),
	auction(1001, 5, 10, 100, 200), bid(1001, 2, 301, 150), bid(1001, 1, 301, 150),
	bid(1002, 3, 50, 300), auction(1002, 5, 11, 300, 400), bid(1002, 4, 40, 350),
	auction(1003, 5, 12, 500, 600), bid(1003, 4, 60, 700),
	bid(1000, 1, 500, 1000), bid(1000, 2, 700, 2000), bid(1000, 3, 700, 1500),
	bid(1000, 4, 800, 10000), bid(1000, 5, 900, 10001),
}

// TestQ9 writes each auction with its winning bid (see winnerEvents): 1000
// won by 800@10000, 1001 by bidder 1, 1002 by 50@300; 1003 had no bid in
// time.
func TestQ9(t *testing.T) {
	row := func(id, start, end, category int64, bidder, price, bidAt int64) string {
		return line(id, "item", "desc", 1, 2, at(start), at(end), 5, category, "a", id, bidder, price, at(bidAt), "b")
	}
	expect(t, q9, winnerEvents,
		row(1000, 0, 10000, 10, 4, 800, 10000),
		row(1001, 100, 200, 10, 1, 301, 150),
		row(1002, 300, 400, 11, 3, 50, 300),
	)
}

// TestQ4 averages the winning prices (see TestQ9) per category: category
// 10 (800 + 301) / 2 = 550 (550.5 truncated, a BIGINT AVG), category 11 50;
// category 12 had no winner and no row.
func TestQ4(t *testing.T) {
	expect(t, q4, winnerEvents, line(10, 550), line(11, 50))
}
