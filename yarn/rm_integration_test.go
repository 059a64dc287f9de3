//go:build integration

package yarn

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// clusterConfig finds the dev cluster's configuration: HADOOP_CONF_DIR, or
// the export lines `make cluster-up` leaves in <repo>/.cluster/env. With
// neither the test fails: a skipped integration test proves nothing.
func clusterConfig(t *testing.T) *Config {
	t.Helper()
	dir := os.Getenv("HADOOP_CONF_DIR")
	if dir == "" {
		f, err := os.Open(filepath.Join("..", ".cluster", "env"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				line := strings.TrimPrefix(strings.TrimSpace(s.Text()), "export ")
				if v, ok := strings.CutPrefix(line, "HADOOP_CONF_DIR="); ok {
					dir = strings.Trim(v, `"'`)
				}
			}
		}
	}
	if dir == "" {
		t.Fatal("HADOOP_CONF_DIR is not set and ../.cluster/env names none: start the dev cluster (eval \"$(make -s cluster-up)\")")
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestIntegrationResourceManager(t *testing.T) {
	cfg := clusterConfig(t)
	rm := NewRMClient(cfg, "")
	defer rm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	app, err := rm.GetNewApplication(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := app.GetApplicationId()
	if id.GetClusterTimestamp() <= 0 || id.GetId() <= 0 || app.GetMaximumCapability().GetMemory() <= 0 {
		t.Fatalf("getNewApplication: %v", app)
	}
	t.Logf("new application %s, max container %d MB / %d vcores", FormatApplicationID(id),
		app.GetMaximumCapability().GetMemory(), app.GetMaximumCapability().GetVirtualCores())

	nodes, err := rm.GetClusterNodes(ctx, yarnpb.NodeStateProto_NS_RUNNING)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("%d RUNNING nodes, want the dev cluster's 2: %v", len(nodes), nodes)
	}
	for _, n := range nodes {
		if n.GetNodeState() != yarnpb.NodeStateProto_NS_RUNNING || n.GetNodeId().GetPort() <= 0 || n.GetCapability().GetMemory() <= 0 {
			t.Fatalf("node report %v", n)
		}
	}

	metrics, err := rm.GetClusterMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if metrics.GetNumNodeManagers() < 2 {
		t.Fatalf("cluster metrics %v", metrics)
	}

	// Filters go to the RM: a type nobody uses lists nothing; LOOM lists
	// only LOOM applications.
	none, err := rm.GetApplications(ctx, ApplicationFilter{Types: []string{"NO_SUCH_TYPE_LOOM_TEST"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(none) != 0 {
		t.Fatalf("type filter ignored: %d applications", len(none))
	}
	loomApps, err := rm.GetApplications(ctx, ApplicationFilter{Types: []string{ApplicationType},
		States: []yarnpb.YarnApplicationStateProto{yarnpb.YarnApplicationStateProto_RUNNING, yarnpb.YarnApplicationStateProto_FINISHED,
			yarnpb.YarnApplicationStateProto_FAILED, yarnpb.YarnApplicationStateProto_KILLED, yarnpb.YarnApplicationStateProto_ACCEPTED}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range loomApps {
		if a.GetApplicationType() != ApplicationType {
			t.Fatalf("LOOM filter returned %s of type %s", FormatApplicationID(a.GetApplicationId()), a.GetApplicationType())
		}
	}

	// The reserved id was never submitted, so the RM does not know it.
	if _, err := rm.GetApplicationReport(ctx, id); !ipc.IsApplicationNotFound(err) {
		t.Fatalf("report of an unsubmitted application: %v, want ApplicationNotFoundException", err)
	}
}
