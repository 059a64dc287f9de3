package yarn

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
	"github.com/loom-yarn/loom/yarn/security"
	"google.golang.org/protobuf/proto"
)

func TestAMRMTokenFromEnv(t *testing.T) {
	dir := t.TempDir()
	creds := &security.Credentials{}
	creds.AddToken("hdfs", &security.Token{Identifier: []byte("h"), Kind: security.KindHDFSDelegationToken})
	creds.AddToken("whatever-alias", &security.Token{Identifier: []byte("amrm"), Password: []byte("p"), Kind: security.KindAMRMToken})
	path := filepath.Join(dir, "container_tokens")
	if err := creds.WriteFile(path, security.FormatWritable); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	getenv = func(k string) string { return env[k] }
	defer func() { getenv = os.Getenv }()

	if _, err := AMRMTokenFromEnv(); err == nil || !strings.Contains(err.Error(), "HADOOP_TOKEN_FILE_LOCATION is not set") {
		t.Fatalf("without the variable: %v", err)
	}
	env[security.EnvTokenFile] = path
	tok, err := AMRMTokenFromEnv()
	if err != nil || string(tok.Identifier) != "amrm" {
		t.Fatalf("AMRMTokenFromEnv = %v, %v", tok, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := (&security.Credentials{}).WriteFile(empty, security.FormatProtobuf); err != nil {
		t.Fatal(err)
	}
	env[security.EnvTokenFile] = empty
	if _, err := AMRMTokenFromEnv(); err == nil || !strings.Contains(err.Error(), "no token of kind YARN_AM_RM_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}
}

func TestNMClientNeedsToken(t *testing.T) {
	tokens := &NMTokens{}
	n := NewNMClient(tokens)
	defer n.Close()
	c := &yarnpb.ContainerProto{
		Id:     &yarnpb.ContainerIdProto{Id: proto.Int64(2)},
		NodeId: &yarnpb.NodeIdProto{Host: proto.String("node9"), Port: proto.Int32(8041)},
	}
	err := n.StartContainer(context.Background(), c, &yarnpb.ContainerLaunchContextProto{})
	if err == nil || !strings.Contains(err.Error(), "no NMToken for node node9:8041") {
		t.Fatalf("start without a token: %v", err)
	}
	if got, ok := tokens.Get("node9:8041"); ok || got != nil {
		t.Fatal("empty cache returned a token")
	}
	tokens.Set("node9:8041", &security.Token{Kind: security.KindAMRMToken})
	if err := nmTokenKindCheck(&security.Token{Kind: security.KindAMRMToken}); err == nil {
		t.Fatal("an AMRMToken passed as an NMToken")
	}
}
