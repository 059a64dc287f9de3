package deploy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/loom-yarn/loom/network"
)

// SecretMetadata is the gRPC metadata key under which workers send the
// application secret with every control call (the same key the shuffle's
// data plane checks).
const SecretMetadata = network.SecretMetadata

// NewSecret returns a fresh per-application secret for EnvSecret.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}

// NewControlServer returns a gRPC server whose every call must carry secret
// in its SecretMetadata entry; calls without it, or with another value, are
// refused as Unauthenticated before they reach a service. Register the
// Control service (controlpb.RegisterControlServer) on it.
func NewControlServer(secret string) *grpc.Server {
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		got := md.Get(SecretMetadata)
		if len(got) == 0 || (len(got) == 1 && got[0] == "") {
			return status.Error(codes.Unauthenticated, "no application secret: only containers launched by this job's ApplicationMaster (with "+EnvSecret+" set) may call it")
		}
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(secret)) != 1 {
			return status.Error(codes.Unauthenticated, "wrong application secret: "+EnvSecret+" is not this job's")
		}
		return nil
	}
	return grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
}

// WithSecret returns ctx carrying secret for control calls.
func WithSecret(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, SecretMetadata, secret)
}
