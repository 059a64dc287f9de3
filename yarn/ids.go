// Package yarn is loom's client side of Apache Hadoop YARN: the
// ResourceManager's client protocol (submit, report, kill, list), the
// ApplicationMaster protocol with its allocate heartbeat as a pure state
// machine (Allocator), and the NodeManager container protocol, all over
// yarn/ipc. Records are the protobuf messages of yarn/proto/yarnpb.
package yarn

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"google.golang.org/protobuf/proto"
)

// FormatApplicationID renders an application id as YARN does:
// application_<clusterTimestamp>_<id, at least 4 digits>.
func FormatApplicationID(id *yarnpb.ApplicationIdProto) string {
	return fmt.Sprintf("application_%d_%04d", id.GetClusterTimestamp(), id.GetId())
}

// FormatAttemptID renders an attempt id: appattempt_<ts>_<app>_<attempt, 6 digits>.
func FormatAttemptID(id *yarnpb.ApplicationAttemptIdProto) string {
	app := id.GetApplicationId()
	return fmt.Sprintf("appattempt_%d_%04d_%06d", app.GetClusterTimestamp(), app.GetId(), id.GetAttemptId())
}

// FormatContainerID renders a container id as YARN does:
// container_[e<epoch>_]<ts>_<app, 4 digits>_<attempt, 2 digits>_<sequence, 6 digits>,
// where the 64-bit id holds epoch << 40 | sequence.
func FormatContainerID(id *yarnpb.ContainerIdProto) string {
	att := id.GetAppAttemptId()
	app := att.GetApplicationId()
	if app == nil {
		app = id.GetAppId()
	}
	var b strings.Builder
	b.WriteString("container_")
	if epoch := id.GetId() >> 40; epoch > 0 {
		fmt.Fprintf(&b, "e%02d_", epoch)
	}
	fmt.Fprintf(&b, "%d_%04d_%02d_%06d", app.GetClusterTimestamp(), app.GetId(), att.GetAttemptId(), id.GetId()&(1<<40-1))
	return b.String()
}

// ParseApplicationID parses the form FormatApplicationID writes.
func ParseApplicationID(s string) (*yarnpb.ApplicationIdProto, error) {
	parts := strings.Split(s, "_")
	if len(parts) != 3 || parts[0] != "application" {
		return nil, fmt.Errorf("application id %q: want application_<timestamp>_<number>", s)
	}
	ts, err1 := strconv.ParseInt(parts[1], 10, 64)
	n, err2 := strconv.ParseInt(parts[2], 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("application id %q: timestamp and number must be decimal", s)
	}
	return &yarnpb.ApplicationIdProto{ClusterTimestamp: proto.Int64(ts), Id: proto.Int32(int32(n))}, nil
}

// ParseContainerID parses the form FormatContainerID writes.
func ParseContainerID(s string) (*yarnpb.ContainerIdProto, error) {
	parts := strings.Split(s, "_")
	if len(parts) < 5 || parts[0] != "container" {
		return nil, fmt.Errorf("container id %q: want container_[e<epoch>_]<timestamp>_<app>_<attempt>_<number>", s)
	}
	var epoch int64
	if strings.HasPrefix(parts[1], "e") {
		e, err := strconv.ParseInt(parts[1][1:], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("container id %q: bad epoch", s)
		}
		epoch, parts = e, parts[1:]
	}
	if len(parts) != 5 {
		return nil, fmt.Errorf("container id %q: wrong number of parts", s)
	}
	var nums [4]int64
	for i, p := range parts[1:] {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("container id %q: %q is not a number", s, p)
		}
		nums[i] = n
	}
	app := &yarnpb.ApplicationIdProto{ClusterTimestamp: proto.Int64(nums[0]), Id: proto.Int32(int32(nums[1]))}
	return &yarnpb.ContainerIdProto{
		AppId:        app,
		AppAttemptId: &yarnpb.ApplicationAttemptIdProto{ApplicationId: app, AttemptId: proto.Int32(int32(nums[2]))},
		Id:           proto.Int64(epoch<<40 | nums[3]),
	}, nil
}

// NodeAddr is the "host:port" of a NodeManager's container-management
// endpoint, the key NMTokens are cached under.
func NodeAddr(n *yarnpb.NodeIdProto) string {
	return fmt.Sprintf("%s:%d", n.GetHost(), n.GetPort())
}
