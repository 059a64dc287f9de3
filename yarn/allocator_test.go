package yarn

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/internal/scenario"
	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/commonpb"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"google.golang.org/protobuf/proto"
)

// TestAllocatorScenarios replays testdata/allocate/*.txt. Each block is a
// command, a line "----" and the expected output, separated from the next
// block by a blank line; lines starting with # are comments.
//
// Commands:
//
//	ask pri=P [res=R] mem=M vcores=V n=N    set an absolute ask
//	release <container id>                  release a container
//	progress <f>                            set the progress
//	request                                 build the next allocate request
//	response id=N [alloc=<cid>@<host:port>/<pri>]... [done=<cid>:<exit>]...
//	         [nmtoken=<host:port>]... [amrmtoken=<name>] [cmd=resync|shutdown] [nodes=N]
//	error io|<java exception class>         the request in flight failed
//	resynced                                the AM registered again
//	state                                   print the allocator's state and asks
func TestAllocatorScenarios(t *testing.T) {
	scenario.Run(t, "testdata/allocate/*.txt", func(*testing.T) func(string) []string {
		a := NewAllocator()
		return func(cmd string) []string { return runCommand(a, cmd) }
	})
}

func runCommand(a *Allocator, line string) []string {
	fields := strings.Fields(line)
	args := map[string][]string{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		args[k] = append(args[k], v)
	}
	num := func(k string) int64 {
		if len(args[k]) == 0 {
			return 0
		}
		n, err := strconv.ParseInt(args[k][0], 10, 64)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", line, err))
		}
		return n
	}
	mustID := func(s string) *yarnpb.ContainerIdProto {
		id, err := ParseContainerID(s)
		if err != nil {
			panic(err)
		}
		return id
	}
	switch fields[0] {
	case "ask":
		res := AnyHost
		if r := args["res"]; len(r) > 0 {
			res = r[0]
		}
		a.SetAsk(Ask{Priority: int32(num("pri")), Resource: res, MemoryMB: num("mem"), VCores: int32(num("vcores")), Count: int32(num("n"))})
		return []string{"ok"}
	case "release":
		a.Release(mustID(fields[1]))
		return []string{"ok"}
	case "progress":
		p, _ := strconv.ParseFloat(fields[1], 32)
		a.SetProgress(float32(p))
		return []string{"ok"}
	case "request":
		req, err := a.Request()
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := []string{fmt.Sprintf("response_id=%d progress=%.2f", req.GetResponseId(), req.GetProgress())}
		for _, r := range req.GetAsk() {
			out = append(out, fmt.Sprintf("ask pri=%d res=%s mem=%d vcores=%d n=%d", r.GetPriority().GetPriority(), r.GetResourceName(),
				r.GetCapability().GetMemory(), r.GetCapability().GetVirtualCores(), r.GetNumContainers()))
		}
		for _, id := range req.GetRelease() {
			out = append(out, "release "+FormatContainerID(id))
		}
		return out
	case "response":
		resp := &yarnpb.AllocateResponseProto{NumClusterNodes: proto.Int32(int32(num("nodes")))}
		if len(args["id"]) > 0 {
			resp.ResponseId = proto.Int32(int32(num("id")))
		}
		for _, s := range args["alloc"] {
			cid, rest, _ := strings.Cut(s, "@")
			addr, pri, _ := strings.Cut(rest, "/")
			host, port, _ := strings.Cut(addr, ":")
			p, _ := strconv.Atoi(port)
			pr, _ := strconv.Atoi(pri)
			resp.AllocatedContainers = append(resp.AllocatedContainers, &yarnpb.ContainerProto{
				Id: mustID(cid), NodeId: &yarnpb.NodeIdProto{Host: proto.String(host), Port: proto.Int32(int32(p))},
				Priority: &yarnpb.PriorityProto{Priority: proto.Int32(int32(pr))},
			})
		}
		for _, s := range args["done"] {
			cid, code, _ := strings.Cut(s, ":")
			c, _ := strconv.Atoi(code)
			resp.CompletedContainerStatuses = append(resp.CompletedContainerStatuses, &yarnpb.ContainerStatusProto{
				ContainerId: mustID(cid), State: yarnpb.ContainerStateProto_C_COMPLETE.Enum(), ExitStatus: proto.Int32(int32(c))})
		}
		for _, addr := range args["nmtoken"] {
			host, port, _ := strings.Cut(addr, ":")
			p, _ := strconv.Atoi(port)
			resp.NmTokens = append(resp.NmTokens, &yarnpb.NMTokenProto{
				NodeId: &yarnpb.NodeIdProto{Host: proto.String(host), Port: proto.Int32(int32(p))},
				Token:  &commonpb.TokenProto{Identifier: []byte("nm@" + addr), Kind: proto.String("NMToken"), Service: proto.String(addr)},
			})
		}
		if n := args["amrmtoken"]; len(n) > 0 {
			resp.AmRmToken = &commonpb.TokenProto{Identifier: []byte(n[0]), Kind: proto.String("YARN_AM_RM_TOKEN")}
		}
		switch c := args["cmd"]; {
		case len(c) == 0:
		case c[0] == "resync":
			resp.AMCommand = yarnpb.AMCommandProto_AM_RESYNC.Enum()
		case c[0] == "shutdown":
			resp.AMCommand = yarnpb.AMCommandProto_AM_SHUTDOWN.Enum()
		}
		u, err := a.OnResponse(resp)
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		return describeUpdate(u)
	case "error":
		var err error = errors.New("connection lost")
		if fields[1] != "io" {
			err = fmt.Errorf("allocate: %w", &ipc.RemoteError{Class: fields[1], Message: "from script"})
		}
		a.OnError(err)
		return []string{a.State()}
	case "resynced":
		a.Resynced()
		return []string{a.State()}
	case "state":
		out := []string{a.State()}
		for _, ask := range a.Asks() {
			out = append(out, fmt.Sprintf("ask pri=%d res=%s mem=%d vcores=%d n=%d", ask.Priority, ask.Resource, ask.MemoryMB, ask.VCores, ask.Count))
		}
		return out
	}
	panic("unknown command: " + line)
}

func describeUpdate(u *Update) []string {
	var out []string
	if u.Command != CommandNone {
		out = append(out, "command "+u.Command.String())
	}
	for _, c := range u.Allocated {
		out = append(out, fmt.Sprintf("allocated %s on %s pri=%d", FormatContainerID(c.GetId()), NodeAddr(c.GetNodeId()), c.GetPriority().GetPriority()))
	}
	for _, c := range u.Surplus {
		out = append(out, fmt.Sprintf("surplus %s (released)", FormatContainerID(c.GetId())))
	}
	for _, st := range u.Completed {
		out = append(out, fmt.Sprintf("completed %s exit=%d", FormatContainerID(st.GetContainerId()), st.GetExitStatus()))
	}
	var nodes []string
	for addr := range u.NMTokens {
		nodes = append(nodes, addr)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		out = append(out, fmt.Sprintf("nmtoken %s (%s)", n, u.NMTokens[n].Identifier))
	}
	if u.AMRMToken != nil {
		out = append(out, fmt.Sprintf("amrmtoken %s", u.AMRMToken.Identifier))
	}
	if u.NumClusterNodes > 0 {
		out = append(out, fmt.Sprintf("cluster nodes %d", u.NumClusterNodes))
	}
	if len(out) == 0 {
		out = append(out, "nothing")
	}
	return out
}
