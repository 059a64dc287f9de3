package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/cli/status"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/connector/file"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/engine"
	"github.com/loom-yarn/loom/jobmaster"
	"github.com/loom-yarn/loom/metrics"
	"github.com/loom-yarn/loom/minicluster"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/task"
)

// commonFlags are the flags every job accepts. Each maps onto a
// configuration key; a flag given explicitly wins over -D and the YAML file.
type commonFlags struct {
	confFile       string
	defs           []string
	fromCheckpoint string
	fromSavepoint  string
	fs             *pflag.FlagSet
	// jobFlags are the names of the job's own flags on fs.
	jobFlags []string
}

// flagKeys maps flag names onto configuration keys.
var flagKeys = []struct{ flag, key, usage string }{
	{"parallelism", conf.Parallelism.Key(), "default parallelism of the job's operators"},
	{"max-parallelism", conf.MaxParallelism.Key(), "number of key groups (0 derives it from the parallelism)"},
	{"checkpoint-dir", conf.CheckpointDir.Key(), "directory for checkpoints (CHECKPOINT_DIR/<job>/chk-N)"},
	{"checkpoint-interval", conf.CheckpointInterval.Key(), "time between checkpoints, e.g. 10s (0 turns them off)"},
	{"state-backend", conf.StateBackend.Key(), "keyed state backend: heap or lsm"},
	{"metrics-addr", conf.MetricsAddr.Key(), "serve Prometheus /metrics on this host:port"},
	{"on-bad-record", conf.OnBadRecord.Key(), "what a malformed input record does: fail or skip"},
	{"dead-letter", conf.DeadLetterPath.Key(), "file receiving skipped bad records"},
	{"runtime-mode", conf.RuntimeMode.Key(), "streaming, batch or automatic (batch when all inputs are bounded)"},
}

func addCommonFlags(fs *pflag.FlagSet) *commonFlags {
	c := &commonFlags{fs: fs}
	fs.StringVar(&c.confFile, "conf", "", "YAML configuration file")
	fs.StringArrayVarP(&c.defs, "define", "D", nil, "set a configuration option: -D key=value (repeatable)")
	fs.StringVar(&c.fromCheckpoint, "from-checkpoint", "", "restore from this checkpoint (a chk-N directory, or a directory of them: the latest)")
	fs.StringVar(&c.fromSavepoint, "from-savepoint", "", "restore from this savepoint (what loom savepoint or loom stop wrote: a chk-N directory, or the directory they wrote it into)")
	for _, f := range flagKeys {
		if f.flag == "parallelism" {
			fs.StringP(f.flag, "p", "", f.usage)
			continue
		}
		fs.String(f.flag, "", f.usage)
	}
	return c
}

// config merges the YAML file, -D options and explicit flags, in that order.
func (c *commonFlags) config() (*conf.Config, error) {
	if c.fromSavepoint != "" {
		if c.fromCheckpoint != "" {
			return nil, usageError{fmt.Errorf("--from-checkpoint %s and --from-savepoint %s: a job restores from one of them", c.fromCheckpoint, c.fromSavepoint)}
		}
		// A savepoint is a checkpoint in a directory of its own.
		c.fromCheckpoint = c.fromSavepoint
	}
	cfg := conf.New()
	if c.confFile != "" {
		var err error
		if cfg, err = conf.LoadYAML(c.confFile); err != nil {
			return nil, err
		}
	}
	for _, d := range c.defs {
		if err := cfg.ApplyD(d); err != nil {
			return nil, usageError{err}
		}
	}
	for _, f := range flagKeys {
		if fl := c.fs.Lookup(f.flag); fl != nil && fl.Changed {
			if err := cfg.Set(f.key, fl.Value.String(), "--"+f.flag+" flag"); err != nil {
				return nil, usageError{err}
			}
		}
	}
	return cfg, nil
}

