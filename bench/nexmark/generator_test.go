package nexmark

import (
	"encoding/json"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/task"
)

// TestKindsAndIDs checks the event-number facts on the first two groups of
// 50 events: event 0 of a group is a person, 1 to 3 auctions, the rest
// bids; person and auction ids count up from 1000, one per person
// (auction) event.
func TestKindsAndIDs(t *testing.T) {
	g := NewGenerator(Config{Seed: 3})
	persons, auctions := int64(1000), int64(1000)
	for n := int64(0); n < 100; n++ {
		e := g.Event(n)
		want := KindBid
		switch n % 50 {
		case 0:
			want = KindPerson
		case 1, 2, 3:
			want = KindAuction
		}
		if e.Kind != want || KindOf(n) != want {
			t.Fatalf("event %d is a %v (KindOf %v), want a %v", n, e.Kind, KindOf(n), want)
		}
		switch e.Kind {
		case KindPerson:
			if e.Person.ID != persons {
				t.Fatalf("event %d: person id %d, want %d", n, e.Person.ID, persons)
			}
			persons++
		case KindAuction:
			if e.Auction.ID != auctions {
				t.Fatalf("event %d: auction id %d, want %d", n, e.Auction.ID, auctions)
			}
			auctions++
		}
	}
	// The latest ids at an event, as the suite's lastBase0*Id compute them:
	// event 60 (a bid of group 1) sees person 1 and auction 5 (0-based);
	// event 100 (a person) is person 2, the latest auction then is 5 still.
	for _, c := range []struct{ n, person, auction int64 }{{0, 0, -1}, {1, 0, 0}, {3, 0, 2}, {4, 0, 2}, {49, 0, 2}, {50, 1, 2}, {51, 1, 3}, {60, 1, 5}, {100, 2, 5}} {
		if p, a := lastPersonID(c.n), lastAuctionID(c.n); p != c.person || a != c.auction {
			t.Errorf("event %d: last person %d auction %d, want %d and %d", c.n, p, a, c.person, c.auction)
		}
	}
}

