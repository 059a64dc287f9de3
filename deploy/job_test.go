package deploy

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
)

// taggedWord has a map, for which no codec can be derived.
type taggedWord struct {
	Word string
	Tags map[string]int
}

func init() {
	stream.Register(stream.Job{Name: "deploy-test-nocodec", Description: "keys records that have no codec", Define: func(fs *pflag.FlagSet) stream.Builder {
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
		{"no codec in one worker", JobSpec{Job: "deploy-test-nocodec", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 2, SlotsPerWorker: 2}, 1, ""},
		{"no codec across workers", JobSpec{Job: "deploy-test-nocodec", Args: []string{"--input", "in", "--output", "out"}, Parallelism: 2, SlotsPerWorker: 1}, 0,
			"job deploy-test-nocodec runs on 2 workers, and records of 1 of its edges must cross between them without a codec: edge Map: tag -> Process: last (hash)"},
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

// TestBuildJobStages: execution.batch-shuffle-mode=blocking splits a
// bounded job into stages (the AM's and the client's plan), pipelined
// leaves it deployed at once, and blocking is refused with the option named
// where it cannot apply.
func TestBuildJobStages(t *testing.T) {
	wc := []string{"--input", "in", "--output", "out"}
	for _, tc := range []struct {
		name   string
		job    string
		conf   map[string]string
		stages string
		err    string
	}{
		{"pipelined by default", "wordcount", nil, "", ""},
		{"blocking wordcount: read+split, then count+write", "wordcount", map[string]string{"execution.batch-shuffle-mode": "blocking"},
			"[Source: read IN -> FlatMap: split words] [Process: count -> Sink: write out]", ""},
		{"blocking for a streaming run", "wordcount", map[string]string{"execution.batch-shuffle-mode": "blocking", "execution.runtime-mode": "streaming"},
			"", "execution.batch-shuffle-mode=blocking needs a bounded job run in batch mode, but execution.runtime-mode is streaming"},
		{"blocking needs codecs even on one worker", "deploy-test-nocodec", map[string]string{"execution.batch-shuffle-mode": "blocking"},
			"", "runs stage by stage (execution.batch-shuffle-mode=blocking), and records of 1 of its edges must be written to disk between stages without a codec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.txt")
			if err := os.WriteFile(in, []byte("a line\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string(nil), wc...)
			args[1] = in
			spec := &JobSpec{Job: tc.job, Args: args, Conf: tc.conf, Parallelism: 2, SlotsPerWorker: 2}
			j, err := BuildJob(spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("BuildJob = %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]string{}
			for _, c := range j.Graph.Chains() {
				names[c.ID] = c.Name
			}
			var got []string
			for _, s := range j.Plan.Stages {
				var cs []string
				for _, id := range s.Chains {
					cs = append(cs, strings.ReplaceAll(names[id], in, "IN"))
				}
				got = append(got, "["+strings.Join(cs, "; ")+"]")
			}
			if g := strings.Join(got, " "); g != tc.stages {
				t.Errorf("stages %q, want %q", g, tc.stages)
			}
		})
	}
}
