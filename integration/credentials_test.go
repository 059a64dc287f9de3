//go:build integration

package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loom-yarn/loom/yarn/security"
)

// TestCredentialsFilesWrittenByHadoop has Hadoop's own Credentials class
// (the harness's WriteCredentials, built by cluster-up) write a token file
// in both formats, reads each with loom's parser, and checks that loom writes
// the same bytes back.
func TestCredentialsFilesWrittenByHadoop(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "integration", "cluster", "target", "minicluster")
	cp, err := os.ReadFile(filepath.Join(target, "classpath.txt"))
	if err != nil {
		t.Fatalf("the harness is not built (run make cluster-up): %v", err)
	}
	classpath := filepath.Join(target, "classes") + ":" + strings.TrimSpace(string(cp))
	for _, tc := range []struct {
		format string
		code   byte
	}{{"writable", security.FormatWritable}, {"protobuf", security.FormatProtobuf}} {
		t.Run(tc.format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "creds")
			out, err := exec.Command("java", "-cp", classpath, "loom.cluster.WriteCredentials", path, tc.format).CombinedOutput()
			if err != nil {
				t.Fatalf("Hadoop's WriteCredentials: %v\n%s", err, out)
			}
			hadoop, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(hadoop) < 5 || string(hadoop[:4]) != "HDTS" || hadoop[4] != tc.code {
				t.Fatalf("Hadoop wrote %q...: not an HDTS file of version %d", hadoop[:min(5, len(hadoop))], tc.code)
			}
			creds, err := security.ParseCredentials(hadoop)
			if err != nil {
				t.Fatalf("parse Hadoop's %s file: %v", tc.format, err)
			}
			tok, ok := creds.TokenByKind("YARN_AM_RM_TOKEN")
			if !ok || string(tok.Identifier) != "loom-identifier" || string(tok.Password) != "loom-password" || tok.Service != "127.0.0.1:8030" {
				t.Fatalf("token read from Hadoop's file: %+v (found %v)", tok, ok)
			}
			if got := string(creds.Secrets["loom.secret"]); got != "s3cr3t" {
				t.Fatalf("secret read from Hadoop's file: %q", got)
			}
			mine, err := creds.Marshal(tc.code)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mine, hadoop) {
				t.Fatalf("loom writes %x\nHadoop wrote %x", mine, hadoop)
			}
		})
	}
}
