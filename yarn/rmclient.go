package yarn

import (
	"context"
	"fmt"

	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"google.golang.org/protobuf/proto"
)

// Protocol names: sent as the declaring protocol of every call and in the
// connection context. All three have version 1.
const (
	ProtocolApplicationClient   = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB"
	ProtocolApplicationMaster   = "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB"
	ProtocolContainerManagement = "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB"
)

// ApplicationType is the type loom's applications carry, which lets
// `yarn application -list -appTypes LOOM` and GetApplications find them.
const ApplicationType = "LOOM"

// RMClient calls the ResourceManager's ApplicationClientProtocol, what a
// job client uses to submit, watch and kill applications. Safe for
// concurrent use; Close releases the connection.
type RMClient struct {
	c *ipc.Client
}

// NewRMClient returns a client for the RM at cfg.RMAddress, authenticating
// with SIMPLE as user (empty: $HADOOP_USER_NAME or the OS user).
func NewRMClient(cfg *Config, user string) *RMClient {
	return newRMClient(cfg.RMAddress, ipc.Options{User: user})
}

func newRMClient(addr string, opts ipc.Options) *RMClient {
	opts.Protocol = ProtocolApplicationClient
	return &RMClient{c: ipc.NewClient(addr, opts)}
}

// Close closes the connection to the RM.
func (r *RMClient) Close() error { return r.c.Close() }

// GetNewApplication reserves an application id and reports the largest
// container the cluster can grant.
func (r *RMClient) GetNewApplication(ctx context.Context) (*yarnpb.GetNewApplicationResponseProto, error) {
	resp := &yarnpb.GetNewApplicationResponseProto{}
	if err := r.c.Call(ctx, "getNewApplication", &yarnpb.GetNewApplicationRequestProto{}, resp); err != nil {
		return nil, err
	}
	if resp.GetApplicationId() == nil {
		return nil, fmt.Errorf("getNewApplication at %s: response has no application id", r.c.Addr())
	}
	return resp, nil
}

// SubmitApplication submits an application whose id came from
// GetNewApplication. The RM accepts it asynchronously: watch it with
// GetApplicationReport.
func (r *RMClient) SubmitApplication(ctx context.Context, app *yarnpb.ApplicationSubmissionContextProto) error {
	req := &yarnpb.SubmitApplicationRequestProto{ApplicationSubmissionContext: app}
	return r.c.Call(ctx, "submitApplication", req, &yarnpb.SubmitApplicationResponseProto{})
}

// GetApplicationReport reports an application's state, diagnostics,
// tracking URL and final status.
func (r *RMClient) GetApplicationReport(ctx context.Context, id *yarnpb.ApplicationIdProto) (*yarnpb.ApplicationReportProto, error) {
	resp := &yarnpb.GetApplicationReportResponseProto{}
	if err := r.c.Call(ctx, "getApplicationReport", &yarnpb.GetApplicationReportRequestProto{ApplicationId: id}, resp); err != nil {
		return nil, err
	}
	if resp.GetApplicationReport() == nil {
		return nil, fmt.Errorf("getApplicationReport %s at %s: response has no report", FormatApplicationID(id), r.c.Addr())
	}
	return resp.GetApplicationReport(), nil
}

// KillApplication asks the RM to kill an application; it reports whether
// the kill has completed (otherwise ask again until it has, as YARN's own
// client does).
func (r *RMClient) KillApplication(ctx context.Context, id *yarnpb.ApplicationIdProto, diagnostics string) (bool, error) {
	req := &yarnpb.KillApplicationRequestProto{ApplicationId: id}
	if diagnostics != "" {
		req.Diagnostics = proto.String(diagnostics)
	}
	resp := &yarnpb.KillApplicationResponseProto{}
	if err := r.c.Call(ctx, "forceKillApplication", req, resp); err != nil {
		return false, err
	}
	return resp.GetIsKillCompleted(), nil
}

// ApplicationFilter selects applications; empty fields match everything.
type ApplicationFilter struct {
	// Types are application types, e.g. ApplicationType.
	Types  []string
	States []yarnpb.YarnApplicationStateProto
	// Tags match applications carrying any of them.
	Tags []string
}

// GetApplications lists the applications that pass the filter.
func (r *RMClient) GetApplications(ctx context.Context, f ApplicationFilter) ([]*yarnpb.ApplicationReportProto, error) {
	req := &yarnpb.GetApplicationsRequestProto{ApplicationTypes: f.Types, ApplicationStates: f.States, ApplicationTags: f.Tags}
	resp := &yarnpb.GetApplicationsResponseProto{}
	if err := r.c.Call(ctx, "getApplications", req, resp); err != nil {
		return nil, err
	}
	return resp.GetApplications(), nil
}

// GetClusterNodes lists the NodeManagers in the given states (all states
// when none is given).
func (r *RMClient) GetClusterNodes(ctx context.Context, states ...yarnpb.NodeStateProto) ([]*yarnpb.NodeReportProto, error) {
	resp := &yarnpb.GetClusterNodesResponseProto{}
	if err := r.c.Call(ctx, "getClusterNodes", &yarnpb.GetClusterNodesRequestProto{NodeStates: states}, resp); err != nil {
		return nil, err
	}
	return resp.GetNodeReports(), nil
}

// GetClusterMetrics reports node counts by state.
func (r *RMClient) GetClusterMetrics(ctx context.Context) (*yarnpb.YarnClusterMetricsProto, error) {
	resp := &yarnpb.GetClusterMetricsResponseProto{}
	if err := r.c.Call(ctx, "getClusterMetrics", &yarnpb.GetClusterMetricsRequestProto{}, resp); err != nil {
		return nil, err
	}
	return resp.GetClusterMetrics(), nil
}
