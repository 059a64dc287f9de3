package network

import (
	"errors"
	"fmt"
)

// Credit-based flow control, as in Flink's network stack. A consumer grants
// its producer one credit per free buffer it holds for the channel; the
// producer sends a buffer only against a credit and announces with it how
// many more buffers it has queued (its backlog). The consumer owns a few
// exclusive buffers per channel and lends floating buffers from a pool shared
// by its gate to the channels whose backlog asks for them. A buffer that
// arrives always has a place to go, so the connection's reader never waits
// for one slow channel, and every channel keeps its exclusive buffers, so no
// channel waits forever for another.
//
// SenderCredit and CreditGate are pure state machines: no I/O, no goroutines,
// no clocks. The remote channels drive them under their own locks and carry
// out what they decide.

// ErrNoCredit is a protocol violation: a buffer was sent on a channel with no
// credit left. A correct producer never does it, so the connection fails.
var ErrNoCredit = errors.New("network: buffer without credit")

// SenderCredit is the producer side of one subpartition: the buffers it holds
// (being filled or queued for sending, at most capacity, which bounds its
// memory) and the credit its consumer granted.
type SenderCredit struct {
	capacity int
	held     int // buffers acquired and not yet sent
	queued   int // of held, the finished ones waiting for credit
	credit   int
}

// NewSenderCredit returns the accounting of a subpartition that may hold up
// to capacity buffers (at least 1).
func NewSenderCredit(capacity int) (SenderCredit, error) {
	if capacity < 1 {
		return SenderCredit{}, fmt.Errorf("subpartition capacity %d: want at least 1 buffer", capacity)
	}
	return SenderCredit{capacity: capacity}, nil
}

// Acquire takes a buffer to fill, reporting false when the subpartition
// already holds capacity buffers: the producer must wait for a Send.
func (s *SenderCredit) Acquire() bool {
	if s.held >= s.capacity {
		return false
	}
	s.held++
	return true
}

// Enqueue marks one acquired buffer as finished and ready to send.
func (s *SenderCredit) Enqueue() error {
	if s.queued >= s.held {
		return fmt.Errorf("enqueue: all %d held buffers are already queued", s.held)
	}
	s.queued++
	return nil
}

// Grant adds n credits announced by the consumer.
func (s *SenderCredit) Grant(n int) error {
	if n <= 0 {
		return fmt.Errorf("grant of %d credits: want a positive number", n)
	}
	s.credit += n
	return nil
}

// Sendable reports whether a queued buffer may be sent now.
func (s *SenderCredit) Sendable() bool { return s.credit > 0 && s.queued > 0 }

// Send takes one queued buffer against one credit and releases its slot; it
// returns the backlog to announce with it: the buffers still queued.
func (s *SenderCredit) Send() (backlog int, err error) {
	if s.queued == 0 {
		return 0, errors.New("send: no buffer queued")
	}
	if s.credit == 0 {
		return 0, fmt.Errorf("send with %d buffers queued: %w", s.queued, ErrNoCredit)
	}
	s.credit--
	s.queued--
	s.held--
	return s.queued, nil
}

// Credit is the number of buffers the consumer is ready to take.
func (s *SenderCredit) Credit() int { return s.credit }

// Queued is the number of finished buffers waiting to be sent.
func (s *SenderCredit) Queued() int { return s.queued }

// Held is the number of buffers the subpartition holds (filling or queued).
func (s *SenderCredit) Held() int { return s.held }

// Grant is a credit announcement the consumer must send for one channel.
type Grant struct {
	Channel int
	Credit  int
}

// CreditGate is the consumer side of credit-based flow control for one input
// gate: per channel the exclusive buffers, the floating buffers borrowed from
// the gate's pool, the buffers holding data not yet consumed, and the credit
// announced to the producer. The gate holds at most
// channels*exclusive + floating buffers, whatever the producers do.
type CreditGate struct {
	exclusive int
	floating  int // size of the floating pool
	pool      int // floating buffers not lent to a channel
	chans     []channelCredit
	waiting   []int // channels that asked for floating buffers, in order
	dirty     []int // channels that may have credit to announce
	grants    []Grant
}

type channelCredit struct {
	open      bool
	floating  int // floating buffers this channel holds
	used      int // buffers holding data the consumer has not finished
	backlog   int // the producer's backlog, as of its latest buffer
	announced int // credit announced and not yet used by a buffer
	waiting   bool
	dirty     bool
}

// NewCreditGate returns the accounting of a gate that gives each channel
// exclusive buffers (at least 1, which is what keeps every channel live) and
// shares a pool of floating ones.
func NewCreditGate(exclusive, floating int) (*CreditGate, error) {
	if exclusive < 1 {
		return nil, fmt.Errorf("%d exclusive buffers per channel: want at least 1, or a channel can starve", exclusive)
	}
	if floating < 0 {
		return nil, fmt.Errorf("%d floating buffers: want 0 or more", floating)
	}
	return &CreditGate{exclusive: exclusive, floating: floating, pool: floating}, nil
}

func (c *channelCredit) available(exclusive int) int { return exclusive + c.floating - c.used }

// want is how many more floating buffers the channel needs to keep backlog +
// exclusive buffers free, as Flink does: the producer can send its whole
// backlog and still have credit for what comes next.
func (g *CreditGate) want(c *channelCredit) int {
	return c.backlog + g.exclusive - c.available(g.exclusive)
}

func (g *CreditGate) channel(ch int, what string) (*channelCredit, error) {
	if ch < 0 || ch >= len(g.chans) || !g.chans[ch].open {
		return nil, fmt.Errorf("%s: channel %d is not open", what, ch)
	}
	return &g.chans[ch], nil
}

