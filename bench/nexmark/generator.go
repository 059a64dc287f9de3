package nexmark

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"sync"

	"github.com/loom-yarn/loom/connector/datagen"
)

// The model's constants, as the Nexmark suite's generator
// (nexmark-flink/.../generator: GeneratorConfig, NexmarkConfiguration,
// PersonGenerator, AuctionGenerator, BidGenerator, PriceGenerator,
// StringsGenerator) has them with its default configuration.
const (
	// Of every 50 consecutive events, the first is a person, the next 3
	// auctions and the other 46 bids.
	personProportion  = 1
	auctionProportion = 3
	bidProportion     = 46
	totalProportion   = personProportion + auctionProportion + bidProportion

	// Ids start at 1000 so that queries find matches in small runs; the
	// 5 categories are 10..14.
	firstPersonID   = 1000
	firstAuctionID  = 1000
	firstCategoryID = 10
	numCategories   = 5

	// A bid goes to a hot auction with probability 1-1/hotAuctionRatio, is
	// placed by a hot bidder with 1-1/hotBiddersRatio, and an auction is
	// sold by a hot seller with 1-1/hotSellersRatio (the configuration's
	// hotAuctionRatio 2, hotBiddersRatio 4, hotSellersRatio 4). The hot one
	// is the first auction (seller), or the second person (bidder), of the
	// latest batch of hotBatch ids (the generators' HOT_*_RATIO 100).
	hotAuctionRatio = 2
	hotBiddersRatio = 4
	hotSellersRatio = 4
	hotBatch        = 100

	// Other auctions and persons are drawn from the latest
	// numInFlightAuctions auctions and numActivePeople persons, plus a
	// lead of ids not generated yet.
	numInFlightAuctions = 100
	numActivePeople     = 1000
	auctionIDLead       = 10
	personIDLead        = 10

	// Target sizes in bytes, by the suite's accounting (8 per number plus
	// the strings' lengths, the bid's channel and url not counted): the
	// extra string pads each record to its size +-20%.
	avgPersonSize  = 200
	avgAuctionSize = 500
	avgBidSize     = 100

	// Half of the bids come through one of the 4 hot channels, the others
	// through one of numChannels channels.
	hotChannelsRatio = 2
	numChannels      = 10_000

	// An auction lasts on average the time numInFlightAuctions more
	// auctions take to be generated.
	eventsPerAuctionHorizon = numInFlightAuctions * totalProportion / auctionProportion
)

// Defaults of Config.
const (
	// DefaultEventRate is the event-time rate when neither EventRate nor
	// Rate is set: the Nexmark suite's default of 10 million events per
	// second.
	DefaultEventRate = 10_000_000
	// DefaultBaseTime is the event time of event 0: 2024-01-01T00:00:00Z.
	DefaultBaseTime = 1_704_067_200_000
)

var (
	hotChannels = [...]string{"Google", "Facebook", "Baidu", "Apple"}
	usStates    = [...]string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities    = [...]string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames  = [...]string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames   = [...]string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
)

// Config configures the generated events.
type Config struct {
	// Events is the number of events; <= 0 generates forever (unbounded).
	Events int64
	// Rate is the number of events per second emitted over all subtasks;
	// 0 emits as fast as possible. It paces emission only: event times
	// follow the event number.
	Rate float64
	// EventRate sets event time: event n happens n*1e6/EventRate
	// microseconds after BaseTime. 0 means Rate, or DefaultEventRate when
	// Rate is 0 too.
	EventRate float64
	// Seed makes different runs generate different (but repeatable) events.
	Seed uint64
	// BaseTime is the event time of event 0 in milliseconds since the
	// epoch; 0 means DefaultBaseTime.
	BaseTime int64
}

// Validate reports settings no generator can use.
func (c Config) Validate() error {
	switch {
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("nexmark: rate %g events/s: must be 0 (as fast as possible) or positive", c.Rate)
	case c.EventRate < 0 || math.IsNaN(c.EventRate) || math.IsInf(c.EventRate, 0):
		return fmt.Errorf("nexmark: event rate %g events/s: must be 0 (the rate, or %d) or positive", c.EventRate, DefaultEventRate)
	case c.BaseTime < 0:
		return fmt.Errorf("nexmark: base time %d ms: must not be negative", c.BaseTime)
	}
	return nil
}

