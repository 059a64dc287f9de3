package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/loom-yarn/loom/connector/datagen"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/stream"
)

type order struct{ ID, Amount int64 }
type payment struct{ OrderID, Paid int64 }

// matcher emits an order id once both its order and its payment arrived, in
// either order, keeping whichever came first in keyed state.
type matcher struct {
	order, paid state.ValueState[int64]
}

func (m *matcher) Open(ctx *stream.KeyedContext[int64]) error {
	var err error
	if m.order, err = stream.ValueState[int64, int64](ctx, "order"); err != nil {
		return err
	}
	m.paid, err = stream.ValueState[int64, int64](ctx, "paid")
	return err
}

func (m *matcher) ProcessElement1(o order, ctx *stream.KeyedContext[int64], out *stream.Collector[string]) error {
	if p, ok, err := m.paid.Value(); err != nil || ok {
		out.Collect(fmt.Sprintf("%d\t%d\t%d", o.ID, o.Amount, p))
		return err
	}
	return m.order.Update(o.Amount)
}

func (m *matcher) ProcessElement2(p payment, ctx *stream.KeyedContext[int64], out *stream.Collector[string]) error {
	if a, ok, err := m.order.Value(); err != nil || ok {
		out.Collect(fmt.Sprintf("%d\t%d\t%d", p.OrderID, a, p.Paid))
		return err
	}
	return m.paid.Update(p.Paid)
}

func (m *matcher) OnTimer(int64, *stream.KeyedContext[int64], *stream.Collector[string]) error {
	return nil
}

func TestConnectKeyedStreams(t *testing.T) {
	const n = 3000
	out := filepath.Join(t.TempDir(), "out")
	env := stream.NewEnv("connect")
	env.SetParallelism(3)
	orders := stream.FromSource(env, "orders", datagen.New(func(i int64, _ *datagen.Rand) order { return order{ID: i, Amount: i * 10} }, datagen.Options{Count: n}), nil)
	// Payments arrive in another order: index i pays order n-1-i.
	payments := stream.FromSource(env, "payments", datagen.New(func(i int64, _ *datagen.Rand) payment { return payment{OrderID: n - 1 - i, Paid: (n - 1 - i) * 10} }, datagen.Options{Count: n}), nil).Parallelism(2)
	matched := stream.Connect(stream.KeyBy(orders, func(o order) int64 { return o.ID }), stream.KeyBy(payments, func(p payment) int64 { return p.OrderID }),
		"match", func() stream.KeyedCoProcessFunction[int64, order, payment, string] { return &matcher{} })
	matched.SinkTo("write", file.Sink(out, file.Lines))
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	x, err := engine.Start(ctx, g, engine.Options{BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Wait(); err != nil {
		t.Fatal(err)
	}
	got := readParts(t, out)
	if len(got) != n {
		t.Fatalf("%d matches, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, l := range got {
		var id, amount, paid int64
		if _, err := fmt.Sscanf(l, "%d\t%d\t%d", &id, &amount, &paid); err != nil || amount != id*10 || paid != id*10 || seen[l] {
			t.Fatalf("bad or duplicate match %q", l)
		}
		seen[l] = true
	}
}

func TestCoMap(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	env := stream.NewEnv("comap")
	a := stream.FromSource(env, "ints", datagen.New(func(i int64, _ *datagen.Rand) int64 { return i }, datagen.Options{Count: 5}), nil)
	b := stream.FromSource(env, "strings", datagen.New(func(i int64, _ *datagen.Rand) string { return fmt.Sprint("s", i) }, datagen.Options{Count: 3}), nil)
	stream.CoMap(a, b, "both", func(i int64) string { return fmt.Sprint("i", i) }, func(s string) string { return s }).
		SinkTo("write", file.Sink(out, file.Lines))
	g, err := env.Graph()
	if err != nil {
		t.Fatal(err)
	}
	x, err := engine.Start(context.Background(), g, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(readParts(t, out)); got != "[i0 i1 i2 i3 i4 s0 s1 s2]" {
		t.Fatalf("got %s", got)
	}
}
