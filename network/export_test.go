package network

// Test-only views of memory held, for the bounded-memory checks of the
// external tests.

// HeldBuffers is the number of buffers the sender's subpartition holds.
func (r *RemoteSender) HeldBuffers() int {
	r.sp.mu.Lock()
	defer r.sp.mu.Unlock()
	return r.sp.credit.Held()
}

// QueuedBuffers is the number of buffers that arrived on remote channel i of
// g and wait for the consumer, and the number of buffers the gate owns for it.
func QueuedBuffers(g *Gate, i int) (queued, owned int) {
	ch := g.channels[i].(*remoteChannel)
	ch.mu.Lock()
	queued = len(ch.queue)
	ch.mu.Unlock()
	if ch.cur != nil {
		queued++
	}
	g.credit.mu.Lock()
	owned = g.credit.cg.Buffers(i)
	g.credit.mu.Unlock()
	return queued, owned
}
