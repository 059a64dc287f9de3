package network

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/internal/scenario"
)

// TestCreditScenarios runs the scripts in testdata/*.txt against a CreditGate
// and a SenderCredit. Each script is a story of commands, each followed by
// "----" and what it must produce, one line each ("(none)" for nothing):
//
//	gate exclusive=<n> floating=<n>     a new CreditGate
//	open <ch> | close <ch>
//	buffer <ch> backlog=<n>             a buffer arrives
//	recycle <ch> [times]                the consumer finished buffers of ch
//	show                                every open channel, the pool, the waiting list
//	sender capacity=<n>                 a new SenderCredit
//	acquire | enqueue | grant <n> | send | sender-show
//
// Gate commands print the credit announcements they cause ("grant <ch> +<n>")
// and every gate command is followed by an invariant check. Run with -rewrite
// to regenerate the expectations, then review the diff.
func TestCreditScenarios(t *testing.T) {
	scenario.Run(t, "testdata/*.txt", func(*testing.T) func(string) []string {
		d := &creditScenario{}
		return func(cmd string) []string {
			if got := d.run(cmd); len(got) > 0 {
				return got
			}
			return []string{"(none)"}
		}
	})
}

type creditScenario struct {
	g *CreditGate
	s SenderCredit
}

// kv reads "name=value" arguments as integers.
func kv(args []string) (map[string]int, error) {
	m := map[string]int{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("argument %q: want name=value", a)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("argument %q: %v", a, err)
		}
		m[k] = n
	}
	return m, nil
}

func (d *creditScenario) run(cmd string) []string {
	f := strings.Fields(cmd)
	out, err := d.exec(f[0], f[1:])
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	if d.g != nil && f[0] != "show" && !strings.HasPrefix(f[0], "sender") && f[0] != "acquire" && f[0] != "enqueue" && f[0] != "grant" && f[0] != "send" {
		for _, gr := range d.g.Grants() {
			out = append(out, fmt.Sprintf("grant %d +%d", gr.Channel, gr.Credit))
		}
		if err := d.g.check(); err != nil {
			out = append(out, "INVARIANT VIOLATED: "+err.Error())
		}
	}
	return out
}

func (d *creditScenario) exec(name string, args []string) ([]string, error) {
	ch := func() (int, error) {
		if len(args) == 0 {
			return 0, errors.New("missing channel")
		}
		return strconv.Atoi(args[0])
	}
	switch name {
	case "gate":
		m, err := kv(args)
		if err != nil {
			return nil, err
		}
		g, err := NewCreditGate(m["exclusive"], m["floating"])
		if err != nil {
			return nil, err
		}
		d.g = g
		return []string{"ok"}, nil
	case "open", "close", "buffer", "recycle":
		c, err := ch()
		if err != nil {
			return nil, err
		}
		switch name {
		case "open":
			return nil, d.g.Open(c)
		case "close":
			return nil, d.g.Close(c)
		case "buffer":
			m, err := kv(args[1:])
			if err != nil {
				return nil, err
			}
			return nil, d.g.Buffer(c, m["backlog"])
		default:
			times := 1
			if len(args) > 1 {
				if times, err = strconv.Atoi(args[1]); err != nil {
					return nil, err
				}
			}
			for range times {
				if err := d.g.Recycle(c); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
	case "show":
		var out []string
		for c := range d.g.chans {
			cc := d.g.chans[c]
			if cc.open {
				out = append(out, fmt.Sprintf("ch %d: buffers=%d floating=%d used=%d backlog=%d announced=%d",
					c, d.g.Buffers(c), cc.floating, cc.used, cc.backlog, cc.announced))
			}
		}
		var waiting []string
		for _, c := range d.g.waiting {
			if cc := d.g.chans[c]; cc.open && d.g.want(&cc) > 0 {
				waiting = append(waiting, strconv.Itoa(c))
			}
		}
		return append(out, fmt.Sprintf("pool=%d waiting=[%s]", d.g.Pool(), strings.Join(waiting, " "))), nil
	case "sender":
		m, err := kv(args)
		if err != nil {
			return nil, err
		}
		s, err := NewSenderCredit(m["capacity"])
		if err != nil {
			return nil, err
		}
		d.s = s
		return []string{"ok"}, nil
	case "acquire":
		if d.s.Acquire() {
			return []string{"ok"}, nil
		}
		return []string{"full: wait for a send"}, nil
	case "enqueue":
		return nil, d.s.Enqueue()
	case "grant":
		n, err := ch()
		if err != nil {
			return nil, err
		}
		return nil, d.s.Grant(n)
	case "send":
		b, err := d.s.Send()
		if err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("sent backlog=%d", b)}, nil
	case "sender-show":
		return []string{fmt.Sprintf("held=%d queued=%d credit=%d sendable=%v", d.s.Held(), d.s.Queued(), d.s.Credit(), d.s.Sendable())}, nil
	}
	return nil, fmt.Errorf("unknown command %q", name)
}

func TestCreditConfigErrors(t *testing.T) {
	tests := []struct {
		exclusive, floating int
		want                string
	}{
		{0, 4, "at least 1"},
		{2, -1, "0 or more"},
	}
	for _, tt := range tests {
		if _, err := NewCreditGate(tt.exclusive, tt.floating); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewCreditGate(%d, %d) = %v, want an error containing %q", tt.exclusive, tt.floating, err, tt.want)
		}
	}
	if _, err := NewSenderCredit(0); err == nil {
		t.Error("NewSenderCredit(0) succeeded")
	}
}

