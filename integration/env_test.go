//go:build integration

// Package integration holds loom's tests against the real dev cluster (HDFS,
// YARN, Kafka, Hive metastore) that `make cluster-up` starts. Run them with
//
//	make cluster-up && go test -tags integration ./integration/... ; make cluster-down
//
// or `make integration-test`. They read HADOOP_CONF_DIR, LOOM_KAFKA_BROKERS
// and LOOM_HIVE_METASTORE from the environment; a variable that is unset is
// taken from the env file cluster-up writes ($LOOM_CLUSTER_DIR/env, else
// <repo>/.cluster/env). A setting found nowhere fails the test: these tests
// never skip.
package integration

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clusterVars are the settings the tests need from the cluster.
var clusterVars = []string{"HADOOP_CONF_DIR", "LOOM_KAFKA_BROKERS", "LOOM_HIVE_METASTORE"}

// envFileNote says where settings came from, for failure messages.
var envFileNote string

func TestMain(m *testing.M) {
	envFileNote = loadClusterEnv()
	os.Exit(m.Run())
}

// loadClusterEnv sets the cluster variables that are unset from the env file
// of a running dev cluster, and describes what it did.
func loadClusterEnv() string {
	missing := false
	for _, k := range clusterVars {
		if os.Getenv(k) == "" {
			missing = true
		}
	}
	if !missing {
		return "all settings from the environment"
	}
	var candidates []string
	if d := os.Getenv("LOOM_CLUSTER_DIR"); d != "" {
		candidates = append(candidates, filepath.Join(d, "env"))
	}
	if root, err := repoRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, ".cluster", "env"))
	}
	for _, f := range candidates {
		vals, err := readEnvFile(f)
		if err != nil {
			continue
		}
		for k, v := range vals {
			if os.Getenv(k) == "" {
				os.Setenv(k, v)
			}
		}
		return "unset settings taken from " + f
	}
	return fmt.Sprintf("no env file found (looked at %s); run `make cluster-up` or export the variables", strings.Join(candidates, ", "))
}

// readEnvFile parses the `export NAME=value` lines cluster-up writes.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		vals[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	return vals, sc.Err()
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// clusterEnv returns a cluster setting or fails the test.
func clusterEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set (%s): these tests need the dev cluster of `make cluster-up`", name, envFileNote)
	}
	return v
}
