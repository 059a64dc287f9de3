package cli

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/stream"
	"github.com/loom-yarn/loom/yarn"
	"github.com/loom-yarn/loom/yarn/ipc"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// This file is the YARN client: `loom submit` (also the yarn-submit binary),
// `loom list`, `loom status` and `loom kill`. Submitting validates everything
// it can before it touches the cluster (flags, the job's graph, the binary),
// then reserves an application id, checks the requested containers against
// the cluster's largest one, uploads the staging directory
// /user/<user>/.loom/<application id>/ and submits the ApplicationMaster's
// launch context. Any failure after the upload started deletes the staging
// directory again.

// rmCallTimeout bounds one call to the ResourceManager.
const rmCallTimeout = 30 * time.Second

// pollInterval is how often an attached submit and `loom kill` ask the RM
// for the application's report; tests shorten it.
var pollInterval = time.Second

// submitFlags are loom submit's own flags (the job's flags and the common
// job flags are separate).
type submitFlags struct {
	name, queue    string
	tags           []string
	amMemoryMB     int64
	amVCores       int32
	workerMemoryMB int64
	workerVCores   int32
	slotsPerWorker int
	maxAttempts    int32
	shipFiles      []string
	detached       bool
	binary         string
}

// submitFlagNames are the names addSubmitFlags declares, to detect a job
// flag of the same name.
var submitFlagNames = []string{"name", "queue", "tags", "am-memory", "am-vcores", "worker-memory", "worker-vcores",
	"slots-per-worker", "max-attempts", "ship-files", "detached", "binary"}

func addSubmitFlags(fs *pflag.FlagSet) *submitFlags {
	f := &submitFlags{}
	fs.StringVar(&f.name, "name", "", "YARN application name (default: the job's name; also "+conf.YarnAppName.Key()+")")
	fs.StringVar(&f.queue, "queue", "", "YARN queue (default \""+conf.YarnQueue.Default()+"\"; also "+conf.YarnQueue.Key()+")")
	fs.StringSliceVar(&f.tags, "tags", nil, "YARN application tags, comma-separated (loom list --tags finds them)")
	fs.Int64Var(&f.amMemoryMB, "am-memory", 512, "ApplicationMaster container memory, MB")
	fs.Int32Var(&f.amVCores, "am-vcores", 1, "ApplicationMaster container virtual cores")
	fs.Int64Var(&f.workerMemoryMB, "worker-memory", 1024, "memory of each worker container, MB")
	fs.Int32Var(&f.workerVCores, "worker-vcores", 1, "virtual cores of each worker container")
	fs.IntVar(&f.slotsPerWorker, "slots-per-worker", 1, "subtask slots per worker container (workers = parallelism / slots)")
	fs.Int32Var(&f.maxAttempts, "max-attempts", 1, "ApplicationMaster attempts YARN makes before the application fails")
	fs.StringSliceVar(&f.shipFiles, "ship-files", nil, "local files to ship into every container's working directory, comma-separated")
	fs.BoolVar(&f.detached, "detached", false, "return once YARN accepted the application instead of following it")
	fs.StringVar(&f.binary, "binary", "", "job binary to ship (default: this executable); must be linux/amd64")
	return f
}

// check rejects flag values no cluster could satisfy.
func (f *submitFlags) check() error {
	switch {
	case f.amMemoryMB < 1:
		return fmt.Errorf("--am-memory %d: must be at least 1 MB", f.amMemoryMB)
	case f.amVCores < 1:
		return fmt.Errorf("--am-vcores %d: must be at least 1", f.amVCores)
	case f.workerMemoryMB < 1:
		return fmt.Errorf("--worker-memory %d: must be at least 1 MB", f.workerMemoryMB)
	case f.workerVCores < 1:
		return fmt.Errorf("--worker-vcores %d: must be at least 1", f.workerVCores)
	case f.slotsPerWorker < 1:
		return fmt.Errorf("--slots-per-worker %d: must be at least 1", f.slotsPerWorker)
	case f.maxAttempts < 1:
		return fmt.Errorf("--max-attempts %d: must be at least 1", f.maxAttempts)
	}
	for _, t := range f.tags {
		if strings.TrimSpace(t) == "" {
			return errors.New("--tags: empty tag; want comma-separated names, e.g. --tags nightly,team-a")
		}
	}
	return nil
}

// apply moves --name and --queue into cfg, where -D may also have set them;
// the flags win.
func (f *submitFlags) apply(fs *pflag.FlagSet, cfg *conf.Config) error {
	for _, o := range []struct{ flag, key string }{{"name", conf.YarnAppName.Key()}, {"queue", conf.YarnQueue.Key()}} {
		if fl := fs.Lookup(o.flag); fl != nil && fl.Changed {
			if err := cfg.Set(o.key, fl.Value.String(), "--"+o.flag+" flag"); err != nil {
				return err
			}
		}
	}
	return nil
}

