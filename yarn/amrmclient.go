package yarn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"github.com/loom-yarn/loom/yarn/security"
	"google.golang.org/protobuf/proto"
)

// AMRMClient is the thin I/O driver of an ApplicationMaster's
// ApplicationMasterProtocol connection: it registers, runs one allocate
// heartbeat at a time through an Allocator, and unregisters. The
// connection always authenticates with the AMRMToken (DIGEST-MD5), even on
// a non-secure cluster; a rolled-over token is used from the next
// connection on. NMTokens from the RM land in NMTokens.
type AMRMClient struct {
	c *ipc.Client
	// NMTokens receives every NMToken the RM hands out.
	NMTokens *NMTokens

	mu       sync.Mutex
	token    *security.Token
	register *yarnpb.RegisterApplicationMasterRequestProto
}

// NewAMRMClient returns a client for the scheduler at cfg.SchedulerAddress
// using the AM's AMRMToken (see AMRMTokenFromEnv).
func NewAMRMClient(cfg *Config, amrmToken *security.Token) *AMRMClient {
	a := &AMRMClient{NMTokens: &NMTokens{}, token: amrmToken}
	a.c = ipc.NewClient(cfg.SchedulerAddress, ipc.Options{
		Protocol: ProtocolApplicationMaster,
		SASL:     func() (ipc.Mechanism, error) { return ipc.TokenMechanism(a.Token()), nil },
	})
	return a
}

// AMRMTokenFromEnv finds the AMRMToken in the credentials file the
// NodeManager wrote for the AM container.
func AMRMTokenFromEnv() (*security.Token, error) {
	path := getenv(security.EnvTokenFile)
	if path == "" {
		return nil, fmt.Errorf("find AMRMToken: %s is not set (not running in a YARN container?)", security.EnvTokenFile)
	}
	creds, err := security.ReadCredentialsFile(path)
	if err != nil {
		return nil, fmt.Errorf("find AMRMToken: %w", err)
	}
	t, ok := creds.TokenByKind(security.KindAMRMToken)
	if !ok {
		return nil, fmt.Errorf("find AMRMToken: %s holds no token of kind %s", path, security.KindAMRMToken)
	}
	return t, nil
}

// Token is the AMRMToken the next connection will use.
func (a *AMRMClient) Token() *security.Token {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

// Close closes the connection to the scheduler.
func (a *AMRMClient) Close() error { return a.c.Close() }

// Register registers the AM (its host, RPC port and tracking URL, all
// optional) and caches the NMTokens of containers kept from earlier
// attempts. The request is remembered for re-registration on resync.
func (a *AMRMClient) Register(ctx context.Context, host string, rpcPort int32, trackingURL string) (*yarnpb.RegisterApplicationMasterResponseProto, error) {
	req := &yarnpb.RegisterApplicationMasterRequestProto{Host: proto.String(host), RpcPort: proto.Int32(rpcPort), TrackingUrl: proto.String(trackingURL)}
	a.mu.Lock()
	a.register = req
	a.mu.Unlock()
	return a.doRegister(ctx, req)
}

func (a *AMRMClient) doRegister(ctx context.Context, req *yarnpb.RegisterApplicationMasterRequestProto) (*yarnpb.RegisterApplicationMasterResponseProto, error) {
	resp := &yarnpb.RegisterApplicationMasterResponseProto{}
	if err := a.c.Call(ctx, "registerApplicationMaster", req, resp); err != nil {
		return nil, err
	}
	for _, t := range resp.GetNmTokensFromPreviousAttempts() {
		a.NMTokens.Set(NodeAddr(t.GetNodeId()), security.TokenFromProto(t.GetToken()))
	}
	return resp, nil
}

// Allocate runs one heartbeat: it sends alloc's next request and feeds the
// outcome back. NMTokens go to a.NMTokens and a new AMRMToken replaces the
// current one. On a resync (command or "not registered" error) it
// registers again with the remembered request and tells alloc, so the next
// heartbeat resends everything; the returned Update then carries
// CommandResync. A CommandShutdown is returned for the AM to act on.
func (a *AMRMClient) Allocate(ctx context.Context, alloc *Allocator) (*Update, error) {
	req, err := alloc.Request()
	if err != nil {
		return nil, err
	}
	resp := &yarnpb.AllocateResponseProto{}
	if err := a.c.Call(ctx, "allocate", req, resp); err != nil {
		alloc.OnError(err)
		if !ipc.IsNotRegistered(err) {
			return nil, err
		}
		if err := a.resync(ctx, alloc); err != nil {
			return nil, err
		}
		return &Update{Command: CommandResync}, nil
	}
	u, err := alloc.OnResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("allocate at %s: %w", a.c.Addr(), err)
	}
	for node, t := range u.NMTokens {
		a.NMTokens.Set(node, t)
	}
	if u.AMRMToken != nil {
		a.mu.Lock()
		a.token = u.AMRMToken
		a.mu.Unlock()
	}
	if u.Command == CommandResync {
		if err := a.resync(ctx, alloc); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (a *AMRMClient) resync(ctx context.Context, alloc *Allocator) error {
	a.mu.Lock()
	req := a.register
	a.mu.Unlock()
	if req == nil {
		return errors.New("allocate: the RM asked for a resync before the AM registered")
	}
	if _, err := a.doRegister(ctx, req); err != nil {
		return fmt.Errorf("register again after resync: %w", err)
	}
	alloc.Resynced()
	return nil
}

// Finish unregisters the AM with its final status; YARN then stops
// restarting it. It repeats the call until the RM confirms, as the RM may
// answer "not yet" while it records the state; ctx bounds the wait.
func (a *AMRMClient) Finish(ctx context.Context, status yarnpb.FinalApplicationStatusProto, diagnostics, trackingURL string) error {
	req := &yarnpb.FinishApplicationMasterRequestProto{
		FinalApplicationStatus: status.Enum(),
		Diagnostics:            proto.String(diagnostics),
		TrackingUrl:            proto.String(trackingURL),
	}
	for {
		resp := &yarnpb.FinishApplicationMasterResponseProto{}
		if err := a.c.Call(ctx, "finishApplicationMaster", req, resp); err != nil {
			return err
		}
		if resp.GetIsUnregistered() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("finishApplicationMaster at %s: not confirmed: %w", a.c.Addr(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
