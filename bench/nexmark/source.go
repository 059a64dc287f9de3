package nexmark

import (
	"fmt"
	"time"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/stream"
)

// WatermarkDelay is how far the watermark trails the highest event time
// seen, as the suite's `WATERMARK FOR dateTime AS dateTime - INTERVAL '4'
// SECOND`.
const WatermarkDelay = 4 * time.Second

// NewSource returns the events of cfg as a loom source. It is a datagen
// source over the Generator: subtask s of p generates the event numbers s,
// s+p, s+2p, ... in batches, so the events are the same at every
// parallelism; its checkpointed state is each lane's position, and a
// restore at another parallelism splits or merges the lanes. Bounded when
// cfg.Events > 0, and paced to cfg.Rate when that is set.
func NewSource(cfg Config) *datagen.Source[Event] {
	g := NewGenerator(cfg)
	return datagen.New(g.event, datagen.Options{Count: cfg.Events, Rate: cfg.Rate, Seed: cfg.Seed})
}

// Watermarks gives events their event time and a watermark WatermarkDelay
// behind the highest one a subtask has emitted. Each subtask emits its
// events in event-number order, so none is late.
func Watermarks() *stream.WatermarkStrategy[Event] {
	return stream.BoundedOutOfOrderness(WatermarkDelay, eventTime)
}

// Events adds the Nexmark source of cfg to env.
func Events(env *stream.Env, cfg Config) (*stream.Stream[Event], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return stream.FromSource(env, "nexmark", NewSource(cfg), Watermarks()).UID("nexmark-source").WithCodec(EventCodec), nil
}

// EventCodec encodes an event as its kind and the record it holds, for
// events that cross processes (the derived codecs cannot follow Event's
// pointers).
var EventCodec codec.Codec[Event] = eventCodec{}

var (
	personCodec  = codec.MustFor[Person]()
	auctionCodec = codec.MustFor[Auction]()
	bidCodec     = codec.MustFor[Bid]()
)

type eventCodec struct{}

func (eventCodec) Append(dst []byte, e Event) []byte {
	dst = append(dst, byte(e.Kind))
	switch e.Kind {
	case KindPerson:
		return personCodec.Append(dst, *e.Person)
	case KindAuction:
		return auctionCodec.Append(dst, *e.Auction)
	}
	return bidCodec.Append(dst, e.Bid)
}

func (eventCodec) Decode(src []byte) (Event, int, error) {
	if len(src) == 0 {
		return Event{}, 0, codec.ErrShort
	}
	e := Event{Kind: Kind(src[0])}
	var n int
	var err error
	switch e.Kind {
	case KindPerson:
		var p Person
		p, n, err = personCodec.Decode(src[1:])
		e.Person = &p
	case KindAuction:
		var a Auction
		a, n, err = auctionCodec.Decode(src[1:])
		e.Auction = &a
	case KindBid:
		e.Bid, n, err = bidCodec.Decode(src[1:])
	default:
		return Event{}, 0, fmt.Errorf("nexmark event: kind %d is not a person (0), auction (1) or bid (2)", src[0])
	}
	if err != nil {
		return Event{}, 0, fmt.Errorf("nexmark %s: %w", e.Kind, err)
	}
	return e, 1 + n, nil
}

// The streams of each record kind, as the suite's person, auction and bid
// views of its one datagen table.

func bidOf(e Event, out *stream.Collector[Bid]) error {
	if e.Kind == KindBid {
		out.Collect(e.Bid)
	}
	return nil
}

func auctionOf(e Event, out *stream.Collector[Auction]) error {
	if e.Kind == KindAuction {
		out.Collect(*e.Auction)
	}
	return nil
}

func personOf(e Event, out *stream.Collector[Person]) error {
	if e.Kind == KindPerson {
		out.Collect(*e.Person)
	}
	return nil
}

// bids is the bid view of events.
func bids(events *stream.Stream[Event]) *stream.Stream[Bid] {
	return stream.FlatMap(events, "bids", bidOf)
}

// auctions is the auction view of events.
func auctions(events *stream.Stream[Event]) *stream.Stream[Auction] {
	return stream.FlatMap(events, "auctions", auctionOf)
}

// persons is the person view of events.
func persons(events *stream.Stream[Event]) *stream.Stream[Person] {
	return stream.FlatMap(events, "persons", personOf)
}