// TestCreditLivenessWithSlowChannel simulates one connection carrying many
// channels through the two state machines, with messages in flight both ways.
// One consumer is fifty times slower than the others. Every fast channel
// must finish long before the slow one, the slow one must finish too (no
// deadlock), and memory stays bounded at every step: the gate never holds
// more than channels*exclusive+floating buffers, a subpartition never more
// than its capacity.
func TestCreditLivenessWithSlowChannel(t *testing.T) {
	for _, cfg := range []struct{ channels, exclusive, floating, capacity int }{
		{8, 2, 8, 4},
		{16, 1, 0, 2},
		{5, 1, 3, 8},
		{32, 2, 16, 3},
	} {
		for seed := uint64(1); seed <= 5; seed++ {
			t.Run(fmt.Sprintf("%+v/seed%d", cfg, seed), func(t *testing.T) {
				_, even := simulate(t, rand.New(rand.NewPCG(seed, 99)), cfg.channels, cfg.exclusive, cfg.floating, cfg.capacity, 1)
				fastDone, _ := simulate(t, rand.New(rand.NewPCG(seed, 99)), cfg.channels, cfg.exclusive, cfg.floating, cfg.capacity, 50)
				// The fast channels must not be held back by the slow one: they
				// finish about when all channels finish in a run with no slow one.
				if fastDone < 0 || fastDone > even*5/4 {
					t.Errorf("fast channels finished at step %d with a slow channel, all channels at step %d without: the slow channel held them back", fastDone, even)
				}
			})
		}
	}
}

