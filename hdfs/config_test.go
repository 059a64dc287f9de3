package hdfs

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	ha := map[string]string{
		"fs.defaultFS":                         "hdfs://prod",
		"dfs.nameservices":                     "prod",
		"dfs.ha.namenodes.prod":                "nn1,nn2",
		"dfs.namenode.rpc-address.prod.nn1":    "nn1.example:8020",
		"dfs.namenode.rpc-address.prod.nn2":    "nn2.example:8020",
		"dfs.ha.namenodes.other":               "a",
		"dfs.namenode.rpc-address.other.a":     "other.example:9000",
		"dfs.client.failover.proxy.provider.x": "y",
	}
	plain := map[string]string{"fs.defaultFS": "hdfs://127.0.0.1:8020"}
	tests := []struct {
		name    string
		conf    map[string]string
		path    string
		want    string // Location.URI()
		wantErr string
	}{
		{"explicit host:port", plain, "hdfs://10.0.0.1:9000/a/b", "hdfs://10.0.0.1:9000/a/b", ""},
		{"explicit host, default port", plain, "hdfs://namenode/a", "hdfs://namenode:8020/a", ""},
		{"no conf needed for explicit", nil, "hdfs://nn:8020/x", "hdfs://nn:8020/x", ""},
		{"default fs triple slash", plain, "hdfs:///a/b.txt", "hdfs://127.0.0.1:8020/a/b.txt", ""},
		{"default fs single slash", plain, "hdfs:/a/b.txt", "hdfs://127.0.0.1:8020/a/b.txt", ""},
		{"plain absolute", plain, "/user/x/in", "hdfs://127.0.0.1:8020/user/x/in", ""},
		{"relative to home", plain, "in/part-0", "hdfs://127.0.0.1:8020/user/alice/in/part-0", ""},
		{"cleaned", plain, "hdfs:///a//b/../c/", "hdfs://127.0.0.1:8020/a/c", ""},
		{"root", plain, "hdfs://127.0.0.1:8020", "hdfs://127.0.0.1:8020/", ""},
		{"scheme case", plain, "HDFS:///a", "hdfs://127.0.0.1:8020/a", ""},
		{"ipv6", plain, "hdfs://[::1]:8020/a", "hdfs://[::1]:8020/a", ""},
		{"ha default", ha, "/data", "hdfs://prod/data", ""},
		{"ha explicit other nameservice", ha, "hdfs://other/x", "hdfs://other/x", ""},
		{"other scheme", plain, "s3a://bucket/x", "", `scheme "s3a" is not HDFS`},
		{"file scheme", plain, "file:///tmp/x", "", `scheme "file" is not HDFS`},
		{"empty", plain, "", "", "empty HDFS path"},
		{"no default fs", nil, "/a", "", "path /a needs the default file system: no default file system: fs.defaultFS (no Hadoop configuration: $HADOOP_CONF_DIR is not set) is unset"},
		{"default fs not hdfs", map[string]string{"fs.defaultFS": "file:///"}, "hdfs:///a", "", `fs.defaultFS (given in code) = "file:///" is not an hdfs://host:port URI`},
		{"deprecated key", map[string]string{"fs.default.name": "hdfs://old:8020"}, "/a", "hdfs://old:8020/a", ""},
		{"user info refused", plain, "hdfs://bob@nn:8020/a", "", "user info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			if conf == nil {
				conf = map[string]string{}
			}
			c := &Config{Conf: conf, User: "alice"}
			loc, err := c.Resolve(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve(%q) = %v, %v; want error containing %q", tt.path, loc, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.path, err)
			}
			if loc.URI() != tt.want {
				t.Fatalf("Resolve(%q) = %s, want %s", tt.path, loc.URI(), tt.want)
			}
		})
	}
}

