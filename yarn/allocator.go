package yarn

import (
	"errors"
	"fmt"
	"sort"

	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"github.com/loom-yarn/loom/yarn/security"
	"google.golang.org/protobuf/proto"
)

// AnyHost is the resource name of an ask that any node may satisfy.
const AnyHost = "*"

// Ask is what the AM wants outstanding at one priority and place: Count
// more containers of the given size. Counts are absolute, as YARN expects:
// setting Count to 2 after 3 means "only 2 now", not "2 more". loom uses one
// priority per container shape, as YARN's scheduler keys asks by priority
// and place, not by size.
type Ask struct {
	Priority int32
	// Resource is a host name, a rack name or AnyHost.
	Resource string
	MemoryMB int64
	VCores   int32
	Count    int32
}

type askKey struct {
	priority int32
	resource string
}

// Command is what the RM told the AM to do in an allocate response.
type Command int

// Commands of the RM.
const (
	// CommandNone: carry on heartbeating.
	CommandNone Command = iota
	// CommandResync: the RM lost the AM's registration (an RM restart); the
	// AM must register again and then call Allocator.Resynced.
	CommandResync
	// CommandShutdown: the RM no longer considers this attempt alive; the
	// AM must exit without unregistering.
	CommandShutdown
)

func (c Command) String() string {
	return [...]string{"none", "resync", "shutdown"}[c]
}

// Update is what one allocate response means for the AM.
type Update struct {
	// Allocated are the new containers the AM asked for.
	Allocated []*yarnpb.ContainerProto
	// Surplus are containers the RM granted beyond the current asks (the
	// ask shrank while the RM was allocating); the Allocator releases them
	// on the next heartbeat, and the AM must not use them.
	Surplus []*yarnpb.ContainerProto
	// Completed are containers that ended (exited, killed, released, lost).
	Completed []*yarnpb.ContainerStatusProto
	// NMTokens are new tokens for NodeManagers, by "host:port".
	NMTokens map[string]*security.Token
	// AMRMToken, when set, replaces the AM's token for new connections to
	// the scheduler (the RM rolls its master key).
	AMRMToken *security.Token
	// Command is what the RM asks of the AM.
	Command Command
	// UpdatedNodes are nodes whose state changed (lost, unhealthy, ...).
	UpdatedNodes []*yarnpb.NodeReportProto
	// NumClusterNodes is the number of nodes in the cluster.
	NumClusterNodes int32
}

// Errors of the Allocator.
var (
	// ErrInFlight: Request was called before the previous request's
	// response or error was reported.
	ErrInFlight = errors.New("allocate: previous request still in flight")
	// ErrNeedsResync: the AM must register again and call Resynced first.
	ErrNeedsResync = errors.New("allocate: the RM asked the AM to resync; register again first")
	// ErrShutdown: the RM told this attempt to shut down.
	ErrShutdown = errors.New("allocate: the RM told the AM to shut down")
)

// Allocator is the AM side of the allocate heartbeat as a deterministic
// state machine without I/O: the caller sets asks, releases and progress,
// sends what Request returns, and feeds the response (OnResponse) or the
// failure (OnError) back. It tracks the response id, resends only changed
// asks (all of them after a resync), keeps releases until YARN reports the
// container completed, releases surplus containers, and surfaces tokens
// and RM commands. Not safe for concurrent use.
type Allocator struct {
	responseID int32
	progress   float32
	asks       map[askKey]*Ask
	dirty      map[askKey]bool
	release    map[string]*yarnpb.ContainerIdProto // to send next
	released   map[string]*yarnpb.ContainerIdProto // sent, not yet completed

	inflight *sentRequest
	resync   bool
	shutdown bool
}

// sentRequest remembers what a request carried, to send it again if the
// request fails.
type sentRequest struct {
	dirty   []askKey
	release []*yarnpb.ContainerIdProto
}

