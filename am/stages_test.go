package am

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
		{"blocking needs codecs even on one worker", "am-test-nocodec", map[string]string{"execution.batch-shuffle-mode": "blocking"},
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