func TestNamenodes(t *testing.T) {
	c := &Config{Conf: map[string]string{
		"dfs.nameservices":                  "prod,broken",
		"dfs.ha.namenodes.prod":             "nn2, nn1",
		"dfs.namenode.rpc-address.prod.nn1": "nn1.example:8020",
		"dfs.namenode.rpc-address.prod.nn2": "nn2.example:8020",
		"dfs.ha.namenodes.broken":           "x",
	}}
	got, err := c.Namenodes("prod")
	if err != nil || strings.Join(got, ",") != "nn1.example:8020,nn2.example:8020" {
		t.Fatalf("Namenodes(prod) = %v, %v", got, err)
	}
	got, err = c.Namenodes("h:1")
	if err != nil || strings.Join(got, ",") != "h:1" {
		t.Fatalf("Namenodes(h:1) = %v, %v", got, err)
	}
	_, err = c.Namenodes("broken")
	if err == nil || !strings.Contains(err.Error(), "dfs.namenode.rpc-address.broken.x") {
		t.Fatalf("Namenodes(broken) err = %v", err)
	}
}

func TestLoadConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, map[string]string{"core-site.xml": site("fs.defaultFS", "hdfs://127.0.0.1:8020")})
	t.Setenv("HADOOP_CONF_DIR", dir)
	t.Setenv("HADOOP_USER_NAME", "loomuser")
	c, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.User != "loomuser" || c.Dir != dir {
		t.Fatalf("config = %+v", c)
	}
	uri, where := c.DefaultFS()
	if uri != "hdfs://127.0.0.1:8020" || where != "fs.defaultFS in "+filepath.Join(dir, "core-site.xml") {
		t.Fatalf("DefaultFS = %q, %q", uri, where)
	}
	loc, err := c.Resolve("data")
	if err != nil || loc.URI() != "hdfs://127.0.0.1:8020/user/loomuser/data" {
		t.Fatalf("Resolve(data) = %v, %v", loc, err)
	}

	t.Setenv("HADOOP_CONF_DIR", filepath.Join(dir, "missing"))
	if _, err := LoadConfig(); err == nil || !strings.Contains(err.Error(), "$HADOOP_CONF_DIR") {
		t.Fatalf("LoadConfig with a missing dir: %v", err)
	}

	// HADOOP_HOME/etc/hadoop is the fallback.
	home := t.TempDir()
	etc := filepath.Join(home, "etc", "hadoop")
	if err := mkdirAll(etc); err != nil {
		t.Fatal(err)
	}
	writeConf(t, etc, map[string]string{"core-site.xml": site("fs.defaultFS", "hdfs://home:8020")})
	t.Setenv("HADOOP_CONF_DIR", "")
	t.Setenv("HADOOP_HOME", home)
	c, err = LoadConfig()
	if err != nil || c.Conf["fs.defaultFS"] != "hdfs://home:8020" {
		t.Fatalf("HADOOP_HOME fallback: %v, %v", c, err)
	}

	// Nothing set: no properties, explicit URIs still resolve.
	t.Setenv("HADOOP_HOME", "")
	c, err = LoadConfig()
	if err != nil || len(c.Conf) != 0 {
		t.Fatalf("no configuration: %v, %v", c, err)
	}
}

func TestDialUnreachableNamesAddressAndSource(t *testing.T) {
	dir := t.TempDir()
	writeConf(t, dir, map[string]string{"core-site.xml": site("fs.defaultFS", "hdfs://127.0.0.1:1")})
	t.Setenv("HADOOP_CONF_DIR", dir)
	_, err := NewClient()
	if err == nil {
		t.Fatal("NewClient succeeded without a NameNode")
	}
	for _, want := range []string{"cannot reach the NameNode at 127.0.0.1:1", "fs.defaultFS in " + filepath.Join(dir, "core-site.xml")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// An explicit URI names the path as the source.
	c, _ := LoadConfig()
	_, err = Dial(c, "hdfs://127.0.0.1:2/x")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:2 (the path hdfs://127.0.0.1:2/x)") {
		t.Errorf("Dial error = %v", err)
	}
	// Kerberos is refused clearly.
	writeConf(t, dir, map[string]string{"core-site.xml": site("fs.defaultFS", "hdfs://127.0.0.1:1", "hadoop.security.authentication", "kerberos")})
	_, err = NewClient()
	if err == nil || !strings.Contains(err.Error(), "Kerberos") {
		t.Errorf("kerberos error = %v", err)
	}
}