// Generator makes Nexmark event n from the seed and n alone, so any subset
// of event numbers can be generated independently, by any subtask, in any
// order. The algorithm is the Nexmark suite's (which event number is which
// kind, how ids, hot keys, prices and sizes are chosen: see the constants
// above and docs in doc.go); the random draws come from a datagen.Rand
// seeded with (seed, n) instead of one sequential java.util.Random, which
// is what makes events independent of each other.
type Generator struct {
	seed     uint64
	baseTime int64
	delayUs  float64 // event time between consecutive events, in microseconds
}

// NewGenerator returns the generator of cfg (whose Events and Rate it
// ignores: those belong to the source).
func NewGenerator(cfg Config) *Generator {
	rate := cfg.EventRate
	if rate == 0 {
		rate = cfg.Rate
	}
	if rate == 0 {
		rate = DefaultEventRate
	}
	base := cfg.BaseTime
	if base == 0 {
		base = DefaultBaseTime
	}
	return &Generator{seed: cfg.Seed, baseTime: base, delayUs: 1e6 / rate}
}

// KindOf is the kind of event n: its position in its group of 50.
func KindOf(n int64) Kind {
	switch r := n % totalProportion; {
	case r < personProportion:
		return KindPerson
	case r < personProportion+auctionProportion:
		return KindAuction
	}
	return KindBid
}

// Timestamp is the event time of event n, in milliseconds, computed as the
// suite's GeneratorConfig.timestampForEvent does.
func (g *Generator) Timestamp(n int64) int64 {
	return g.baseTime + int64(float64(n)*g.delayUs)/1000
}

// Event generates event n.
func (g *Generator) Event(n int64) Event {
	r := datagen.NewRand(g.seed, n)
	return g.event(n, &r)
}

// event generates event n from r, which is seeded for (seed, n): the
// function a datagen source calls.
func (g *Generator) event(n int64, r *datagen.Rand) Event {
	ts := g.Timestamp(n)
	switch KindOf(n) {
	case KindPerson:
		return Event{Kind: KindPerson, Person: g.person(n, r, ts)}
	case KindAuction:
		return Event{Kind: KindAuction, Auction: g.auction(n, r, ts)}
	}
	return Event{Kind: KindBid, Bid: g.bid(n, r, ts)}
}

// lastPersonID is the id (from 0) of the latest person at event n: event
// n's own id if n is a person.
func lastPersonID(n int64) int64 {
	epoch, off := n/totalProportion, n%totalProportion
	if off >= personProportion {
		off = personProportion - 1
	}
	return epoch*personProportion + off
}

// lastAuctionID is the id (from 0) of the latest auction at event n: event
// n's own id if n is an auction.
func lastAuctionID(n int64) int64 {
	epoch, off := n/totalProportion, n%totalProportion
	switch {
	case off < personProportion:
		epoch--
		off = auctionProportion - 1
	case off >= personProportion+auctionProportion:
		off = auctionProportion - 1
	default:
		off -= personProportion
	}
	return epoch*auctionProportion + off
}

// uniform is a uniform int64 in [0, n), n > 0.
func uniform(r *datagen.Rand, n int64) int64 { return int64(r.Intn(int(n))) }

// randomPersonID is a person id (from 0) among the active persons at event
// n, or up to personIDLead ahead of the latest.
func randomPersonID(n int64, r *datagen.Rand) int64 {
	people := lastPersonID(n) + 1
	active := min(people, numActivePeople)
	return people - active + uniform(r, active+personIDLead)
}

// randomAuctionID is an auction id (from 0) among the auctions likely in
// flight at event n, or up to auctionIDLead ahead of the latest.
func randomAuctionID(n int64, r *datagen.Rand) int64 {
	last := lastAuctionID(n)
	lo := max(last-numInFlightAuctions, 0)
	return lo + uniform(r, last-lo+1+auctionIDLead)
}

// price is log-uniform in [100, 10^8] cents: 100 * 10^(6u) rounded, as
// the suite's PriceGenerator.
func price(r *datagen.Rand) int64 { return javaRound(exp10(r.Float64()*6) * 100) }

// javaRound is Java's Math.round for the positive values it is used on:
// floor(x + 0.5).
func javaRound(x float64) int64 { return int64(math.Floor(x + 0.5)) }

// Constants of exp10: ln 2 split in a high part with 32 significant bits
// (so that k * ln2Hi is exact for small k) and the rest (fdlibm's).
const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// expTerms are 1/i for the 13 terms of e^r's series.
var expTerms = func() (t [14]float64) {
	for i := 1; i < len(t); i++ {
		t[i] = 1 / float64(i)
	}
	return t
}()