func newSubmitCommand(stdout, stderr io.Writer) *cobra.Command {
	submit := &cobra.Command{
		Use:   "submit JOB [flags]",
		Short: "Submit a job to YARN (also the yarn-submit binary)",
		Long: "Submit a job to YARN: upload this binary and the Hadoop configuration to\n" +
			"/user/<user>/.loom/<application id>/ on HDFS and start an ApplicationMaster.\n" +
			"Attached (the default) it follows the application and exits 0 only when it\n" +
			"finished SUCCEEDED; Ctrl-C detaches. Needs HADOOP_CONF_DIR (yarn-site.xml,\n" +
			"core-site.xml). `loom jobs` lists the jobs and their flags.",
		// As for run: a mistyped job name is named, not its flags.
		FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("submit needs a job name; jobs: %s", jobNames())}
			}
			return unknownJob(args[0])
		},
	}
	for _, j := range stream.Jobs() {
		j := j
		cmd := &cobra.Command{Use: j.Name + " [flags]", Short: j.Description, Args: cobra.NoArgs}
		common := addCommonFlags(cmd.Flags())
		sf := addSubmitFlags(cmd.Flags())
		jobFlags := pflag.NewFlagSet(j.Name, pflag.ContinueOnError)
		j.Define(jobFlags)
		var clash []string
		jobFlags.VisitAll(func(f *pflag.Flag) {
			if cmd.Flags().Lookup(f.Name) != nil {
				clash = append(clash, "--"+f.Name)
			}
		})
		if len(clash) > 0 {
			// Adding them would panic at start-up and take every command down.
			cmd.RunE = func(*cobra.Command, []string) error {
				return fmt.Errorf("job %s defines %s, which loom submit uses itself: rename the job's flag", j.Name, strings.Join(clash, ", "))
			}
			submit.AddCommand(cmd)
			continue
		}
		cmd.Flags().AddFlagSet(jobFlags)
		cmd.RunE = func(cmd *cobra.Command, _ []string) error {
			s := &submission{job: j, args: jobArgs(jobFlags), common: common, flags: sf, fs: cmd.Flags(), stdout: stdout, stderr: stderr}
			return s.run(cmd.Context())
		}
		submit.AddCommand(cmd)
	}
	return submit
}

