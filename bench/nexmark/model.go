package nexmark

// Kind says which of the three Nexmark records an Event holds. Its values
// are the event_type of the Nexmark suite's datagen table.
type Kind uint8

const (
	// KindPerson is a new person (event_type 0).
	KindPerson Kind = 0
	// KindAuction is a new auction (event_type 1).
	KindAuction Kind = 1
	// KindBid is a bid on an auction (event_type 2).
	KindBid Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "kind?"
}

// Person is a new user of the auction site. Times are milliseconds since the
// epoch (UTC), as every time of the model.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64
	Extra        string
}

// Auction is an item put up for sale by Seller; bids count between DateTime
// and Expires. Prices are in cents.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid of Bidder on Auction, of Price cents, placed through Channel
// from URL.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

// Event is one generated Nexmark event: Kind says which record it holds.
// Bids, 46 of every 50 events, are held inline so that generating one
// allocates nothing but its Extra string; persons and auctions are pointers
// (the other two are nil), as in the Nexmark suite's Event class. Copies of
// an event share those: treat them as read-only.
type Event struct {
	Kind    Kind
	Bid     Bid
	Person  *Person
	Auction *Auction
}

// Time is the event's event time in milliseconds since the epoch.
func (e Event) Time() int64 {
	switch e.Kind {
	case KindPerson:
		return e.Person.DateTime
	case KindAuction:
		return e.Auction.DateTime
	}
	return e.Bid.DateTime
}

// eventTime is Time as a function, for the watermark strategy.
func eventTime(e Event) int64 { return e.Time() }