// NewAllocator returns an Allocator for a freshly registered AM.
func NewAllocator() *Allocator {
	return &Allocator{
		asks:     map[askKey]*Ask{},
		dirty:    map[askKey]bool{},
		release:  map[string]*yarnpb.ContainerIdProto{},
		released: map[string]*yarnpb.ContainerIdProto{},
	}
}

// SetAsk sets the absolute number of containers wanted at ask's priority
// and place; an empty Resource means AnyHost.
func (a *Allocator) SetAsk(ask Ask) {
	if ask.Resource == "" {
		ask.Resource = AnyHost
	}
	if ask.Count < 0 {
		ask.Count = 0
	}
	k := askKey{ask.Priority, ask.Resource}
	if old, ok := a.asks[k]; ok && *old == ask {
		return
	}
	a.asks[k] = &ask
	a.dirty[k] = true
}

// Asks returns the current asks, ordered by priority and place.
func (a *Allocator) Asks() []Ask {
	out := make([]Ask, 0, len(a.asks))
	for _, k := range sortedAskKeys(a.asks) {
		out = append(out, *a.asks[k])
	}
	return out
}

// Release gives a container back to YARN on the next heartbeat.
func (a *Allocator) Release(id *yarnpb.ContainerIdProto) {
	s := FormatContainerID(id)
	if _, done := a.released[s]; !done {
		a.release[s] = id
	}
}

// SetProgress sets the progress (0..1) reported to the RM.
func (a *Allocator) SetProgress(p float32) {
	a.progress = max(0, min(1, p))
}

// ResponseID is the id of the last response, sent back in the next request.
func (a *Allocator) ResponseID() int32 { return a.responseID }

// Request builds the next allocate request and marks it in flight.
func (a *Allocator) Request() (*yarnpb.AllocateRequestProto, error) {
	switch {
	case a.shutdown:
		return nil, ErrShutdown
	case a.resync:
		return nil, ErrNeedsResync
	case a.inflight != nil:
		return nil, ErrInFlight
	}
	req := &yarnpb.AllocateRequestProto{ResponseId: proto.Int32(a.responseID), Progress: proto.Float32(a.progress)}
	sent := &sentRequest{}
	for _, k := range sortedAskKeys(a.dirty) {
		ask := a.asks[k]
		req.Ask = append(req.Ask, &yarnpb.ResourceRequestProto{
			Priority:      &yarnpb.PriorityProto{Priority: proto.Int32(ask.Priority)},
			ResourceName:  proto.String(ask.Resource),
			Capability:    &yarnpb.ResourceProto{Memory: proto.Int64(ask.MemoryMB), VirtualCores: proto.Int32(ask.VCores)},
			NumContainers: proto.Int32(ask.Count),
			RelaxLocality: proto.Bool(true),
		})
		sent.dirty = append(sent.dirty, k)
	}
	for _, s := range sortedIDs(a.release) {
		req.Release = append(req.Release, a.release[s])
		sent.release = append(sent.release, a.release[s])
		a.released[s] = a.release[s]
	}
	clear(a.dirty)
	clear(a.release)
	a.inflight = sent
	return req, nil
}