// jobArgs turns the job flags a user set back into arguments, so the AM and
// the workers parse exactly the values the client validated.
func jobArgs(fs *pflag.FlagSet) []string {
	var args []string
	fs.VisitAll(func(f *pflag.Flag) { // sorted by name: deterministic
		if !f.Changed {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

// submission is one run of loom submit.
type submission struct {
	job    stream.Job
	args   []string
	common *commonFlags
	flags  *submitFlags
	fs     *pflag.FlagSet
	stdout io.Writer
	stderr io.Writer
}

// prepared is what submit knows before it contacts the cluster.
type prepared struct {
	cfg    *conf.Config
	spec   *deploy.JobSpec // without user, staging and resources yet
	plan   *scheduler.Plan
	binary string
	// ship maps link names to local files (binary, Hadoop configuration,
	// --ship-files), in upload order.
	ship []shipFile
	yarn *yarn.Config
	// rmSource says where the RM address came from, for errors.
	rmSource string
}

type shipFile struct{ name, local string }

func (s *submission) run(ctx context.Context) error {
	p, err := s.prepare()
	if err != nil {
		return err
	}
	return s.submit(ctx, p)
}

// prepare validates everything that needs no cluster: flags, options, the
// job's graph and plan, the binary and the files to ship.
func (s *submission) prepare() (*prepared, error) {
	if err := s.flags.check(); err != nil {
		return nil, usageError{err}
	}
	cfg, err := s.common.config()
	if err != nil {
		return nil, err
	}
	if from := s.common.fromCheckpoint; from != "" && !strings.Contains(from, "://") {
		return nil, usageError{fmt.Errorf("--from-checkpoint/--from-savepoint %s: a job on YARN restores from a file system every container reads: give an hdfs:// URI (a chk-N directory, or a directory of them)", from)}
	}
	if err := s.flags.apply(s.fs, cfg); err != nil {
		return nil, usageError{err}
	}
	if err := refuseLocalOnly(cfg); err != nil {
		return nil, usageError{err}
	}
	dir := os.Getenv("HADOOP_CONF_DIR")
	ycfg, err := yarn.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	g, err := stream.BuildGraph(s.job.Name, s.args, cfg)
	if err != nil {
		return nil, err
	}
	plan, err := planWorkers(g, s.flags, cfg)
	if err != nil {
		return nil, err
	}
	binary := s.flags.binary
	if binary == "" {
		if binary, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find this executable to ship: %w (pass --binary PATH)", err)
		}
	}
	if err := checkBinary(binary); err != nil {
		return nil, err
	}
	ship, err := filesToShip(binary, dir, s.flags.shipFiles)
	if err != nil {
		return nil, err
	}
	spec := newJobSpec(s.job.Name, s.args, cfg, s.flags)
	spec.Plan = plan
	spec.RestoreFrom = s.common.fromCheckpoint
	return &prepared{cfg: cfg, spec: spec, plan: plan, binary: binary, ship: ship, yarn: ycfg, rmSource: rmAddressSource(dir)}, nil
}

// checkpointsOf settles where the application keeps its checkpoints, when
// checkpointing is on: a directory of its own, named by the application id,
// under state.checkpoints.dir (by default the user's HDFS home's
// .loom/checkpoints), so that a restart or a new attempt of its AM finds its
// checkpoints and never those of another application of the same job. It
// also checks that the checkpoint --from-checkpoint names can be restored.
func checkpointsOf(spec *deploy.JobSpec, cfg *conf.Config, fs *hdfs.Client, appID string, stdout io.Writer) error {
	if from := spec.RestoreFrom; from != "" {
		md, dir, err := checkpoint.Load(from)
		if err != nil {
			return fmt.Errorf("--from-checkpoint %s: %w", from, err)
		}
		fmt.Fprintf(stdout, "the job restores from checkpoint %d (%s)\n", md.ID, dir)
	}
	if conf.CheckpointInterval.Get(cfg) <= 0 {
		return nil
	}
	base := strings.TrimSuffix(conf.CheckpointDir.Get(cfg), "/")
	if base == "" {
		base = fs.URI("/user/" + spec.User + "/.loom/checkpoints")
	}
	spec.Conf[conf.CheckpointDir.Key()] = base + "/" + appID
	fmt.Fprintf(stdout, "checkpoints go to %s/%s/%s\n", base, appID, spec.Job)
	return nil
}

// refuseLocalOnly refuses the options loom run honours and a job on YARN
// cannot yet, naming each and where it was set, instead of accepting and
// ignoring them.
func refuseLocalOnly(cfg *conf.Config) error {
	var errs []string
	if conf.DeadLetterPath.IsSet(cfg) {
		errs = append(errs, fmt.Sprintf("%s=%s (%s): dead-letter files are written by loom run only; on YARN skipped records are counted (%s=skip) but not kept",
			conf.DeadLetterPath.Key(), conf.DeadLetterPath.Get(cfg), cfg.Source(conf.DeadLetterPath.Key()), conf.OnBadRecord.Key()))
	}
	if conf.MetricsAddr.IsSet(cfg) {
		errs = append(errs, fmt.Sprintf("%s=%s (%s): on YARN the ApplicationMaster serves the job's metrics at /metrics under its tracking URL",
			conf.MetricsAddr.Key(), conf.MetricsAddr.Get(cfg), cfg.Source(conf.MetricsAddr.Key())))
	}
	if len(errs) > 0 {
		return fmt.Errorf("loom submit cannot honour these options: %s; drop them, or run the job with loom run", strings.Join(errs, "; "))
	}
	return nil
}

// planWorkers places the graph's subtasks into worker slots (stage by
// stage in blocking shuffle mode) and checks
// that every edge whose records cross workers has a codec for them (the
// network shuffle serializes them), before anything is uploaded.
func planWorkers(g *graph.Graph, f *submitFlags, cfg *conf.Config) (*scheduler.Plan, error) {
	return deploy.NewPlan(g, cfg, f.slotsPerWorker, scheduler.Resources{MemoryMB: f.workerMemoryMB, VCores: f.workerVCores})
}

// newJobSpec fills the parts of the job spec that come from the command
// line; user, staging and resources are added once the staging directory
// exists.
func newJobSpec(job string, args []string, cfg *conf.Config, f *submitFlags) *deploy.JobSpec {
	name := conf.YarnAppName.Get(cfg)
	if name == "" {
		name = job
	}
	spec := deploy.NewJobSpec(job, args, cfg)
	spec.AppName, spec.Queue = name, conf.YarnQueue.Get(cfg)
	spec.SlotsPerWorker, spec.WorkerMemoryMB, spec.WorkerVCores = f.slotsPerWorker, f.workerMemoryMB, f.workerVCores
	return spec
}

// filesToShip lists the files of the staging directory besides the job
// spec: the binary as deploy.BinaryFile, the Hadoop client configuration of
// confDir, and --ship-files under their base names.
func filesToShip(binary, confDir string, extra []string) ([]shipFile, error) {
	files := []shipFile{{deploy.BinaryFile, binary}}
	taken := map[string]string{deploy.BinaryFile: "the job binary", deploy.SpecFile: "the job spec"}
	for _, name := range hdfs.HadoopConfFiles {
		p := filepath.Join(confDir, name)
		if _, err := os.Stat(p); err == nil {
			files = append(files, shipFile{name, p})
			taken[name] = "the Hadoop configuration " + p
		}
	}
	for _, p := range extra {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, usageError{fmt.Errorf("--ship-files %s: %w", p, errors.Unwrap(err))}
		}
		if fi.IsDir() {
			return nil, usageError{fmt.Errorf("--ship-files %s: is a directory; ship files one by one", p)}
		}
		name := filepath.Base(p)
		if what, dup := taken[name]; dup {
			return nil, usageError{fmt.Errorf("--ship-files %s: the name %s is already used by %s in the container's working directory; rename the file", p, name, what)}
		}
		taken[name] = p
		files = append(files, shipFile{name, p})
	}
	return files, nil
}

// checkBinary makes sure the file YARN will execute in its containers is a
// linux/amd64 executable: a binary built for a laptop's OS fails only in
// the container, with an error hidden in the NodeManager's logs.
func checkBinary(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("job binary: %w", err)
	}
	defer f.Close()
	const fix = "build it with GOOS=linux GOARCH=amd64 and pass it with --binary"
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return fmt.Errorf("job binary %s: too short to be an executable (%v): %s", p, err, fix)
	}
	switch {
	case bytes.Equal(head[:], []byte{0x7f, 'E', 'L', 'F'}):
	case bytes.Equal(head[:2], []byte("MZ")):
		return fmt.Errorf("job binary %s is a Windows executable, but YARN containers run linux/amd64: %s", p, fix)
	case isMachO(head):
		return fmt.Errorf("job binary %s is a macOS (Mach-O) executable, but YARN containers run linux/amd64: %s", p, fix)
	case bytes.Equal(head[:2], []byte("#!")):
		return fmt.Errorf("job binary %s is a script, but loom ships a Go binary: %s", p, fix)
	default:
		return fmt.Errorf("job binary %s is not an executable (starts with % x): %s", p, head, fix)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return fmt.Errorf("job binary %s: unreadable ELF header: %v", p, err)
	}
	if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		return fmt.Errorf("job binary %s is built for %s (%s), but YARN containers run linux/amd64: %s", p, ef.Machine, ef.Class, fix)
	}
	if ef.OSABI != elf.ELFOSABI_NONE && ef.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("job binary %s is built for %s, but YARN containers run linux/amd64: %s", p, ef.OSABI, fix)
	}
	if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
		return fmt.Errorf("job binary %s is an ELF %s, not an executable: %s", p, ef.Type, fix)
	}
	return nil
}