func (g *CreditGate) markDirty(ch int) {
	if c := &g.chans[ch]; !c.dirty {
		c.dirty = true
		g.dirty = append(g.dirty, ch)
	}
}

// Open starts the accounting of channel ch; its exclusive buffers become
// credit to announce.
func (g *CreditGate) Open(ch int) error {
	if ch < 0 {
		return fmt.Errorf("open channel %d: want a channel index of 0 or more", ch)
	}
	for len(g.chans) <= ch {
		g.chans = append(g.chans, channelCredit{})
	}
	if g.chans[ch].open {
		return fmt.Errorf("open channel %d: already open", ch)
	}
	g.chans[ch] = channelCredit{open: true}
	g.markDirty(ch)
	return nil
}

// Buffer records a buffer arriving on ch with the producer's backlog. It uses
// one credit (ErrNoCredit if none was announced) and lends the channel
// floating buffers if its backlog asks for more than it has free.
func (g *CreditGate) Buffer(ch, backlog int) error {
	c, err := g.channel(ch, "buffer")
	if err != nil {
		return err
	}
	if backlog < 0 {
		return fmt.Errorf("buffer on channel %d: negative backlog %d", ch, backlog)
	}
	if c.announced == 0 {
		return fmt.Errorf("channel %d: %w", ch, ErrNoCredit)
	}
	c.announced--
	c.used++
	c.backlog = backlog
	for g.want(c) > 0 && g.pool > 0 {
		c.floating++
		g.pool--
		g.markDirty(ch)
	}
	if g.want(c) > 0 && !c.waiting {
		c.waiting = true
		g.waiting = append(g.waiting, ch)
	}
	return nil
}

// Recycle records that the consumer finished one buffer of ch. The buffer
// becomes credit for ch, or, if ch holds more floating buffers than its
// backlog needs, goes back to the pool for the channels waiting for one.
func (g *CreditGate) Recycle(ch int) error {
	c, err := g.channel(ch, "recycle")
	if err != nil {
		return err
	}
	if c.used == 0 {
		return fmt.Errorf("recycle on channel %d: no buffer in use", ch)
	}
	c.used--
	if c.floating > 0 && g.want(c) < 0 {
		c.floating--
		g.pool++
		g.lend()
		return nil
	}
	g.markDirty(ch)
	return nil
}

// Close ends the accounting of ch (its producer finished or the channel
// failed): its floating buffers go back to the pool, data it held is dropped.
func (g *CreditGate) Close(ch int) error {
	c, err := g.channel(ch, "close")
	if err != nil {
		return err
	}
	g.pool += c.floating
	*c = channelCredit{dirty: c.dirty, waiting: c.waiting} // stale list entries are skipped
	g.lend()
	return nil
}

// lend hands free floating buffers to waiting channels, first come first served.
func (g *CreditGate) lend() {
	for g.pool > 0 && len(g.waiting) > 0 {
		ch := g.waiting[0]
		c := &g.chans[ch]
		if !c.open || g.want(c) <= 0 {
			c.waiting = false
			g.waiting = g.waiting[1:]
			continue
		}
		c.floating++
		g.pool--
		g.markDirty(ch)
	}
	if len(g.waiting) == 0 {
		g.waiting = g.waiting[:0:0] // let the backing array go once drained
	}
}

// Grants returns the credit announcements due, one per channel in the order
// they became due, and counts them as announced. The slice is reused by the
// next call.
func (g *CreditGate) Grants() []Grant {
	g.grants = g.grants[:0]
	for _, ch := range g.dirty {
		c := &g.chans[ch]
		c.dirty = false
		if !c.open {
			continue
		}
		if n := c.available(g.exclusive) - c.announced; n > 0 {
			c.announced += n
			g.grants = append(g.grants, Grant{Channel: ch, Credit: n})
		}
	}
	g.dirty = g.dirty[:0]
	return g.grants
}

// Pool is the number of floating buffers not lent to any channel.
func (g *CreditGate) Pool() int { return g.pool }

// Buffers is the number of buffers the gate holds for channel ch: its
// exclusive and borrowed floating ones (0 if ch is not open).
func (g *CreditGate) Buffers(ch int) int {
	if ch < 0 || ch >= len(g.chans) || !g.chans[ch].open {
		return 0
	}
	return g.exclusive + g.chans[ch].floating
}

// InUse is the number of buffers of ch holding data not yet consumed.
func (g *CreditGate) InUse(ch int) int {
	if ch < 0 || ch >= len(g.chans) {
		return 0
	}
	return g.chans[ch].used
}

// check verifies the gate's invariants; tests call it after every event.
func (g *CreditGate) check() error {
	lent := 0
	for ch := range g.chans {
		c := &g.chans[ch]
		if !c.open {
			if c.floating != 0 || c.used != 0 || c.announced != 0 {
				return fmt.Errorf("closed channel %d still holds %+v", ch, *c)
			}
			continue
		}
		lent += c.floating
		avail := c.available(g.exclusive)
		if c.used < 0 || c.announced < 0 || c.floating < 0 {
			return fmt.Errorf("channel %d: negative count %+v", ch, *c)
		}
		if avail < c.announced {
			return fmt.Errorf("channel %d: announced %d credits but has %d free buffers", ch, c.announced, avail)
		}
	}
	if g.pool < 0 || lent+g.pool != g.floating {
		return fmt.Errorf("floating buffers: %d lent + %d in the pool != %d", lent, g.pool, g.floating)
	}
	return nil
}