// OnResponse consumes the response to the request in flight.
func (a *Allocator) OnResponse(resp *yarnpb.AllocateResponseProto) (*Update, error) {
	if a.inflight == nil {
		return nil, errors.New("allocate: response without a request in flight")
	}
	u := &Update{NumClusterNodes: resp.GetNumClusterNodes(), UpdatedNodes: resp.GetUpdatedNodes()}
	// Test presence: a proto2 enum getter returns the first value
	// (AM_RESYNC) when the field is absent.
	if resp.AMCommand == nil {
		if resp.ResponseId == nil {
			a.restore() // treat it as a failed heartbeat: send everything again
			return nil, errors.New("allocate: response has no response id")
		}
		a.inflight = nil
	} else if resp.GetAMCommand() == yarnpb.AMCommandProto_AM_RESYNC {
		// The RM ignored this request; everything goes again after re-registering.
		a.restore()
		a.resync = true
		u.Command = CommandResync
		return u, nil
	} else {
		a.inflight = nil
		a.shutdown = true
		u.Command = CommandShutdown
		return u, nil
	}
	a.responseID = resp.GetResponseId()
	for _, c := range resp.GetAllocatedContainers() {
		if a.take(c) {
			u.Allocated = append(u.Allocated, c)
		} else {
			u.Surplus = append(u.Surplus, c)
			a.Release(c.GetId())
		}
	}
	for _, st := range resp.GetCompletedContainerStatuses() {
		s := FormatContainerID(st.GetContainerId())
		delete(a.released, s)
		delete(a.release, s)
		u.Completed = append(u.Completed, st)
	}
	for _, t := range resp.GetNmTokens() {
		if u.NMTokens == nil {
			u.NMTokens = map[string]*security.Token{}
		}
		u.NMTokens[NodeAddr(t.GetNodeId())] = security.TokenFromProto(t.GetToken())
	}
	u.AMRMToken = security.TokenFromProto(resp.GetAmRmToken())
	return u, nil
}

// take counts an allocated container against the asks at its priority;
// it reports false when nothing at that priority is wanted any more. The
// RM has already lowered its own totals, so the change is not resent.
func (a *Allocator) take(c *yarnpb.ContainerProto) bool {
	pri := c.GetPriority().GetPriority()
	anyAsk, ok := a.asks[askKey{pri, AnyHost}]
	if !ok || anyAsk.Count == 0 {
		return false
	}
	anyAsk.Count--
	if node, ok := a.asks[askKey{pri, c.GetNodeId().GetHost()}]; ok && node.Count > 0 {
		node.Count--
	}
	return true
}

// OnError reports that the request in flight failed. Its asks and releases
// are sent again with the next request. An error saying the AM is not
// registered (the RM restarted) puts the Allocator into resync.
func (a *Allocator) OnError(err error) {
	if a.inflight == nil {
		return
	}
	a.restore()
	if ipc.IsNotRegistered(err) {
		a.resync = true
	}
}

// restore puts the in-flight request's asks and releases back to be sent.
func (a *Allocator) restore() {
	for _, k := range a.inflight.dirty {
		a.dirty[k] = true
	}
	for _, id := range a.inflight.release {
		s := FormatContainerID(id)
		delete(a.released, s)
		a.release[s] = id
	}
	a.inflight = nil
}

// Resynced tells the Allocator that the AM registered again after a
// resync: the response id starts over and every ask and unfinished
// release is sent again, since the restarted RM knows none of them.
func (a *Allocator) Resynced() {
	a.resync = false
	a.inflight = nil
	a.responseID = 0
	for k := range a.asks {
		a.dirty[k] = true
	}
	for s, id := range a.released {
		a.release[s] = id
	}
	clear(a.released)
}

// State describes the Allocator for logs and tests.
func (a *Allocator) State() string {
	st := "running"
	switch {
	case a.shutdown:
		st = "shutdown"
	case a.resync:
		st = "resync"
	case a.inflight != nil:
		st = "in-flight"
	}
	return fmt.Sprintf("%s response_id=%d progress=%.2f pending_release=%d", st, a.responseID, a.progress, len(a.released)+len(a.release))
}

// sortedAskKeys orders keys by priority, then place, so requests and
// scenario output are deterministic.
func sortedAskKeys[V any](m map[askKey]V) []askKey {
	keys := make([]askKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].priority != keys[j].priority {
			return keys[i].priority < keys[j].priority
		}
		return keys[i].resource < keys[j].resource
	})
	return keys
}

func sortedIDs(m map[string]*yarnpb.ContainerIdProto) []string {
	ids := make([]string, 0, len(m))
	for s := range m {
		ids = append(ids, s)
	}
	sort.Strings(ids)
	return ids
}