func isMachO(h [4]byte) bool {
	for _, m := range [][4]byte{{0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, {0xfe, 0xed, 0xfa, 0xcf}, {0xfe, 0xed, 0xfa, 0xce}, {0xca, 0xfe, 0xba, 0xbe}} {
		if h == m {
			return true
		}
	}
	return false
}

// rmAddressSource says where yarn.LoadConfig found the RM address, so an
// unreachable RM names the setting to fix.
func rmAddressSource(dir string) string {
	file := filepath.Join(dir, "yarn-site.xml")
	props, err := hdfs.LoadHadoopConf(dir)
	switch {
	case err != nil:
		return "yarn.resourcemanager.address from " + file
	case props["yarn.resourcemanager.address"] != "":
		return "yarn.resourcemanager.address in " + file
	case props["yarn.resourcemanager.hostname"] != "":
		return "yarn.resourcemanager.hostname in " + file + " with the default port " + yarn.DefaultRMPort
	default:
		return "YARN's default, since " + file + " sets neither yarn.resourcemanager.address nor yarn.resourcemanager.hostname"
	}
}

// rmError explains a failed RM call: a refusal quotes the RM, anything else
// means the RM could not be reached, named with the setting it came from.
func rmError(op, addr, source string, err error) error {
	var re *ipc.RemoteError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: the ResourceManager at %s refused: %w", op, addr, err)
	}
	return fmt.Errorf("%s: cannot reach the ResourceManager at %s (%s): %w; is YARN running there?", op, addr, source, err)
}

// checkCapability compares the requested containers with the largest one
// the cluster grants, before anything is uploaded.
func checkCapability(f *submitFlags, max *yarnpb.ResourceProto) error {
	if max == nil {
		return nil
	}
	var errs []string
	check := func(flag string, got, limit int64, unit, key string) {
		if limit > 0 && got > limit {
			errs = append(errs, fmt.Sprintf("%s %d%s is above the cluster's largest container (%d%s, %s)", flag, got, unit, limit, unit, key))
		}
	}
	check("--am-memory", f.amMemoryMB, max.GetMemory(), " MB", "yarn.scheduler.maximum-allocation-mb")
	check("--am-vcores", int64(f.amVCores), int64(max.GetVirtualCores()), "", "yarn.scheduler.maximum-allocation-vcores")
	check("--worker-memory", f.workerMemoryMB, max.GetMemory(), " MB", "yarn.scheduler.maximum-allocation-mb")
	check("--worker-vcores", int64(f.workerVCores), int64(max.GetVirtualCores()), "", "yarn.scheduler.maximum-allocation-vcores")
	if len(errs) == 0 {
		return nil
	}
	return usageError{errors.New(strings.Join(errs, "; ") + ": ask for less")}
}

// StagingDir is the HDFS directory of an application's files.
func StagingDir(user, appID string) string {
	return path.Join("/user", user, ".loom", appID)
}

// hdfsURL is a LocalResource's location: hdfs://authority/abs.
func hdfsURL(authority, abs string) *yarnpb.URLProto {
	u := &yarnpb.URLProto{Scheme: proto.String("hdfs"), Host: proto.String(authority), File: proto.String(abs)}
	if host, port, err := net.SplitHostPort(authority); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			u.Host = proto.String(host)
			u.Port = proto.Int32(int32(n))
		}
	}
	return u
}

// localResource declares a staged file to YARN, which refuses to localize
// it unless size and timestamp match HDFS.
func localResource(authority, abs string, size, modMS int64) *yarnpb.LocalResourceProto {
	return &yarnpb.LocalResourceProto{
		Resource:   hdfsURL(authority, abs),
		Size:       proto.Int64(size),
		Timestamp:  proto.Int64(modMS),
		Type:       yarnpb.LocalResourceTypeProto_FILE.Enum(),
		Visibility: yarnpb.LocalResourceVisibilityProto_APPLICATION.Enum(),
	}
}

// amEnvironment is the AM container's environment: the NM sets neither the
// Hadoop configuration nor the HDFS user, so the AM finds the shipped
// *-site.xml files in its working directory ({{PWD}} is expanded by the NM)
// and acts as the submitting user.
func amEnvironment(user string) map[string]string {
	return map[string]string{"HADOOP_CONF_DIR": "{{PWD}}", "HADOOP_USER_NAME": user}
}