// exp10 is 10^x for 0 <= x <= 6, computed with IEEE-754 +, -, * and /
// alone, each rounded (the float64 conversions forbid fused
// multiply-adds), in a fixed order, and the exact floor and scaling by 2^k:
// another language's doubles compute the same bits, where library exp and
// pow functions may differ in the last one, so a port of the generator
// makes the same prices. 10^x = 2^k * e^r
// with |r| <= ln(2)/2, and e^r = 1 + r(1 + r/2(1 + r/3(...))) to 13 terms
// (the rest is below 2^-53).
func exp10(x float64) float64 {
	y := float64(x * math.Ln10)
	k := math.Floor(float64(y/math.Ln2) + 0.5)
	r := float64(float64(y-float64(k*ln2Hi)) - float64(k*ln2Lo))
	p := 1.0
	for i := len(expTerms) - 1; i >= 1; i-- {
		p = 1 + float64(float64(r*p)*expTerms[i])
	}
	return math.Ldexp(p, int(k))
}

func (g *Generator) person(n int64, r *datagen.Rand, ts int64) *Person {
	var buf [512]byte
	b := buf[:0]
	b = appendRandomString(b, r, 7, ' ')
	b = append(b, '@')
	b = appendRandomString(b, r, 5, ' ')
	b = append(b, ".com"...)
	emailEnd := len(b)
	for i := range 4 {
		if i > 0 {
			b = append(b, ' ')
		}
		b = appendDigits4(b, r.Intn(10_000))
	}
	cardEnd := len(b)
	name := personNames()[r.Intn(len(firstNames)*len(lastNames))]
	city := usCities[r.Intn(len(usCities))]
	state := usStates[r.Intn(len(usStates))]
	size := 8 + len(name) + cardEnd + len(city) + len(state) // email and card are b[:cardEnd]
	b = appendExtra(b, r, size, avgPersonSize)
	s := string(b)
	return &Person{
		ID:           lastPersonID(n) + firstPersonID,
		Name:         name,
		EmailAddress: s[:emailEnd],
		CreditCard:   s[emailEnd:cardEnd],
		City:         city,
		State:        state,
		DateTime:     ts,
		Extra:        s[cardEnd:],
	}
}

func (g *Generator) auction(n int64, r *datagen.Rand, ts int64) *Auction {
	var seller int64
	if r.Intn(hotSellersRatio) > 0 {
		seller = lastPersonID(n) / hotBatch * hotBatch
	} else {
		seller = randomPersonID(n, r)
	}
	category := firstCategoryID + int64(r.Intn(numCategories))
	initial := price(r)
	// The auction lasts 1 ms to twice the time until numInFlightAuctions
	// more auctions exist.
	horizon := g.Timestamp(n+eventsPerAuctionHorizon) - ts
	expires := ts + 1 + uniform(r, max(2*horizon, 1))
	var buf [1024]byte
	b := buf[:0]
	b = appendRandomString(b, r, 20, ' ')
	nameEnd := len(b)
	b = appendRandomString(b, r, 100, ' ')
	descEnd := len(b)
	reserve := initial + price(r)
	b = appendExtra(b, r, 8+descEnd+5*8, avgAuctionSize)
	s := string(b)
	return &Auction{
		ID:          lastAuctionID(n) + firstAuctionID,
		ItemName:    s[:nameEnd],
		Description: s[nameEnd:descEnd],
		InitialBid:  initial,
		Reserve:     reserve,
		DateTime:    ts,
		Expires:     expires,
		Seller:      seller + firstPersonID,
		Category:    category,
		Extra:       s[descEnd:],
	}
}

func (g *Generator) bid(n int64, r *datagen.Rand, ts int64) Bid {
	var auction, bidder int64
	if r.Intn(hotAuctionRatio) > 0 {
		auction = lastAuctionID(n) / hotBatch * hotBatch
	} else {
		auction = randomAuctionID(n, r)
	}
	if r.Intn(hotBiddersRatio) > 0 {
		// The second person of the batch, so that hot bidders are not hot sellers.
		bidder = lastPersonID(n)/hotBatch*hotBatch + 1
	} else {
		bidder = randomPersonID(n, r)
	}
	p := price(r)
	t := channelTable()
	var ch channel
	if r.Intn(hotChannelsRatio) > 0 {
		ch = t.hot[r.Intn(len(t.hot))]
	} else {
		ch = t.all[r.Intn(numChannels)]
	}
	var buf [128]byte
	extra := string(appendExtra(buf[:0], r, 4*8, avgBidSize))
	return Bid{
		Auction:  auction + firstAuctionID,
		Bidder:   bidder + firstPersonID,
		Price:    p,
		Channel:  ch.name,
		URL:      ch.url,
		DateTime: ts,
		Extra:    extra,
	}
}

