//go:build integration

package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loom-yarn/loom/hdfs"
)

// rmWeb returns the ResourceManager's REST base URL from yarn-site.xml.
func rmWeb(t *testing.T) string {
	t.Helper()
	conf, err := hdfs.LoadHadoopConf(clusterEnv(t, "HADOOP_CONF_DIR"))
	if err != nil {
		t.Fatal(err)
	}
	addr := conf["yarn.resourcemanager.webapp.address"]
	if addr == "" {
		t.Fatalf("yarn.resourcemanager.webapp.address is not set in $HADOOP_CONF_DIR/yarn-site.xml")
	}
	return "http://" + addr
}

func rmDo(t *testing.T, method, url string, body any, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	req, err := http.NewRequest(method, url+sep+"user.name="+currentUser(), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var msg bytes.Buffer
		msg.ReadFrom(resp.Body)
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, msg.String())
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

// TestYARNRunsContainerProcesses submits an application whose AM container
// is a shell command, checks that it runs as a real process on this machine,
// and kills the application.
func TestYARNRunsContainerProcesses(t *testing.T) {
	base := rmWeb(t)
	var nodes struct {
		Nodes struct {
			Node []struct{ State string } `json:"node"`
		} `json:"nodes"`
	}
	rmDo(t, http.MethodGet, base+"/ws/v1/cluster/nodes", nil, &nodes)
	running := 0
	for _, n := range nodes.Nodes.Node {
		if n.State == "RUNNING" {
			running++
		}
	}
	if running < 2 {
		t.Fatalf("%d NodeManagers RUNNING, want 2", running)
	}

	var app struct {
		ID string `json:"application-id"`
	}
	rmDo(t, http.MethodPost, base+"/ws/v1/cluster/apps/new-application", nil, &app)
	marker := filepath.Join(t.TempDir(), "container.pid")
	spec := map[string]any{
		"application-id":   app.ID,
		"application-name": "loom-it-sleeper",
		"application-type": "YARN",
		"max-app-attempts": 1,
		"resource":         map[string]any{"memory": 64, "vCores": 1},
		"am-container-spec": map[string]any{
			"commands": map[string]any{"command": fmt.Sprintf("echo $$ $HADOOP_CONF_DIR > %s.tmp && mv %s.tmp %s && exec sleep 300", marker, marker, marker)},
		},
	}
	rmDo(t, http.MethodPost, base+"/ws/v1/cluster/apps", spec, nil)
	killed := false
	t.Cleanup(func() {
		if !killed {
			rmDo(t, http.MethodPut, base+"/ws/v1/cluster/apps/"+app.ID+"/state", map[string]string{"state": "KILLED"}, nil)
		}
	})

	var pid int
	deadline := time.Now().Add(90 * time.Second)
	for {
		if b, err := os.ReadFile(marker); err == nil {
			fields := strings.Fields(string(b))
			pid, _ = strconv.Atoi(fields[0])
			// Like a real cluster's, the NodeManagers hand HADOOP_CONF_DIR to containers.
			if len(fields) < 2 {
				t.Errorf("HADOOP_CONF_DIR is not set in the container")
			} else if _, err := os.Stat(filepath.Join(fields[1], "yarn-site.xml")); err != nil {
				t.Errorf("container's HADOOP_CONF_DIR=%s: %v", fields[1], err)
			}
			break
		}
		if time.Now().After(deadline) {
			var st map[string]any
			rmDo(t, http.MethodGet, base+"/ws/v1/cluster/apps/"+app.ID, nil, &st)
			t.Fatalf("the AM container did not start within 90s; app: %v", st)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("container process %d is not running", pid)
	}
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if !strings.Contains(cwd, app.ID) {
		t.Errorf("container's working dir %q is not the application's", cwd)
	}

	rmDo(t, http.MethodPut, base+"/ws/v1/cluster/apps/"+app.ID+"/state", map[string]string{"state": "KILLED"}, nil)
	killed = true
	deadline = time.Now().Add(60 * time.Second)
	for {
		var st struct {
			App struct{ State string } `json:"app"`
		}
		rmDo(t, http.MethodGet, base+"/ws/v1/cluster/apps/"+app.ID, nil, &st)
		if st.App.State == "KILLED" && syscall.Kill(pid, 0) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after kill: app state %s, container process alive: %v", st.App.State, syscall.Kill(pid, 0) == nil)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