// amLaunchContext builds the AM container: every file of spec.Resources
// plus the spec itself (specRes), the environment and deploy.AMCommand().
func amLaunchContext(spec *deploy.JobSpec, specRes deploy.Resource, authorityOf func(string) (string, string)) *yarnpb.ContainerLaunchContextProto {
	clc := &yarnpb.ContainerLaunchContextProto{Command: []string{deploy.AMCommand()}}
	for _, r := range append(append([]deploy.Resource{}, spec.Resources...), specRes) {
		auth, abs := authorityOf(r.Path)
		clc.LocalResources = append(clc.LocalResources, &yarnpb.StringLocalResourceMapProto{
			Key: proto.String(r.Name), Value: localResource(auth, abs, r.Size, r.Timestamp),
		})
	}
	env := amEnvironment(spec.User)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		clc.Environment = append(clc.Environment, &yarnpb.StringStringMapProto{Key: proto.String(k), Value: proto.String(env[k])})
	}
	return clc
}

// splitHDFSURI splits "hdfs://authority/abs" into its authority and path.
func splitHDFSURI(uri string) (authority, abs string) {
	rest := strings.TrimPrefix(uri, "hdfs://")
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return rest, "/"
	}
	return rest[:i], rest[i:]
}

// submissionContext is the application YARN is asked to run.
func submissionContext(id *yarnpb.ApplicationIdProto, spec *deploy.JobSpec, f *submitFlags, clc *yarnpb.ContainerLaunchContextProto) *yarnpb.ApplicationSubmissionContextProto {
	return &yarnpb.ApplicationSubmissionContextProto{
		ApplicationId:   id,
		ApplicationName: proto.String(spec.AppName),
		Queue:           proto.String(spec.Queue),
		AmContainerSpec: clc,
		MaxAppAttempts:  proto.Int32(f.maxAttempts),
		Resource:        &yarnpb.ResourceProto{Memory: proto.Int64(f.amMemoryMB), VirtualCores: proto.Int32(f.amVCores)},
		ApplicationType: proto.String(deploy.ApplicationType),
		ApplicationTags: f.tags,
	}
}

// submit does the part that needs the cluster.
func (s *submission) submit(ctx context.Context, p *prepared) error {
	fs, err := hdfs.NewClient()
	if err != nil {
		return fmt.Errorf("staging directory: %w", err)
	}
	defer fs.Close()
	user := fs.User()
	rm := yarn.NewRMClient(p.yarn, user)
	defer rm.Close()

	callCtx, cancel := context.WithTimeout(ctx, rmCallTimeout)
	newApp, err := rm.GetNewApplication(callCtx)
	cancel()
	if err != nil {
		return rmError("new application", p.yarn.RMAddress, p.rmSource, err)
	}
	if err := checkCapability(s.flags, newApp.GetMaximumCapability()); err != nil {
		return err
	}
	id := newApp.GetApplicationId()
	appID := yarn.FormatApplicationID(id)
	spec := p.spec
	spec.User = user
	spec.Staging = fs.URI(StagingDir(user, appID))
	if err := checkpointsOf(spec, p.cfg, fs, appID, s.stdout); err != nil {
		return err
	}

	// From here on a failure must not leave the staging directory behind.
	submitted := false
	defer func() {
		if !submitted {
			s.removeStaging(fs, spec.Staging)
		}
	}()
	specRes, err := stage(ctx, fs, spec, p.ship)
	if err != nil {
		return fmt.Errorf("upload to staging directory %s: %w", spec.Staging, err)
	}
	clc := amLaunchContext(spec, specRes, splitHDFSURI)
	callCtx, cancel = context.WithTimeout(ctx, rmCallTimeout)
	err = rm.SubmitApplication(callCtx, submissionContext(id, spec, s.flags, clc))
	cancel()
	if err != nil {
		return rmError("submit "+appID+" to queue "+strconv.Quote(spec.Queue), p.yarn.RMAddress, p.rmSource, err)
	}
	submitted = true
	fmt.Fprintf(s.stdout, "submitted %s: job %s as %q to queue %s (%d workers x %d slots)\n",
		appID, spec.Job, spec.AppName, spec.Queue, p.plan.Workers, p.plan.SlotsPerWorker)

	f := &follower{rm: rm, id: id, appID: appID, stdout: s.stdout, stderr: s.stderr, queue: spec.Queue}
	rep, err := f.untilAccepted(ctx)
	if err != nil {
		return err
	}
	if isTerminal(rep.GetYarnApplicationState()) {
		// Rejected before its AM ran: nobody else will clean up.
		s.removeStaging(fs, spec.Staging)
		return f.outcome(rep)
	}
	if s.flags.detached {
		fmt.Fprintf(s.stdout, "detached: follow with `loom status %s`, kill with `loom kill %s`\n", appID, appID)
		return nil
	}
	rep, err = f.follow(ctx, rep)
	if err != nil {
		return err
	}
	// The AM deletes staging when it ends; an AM that never ran cannot.
	s.removeStaging(fs, spec.Staging)
	return f.outcome(rep)
}