// appendRandomString appends a string of 3 to maxLen-1 characters, each a
// lower-case letter or, one time in 13, fill; spaces at either end are
// trimmed (the suite's StringsGenerator.nextString).
func appendRandomString(dst []byte, r *datagen.Rand, maxLen int, fill byte) []byte {
	n := 3 + r.Intn(maxLen-3)
	start := len(dst)
	for range n {
		if u := r.Uint64(); u%13 == 0 {
			dst = append(dst, fill)
		} else {
			dst = append(dst, 'a'+byte((u>>32)%26))
		}
	}
	if fill != ' ' {
		return dst
	}
	s := dst[start:]
	lo, hi := 0, len(s)
	for lo < hi && s[lo] == ' ' {
		lo++
	}
	for hi > lo && s[hi-1] == ' ' {
		hi--
	}
	copy(s, s[lo:hi])
	return dst[:start+hi-lo]
}

// appendExtra appends the padding that brings a record of size bytes to avg
// on average: avg-size bytes +-20%, nothing when the record is already
// larger (StringsGenerator.nextExtra). The letters come 13 from each random
// word, read as a fraction in [0, 1): each letter is the integer part of
// the fraction times 26, the rest the next fraction (one multiplication a
// letter: this string is most of a bid's generation cost).
func appendExtra(dst []byte, r *datagen.Rand, size, avg int) []byte {
	if size > avg {
		return dst
	}
	want := avg - size
	delta := int(javaRound(float64(want) * 0.2))
	n := want - delta
	if delta > 0 {
		n += r.Intn(2 * delta)
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	out := dst[start:]
	for i := 0; i < len(out); {
		u := r.Uint64()
		for k := 0; k < 13 && i < len(out); k++ {
			var letter uint64
			letter, u = bits.Mul64(u, 26)
			out[i] = 'a' + byte(letter)
			i++
		}
	}
	return dst
}

// appendDigits4 appends v (0..9999) as 4 digits.
func appendDigits4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

// personNames are the "First Last" names persons are given, made once.
var personNames = sync.OnceValue(func() []string {
	names := make([]string, 0, len(firstNames)*len(lastNames))
	for _, f := range firstNames {
		for _, l := range lastNames {
			names = append(names, f+" "+l)
		}
	}
	return names
})

// channel is a bid's channel and the URL it comes from.
type channel struct{ name, url string }

// channels are the hot channels and the numChannels others, with their URLs.
type channels struct {
	hot [len(hotChannels)]channel
	all []channel
}

// channelSeed seeds the channel URLs: a fixed table, the same for every
// seed, as the suite's static table is.
const channelSeed = 0x6e65786d61726b // "nexmark"

// channelTable is made once, on first use: numChannels URLs are 600 KB that
// a loom binary not running Nexmark should not pay for.
var channelTable = sync.OnceValue(func() *channels {
	t := &channels{all: make([]channel, numChannels)}
	for i, name := range hotChannels {
		r := datagen.NewRand(channelSeed, int64(i))
		t.hot[i] = channel{name: name, url: baseURL(&r)}
	}
	for i := range t.all {
		r := datagen.NewRand(channelSeed, int64(len(hotChannels)+i))
		url := baseURL(&r)
		// 9 in 10 channel URLs name the channel: "&channel_id=" and the
		// absolute value of the channel number's bits reversed, as a Java
		// int (so channel 1 is -2147483648, as in the suite).
		if r.Intn(10) > 0 {
			id := int32(bits.Reverse32(uint32(i)))
			if id < 0 {
				id = -id
			}
			url += "&channel_id=" + strconv.FormatInt(int64(id), 10)
		}
		t.all[i] = channel{name: "channel-" + strconv.Itoa(i), url: url}
	}
	return t
})

// baseURL is https://www.nexmark.com/D1/D2/D3/item.htm?query=1 with three
// random directories of 3 or 4 characters.
func baseURL(r *datagen.Rand) string {
	b := []byte("https://www.nexmark.com/")
	for range 3 {
		b = appendRandomString(b, r, 5, '_')
		b = append(b, '/')
	}
	return string(append(b, "item.htm?query=1"...))
}
