package jobmaster

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"github.com/loom-yarn/loom/yarn/security"
)

// WorkerLaunch holds what every worker container of a job is started with;
// Context fills in the worker's index.
type WorkerLaunch struct {
	resources []*yarnpb.StringLocalResourceMapProto
	env       map[string]string
	tokens    []byte
}

// NewWorkerLaunch prepares the launch of the spec's workers: the files of
// spec.Resources localized from HDFS (with the sizes and timestamps the
// client recorded, or the NodeManager refuses them), the secret and the AM's
// address in the environment, and creds (the AM's container credentials;
// the AMRMToken is stripped: it would let a worker act as the AM).
func NewWorkerLaunch(spec *deploy.JobSpec, secret, amAddress string, creds *security.Credentials) (*WorkerLaunch, error) {
	l := &WorkerLaunch{env: map[string]string{deploy.EnvSecret: secret, deploy.EnvAMAddress: amAddress}}
	if spec.User != "" {
		l.env["HADOOP_USER_NAME"] = spec.User
	}
	for _, r := range spec.Resources {
		u, err := url.Parse(r.Path)
		if err != nil || u.Scheme == "" || u.Path == "" {
			return nil, fmt.Errorf("job spec resource %s: path %q is not a URI like hdfs://host:port/path", r.Name, r.Path)
		}
		res := &yarnpb.URLProto{Scheme: proto.String(u.Scheme), File: proto.String(u.Path)}
		if h := u.Hostname(); h != "" {
			res.Host = proto.String(h)
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("job spec resource %s: port in %q: %w", r.Name, r.Path, err)
			}
			res.Port = proto.Int32(int32(n))
		}
		l.resources = append(l.resources, &yarnpb.StringLocalResourceMapProto{Key: proto.String(r.Name), Value: &yarnpb.LocalResourceProto{
			Resource:   res,
			Size:       proto.Int64(r.Size),
			Timestamp:  proto.Int64(r.Timestamp),
			Type:       yarnpb.LocalResourceTypeProto_FILE.Enum(),
			Visibility: yarnpb.LocalResourceVisibilityProto_APPLICATION.Enum(),
		}})
	}
	if creds != nil {
		b, err := creds.WithoutKind(security.KindAMRMToken).Marshal(security.FormatWritable)
		if err != nil {
			return nil, fmt.Errorf("credentials for workers: %w", err)
		}
		l.tokens = b
	}
	return l, nil
}

// Context is the launch context of worker index.
func (l *WorkerLaunch) Context(index int) *yarnpb.ContainerLaunchContextProto {
	ctx := &yarnpb.ContainerLaunchContextProto{
		LocalResources: l.resources,
		Tokens:         l.tokens,
		Command:        []string{deploy.WorkerCommand()},
	}
	env := map[string]string{deploy.EnvWorkerID: strconv.Itoa(index)}
	for k, v := range l.env {
		env[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		ctx.Environment = append(ctx.Environment, &yarnpb.StringStringMapProto{Key: proto.String(k), Value: proto.String(env[k])})
	}
	return ctx
}

// ContainerCredentials reads the credentials the NodeManager gave this
// container, or returns nil when there are none (no token file).
func ContainerCredentials() (*security.Credentials, error) {
	path := os.Getenv(security.EnvTokenFile)
	if path == "" {
		return nil, nil
	}
	return security.ReadCredentialsFile(path)
}