// stage uploads the files and the job spec, filling spec.Resources with
// what HDFS reports after upload, and returns the spec's own resource.
func stage(ctx context.Context, fs *hdfs.Client, spec *deploy.JobSpec, files []shipFile) (deploy.Resource, error) {
	if err := fs.MkdirAll(spec.Staging); err != nil {
		return deploy.Resource{}, err
	}
	spec.Resources = spec.Resources[:0]
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return deploy.Resource{}, fmt.Errorf("interrupted: %w", err)
		}
		src, err := os.Open(f.local)
		if err != nil {
			return deploy.Resource{}, err
		}
		r, err := upload(fs, spec.Staging, f.name, src)
		src.Close()
		if err != nil {
			return deploy.Resource{}, fmt.Errorf("%s: %w", f.local, err)
		}
		spec.Resources = append(spec.Resources, r)
	}
	// The application secret, which the AM and its workers prove
	// themselves with, and loom savepoint and loom stop too: readable by
	// the job's user alone.
	// It is written once the file is private.
	if err := writeSecret(fs, spec.Staging+"/"+deploy.SecretFile); err != nil {
		return deploy.Resource{}, fmt.Errorf("application secret: %w", err)
	}
	b, err := spec.Marshal()
	if err != nil {
		return deploy.Resource{}, err
	}
	return upload(fs, spec.Staging, deploy.SpecFile, bytes.NewReader(b))
}

// writeSecret creates the secret file empty, makes it private, then
// writes a new secret into it.
func writeSecret(fs *hdfs.Client, p string) error {
	w, err := fs.Create(p)
	if err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := fs.Chmod(p, 0o600); err != nil {
		return err
	}
	a, err := fs.Append(p)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(a, deploy.NewSecret()); err != nil {
		a.Close()
		return err
	}
	return a.Close()
}

func upload(fs *hdfs.Client, dir, name string, src io.Reader) (deploy.Resource, error) {
	uri := dir + "/" + name
	w, err := fs.Create(uri)
	if err != nil {
		return deploy.Resource{}, err
	}
	if _, err := io.Copy(w, src); err != nil {
		w.Close()
		return deploy.Resource{}, err
	}
	if err := w.Close(); err != nil {
		return deploy.Resource{}, err
	}
	fi, err := fs.Stat(uri)
	if err != nil {
		return deploy.Resource{}, err
	}
	return deploy.Resource{Name: name, Path: uri, Size: fi.Size(), Timestamp: fi.ModTime().UnixMilli()}, nil
}

func (s *submission) removeStaging(fs *hdfs.Client, dir string) {
	if err := fs.RemoveAll(dir); err != nil {
		fmt.Fprintf(s.stderr, "warning: could not delete the staging directory: %v; delete it by hand\n", err)
	}
}

// isTerminal reports whether YARN is done with an application.
func isTerminal(st yarnpb.YarnApplicationStateProto) bool {
	switch st {
	case yarnpb.YarnApplicationStateProto_FINISHED, yarnpb.YarnApplicationStateProto_FAILED, yarnpb.YarnApplicationStateProto_KILLED:
		return true
	}
	return false
}

// follower watches one application through RM reports.
type follower struct {
	rm     *yarn.RMClient
	id     *yarnpb.ApplicationIdProto
	appID  string
	queue  string
	stdout io.Writer
	stderr io.Writer

	state       yarnpb.YarnApplicationStateProto
	progress    int
	trackingURL string
}

// maxReportFailures is how many polls in a row may fail before following
// gives up (the RM may restart or fail over meanwhile).
const maxReportFailures = 10