// simulate runs the simulation with channel 0 consuming one of every slowness
// chances, and returns the step at which all other channels had finished (-1
// if the slow one finished first) and the step at which all had.
func simulate(t *testing.T, rng *rand.Rand, channels, exclusive, floating, capacity, slowness int) (fastDone, allDone int) {
	const perChannel = 200 // buffers each producer sends
	const slow = 0
	g, err := NewCreditGate(exclusive, floating)
	if err != nil {
		t.Fatal(err)
	}
	type msg struct{ ch, n int } // n: backlog of a buffer, or credit of a grant
	var toConsumer, toProducer []msg
	senders := make([]SenderCredit, channels)
	produced := make([]int, channels)
	consumed := make([]int, channels)
	filling := make([]bool, channels)
	for c := range senders {
		if senders[c], err = NewSenderCredit(capacity); err != nil {
			t.Fatal(err)
		}
		if err := g.Open(c); err != nil {
			t.Fatal(err)
		}
	}
	grants := func() {
		for _, gr := range g.Grants() {
			if gr.Credit <= 0 {
				t.Fatalf("grant of %d credits", gr.Credit)
			}
			toProducer = append(toProducer, msg{gr.Channel, gr.Credit})
		}
	}
	grants()
	fastDoneAt, step := -1, 0
	next := 0 // the connection writer's round-robin position
	for step = 0; step < 5_000_000; step++ {
		done := 0
		for c := range consumed {
			if consumed[c] == perChannel {
				done++
			}
		}
		if fastDoneAt < 0 && done >= channels-1 && (consumed[slow] < perChannel || done == channels) {
			fastDoneAt = step
		}
		if done == channels {
			break
		}
		switch rng.IntN(6) {
		case 0: // a producer fills and finishes a buffer, if it has room
			c := rng.IntN(channels)
			if produced[c] == perChannel {
				continue
			}
			if !filling[c] {
				if !senders[c].Acquire() {
					continue // backpressure: the producer waits
				}
				filling[c] = true
			}
			if err := senders[c].Enqueue(); err != nil {
				t.Fatal(err)
			}
			filling[c] = false
			produced[c]++
		case 1: // the connection writer sends one buffer of the next sendable subpartition
			for k := range channels {
				c := (next + k) % channels
				if senders[c].Sendable() {
					backlog, err := senders[c].Send()
					if err != nil {
						t.Fatal(err)
					}
					toConsumer = append(toConsumer, msg{c, backlog})
					next = c + 1
					break
				}
			}
		case 2: // the consumer's reader takes the next message off the wire
			if len(toConsumer) > 0 {
				m := toConsumer[0]
				toConsumer = toConsumer[1:]
				if err := g.Buffer(m.ch, m.n); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				grants()
			}
		case 3: // the producer's reader takes a credit announcement
			if len(toProducer) > 0 {
				m := toProducer[0]
				toProducer = toProducer[1:]
				if err := senders[m.ch].Grant(m.n); err != nil {
					t.Fatal(err)
				}
			}
		case 4: // a fast consumer with data finishes a buffer
			c := rng.IntN(channels)
			for k := 0; k < channels && (c == slow || g.InUse(c) == 0); k++ {
				c = (c + 1) % channels
			}
			if c == slow || g.InUse(c) == 0 {
				continue
			}
			if err := g.Recycle(c); err != nil {
				t.Fatal(err)
			}
			consumed[c]++
			grants()
		case 5: // the slow consumer, a task of its own, takes one of every slowness chances
			if g.InUse(slow) == 0 || rng.IntN(slowness) != 0 {
				continue
			}
			if err := g.Recycle(slow); err != nil {
				t.Fatal(err)
			}
			consumed[slow]++
			grants()
		}
		if err := g.check(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		total := g.Pool()
		for c := range senders {
			total += g.Buffers(c)
			if senders[c].Held() > capacity || senders[c].Credit() < 0 {
				t.Fatalf("step %d: subpartition %d holds %d buffers (capacity %d), credit %d", step, c, senders[c].Held(), capacity, senders[c].Credit())
			}
			if g.InUse(c) > g.Buffers(c) {
				t.Fatalf("step %d: channel %d has %d buffers in use but owns %d", step, c, g.InUse(c), g.Buffers(c))
			}
		}
		if total != channels*exclusive+floating {
			t.Fatalf("step %d: gate accounts for %d buffers, want %d", step, total, channels*exclusive+floating)
		}
	}
	for c := range consumed {
		if consumed[c] != perChannel {
			t.Fatalf("after %d steps channel %d consumed %d of %d buffers: stalled (credit %d, queued %d, in use %d, in flight %d/%d)",
				step, c, consumed[c], perChannel, senders[c].Credit(), senders[c].Queued(), g.InUse(c), len(toConsumer), len(toProducer))
		}
	}
	return fastDoneAt, step
}
