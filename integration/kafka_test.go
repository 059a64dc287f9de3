//go:build integration

package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaBrokers(t *testing.T) []string {
	t.Helper()
	return strings.Split(clusterEnv(t, "LOOM_KAFKA_BROKERS"), ",")
}

// kafkaTopic creates a fresh topic and deletes it at the end.
func kafkaTopic(t *testing.T, ctx context.Context, brokers []string, partitions int32) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("loom-it-%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano())
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s on %v: %v / %v", topic, brokers, err, resp.Err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopics(dctx, topic); err != nil {
			t.Errorf("delete topic: %v", err)
		}
		cl.Close()
	})
	return topic
}

// consumeUntil reads topic from the start until stop returns true for the
// records read so far, or the context ends.
func consumeUntil(t *testing.T, ctx context.Context, brokers []string, topic string, iso kgo.IsolationLevel, stop func([]string) bool) []string {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	for !stop(got) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v; read so far: %v", topic, ctx.Err(), got)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs)
		}
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func TestKafkaProduceConsume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	brokers := kafkaBrokers(t)
	topic := kafkaTopic(t, ctx, brokers, 2)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var want []string
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("record-%02d", i)
		want = append(want, v)
		r := &kgo.Record{Key: []byte(fmt.Sprint(i % 3)), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	got := consumeUntil(t, ctx, brokers, topic, kgo.ReadUncommitted(), func(got []string) bool { return len(got) >= len(want) })
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

func TestKafkaTransactionsReadCommitted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	brokers := kafkaBrokers(t)
	topic := kafkaTopic(t, ctx, brokers, 1)

	txn, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(fmt.Sprintf("loom-it-txn-%d", time.Now().UnixNano())),
		kgo.TransactionTimeout(30*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()

	produceTxn := func(prefix string, n int, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		for i := 0; i < n; i++ {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
			if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", prefix, err)
			}
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction (%s): %v", prefix, err)
		}
	}
	produceTxn("committed", 5, kgo.TryCommit)
	produceTxn("aborted", 5, kgo.TryAbort)
	produceTxn("end", 1, kgo.TryCommit) // a marker after the aborted records

	hasEnd := func(got []string) bool {
		return len(got) > 0 && got[len(got)-1] == "end-0"
	}
	committed := consumeUntil(t, ctx, brokers, topic, kgo.ReadCommitted(), hasEnd)
	want := "committed-0,committed-1,committed-2,committed-3,committed-4,end-0"
	if strings.Join(committed, ",") != want {
		t.Fatalf("read_committed got %v, want %s", committed, want)
	}
	// read_uncommitted sees the aborted records too: the broker really wrote them.
	all := consumeUntil(t, ctx, brokers, topic, kgo.ReadUncommitted(), hasEnd)
	aborted := 0
	for _, v := range all {
		if strings.HasPrefix(v, "aborted-") {
			aborted++
		}
	}
	if aborted != 5 || len(all) != 11 {
		t.Fatalf("read_uncommitted got %v, want the 5 aborted records among 11", all)
	}
}
