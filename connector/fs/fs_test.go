package fs

import (
	"strings"
	"testing"

	"github.com/loom-yarn/loom/vfs"
)

// TestForSharesTheRegistry checks that connectors and the rest of loom
// resolve the same URIs: a scheme registered here is seen by vfs.Resolve
// and the other way round.
func TestForSharesTheRegistry(t *testing.T) {
	here, there := vfs.NewStrictMem(), vfs.NewStrictMem()
	Register("conn-test", func(string) (FileSystem, error) { return here, nil })
	vfs.Register("vfs-test", func(string) (vfs.FS, error) { return there, nil })

	if fsys, p, err := vfs.Resolve("conn-test://a/x"); err != nil || fsys != here || p != "/x" {
		t.Fatalf("vfs.Resolve of a scheme registered with fs.Register = %v, %q, %v", fsys, p, err)
	}
	if fsys, p, err := For("vfs-test://b/y"); err != nil || fsys != there || p != "/y" {
		t.Fatalf("For of a scheme registered with vfs.Register = %v, %q, %v", fsys, p, err)
	}
	if fsys, p, err := For("/plain/path"); err != nil || fsys != vfs.Default || p != "/plain/path" {
		t.Fatalf("For(plain path) = %v, %q, %v", fsys, p, err)
	}
	if _, _, err := For("nope://x/y"); err == nil || !strings.Contains(err.Error(), `scheme "nope"`) {
		t.Fatalf("For of an unknown scheme: %v", err)
	}
}
