package jobmaster

import (
	"strings"
	"testing"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/yarn/security"
)

func TestWorkerLaunchContext(t *testing.T) {
	creds := &security.Credentials{}
	creds.AddToken("amrm", &security.Token{Identifier: []byte{1}, Password: []byte{2}, Kind: security.KindAMRMToken, Service: "rm:8030"})
	creds.AddToken("hdfs", &security.Token{Identifier: []byte{3}, Password: []byte{4}, Kind: "HDFS_DELEGATION_TOKEN", Service: "nn:8020"})
	spec := &deploy.JobSpec{Job: "grep", User: "alice", Resources: []deploy.Resource{
		{Name: deploy.BinaryFile, Path: "hdfs://nn:8020/user/alice/.loom/app_1/loom", Size: 42, Timestamp: 1700000000000},
	}}
	l, err := NewWorkerLaunch(spec, "secret", "am-host:4000", creds)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Context(3)
	if len(c.Command) != 1 || c.Command[0] != deploy.WorkerCommand() {
		t.Errorf("command %q", c.Command)
	}
	env := map[string]string{}
	for _, e := range c.Environment {
		env[e.GetKey()] = e.GetValue()
	}
	for k, v := range map[string]string{deploy.EnvSecret: "secret", deploy.EnvAMAddress: "am-host:4000", deploy.EnvWorkerID: "3", "HADOOP_USER_NAME": "alice"} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	r := c.LocalResources[0]
	u := r.GetValue().GetResource()
	if r.GetKey() != deploy.BinaryFile || u.GetScheme() != "hdfs" || u.GetHost() != "nn" || u.GetPort() != 8020 || u.GetFile() != "/user/alice/.loom/app_1/loom" ||
		r.GetValue().GetSize() != 42 || r.GetValue().GetTimestamp() != 1700000000000 {
		t.Errorf("local resource %v", r)
	}
	got, err := security.ParseCredentials(c.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.TokenByKind(security.KindAMRMToken); ok {
		t.Error("workers' credentials carry the AMRMToken")
	}
	if _, ok := got.TokenByKind("HDFS_DELEGATION_TOKEN"); !ok {
		t.Error("workers' credentials lost the HDFS token")
	}

	spec.Resources[0].Path = "not a uri"
	if _, err := NewWorkerLaunch(spec, "s", "a:1", nil); err == nil || !strings.Contains(err.Error(), "resource loom") {
		t.Errorf("bad resource path: %v", err)
	}
}

func TestAttemptOf(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int
	}{
		{"container_1796418350107_0001_01_000001", 1},
		{"container_1796418350107_0001_02_000003", 2},
		{"container_e17_1410901177871_0001_03_000005", 3},
		{"local_container_0", 0},
		{"", 0},
	} {
		if got := attemptOf(tc.id); got != tc.want {
			t.Errorf("attemptOf(%q) = %d, want %d", tc.id, got, tc.want)
		}
	}
}
