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

// SpillBlocksRead is how many blocks of the sender's finished file the
// server has read to send (-1 before the file is finished or after it was
// released), and the buffers the subpartition holds in memory.
func (w *SpillSender) SpillBlocksRead() (read, held int) {
	w.sp.mu.Lock()
	defer w.sp.mu.Unlock()
	if w.sp.spill == nil {
		return -1, w.sp.credit.Held()
	}
	return w.sp.spill.next, w.sp.credit.Held()
}