func (f *follower) report(ctx context.Context) (*yarnpb.ApplicationReportProto, error) {
	var last error
	for i := 0; i < maxReportFailures; i++ {
		callCtx, cancel := context.WithTimeout(ctx, rmCallTimeout)
		rep, err := f.rm.GetApplicationReport(callCtx, f.id)
		cancel()
		if err == nil {
			f.observe(rep)
			return rep, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
		if !sleep(ctx, pollInterval) {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("lost track of %s: %d reports in a row failed, last: %w; it may still run: `loom status %s`", f.appID, maxReportFailures, last, f.appID)
}

// observe prints what changed since the last report: the tracking URL once
// known, state changes, progress.
func (f *follower) observe(rep *yarnpb.ApplicationReportProto) {
	if u := rep.GetTrackingUrl(); u != "" && f.trackingURL == "" {
		f.trackingURL = u
		fmt.Fprintf(f.stdout, "tracking URL: %s\n", u)
	}
	if st := rep.GetYarnApplicationState(); st != f.state {
		f.state = st
		fmt.Fprintf(f.stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), f.appID, st)
	}
	if p := int(rep.GetProgress()*100 + 0.5); p != f.progress && rep.GetYarnApplicationState() == yarnpb.YarnApplicationStateProto_RUNNING {
		f.progress = p
		fmt.Fprintf(f.stderr, "%s %s: progress %d%%\n", time.Now().Format("15:04:05"), f.appID, p)
	}
}

// untilAccepted waits until the RM has accepted (or rejected) the
// application, which is when a bad queue shows.
func (f *follower) untilAccepted(ctx context.Context) (*yarnpb.ApplicationReportProto, error) {
	for {
		rep, err := f.report(ctx)
		if err != nil {
			return nil, f.detachedError(err)
		}
		switch rep.GetYarnApplicationState() {
		case yarnpb.YarnApplicationStateProto_NEW, yarnpb.YarnApplicationStateProto_NEW_SAVING, yarnpb.YarnApplicationStateProto_SUBMITTED:
		default:
			return rep, nil
		}
		if !sleep(ctx, pollInterval/4) {
			return nil, f.detachedError(ctx.Err())
		}
	}
}

// follow polls until the application ends; an interrupt detaches.
func (f *follower) follow(ctx context.Context, rep *yarnpb.ApplicationReportProto) (*yarnpb.ApplicationReportProto, error) {
	for !isTerminal(rep.GetYarnApplicationState()) {
		if !sleep(ctx, pollInterval) {
			return nil, f.detachedError(ctx.Err())
		}
		var err error
		if rep, err = f.report(ctx); err != nil {
			return nil, f.detachedError(err)
		}
	}
	return rep, nil
}

// detachedError tells a user who pressed Ctrl-C how to find the
// application again.
func (f *follower) detachedError(err error) error {
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("detached from %s, which keeps running: follow it with `loom status %s`, kill it with `loom kill %s`", f.appID, f.appID, f.appID)
	}
	return err
}

// outcome turns a final report into the command's result.
func (f *follower) outcome(rep *yarnpb.ApplicationReportProto) error {
	err := reportOutcome(f.appID, f.queue, rep)
	if err == nil {
		fmt.Fprintf(f.stdout, "%s %s with final status %s\n", f.appID, rep.GetYarnApplicationState(), finalName(rep.GetFinalApplicationStatus()))
	}
	return err
}

// reportOutcome is nil for an application that finished SUCCEEDED and an
// error carrying YARN's diagnostics for any other end.
func reportOutcome(appID, queue string, rep *yarnpb.ApplicationReportProto) error {
	st, final := rep.GetYarnApplicationState(), rep.GetFinalApplicationStatus()
	if st == yarnpb.YarnApplicationStateProto_FINISHED && final == yarnpb.FinalApplicationStatusProto_APP_SUCCEEDED {
		return nil
	}
	diag := strings.TrimSpace(rep.GetDiagnostics())
	if diag == "" || diag == "N/A" {
		diag = "YARN gave no diagnostics"
	}
	// The RM rejects a bad queue before any attempt starts, so the start of
	// an attempt's diagnostics never names the queue.
	if queue != "" && st == yarnpb.YarnApplicationStateProto_FAILED && strings.Contains(strings.ToLower(diag), "queue") && !strings.Contains(diag, "appattempt_") {
		return fmt.Errorf("%s was rejected by YARN for queue %q: %s (choose an existing queue with --queue)", appID, queue, diag)
	}
	return fmt.Errorf("%s ended %s (final status %s): %s; logs: `yarn logs -applicationId %s`",
		appID, st, finalName(final), diag, appID)
}

// finalName is a final status without the proto's APP_ prefix, as YARN's
// own tools print it.
func finalName(s yarnpb.FinalApplicationStatusProto) string {
	return strings.TrimPrefix(s.String(), "APP_")
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rmFromEnv connects to the RM of $HADOOP_CONF_DIR, for list, status and
// kill.
func rmFromEnv() (*yarn.RMClient, *yarn.Config, string, error) {
	dir := os.Getenv("HADOOP_CONF_DIR")
	ycfg, err := yarn.LoadConfig(dir)
	if err != nil {
		return nil, nil, "", err
	}
	return yarn.NewRMClient(ycfg, ""), ycfg, rmAddressSource(dir), nil
}

func newListCommand(stdout io.Writer) *cobra.Command {
	var states, tags []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List loom applications on YARN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := listFilter(states, tags)
			if err != nil {
				return usageError{err}
			}
			rm, ycfg, source, err := rmFromEnv()
			if err != nil {
				return err
			}
			defer rm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), rmCallTimeout)
			defer cancel()
			apps, err := rm.GetApplications(ctx, filter)
			if err != nil {
				return rmError("list applications", ycfg.RMAddress, source, err)
			}
			writeAppTable(stdout, apps)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only applications in these states, comma-separated (NEW, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED)")
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "only applications carrying any of these tags, comma-separated")
	return cmd
}

// listFilter parses loom list's flags; states are case-insensitive.
func listFilter(states, tags []string) (yarn.ApplicationFilter, error) {
	f := yarn.ApplicationFilter{Types: []string{deploy.ApplicationType}, Tags: tags}
	for _, s := range states {
		v, ok := yarnpb.YarnApplicationStateProto_value[strings.ToUpper(strings.TrimSpace(s))]
		if !ok {
			return f, fmt.Errorf("--state %q: want one of NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED", s)
		}
		f.States = append(f.States, yarnpb.YarnApplicationStateProto(v))
	}
	return f, nil
}

