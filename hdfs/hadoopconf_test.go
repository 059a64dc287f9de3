package hdfs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConf(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func site(props ...string) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\"?>\n<configuration>\n")
	for i := 0; i+1 < len(props); i += 2 {
		b.WriteString("  <property><name>" + props[i] + "</name><value>" + props[i+1] + "</value></property>\n")
	}
	b.WriteString("</configuration>\n")
	return b.String()
}

func TestLoadHadoopConf(t *testing.T) {
	t.Setenv("LOOM_TEST_NN", "nn.example:8020")
	tests := []struct {
		name    string
		files   map[string]string
		want    map[string]string
		wantErr string // substring; "DIR" stands for the directory
	}{
		{
			name:  "core only",
			files: map[string]string{"core-site.xml": site("fs.defaultFS", "hdfs://127.0.0.1:8020")},
			want:  map[string]string{"fs.defaultFS": "hdfs://127.0.0.1:8020"},
		},
		{
			name: "later files override, values trimmed, extra elements ignored",
			files: map[string]string{
				"core-site.xml": site("a", "core", "b", "core"),
				"hdfs-site.xml": `<configuration>
  <property>
    <name> b </name>
    <value>
      hdfs
    </value>
    <description>set by hdfs-site</description>
    <source>programmatically</source>
  </property>
</configuration>`,
				"yarn-site.xml": site("c", "yarn"),
			},
			want: map[string]string{"a": "core", "b": "hdfs", "c": "yarn"},
		},
		{
			name: "final wins over later files",
			files: map[string]string{
				"core-site.xml": `<configuration><property><name>x</name><value>1</value><final>true</final></property></configuration>`,
				"hdfs-site.xml": site("x", "2"),
			},
			want: map[string]string{"x": "1"},
		},
		{
			name:  "variables: properties, env and user.name; unknown kept",
			files: map[string]string{"core-site.xml": site("base", "/data", "dir", "${base}/nn", "fs.defaultFS", "hdfs://${env.LOOM_TEST_NN}", "home", "/user/${user.name}", "keep", "${no.such}")},
			want:  map[string]string{"base": "/data", "dir": "/data/nn", "fs.defaultFS": "hdfs://nn.example:8020", "home": "/user/" + osUser(), "keep": "${no.such}"},
		},
		{
			name:  "empty value",
			files: map[string]string{"core-site.xml": `<configuration><property><name>e</name><value/></property><property><name>f</name></property></configuration>`},
			want:  map[string]string{"e": "", "f": ""},
		},
		{
			name:    "no files",
			files:   map[string]string{},
			wantErr: "hadoop configuration directory DIR: none of core-site.xml, hdfs-site.xml, yarn-site.xml found",
		},
		{
			name:    "broken XML names the file",
			files:   map[string]string{"core-site.xml": site("a", "b"), "hdfs-site.xml": "<configuration><property><name>a</name>"},
			wantErr: "hadoop configuration DIR/hdfs-site.xml: not valid XML",
		},
		{
			name:    "wrong root element",
			files:   map[string]string{"core-site.xml": "<properties/>"},
			wantErr: "DIR/core-site.xml: root element is <properties>, want <configuration>",
		},
		{
			name:    "property without a name",
			files:   map[string]string{"core-site.xml": site("a", "b") + "", "yarn-site.xml": "<configuration><property><value>v</value></property></configuration>"},
			wantErr: "DIR/yarn-site.xml: <property> number 1 has no <name>",
		},
		{
			name:    "empty file",
			files:   map[string]string{"core-site.xml": ""},
			wantErr: "DIR/core-site.xml: empty file",
		},
		{
			name:    "variable cycle",
			files:   map[string]string{"core-site.xml": site("a", "${b}x", "b", "${a}y")},
			wantErr: "more than 20 levels deep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeConf(t, dir, tt.files)
			got, err := LoadHadoopConf(dir)
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "DIR", dir)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadHadoopConfMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := LoadHadoopConf(dir)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}
