// Command loom-cluster-probe answers whether one service of the dev cluster
// is ready, with the real client protocols. cluster.sh calls it while it
// waits; it exits 0 if ready, 1 (with the reason on stderr) if not.
//
//	loom-cluster-probe hdfs                   write, read back and delete a file ($HADOOP_CONF_DIR)
//	loom-cluster-probe yarn URL N             RM REST API at URL lists at least N RUNNING NodeManagers
//	loom-cluster-probe kafka HOST:PORT        the broker answers a Metadata request
//	loom-cluster-probe metastore HOST:PORT    the Hive metastore lists its databases
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/beltran/gohive"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/loom-yarn/loom/hdfs"
)

const timeout = 15 * time.Second

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: loom-cluster-probe hdfs | yarn URL N | kafka HOST:PORT | metastore HOST:PORT"))
	}
	// Servers that accept a connection but never answer must not hang us.
	time.AfterFunc(timeout+5*time.Second, func() { fail(fmt.Errorf("%s: no answer within %v", os.Args[1], timeout)) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	switch cmd := os.Args[1]; {
	case cmd == "hdfs" && len(os.Args) == 2:
		err = probeHDFS()
	case cmd == "yarn" && len(os.Args) == 4:
		err = probeYARN(ctx, os.Args[2], os.Args[3])
	case cmd == "kafka" && len(os.Args) == 3:
		err = probeKafka(ctx, os.Args[2])
	case cmd == "metastore" && len(os.Args) == 3:
		err = probeMetastore(ctx, os.Args[2])
	default:
		err = fmt.Errorf("bad arguments %q", os.Args[1:])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loom-cluster-probe:", err)
	os.Exit(1)
}

func probeHDFS() error {
	c, err := hdfs.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	p := fmt.Sprintf("/tmp/.loom-cluster-probe-%d", os.Getpid())
	want := []byte("loom cluster probe\n")
	w, err := c.Create(p)
	if err != nil {
		return err
	}
	if _, err := w.Write(want); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	f, err := c.Open(p)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("hdfs: read back %q, wrote %q", got, want)
	}
	return c.RemoveAll(p)
}

func probeYARN(ctx context.Context, url, n string) error {
	want, err := strconv.Atoi(n)
	if err != nil {
		return fmt.Errorf("yarn: bad node count %q", n)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/ws/v1/cluster/nodes", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("yarn: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("yarn: %s: %s", req.URL, resp.Status)
	}
	var body struct {
		Nodes struct {
			Node []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"node"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("yarn: %s: %w", req.URL, err)
	}
	running := 0
	for _, nd := range body.Nodes.Node {
		if nd.State == "RUNNING" {
			running++
		}
	}
	if running < want {
		return fmt.Errorf("yarn: %d of %d NodeManagers RUNNING", running, want)
	}
	return nil
}

func probeKafka(ctx context.Context, addr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("kafka %s: metadata: %w", addr, err)
	}
	if len(resp.Brokers) == 0 {
		return fmt.Errorf("kafka %s: metadata lists no brokers", addr)
	}
	if resp.ControllerID < 0 {
		return fmt.Errorf("kafka %s: no active controller yet", addr)
	}
	return nil
}

func probeMetastore(ctx context.Context, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("metastore: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("metastore: bad port in %q", addr)
	}
	// A closed port would make gohive fail slowly; check it first.
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return fmt.Errorf("metastore: %w", err)
	}
	conn.Close()
	c, err := gohive.ConnectToMetastore(host, port, "NOSASL", gohive.NewMetastoreConnectConfiguration())
	if err != nil {
		return fmt.Errorf("metastore %s: %w", addr, err)
	}
	defer c.Close()
	dbs, err := c.Client.GetAllDatabases(ctx)
	if err != nil {
		return fmt.Errorf("metastore %s: get_all_databases: %w", addr, err)
	}
	for _, d := range dbs {
		if d == "default" {
			return nil
		}
	}
	return fmt.Errorf("metastore %s: no default database yet (have %v)", addr, dbs)
}