// writeAppTable prints applications newest first.
func writeAppTable(w io.Writer, apps []*yarnpb.ApplicationReportProto) {
	sort.Slice(apps, func(i, j int) bool {
		a, b := apps[i].GetApplicationId(), apps[j].GetApplicationId()
		if a.GetClusterTimestamp() != b.GetClusterTimestamp() {
			return a.GetClusterTimestamp() > b.GetClusterTimestamp()
		}
		return a.GetId() > b.GetId()
	})
	rows := [][]string{{"APPLICATION", "NAME", "STATE", "FINAL", "PROGRESS", "QUEUE", "USER", "TRACKING URL"}}
	for _, a := range apps {
		rows = append(rows, []string{
			yarn.FormatApplicationID(a.GetApplicationId()), a.GetName(), a.GetYarnApplicationState().String(),
			finalName(a.GetFinalApplicationStatus()), fmt.Sprintf("%d%%", int(a.GetProgress()*100+0.5)),
			a.GetQueue(), a.GetUser(), a.GetTrackingUrl(),
		})
	}
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			fmt.Fprintf(&b, "%-*s  ", width[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func newStatusCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status APP_ID",
		Short: "Show a YARN application's state; exit 0 while it runs or when it SUCCEEDED",
		Args:  oneAppID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := yarn.ParseApplicationID(args[0])
			if err != nil {
				return usageError{err}
			}
			rm, ycfg, source, err := rmFromEnv()
			if err != nil {
				return err
			}
			defer rm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), rmCallTimeout)
			defer cancel()
			rep, err := rm.GetApplicationReport(ctx, id)
			if ipc.IsApplicationNotFound(err) {
				return fmt.Errorf("%s: the ResourceManager at %s does not know this application (wrong id, or it finished long ago)", args[0], ycfg.RMAddress)
			}
			if err != nil {
				return rmError("status of "+args[0], ycfg.RMAddress, source, err)
			}
			writeStatus(stdout, rep)
			return statusOutcome(args[0], rep)
		},
	}
}

// writeStatus prints one application's report.
func writeStatus(w io.Writer, rep *yarnpb.ApplicationReportProto) {
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-13s %s\n", k, v)
		}
	}
	line("application", yarn.FormatApplicationID(rep.GetApplicationId()))
	line("name", rep.GetName())
	line("type", rep.GetApplicationType())
	line("state", rep.GetYarnApplicationState().String())
	line("final status", finalName(rep.GetFinalApplicationStatus()))
	line("progress", fmt.Sprintf("%d%%", int(rep.GetProgress()*100+0.5)))
	line("queue", rep.GetQueue())
	line("user", rep.GetUser())
	line("tags", strings.Join(rep.GetApplicationTags(), ","))
	line("tracking URL", rep.GetTrackingUrl())
	if t := rep.GetStartTime(); t > 0 {
		line("started", time.UnixMilli(t).Format(time.RFC3339))
	}
	if t := rep.GetFinishTime(); t > 0 {
		line("finished", time.UnixMilli(t).Format(time.RFC3339))
	}
	if d := strings.TrimSpace(rep.GetDiagnostics()); d != "" && d != "N/A" {
		line("diagnostics", d)
	}
}

// statusOutcome is the exit status of loom status: success while the
// application may still succeed or when it did, failure otherwise.
func statusOutcome(appID string, rep *yarnpb.ApplicationReportProto) error {
	if !isTerminal(rep.GetYarnApplicationState()) {
		return nil
	}
	return reportOutcome(appID, "", rep)
}

func newKillCommand(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "kill APP_ID",
		Short: "Kill a YARN application and wait until YARN reports it KILLED",
		Args:  oneAppID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := yarn.ParseApplicationID(args[0])
			if err != nil {
				return usageError{err}
			}
			rm, ycfg, source, err := rmFromEnv()
			if err != nil {
				return err
			}
			defer rm.Close()
			return killApplication(cmd.Context(), rm, id, args[0], ycfg.RMAddress, source, stdout, stderr)
		},
	}
}

// oneAppID checks that status and kill got exactly one argument.
func oneAppID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageError{fmt.Errorf("%s needs one application id (loom list shows them), got %d arguments", cmd.CommandPath(), len(args))}
	}
	return nil
}

// killTimeout bounds how long loom kill waits for YARN to finish the kill.
const killTimeout = 60 * time.Second

func killApplication(ctx context.Context, rm *yarn.RMClient, id *yarnpb.ApplicationIdProto, appID, addr, source string, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, killTimeout)
	defer cancel()
	rep, err := rm.GetApplicationReport(ctx, id)
	if ipc.IsApplicationNotFound(err) {
		return fmt.Errorf("%s: the ResourceManager at %s does not know this application", appID, addr)
	}
	if err != nil {
		return rmError("kill "+appID, addr, source, err)
	}
	if isTerminal(rep.GetYarnApplicationState()) {
		return fmt.Errorf("%s already ended %s (final status %s): nothing to kill", appID, rep.GetYarnApplicationState(), finalName(rep.GetFinalApplicationStatus()))
	}
	for {
		done, err := rm.KillApplication(ctx, id, "killed by loom kill")
		if err != nil {
			return rmError("kill "+appID, addr, source, err)
		}
		if done {
			break
		}
		if !sleep(ctx, pollInterval/2) {
			return fmt.Errorf("kill %s: YARN did not finish the kill within %v; check with `loom status %s`", appID, killTimeout, appID)
		}
	}
	if rep, err = rm.GetApplicationReport(ctx, id); err != nil {
		return rmError("kill "+appID, addr, source, err)
	}
	// An AM killed before it ran cannot delete its staging directory.
	if fs, err := hdfs.NewClient(); err == nil {
		dir := StagingDir(rep.GetUser(), appID)
		if err := fs.RemoveAll(dir); err != nil {
			fmt.Fprintf(stderr, "warning: could not delete the staging directory %s: %v\n", dir, err)
		}
		fs.Close()
	} else {
		fmt.Fprintf(stderr, "warning: could not check the staging directory: %v\n", err)
	}
	fmt.Fprintf(stdout, "%s %s\n", appID, rep.GetYarnApplicationState())
	return nil
}
