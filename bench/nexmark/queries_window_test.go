package nexmark

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQ5 counts bids per auction in windows of 10 s starting every 2 s; a
// bid at ts is in the 5 windows [s, s+10 s) with s a multiple of 2 s and
// ts-10 s < s <= ts. Bids (auction@ms): 1001@1000, 1001@1500, 1002@2500,
// 1001@3000, 1002@11000, 1003@12500. Windows by start:
//
//	-8 s: 1001@1000, 1001@1500               -> 1001 has 2: (1001, 2)
//	-6, -4, -2, 0 s: 1001 x3, 1002@2500      -> (1001, 3) in each of the 4
//	 2 s: 1001@3000, 1002@2500, 1002@11000   -> (1002, 2)
//	 4, 6, 8, 10 s: 1002@11000, 1003@12500   -> a tie: (1002, 1) and (1003, 1) in each of the 4
//	12 s: 1003@12500                          -> (1003, 1)
func TestQ5(t *testing.T) {
	want := []string{line(1001, 2), line(1002, 2), line(1003, 1)}
	for range 4 {
		want = append(want, line(1001, 3), line(1002, 1), line(1003, 1))
	}
	expect(t, q5, []Event{
		bid(1001, 1, 10, 1000), bid(1001, 2, 10, 1500), person(7, "P", "OR", 2000), bid(1002, 3, 10, 2500),
		bid(1001, 4, 10, 3000), bid(1002, 5, 10, 11000), bid(1003, 6, 10, 12500),
	}, want...)
}

// TestQ7 finds the highest bids per 10 s window [s, e), counting bids in
// [s, e] inclusive (the SQL's BETWEEN):
//
//	[0, 10 s): 100@1000, 500@2000, 500@3000, 300@9999; max 500. The bids at
//	  10000 (500 and 300) are in [0, 10000] too: 500@10000 matches, 300 not.
//	  Rows: 500@2000, 500@3000, 500@10000.
//	[10 s, 20 s): 500@10000, 300@10000, 200@15000; max 500: row 500@10000
//	  (again). 700@20000 is at its end but is not 500.
//	[20 s, 30 s): 700@20000: row.
//
// The prices fall into different buckets of the first phase (price mod
// 64: 100 -> 36, 500 -> 52, 300 -> 44, 200 -> 8, 700 -> 60), so the
// second phase merges the buckets' maxima.
func TestQ7(t *testing.T) {
	expect(t, q7, []Event{
		bid(1, 1, 100, 1000), bid(2, 2, 500, 2000), bid(3, 3, 500, 3000), bid(4, 4, 300, 9999),
		bid(5, 5, 500, 10000), bid(6, 6, 300, 10000), bid(7, 7, 200, 15000), bid(8, 8, 700, 20000),
	},
		line(2, 2, 500, at(2000), "b"),
		line(3, 3, 500, at(3000), "b"),
		line(5, 5, 500, at(10000), "b"),
		line(5, 5, 500, at(10000), "b"),
		line(8, 8, 700, at(20000), "b"),
	)
}

// TestQ8 joins persons with the sellers of auctions per 10 s window:
//
//	[0, 10 s): persons 1000 Ann@1000, 1001 Bob@2000, 1002 Cid@9000; auctions
//	  by 1000 @3000 and @4000 (one row all the same), by 1002 @9500, by 1005
//	  @5000 (no such person). Rows: 1000 Ann, 1002 Cid, starting at 0.
//	[10 s, 20 s): an auction by 1001 @12000 (Bob joined in the window
//	  before: no row); person 1003 Dee@15000 and her auction @15500: row.
func TestQ8(t *testing.T) {
	expect(t, q8, []Event{
		person(1000, "Ann", "OR", 1000), person(1001, "Bob", "WA", 2000), auction(1, 1000, 10, 3000, 9000),
		auction(2, 1000, 11, 4000, 9000), auction(3, 1005, 10, 5000, 9000), person(1002, "Cid", "CA", 9000),
		auction(4, 1002, 10, 9500, 19000), auction(5, 1001, 10, 12000, 19000), bid(4, 1000, 5, 13000),
		person(1003, "Dee", "ID", 15000), auction(6, 1003, 12, 15500, 19000),
	},
		line(1000, "Ann", at(0)),
		line(1002, "Cid", at(0)),
		line(1003, "Dee", at(10000)),
	)
}

// TestQ11 counts bids per bidder session; a session is [first, last+10 s)
// and grows while bids come less than 10 s apart, or exactly 10 s (windows
// that touch merge, as Flink's):
//
//	bidder 1 @0, @5000, @14000 -> [0, 24 s), 3 bids; @30000 -> [30 s, 40 s), 1
//	bidder 2 @1000, @11000     -> [1 s, 21 s), 2 bids
//	bidder 3 @2000             -> [2 s, 12 s), 1 bid
func TestQ11(t *testing.T) {
	expect(t, q11, []Event{
		bid(9, 1, 5, 0), bid(9, 2, 5, 1000), bid(9, 3, 5, 2000), bid(9, 1, 5, 5000), bid(9, 2, 5, 11000),
		bid(9, 1, 5, 14000), bid(9, 1, 5, 30000),
	},
		line(1, 3, at(0), at(24000)),
		line(1, 1, at(30000), at(40000)),
		line(2, 2, at(1000), at(21000)),
		line(3, 1, at(2000), at(12000)),
	)
}

// TestQ12 counts bids per bidder in 10 s windows of the wall clock, so the
// rows depend on when the test runs: per bidder the counts add up to its
// bids (2 for bidder 1, 1 for bidder 2), every window is 10 s long and
// starts at a multiple of 10 s.
func TestQ12(t *testing.T) {
	rows := runQuery(t, q12, true, []Event{bid(9, 1, 5, 0), bid(9, 2, 5, 100), bid(9, 1, 5, 200)})
	counts := map[string]int{}
	for _, r := range rows {
		f := strings.Split(r, "\t")
		if len(f) != 4 {
			t.Fatalf("row %q", r)
		}
		start, err1 := time.Parse("2006-01-02 15:04:05.000", f[2])
		end, err2 := time.Parse("2006-01-02 15:04:05.000", f[3])
		if err1 != nil || err2 != nil || end.Sub(start) != 10*time.Second || start.UnixMilli()%10_000 != 0 {
			t.Fatalf("row %q: not a 10 s window", r)
		}
		n, _ := strconv.Atoi(f[1])
		counts[f[0]] += n
	}
	if counts["1"] != 2 || counts["2"] != 1 || len(counts) != 2 {
		t.Fatalf("rows %q: counts %v", rows, counts)
	}
}
