package am

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/codec"
	"github.com/loom-yarn/loom/connector/file"
	_ "github.com/loom-yarn/loom/jobs"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/yarn/security"
)

func TestWorkerLaunchContext(t *testing.T) {
	creds := &security.Credentials{}
	creds.AddToken("amrm", &security.Token{Identifier: []byte{1}, Password: []byte{2}, Kind: security.KindAMRMToken, Service: "rm:8030"})
	creds.AddToken("hdfs", &security.Token{Identifier: []byte{3}, Password: []byte{4}, Kind: "HDFS_DELEGATION_TOKEN", Service: "nn:8020"})
	spec := &JobSpec{Job: "grep", User: "alice", Resources: []Resource{
		{Name: BinaryFile, Path: "hdfs://nn:8020/user/alice/.loom/app_1/loom", Size: 42, Timestamp: 1700000000000},
	}}
	l, err := NewWorkerLaunch(spec, "secret", "am-host:4000", creds)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Context(3)
	if len(c.Command) != 1 || c.Command[0] != WorkerCommand() {
		t.Errorf("command %q", c.Command)
	}
	env := map[string]string{}
	for _, e := range c.Environment {
		env[e.GetKey()] = e.GetValue()
	}
	for k, v := range map[string]string{EnvSecret: "secret", EnvAMAddress: "am-host:4000", EnvWorkerID: "3", "HADOOP_USER_NAME": "alice"} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	r := c.LocalResources[0]
	u := r.GetValue().GetResource()
	if r.GetKey() != BinaryFile || u.GetScheme() != "hdfs" || u.GetHost() != "nn" || u.GetPort() != 8020 || u.GetFile() != "/user/alice/.loom/app_1/loom" ||
		r.GetValue().GetSize() != 42 || r.GetValue().GetTimestamp() != 1700000000000 {
		t.Errorf("local resource %v", r)
	}
	got, err := security.ParseCredentials(c.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.TokenByKind(security.KindAMRMToken); ok {
		t.Error("workers' credentials carry the AMRMToken")
	}
	if _, ok := got.TokenByKind("HDFS_DELEGATION_TOKEN"); !ok {
		t.Error("workers' credentials lost the HDFS token")
	}

	spec.Resources[0].Path = "not a uri"
	if _, err := NewWorkerLaunch(spec, "s", "a:1", nil); err == nil || !strings.Contains(err.Error(), "resource loom") {
		t.Errorf("bad resource path: %v", err)
	}
}

// taggedWord has a map, for which no codec can be derived.
type taggedWord struct {
	Word string
	Tags map[string]int
}

func init() {
	stream.Register(stream.Job{Name: "am-test-nocodec", Description: "keys records that have no codec", Define: func(fs *pflag.FlagSet) stream.Builder {
		input := fs.String("input", "", "")
		output := fs.String("output", "", "")
		return func(env *stream.Env) error {
			lines := stream.FromSource(env, "read", file.Text(*input), nil)
			tagged := stream.Map(lines, "tag", func(s string) taggedWord { return taggedWord{Word: s} })
			last := stream.Reduce(stream.KeyBy(tagged, func(w taggedWord) string { return w.Word }), "last",
				func(_, b taggedWord) taggedWord { return b }, codec.JSON[taggedWord]())
			stream.Map(last, "word", func(w taggedWord) string { return w.Word }).SinkTo("write", file.Sink(*output, file.Lines))
			return nil
		}
	}})
}

func TestBuildJobPlansAndChecksShuffleCodecs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		spec    JobSpec
		workers int
		err     string
	}{
		{"grep on 2 workers", JobSpec{Job: "grep", Args: []string{"--input", "in", "--pattern", "x", "--output", "out"}, Parallelism: 4, SlotsPerWorker: 2}, 2, ""},
		{"wordcount in one worker", JobSpec{Job: "wordcount", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 2, SlotsPerWorker: 2}, 1, ""},
		{"wordcount across workers", JobSpec{Job: "wordcount", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 4, SlotsPerWorker: 2}, 2, ""},
		{"no codec in one worker", JobSpec{Job: "am-test-nocodec", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 2, SlotsPerWorker: 2}, 1, ""},
		{"no codec across workers", JobSpec{Job: "am-test-nocodec", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 2, SlotsPerWorker: 1}, 0,
			"job am-test-nocodec runs on 2 workers, and records of 1 of its edges must cross between them without a codec: edge Map: tag -> Process: last (hash)"},
		{"unknown job", JobSpec{Job: "nope"}, 0, `job "nope" is not registered`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.txt")
			if err := os.WriteFile(in, []byte("a line\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for i, a := range tc.spec.Args {
				if a == "in" {
					tc.spec.Args[i] = in
				}
			}
			j, err := BuildJob(&tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("BuildJob = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Plan.Workers != tc.workers {
				t.Errorf("%d workers, want %d", j.Plan.Workers, tc.workers)
			}
			if j.Plan.Worker.MemoryMB != DefaultWorkerMemoryMB {
				t.Errorf("worker memory %d, want the default", j.Plan.Worker.MemoryMB)
			}
		})
	}
}