// TestDistributions checks the model's ranges and ratios over 100,000
// events: categories 10..14, prices 100..10^8 cents and log-uniform (about
// a sixth of them below 1000), half of the bids on the hot auction of
// their time, 3/4 by the hot bidder, half through the 4 hot channels, ids
// referring to persons and auctions already generated or at most 10 ahead,
// and the average sizes by the suite's accounting within 5% of 200, 500 and
// 100 bytes.
func TestDistributions(t *testing.T) {
	const events = 100_000
	email, card, letters := regexp.MustCompile(`^[a-z ]*@[a-z ]*\.com$`), regexp.MustCompile(`^\d{4} \d{4} \d{4} \d{4}$`), regexp.MustCompile(`^[a-z]*$`)
	g := NewGenerator(Config{Seed: 11})
	var bids, hotAuction, hotBidder, hotChannel, cheap, withID int
	var personBytes, auctionBytes, bidBytes, nPersons, nAuctions int
	for n := int64(0); n < events; n++ {
		e := g.Event(n)
		switch e.Kind {
		case KindPerson:
			p := e.Person
			nPersons++
			personBytes += 8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra)
			if !email.MatchString(p.EmailAddress) || !card.MatchString(p.CreditCard) || !letters.MatchString(p.Extra) {
				t.Fatalf("person %d: email %q, card %q, extra %q", p.ID, p.EmailAddress, p.CreditCard, p.Extra)
			}
		case KindAuction:
			a := e.Auction
			nAuctions++
			auctionBytes += 8 + len(a.ItemName) + len(a.Description) + 5*8 + len(a.Extra)
			if a.Category < 10 || a.Category > 14 || a.Reserve <= a.InitialBid || a.Expires <= a.DateTime {
				t.Fatalf("auction %+v", a)
			}
			if a.Seller < 1000 || a.Seller > 1000+lastPersonID(n)+10 {
				t.Fatalf("auction %d at event %d: seller %d", a.ID, n, a.Seller)
			}
		case KindBid:
			b := e.Bid
			bids++
			bidBytes += 32 + len(b.Extra)
			if b.Price < 100 || b.Price > 100_000_000 || !letters.MatchString(b.Extra) {
				t.Fatalf("bid price %d, extra %q", b.Price, b.Extra)
			}
			if b.Price < 1000 {
				cheap++
			}
			if b.Auction == 1000+lastAuctionID(n)/100*100 {
				hotAuction++
			}
			if b.Bidder == 1000+lastPersonID(n)/100*100+1 {
				hotBidder++
			}
			if b.Auction < 1000 || b.Auction > 1000+lastAuctionID(n)+10 || b.Bidder < 1000 || b.Bidder > 1000+lastPersonID(n)+10 {
				t.Fatalf("bid at event %d on auction %d by %d", n, b.Auction, b.Bidder)
			}
			if slices.Contains(hotChannels[:], b.Channel) {
				hotChannel++
			}
			if strings.Contains(b.URL, "&channel_id=") {
				withID++
			}
		}
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %.3f, want %.3f +- %.3f", what, got, want, tol)
		}
	}
	fb := float64(bids)
	near("share of bids", fb/events, 46.0/50, 0.0001)
	near("bids under $10", float64(cheap)/fb, 1.0/6, 0.01)
	// Random picks also land on the hot ids now and then.
	near("bids on the hot auction", float64(hotAuction)/fb, 0.5, 0.02)
	near("bids by the hot bidder", float64(hotBidder)/fb, 0.75, 0.02)
	near("bids through hot channels", float64(hotChannel)/fb, 0.5, 0.01)
	near("bids through other channels naming the channel in the url", float64(withID)/(fb-float64(hotChannel)), 0.9, 0.01)
	near("person size", float64(personBytes)/float64(nPersons), 200, 10)
	near("auction size", float64(auctionBytes)/float64(nAuctions), 500, 25)
	near("bid size", float64(bidBytes)/fb, 100, 5)
}

// TestDeterminism: an event is a function of the seed and its number alone.
func TestDeterminism(t *testing.T) {
	a, b, other := NewGenerator(Config{Seed: 5}), NewGenerator(Config{Seed: 5}), NewGenerator(Config{Seed: 6})
	for _, n := range []int64{0, 1, 7, 50, 12345, 999_999_999} {
		if !reflect.DeepEqual(a.Event(n), b.Event(n)) {
			t.Fatalf("event %d differs between two generators of one seed", n)
		}
		if n > 0 && reflect.DeepEqual(a.Event(n), other.Event(n)) {
			t.Fatalf("event %d is the same for seeds 5 and 6", n)
		}
	}
}

// TestEventTime: event n happens n*1e6/rate microseconds after the base
// time, truncated to the millisecond.
func TestEventTime(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		n    int64
		want int64
	}{
		{Config{EventRate: 1000}, 7, DefaultBaseTime + 7},
		{Config{Rate: 4000}, 7, DefaultBaseTime + 1}, // 1750 us
		{Config{Rate: 4000, EventRate: 2}, 3, DefaultBaseTime + 1500},
		{Config{}, 9_999, DefaultBaseTime},      // 10 M/s: 999.9 us
		{Config{}, 10_000, DefaultBaseTime + 1}, // 1000 us
		{Config{BaseTime: 5, EventRate: 1}, 2, 2005},
	} {
		g := NewGenerator(c.cfg)
		if got := g.Timestamp(c.n); got != c.want {
			t.Errorf("%+v: event %d at %d, want %d", c.cfg, c.n, got, c.want)
		}
		if got := g.Event(c.n).Time(); got != c.want {
			t.Errorf("%+v: event %d's record at %d, want %d", c.cfg, c.n, got, c.want)
		}
	}
}