func newRunCommand(stdout, stderr io.Writer) *cobra.Command {
	run := &cobra.Command{
		Use:   "run JOB [flags]",
		Short: "Run a job in this process (local mode)",
		Long:  "Run a job in this process: every subtask is a goroutine, channels are in memory,\ncheckpoints go to a local directory. `loom jobs` lists the jobs and their flags.",
		// A mistyped job name is no subcommand, so the job's flags after it
		// would be refused as unknown flags of run itself ("unknown flag:
		// --input"), hiding the real mistake: let them through to RunE,
		// which names the job.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("run needs a job name; jobs: %s", jobNames())}
			}
			return unknownJob(args[0])
		},
	}
	for _, j := range stream.Jobs() {
		j := j
		cmd := &cobra.Command{Use: j.Name + " [flags]", Short: j.Description, Args: cobra.NoArgs}
		common := addCommonFlags(cmd.Flags())
		build := j.Define(cmd.Flags())
		common.jobFlags = jobFlagNames(j)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			return runJob(cmd.Context(), j, build, common, stdout, stderr)
		}
		run.AddCommand(cmd)
	}
	return run
}

// unknownJob is the usage error for a job name no job has, with the
// closest registered name when there is one.
func unknownJob(name string) error {
	var names []string
	for _, j := range stream.Jobs() {
		names = append(names, j.Name)
	}
	if s := conf.Closest(name, names); s != "" {
		return usageError{fmt.Errorf("unknown job %q; did you mean %q? jobs: %s", name, s, jobNames())}
	}
	return usageError{fmt.Errorf("unknown job %q; jobs: %s", name, jobNames())}
}

