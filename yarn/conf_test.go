package yarn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFromProperties(t *testing.T) {
	cases := []struct {
		name      string
		props     map[string]string
		rm, sched string
	}{
		{"defaults", nil, "0.0.0.0:8032", "0.0.0.0:8030"},
		{"hostname", map[string]string{"yarn.resourcemanager.hostname": "rm1"}, "rm1:8032", "rm1:8030"},
		{"explicit", map[string]string{"yarn.resourcemanager.hostname": "rm1", "yarn.resourcemanager.address": "rm2:9000",
			"yarn.resourcemanager.scheduler.address": "rm3:9001"}, "rm2:9000", "rm3:9001"},
		{"expanded", map[string]string{"yarn.resourcemanager.hostname": "rm1",
			"yarn.resourcemanager.address": "${yarn.resourcemanager.hostname}:18032"}, "rm1:18032", "rm1:8030"},
		{"unknown reference kept", map[string]string{"yarn.resourcemanager.address": "${nope}:1"}, "${nope}:1", "0.0.0.0:8030"},
	}
	for _, c := range cases {
		cfg := ConfigFromProperties(c.props)
		if cfg.RMAddress != c.rm || cfg.SchedulerAddress != c.sched {
			t.Errorf("%s: got %+v, want %s %s", c.name, cfg, c.rm, c.sched)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	site := `<?xml version="1.0"?>
<configuration>
  <property><name>yarn.resourcemanager.hostname</name><value> localhost </value></property>
  <property><name>yarn.resourcemanager.address</name><value>localhost:28032</value><description>x</description></property>
</configuration>`
	if err := os.WriteFile(filepath.Join(dir, "yarn-site.xml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HADOOP_CONF_DIR", dir)
	cfg, err := LoadConfig("")
	if err != nil || cfg.RMAddress != "localhost:28032" || cfg.SchedulerAddress != "localhost:8030" {
		t.Fatalf("LoadConfig = %+v, %v", cfg, err)
	}
	if _, err := LoadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "yarn-site.xml not found") {
		t.Fatalf("missing file: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "yarn-site.xml"), []byte("<conf><property>"), 0o644)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "not valid XML") {
		t.Fatalf("bad XML: %v", err)
	}
	t.Setenv("HADOOP_CONF_DIR", "")
	if _, err := LoadConfig(""); err == nil || !strings.Contains(err.Error(), "HADOOP_CONF_DIR is not set") {
		t.Fatalf("unset HADOOP_CONF_DIR: %v", err)
	}
}
