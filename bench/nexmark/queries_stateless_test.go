package nexmark

import "testing"

// statelessEvents are the input of the stateless query tests: a person and
// an auction (which no bid view passes) and bids chosen for each query's
// conditions.
var statelessEvents = []Event{
	person(1000, "Kate Smith", "OR", 0),
	auction(1000, 1000, 10, 0, 5000),
	bid(1000, 1001, 150, 1),
	bid(1107, 1002, 99, 2),                           // 1107 = 9 * 123
	bid(1107, 1003, 1_101_321, 7*3_600_000),          // 07:00, 0.908 * price = 999999.468
	bid(1001, 1004, 1_101_322, 8*3_600_000),          // 08:00, 1000000.376
	bid(1002, 1005, 55_066_079, 18*3_600_000+59_999), // 18:00:59.999, 49999999.732
	bid(1003, 1006, 55_066_080, 19*3_600_000),        // 19:00, 50000000.640
	bid(1004, 1007, 2_000_000, 20*3_600_000),         // 20:00, 1816000.000
	bid(1005, 1008, 3_000_000, 6*3_600_000+1),        // out of time order by 14 h: stateless queries do not care
}

// TestQ0 passes the 8 bids through, and not the person or the auction.
func TestQ0(t *testing.T) {
	expect(t, q0, statelessEvents,
		line(1000, 1001, 150, at(1), "b"),
		line(1107, 1002, 99, at(2), "b"),
		line(1107, 1003, 1101321, at(7*3_600_000), "b"),
		line(1001, 1004, 1101322, at(8*3_600_000), "b"),
		line(1002, 1005, 55066079, at(18*3_600_000+59_999), "b"),
		line(1003, 1006, 55066080, at(19*3_600_000), "b"),
		line(1004, 1007, 2000000, at(20*3_600_000), "b"),
		line(1005, 1008, 3000000, at(6*3_600_000+1), "b"),
	)
}

// TestQ1 multiplies prices by 0.908: 150 is 136.200, 99 is 89.892,
// 1,101,321 is 999,999.468 (908 * 1,101,321 = 999,999,468 thousandths),
// 1,101,322 is 1,000,000.376, 55,066,079 is 49,999,999.732, 55,066,080 is
// 50,000,000.640, 2,000,000 is 1,816,000.000 and 3,000,000 is 2,724,000.000.
func TestQ1(t *testing.T) {
	expect(t, q1, statelessEvents,
		line(1000, 1001, "136.200", at(1), "b"),
		line(1107, 1002, "89.892", at(2), "b"),
		line(1107, 1003, "999999.468", at(7*3_600_000), "b"),
		line(1001, 1004, "1000000.376", at(8*3_600_000), "b"),
		line(1002, 1005, "49999999.732", at(18*3_600_000+59_999), "b"),
		line(1003, 1006, "50000000.640", at(19*3_600_000), "b"),
		line(1004, 1007, "1816000.000", at(20*3_600_000), "b"),
		line(1005, 1008, "2724000.000", at(6*3_600_000+1), "b"),
	)
}

// TestQ2 keeps the two bids on auction 1107, the only multiple of 123.
func TestQ2(t *testing.T) {
	expect(t, q2, statelessEvents, line(1107, 99), line(1107, 1101321))
}

// TestQ14 keeps the euro prices strictly between 1,000,000 and 50,000,000
// (see TestQ1): 1,000,000.376 at 08:00 (dayTime, 8 <= hour <= 18),
// 49,999,999.732 at 18:00:59 (dayTime), 1,816,000 at 20:00 (nightTime,
// hour >= 20) and 2,724,000 at 06:00 (nightTime, hour <= 6); 999,999.468 and
// 50,000,000.640 fail. Their extra "b" has no 'c'. A second run with extras
// holding 'c' counts them, and 07:00 and 19:00 are otherTime.
func TestQ14(t *testing.T) {
	expect(t, q14, statelessEvents,
		line(1001, 1004, "1000000.376", "dayTime", at(8*3_600_000), "b", 0),
		line(1002, 1005, "49999999.732", "dayTime", at(18*3_600_000+59_999), "b", 0),
		line(1004, 1007, "1816000.000", "nightTime", at(20*3_600_000), "b", 0),
		line(1005, 1008, "2724000.000", "nightTime", at(6*3_600_000+1), "b", 0),
	)
	other1, other2 := bid(1, 2, 2_000_000, 7*3_600_000+59*60_000), bid(1, 3, 2_000_000, 19*3_600_000)
	other1.Bid.Extra, other2.Bid.Extra = "cacc", "xyz"
	expect(t, q14, []Event{other1, other2},
		line(1, 2, "1816000.000", "otherTime", at(7*3_600_000+59*60_000), "cacc", 3),
		line(1, 3, "1816000.000", "otherTime", at(19*3_600_000), "xyz", 0),
	)
}

// TestQ21: the hot channels, in any case, get their fixed ids 0 to 3 (their
// url is not read); other channels need a channel_id parameter at the
// start of the url or after '&', up to the next '&' (possibly empty); the
// rest is dropped: channel-6 (no parameter) and channel-9 (the parameter
// follows 'x', not '&').
func TestQ21(t *testing.T) {
	expect(t, q21, []Event{
		bidVia(1, 1, 10, 0, "Apple", testURL),
		bidVia(1, 2, 10, 0, "GOOGLE", testURL+"&channel_id=99"),
		bidVia(1, 3, 10, 0, "facebook", testURL),
		bidVia(1, 4, 10, 0, "Baidu", testURL),
		bidVia(1, 5, 10, 0, "channel-5", testURL+"&channel_id=42"),
		bidVia(1, 6, 10, 0, "channel-6", testURL),
		bidVia(1, 7, 10, 0, "channel-7", "channel_id=7&x=1"),
		bidVia(1, 8, 10, 0, "channel-8", "https://x?q=1&channel_id=&b=2"),
		bidVia(1, 9, 10, 0, "channel-9", "https://x?xchannel_id=9"),
		bidVia(1, 10, 10, 0, "channel-10", "https://x?xchannel_id=9&channel_id=-2147483648"),
	},
		line(1, 1, 10, "Apple", 0),
		line(1, 2, 10, "GOOGLE", 1),
		line(1, 3, 10, "facebook", 2),
		line(1, 4, 10, "Baidu", 3),
		line(1, 5, 10, "channel-5", 42),
		line(1, 7, 10, "channel-7", 7),
		line(1, 8, 10, "channel-8", ""),
		line(1, 10, 10, "channel-10", -2147483648),
	)
}

// TestQ22: SPLIT_INDEX(url, '/', i) counts from 0 and keeps empty tokens:
// "https:", "", "www.nexmark.com", then the directories; past the end the
// column is NULL, written empty.
func TestQ22(t *testing.T) {
	expect(t, q22, []Event{
		bidVia(1, 1, 10, 0, "Apple", testURL),
		bidVia(1, 2, 10, 0, "channel-1", "https://x/a"),
		bidVia(1, 3, 10, 0, "channel-2", "https://x//b/c/d/e"),
	},
		line(1, 1, 10, "Apple", "aa", "bb", "cc"),
		line(1, 2, 10, "channel-1", "a", "", ""),
		line(1, 3, 10, "channel-2", "", "b", "c"),
	)
}