// TestSourceSplits reads the source as 3 subtasks and expects the events of
// one generator, each once: subtask s has the numbers s, s+3, ...
func TestSourceSplits(t *testing.T) {
	const events = 2000
	cfg := Config{Events: events, Seed: 9}
	g := NewGenerator(cfg)
	src := NewSource(cfg)
	seen := 0
	for s := 0; s < 3; s++ {
		r, err := src.NewReader(s, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Open(nil); err != nil {
			t.Fatal(err)
		}
		n := int64(s)
		for {
			b := task.NewBatch[Event](100)
			st, err := r.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range b.Values {
				if !reflect.DeepEqual(e, g.Event(n)) {
					t.Fatalf("subtask %d: event %d differs from the generator's", s, n)
				}
				n += 3
				seen++
			}
			if st.End {
				break
			}
		}
	}
	if seen != events {
		t.Fatalf("3 subtasks read %d events, want %d", seen, events)
	}
}

func TestChannelTable(t *testing.T) {
	tbl := channelTable()
	url := regexp.MustCompile(`^https://www\.nexmark\.com/[a-z_]{3,4}/[a-z_]{3,4}/[a-z_]{3,4}/item\.htm\?query=1(&channel_id=-?\d+)?$`)
	for i, c := range append(tbl.hot[:], tbl.all...) {
		if !url.MatchString(c.url) {
			t.Fatalf("channel %d %q: url %q", i, c.name, c.url)
		}
	}
	// Channel ids are the channel numbers' 32 bits reversed, absolute:
	// 2 is 0x40000000, and 1 reverses to math.MinInt32, which stays negative.
	if c := tbl.all[2]; c.name != "channel-2" || (strings.Contains(c.url, "channel_id") && !strings.HasSuffix(c.url, "&channel_id=1073741824")) {
		t.Errorf("channel 2: %+v", c)
	}
	if c := tbl.all[1]; strings.Contains(c.url, "channel_id") && !strings.HasSuffix(c.url, "&channel_id=-2147483648") {
		t.Errorf("channel 1: %+v", c)
	}
}

func TestEventCodec(t *testing.T) {
	g := NewGenerator(Config{Seed: 2})
	var buf []byte
	for n := int64(0); n < 60; n++ {
		e := g.Event(n)
		buf = EventCodec.Append(buf[:0], e)
		got, used, err := EventCodec.Decode(buf)
		if err != nil || used != len(buf) || !reflect.DeepEqual(got, e) {
			t.Fatalf("event %d: decoded %+v (%d of %d bytes, %v), want %+v", n, got, used, len(buf), err, e)
		}
	}
	if _, _, err := EventCodec.Decode([]byte{7}); err == nil || !strings.Contains(err.Error(), "kind 7") {
		t.Fatalf("kind 7: %v", err)
	}
}

func TestTimestampFormat(t *testing.T) {
	for _, ms := range []int64{0, DefaultBaseTime, DefaultBaseTime + 86_400_000*59 + 3_723_004, 951_782_400_000 /* 2000-02-29 */, -1, -86_400_001, 253_402_300_799_999} {
		want := time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
		if got := string(appendTimestamp(nil, ms)); got != want {
			t.Errorf("%d: %s, want %s", ms, got, want)
		}
		if got, want := string(appendClock(nil, ms)), want[11:16]; got != want {
			t.Errorf("%d: clock %s, want %s", ms, got, want)
		}
	}
	for v, want := range map[int64]string{0: "0.000", 908: "0.908", 90_800: "90.800", 1_000_000_376: "1000000.376", -1500: "-1.500"} {
		if got := string(appendMilli(nil, v)); got != want {
			t.Errorf("milli %d: %s, want %s", v, got, want)
		}
	}
}

// TestJSON writes one event of each kind as the suite's datagen table
// names its columns.
func TestJSON(t *testing.T) {
	ts := int64(DefaultBaseTime + 1500)
	for _, c := range []struct {
		e    Event
		want string
	}{
		{Event{Kind: KindPerson, Person: &Person{ID: 1000, Name: "Kate Smith", EmailAddress: "a b@c.com", CreditCard: "0001 0002 0003 0004", City: "Bend", State: "OR", DateTime: ts, Extra: `x"y`}},
			`{"event_type":0,"person":{"id":1000,"name":"Kate Smith","emailAddress":"a b@c.com","creditCard":"0001 0002 0003 0004","city":"Bend","state":"OR","dateTime":"2024-01-01 00:00:01.500","extra":"x\"y"}}`},
		{Event{Kind: KindAuction, Auction: &Auction{ID: 1001, ItemName: "it", Description: "d", InitialBid: 5, Reserve: 9, DateTime: ts, Expires: ts + 10, Seller: 1000, Category: 12, Extra: "e"}},
			`{"event_type":1,"auction":{"id":1001,"itemName":"it","description":"d","initialBid":5,"reserve":9,"dateTime":"2024-01-01 00:00:01.500","expires":"2024-01-01 00:00:01.510","seller":1000,"category":12,"extra":"e"}}`},
		{Event{Kind: KindBid, Bid: Bid{Auction: 1001, Bidder: 1000, Price: 77, Channel: "Baidu", URL: "https://u?a=1&b=2", DateTime: ts, Extra: "\n"}},
			`{"event_type":2,"bid":{"auction":1001,"bidder":1000,"price":77,"channel":"Baidu","url":"https://u?a=1&b=2","dateTime":"2024-01-01 00:00:01.500","extra":"\u000a"}}`},
	} {
		got := AppendJSON(nil, c.e)
		if string(got) != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
	var sb strings.Builder
	if err := WriteJSON(&sb, Config{Seed: 1}, 48, 52); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	kinds := []string{`{"event_type":2,"bid"`, `{"event_type":2,"bid"`, `{"event_type":0,"person"`, `{"event_type":1,"auction"`}
	if len(lines) != 4 {
		t.Fatalf("events 48..51: %d lines", len(lines))
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, kinds[i]) {
			t.Errorf("event %d: %s", 48+i, l)
		}
	}
}

// TestExp10 compares exp10 with the library's 10^x: the same to 1e-14
// (the rounding of x*ln 10 alone is worth a few units in the last place),
// which is far below the cent prices are rounded to.
func TestExp10(t *testing.T) {
	for i := 0; i <= 600_000; i++ {
		x := float64(i) / 100_000
		if got, want := exp10(x), math.Pow(10, x); math.Abs(got-want) > 1e-14*want {
			t.Fatalf("exp10(%v) = %v, want %v", x, got, want)
		}
	}
}

// TestSourceRescales checkpoints the source's 2 subtasks part way and
// restores them as 3: every event comes exactly once, as the generator
// makes it.
func TestSourceRescales(t *testing.T) {
	const events = 3000
	// At 1000 events/s, event n happens at the base time + n ms.
	cfg := Config{Events: events, EventRate: 1000, Seed: 8}
	src, g := NewSource(cfg), NewGenerator(cfg)
	got := map[int64]int{} // event number -> times read
	read := func(s, p int, ctx *task.Context, batches int) []byte {
		r, err := src.NewReader(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Open(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < batches; i++ {
			b := task.NewBatch[Event](50)
			st, err := r.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range b.Values {
				n := e.Time() - DefaultBaseTime
				if !reflect.DeepEqual(e, g.Event(n)) {
					t.Fatalf("event %d differs from the generator's", n)
				}
				got[n]++
			}
			if st.End {
				break
			}
		}
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	states := [][]byte{read(0, 2, &task.Context{}, 3), read(1, 2, &task.Context{}, 5)}
	for s := range 3 {
		read(s, 3, &task.Context{Rescaled: states}, 1<<20)
	}
	for n := int64(0); n < events; n++ {
		if got[n] != 1 {
			t.Fatalf("event %d read %d times", n, got[n])
		}
	}
}