// jobFlagNames lists the flags job j defines itself.
func jobFlagNames(j stream.Job) []string {
	fs := pflag.NewFlagSet(j.Name, pflag.ContinueOnError)
	j.Define(fs)
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

func jobNames() string {
	var names []string
	for _, j := range stream.Jobs() {
		names = append(names, j.Name)
	}
	if len(names) == 0 {
		return "(none registered)"
	}
	return strings.Join(names, ", ")
}

func runJob(ctx context.Context, j stream.Job, build stream.Builder, common *commonFlags, stdout, stderr io.Writer) (err error) {
	cfg, err := common.config()
	if err != nil {
		return err
	}
	env, err := stream.NewEnvironment(j, build, cfg)
	if err != nil {
		return err
	}
	g, err := env.Graph()
	if err != nil {
		return err
	}
	job := &deploy.Job{Spec: deploy.NewJobSpec(j.Name, nil, cfg), Conf: cfg, Graph: g}
	job.Spec.RestoreFrom = common.fromCheckpoint
	if job.Plan, err = minicluster.Plan(job); err != nil {
		return err
	}
	job.Spec.Plan = job.Plan

	bad := &task.BadRecordPolicy{Skip: conf.OnBadRecord.Get(cfg) == conf.BadRecordSkip}
	var deadLetters *deadLetterFile
	if p := conf.DeadLetterPath.Get(cfg); p != "" {
		if !bad.Skip {
			return usageError{fmt.Errorf("%s is set but %s is fail: dead letters are kept only when skipping", conf.DeadLetterPath.Key(), conf.OnBadRecord.Key())}
		}
		if err := common.checkDeadLetterPath(cfg, p); err != nil {
			return err
		}
		if deadLetters, err = createDeadLetters(p); err != nil {
			return err
		}
		defer func() {
			if cerr := deadLetters.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		bad.DeadLetter = deadLetters
	}

	reg := prometheus.NewRegistry()
	ckMetrics, err := metrics.NewCheckpoints(j.Name, reg)
	if err != nil {
		return err
	}
	// The collector and the status line read whichever run is current;
	// the stages of a run stage by stage are summed in the status.
	var current atomic.Pointer[engine.Execution]
	var stages stageProgress
	taskMetrics := func() []*task.TaskMetrics {
		if x := current.Load(); x != nil {
			return x.TaskMetrics()
		}
		return nil
	}
	reg.MustRegister(metrics.NewCollector(j.Name, taskMetrics), metrics.NewBadRecords(j.Name, bad.Skipped))
	mctx, stopMetrics := context.WithCancel(ctx)
	defer stopMetrics()
	if addr := conf.MetricsAddr.Get(cfg); addr != "" {
		bound, err := metrics.Serve(mctx, addr, reg)
		if err != nil {
			return fmt.Errorf("serve metrics (%s): %w", conf.MetricsAddr.Key(), err)
		}
		fmt.Fprintf(stderr, "metrics on http://%s/metrics\n", bound)
	}

	lineCtx, stopLine := context.WithCancel(ctx)
	lineDone := make(chan struct{})
	go func() {
		defer close(lineDone)
		f, ok := stderr.(*os.File)
		(&status.Line{Out: stderr, Interval: 500 * time.Millisecond, Progress: stages.progress, Terminal: ok && status.IsTerminal(f)}).Run(lineCtx)
	}()
	// loom run is a mini cluster: the job master and a worker in this
	// process, the same code as on YARN.
	err = minicluster.Run(ctx, job, minicluster.Options{
		Tune: func(eo *engine.Options) {
			eo.BadRecords = bad
		},
		OnCheckpoint:        ckMetrics.ObserveCompleted,
		OnCheckpointAborted: func(int64, string) { ckMetrics.ObserveAborted() },
		Started: func(x *engine.Execution) {
			current.Store(x)
			stages.started(x)
			if md := x.Restored(); md != nil {
				for _, why := range md.Skipped {
					fmt.Fprintf(stderr, "%s: restoring an earlier checkpoint\n", why)
				}
				fmt.Fprintf(stderr, "restored job %s from checkpoint %d (%s)\n", g.Name, md.ID, md.Timestamp.Format(time.RFC3339))
			}
		},
		OnRestart: func(r jobmaster.Restart) {
			from := "from the start"
			if r.From != "" {
				from = "from " + r.From
				if md, dir, lerr := checkpoint.Load(r.From); lerr == nil {
					from = fmt.Sprintf("from checkpoint %d (%s)", md.ID, dir)
				}
			}
			of := ""
			if r.Of < conf.BackoffAttempts.Default() {
				of = fmt.Sprintf(" of %d", r.Of)
			}
			fmt.Fprintf(stderr, "job %s failed: %s\nrestart %d%s in %v, %s\n", j.Name, r.Cause, r.Restart, of, r.Delay, from)
		},
	})
	stopLine()
	<-lineDone
	// The error itself is printed once, by the caller.
	if current.Load() != nil {
		status.Summary(stderr, stages.progress(), nil)
	}
	if n := bad.Skipped(); n > 0 {
		fmt.Fprintf(stderr, "skipped bad records: %d\n", n)
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("job cancelled")
	}
	return err
}

// checkDeadLetterPath refuses a dead-letter path that is, or lies inside, a
// path another flag of the job names (its input, its output, the
// configuration file, the checkpoint directory): creating the dead-letter
// file truncates what is there, and an input truncated before it is read
// reads as empty, exit 0. The job's flags are the job's inputs and outputs
// in loom's model, so this is checked here, where the file is created,
// before anything is read.
func (c *commonFlags) checkDeadLetterPath(cfg *conf.Config, deadLetter string) error {
	flag := "--dead-letter"
	if src := cfg.Source(conf.DeadLetterPath.Key()); src != "--dead-letter flag" {
		flag = conf.DeadLetterPath.Key() + " (" + src + ")"
	}
	names := append([]string{"conf", "checkpoint-dir", "from-checkpoint", "from-savepoint"}, c.jobFlags...)
	for _, name := range names {
		f := c.fs.Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		var values []string
		switch v := f.Value.(type) {
		case pflag.SliceValue:
			values = v.GetSlice()
		default:
			if f.Value.Type() != "string" {
				continue
			}
			values = []string{f.Value.String()}
		}
		for _, v := range values {
			if v != "" && file.Covers(v, deadLetter) {
				return usageError{fmt.Errorf("%s %s is, or lies inside, --%s %s: creating the dead-letter file would overwrite what is there before the job reads it; choose a dead-letter path outside the job's inputs and outputs", flag, deadLetter, name, v)}
			}
		}
	}
	if d := conf.CheckpointDir.Get(cfg); d != "" && file.Covers(d, deadLetter) {
		return usageError{fmt.Errorf("%s %s lies inside the checkpoint directory %s (%s); choose a dead-letter path outside it", flag, deadLetter, d, conf.CheckpointDir.Key())}
	}
	return nil
}

// deadLetterFile buffers the dead-letter records: a skipped record is one
// short write, and unbuffered they made a run with many bad rows 10-20
// times slower than one without. BadRecordPolicy serializes the writes.
// The buffer is flushed when the job ends, and also whenever it is full.
type deadLetterFile struct {
	f   *os.File
	buf *bufio.Writer
}

func createDeadLetters(p string) (*deadLetterFile, error) {
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file (%s): %w", conf.DeadLetterPath.Key(), err)
	}
	return &deadLetterFile{f: f, buf: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (d *deadLetterFile) Write(p []byte) (int, error) { return d.buf.Write(p) }

// Close flushes the buffered records and closes the file.
func (d *deadLetterFile) Close() error {
	err := d.buf.Flush()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dead-letter file %s: %w", d.f.Name(), err)
	}
	return nil
}

// stageProgress sums the progress of the executions of one run: the
// stages of a bounded job run stage by stage (a restart starts anew).
type stageProgress struct {
	mu    sync.Mutex
	execs []*engine.Execution
	start time.Time
}

func (s *stageProgress) started(x *engine.Execution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x.Restored() != nil || len(s.execs) == 0 || x.Stage() == 0 {
		s.execs, s.start = nil, time.Now()
	}
	s.execs = append(s.execs, x)
}

func (s *stageProgress) progress() task.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := task.Progress{Watermark: task.NoTimestamp}
	for i, x := range s.execs {
		xp := x.Progress()
		p.RecordsIn += xp.RecordsIn
		p.CompletedCheckpoints += xp.CompletedCheckpoints
		if i == len(s.execs)-1 {
			p.RecordsOut, p.Watermark, p.RunningTasks, p.TotalTasks = xp.RecordsOut, xp.Watermark, xp.RunningTasks, xp.TotalTasks
		}
	}
	if len(s.execs) > 0 {
		p.Elapsed = time.Since(s.start)
	}
	return p
}

func newJobsCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List the jobs this binary runs, with their flags",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for _, j := range stream.Jobs() {
				fmt.Fprintf(stdout, "%s\n    %s\n", j.Name, j.Description)
				fs := pflag.NewFlagSet(j.Name, pflag.ContinueOnError)
				j.Define(fs)
				var lines []string
				fs.VisitAll(func(f *pflag.Flag) {
					def := ""
					if f.DefValue != "" && f.DefValue != "[]" {
						def = " (default " + strconv.Quote(f.DefValue) + ")"
					}
					lines = append(lines, fmt.Sprintf("    --%-18s %s%s", f.Name, f.Usage, def))
				})
				sort.Strings(lines)
				for _, l := range lines {
					fmt.Fprintln(stdout, l)
				}
				fmt.Fprintln(stdout)
			}
			fmt.Fprintln(stdout, "Every job also takes: --parallelism/-p, --conf FILE, -D key=value, --from-checkpoint DIR,")
			fmt.Fprintln(stdout, "--checkpoint-dir, --checkpoint-interval, --state-backend, --metrics-addr, --on-bad-record,")
			fmt.Fprintln(stdout, "--dead-letter, --runtime-mode (see `loom run JOB --help`).")
			return nil
		},
	}
}
