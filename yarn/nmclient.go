package yarn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"github.com/loom-yarn/loom/yarn/security"
)

// getenv is os.Getenv; a variable so tests can fake a container's
// environment without touching the process's.
var getenv = os.Getenv

// NMClient starts, watches and stops containers on NodeManagers through
// ContainerManagementProtocol. It keeps one connection per node, each
// authenticated with that node's NMToken from the shared cache. Safe for
// concurrent use; Close releases every connection.
type NMClient struct {
	tokens *NMTokens

	mu      sync.Mutex
	clients map[string]*ipc.Client
	closed  bool
}

// NewNMClient returns a client that takes NMTokens from tokens (usually
// AMRMClient.NMTokens).
func NewNMClient(tokens *NMTokens) *NMClient {
	return &NMClient{tokens: tokens, clients: map[string]*ipc.Client{}}
}

// client returns the connection to a node, creating it on first use.
func (n *NMClient) client(node string) (*ipc.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ipc.ErrClosed
	}
	if c, ok := n.clients[node]; ok {
		return c, nil
	}
	if _, ok := n.tokens.Get(node); !ok {
		return nil, fmt.Errorf("no NMToken for node %s (the RM sends it with the first container on that node)", node)
	}
	// The token is looked up per connection, so a reconnect uses the
	// latest token the RM sent for the node.
	opts := ipc.Options{Protocol: ProtocolContainerManagement, SASL: func() (ipc.Mechanism, error) {
		t, ok := n.tokens.Get(node)
		if !ok {
			return nil, fmt.Errorf("no NMToken for node %s", node)
		}
		if err := nmTokenKindCheck(t); err != nil {
			return nil, err
		}
		return ipc.TokenMechanism(t), nil
	}}
	c := ipc.NewClient(node, opts)
	n.clients[node] = c
	return c, nil
}

// StartContainer launches an allocated container with the given launch
// context on its node.
func (n *NMClient) StartContainer(ctx context.Context, container *yarnpb.ContainerProto, launch *yarnpb.ContainerLaunchContextProto) error {
	node := NodeAddr(container.GetNodeId())
	cid := FormatContainerID(container.GetId())
	c, err := n.client(node)
	if err != nil {
		return fmt.Errorf("start %s: %w", cid, err)
	}
	req := &yarnpb.StartContainersRequestProto{StartContainerRequest: []*yarnpb.StartContainerRequestProto{
		{ContainerLaunchContext: launch, ContainerToken: container.GetContainerToken()},
	}}
	resp := &yarnpb.StartContainersResponseProto{}
	if err := c.Call(ctx, "startContainers", req, resp); err != nil {
		return fmt.Errorf("start %s: %w", cid, err)
	}
	if err := failures("start", resp.GetFailedRequests()); err != nil {
		return err
	}
	if len(resp.GetSucceededRequests()) != 1 {
		return fmt.Errorf("start %s on %s: the NodeManager reported neither success nor failure", cid, node)
	}
	return nil
}

// GetContainerStatuses reports the state of containers on one node.
func (n *NMClient) GetContainerStatuses(ctx context.Context, node string, ids ...*yarnpb.ContainerIdProto) ([]*yarnpb.ContainerStatusProto, error) {
	c, err := n.client(node)
	if err != nil {
		return nil, fmt.Errorf("container statuses: %w", err)
	}
	resp := &yarnpb.GetContainerStatusesResponseProto{}
	if err := c.Call(ctx, "getContainerStatuses", &yarnpb.GetContainerStatusesRequestProto{ContainerId: ids}, resp); err != nil {
		return nil, err
	}
	return resp.GetStatus(), failures("status of", resp.GetFailedRequests())
}

// StopContainers stops containers on one node.
func (n *NMClient) StopContainers(ctx context.Context, node string, ids ...*yarnpb.ContainerIdProto) error {
	c, err := n.client(node)
	if err != nil {
		return fmt.Errorf("stop containers: %w", err)
	}
	resp := &yarnpb.StopContainersResponseProto{}
	if err := c.Call(ctx, "stopContainers", &yarnpb.StopContainersRequestProto{ContainerId: ids}, resp); err != nil {
		return err
	}
	return failures("stop", resp.GetFailedRequests())
}

// failures turns the per-container exceptions of a bulk NM response into
// one error whose parts are *ipc.RemoteError (errors.As finds the first).
func failures(op string, failed []*yarnpb.ContainerExceptionMapProto) error {
	var errs []error
	for _, f := range failed {
		ex := f.GetException()
		errs = append(errs, fmt.Errorf("%s %s: %w", op, FormatContainerID(f.GetContainerId()),
			&ipc.RemoteError{Class: ex.GetClassName(), Message: ex.GetMessage()}))
	}
	return errors.Join(errs...)
}

// Close closes every node connection.
func (n *NMClient) Close() error {
	n.mu.Lock()
	clients := n.clients
	n.clients, n.closed = nil, true
	n.mu.Unlock()
	for _, c := range clients {
		c.Close()
	}
	return nil
}

// nmTokenKindCheck rejects a token of another kind than NMToken: the NM
// would fail the connection with a confusing digest error.
func nmTokenKindCheck(t *security.Token) error {
	if t.Kind != "" && t.Kind != security.KindNMToken {
		return fmt.Errorf("token of kind %s used as an NMToken", t.Kind)
	}
	return nil
}
