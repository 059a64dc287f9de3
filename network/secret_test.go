package network_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/network"
)

// TestShuffleRequiresSecret runs a partition server with an application
// secret: consumers without it or with another one are refused as
// Unauthenticated, with an error that says which and never shows a secret;
// the consumer with the right one reads the subpartition to its end.
func TestShuffleRequiresSecret(t *testing.T) {
	const secret = "the-application-secret"
	srv, addr, _ := startServer(t, network.ServerConfig{Secret: secret})
	id := network.ChannelID{Attempt: 1, Edge: 3, Producer: 0, Consumer: 0}
	s, err := srv.Sender(id, int64Batches)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want := script(0, 20)
	sendErr := make(chan error, 1)
	go func() {
		for _, e := range want {
			if err := s.Send(ctx, e, nil); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	for _, tc := range []struct {
		name, secret, says string
	}{
		{"no secret", "", "sent no application secret"},
		{"wrong secret", "another-jobs-secret", "sent the wrong application secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := network.NewPartitionClient(network.ClientConfig{Secret: tc.secret})
			defer client.Close()
			g := network.NewGate(1, 1)
			if err := client.Connect(g, 0, addr, id, int64Batches); err != nil {
				t.Fatal(err)
			}
			err := waitErr(t, g, 5*time.Second)
			t.Logf("consumer: %v", err)
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("code %v, want Unauthenticated", status.Code(err))
			}
			for _, want := range []string{tc.says, "refused", "partition server " + addr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secret) || (tc.secret != "" && strings.Contains(err.Error(), tc.secret)) {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}

	client := network.NewPartitionClient(network.ClientConfig{Secret: secret})
	defer client.Close()
	g := network.NewGate(1, 1)
	if err := client.Connect(g, 0, addr, id, int64Batches); err != nil {
		t.Fatal(err)
	}
	var got []network.Element
	for len(got) < len(want) {
		if err := g.Err(); err != nil {
			t.Fatalf("consumer with the secret: %v", err)
		}
		if _, e, ok := g.Poll(nil); ok {
			got = append(got, e)
			continue
		}
		select {
		case <-g.Ready():
		case <-ctx.Done():
			t.Fatalf("consumer with the secret got %d of %d elements", len(got), len(want))
		}
	}
	for i := range want {
		if !sameElement(got[i], want[i]) {
			t.Fatalf("element %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("producer: %v", err)
	}
}
