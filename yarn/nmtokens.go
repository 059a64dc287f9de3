package yarn

import (
	"sync"

	"github.com/loom-yarn/loom/yarn/security"
)

// NMTokens caches the NMToken of each NodeManager ("host:port"). The RM
// sends a node's token once (in an allocate response, or at registration
// for earlier attempts' containers), not with every container, so the AM
// must keep it for as long as it talks to that node. Safe for concurrent
// use: the heartbeat loop writes while launches read.
type NMTokens struct {
	mu sync.RWMutex
	m  map[string]*security.Token
}

// Set stores or replaces the token of a node.
func (n *NMTokens) Set(node string, t *security.Token) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]*security.Token{}
	}
	n.m[node] = t
}

// Get returns the token of a node.
func (n *NMTokens) Get(node string) (*security.Token, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	t, ok := n.m[node]
	return t, ok
}
