// Package deploy is the contract between the processes of a job: the client
// (loom run, loom submit), the job master (in loom run's process, or the YARN
// ApplicationMaster) and the workers. All of them run the same binary; they
// agree through the job spec (SpecFile), the job it rebuilds (BuildJob: the
// graph and its physical plan), the container command lines, the
// environment names below, the per-application secret and the control
// protocol (controlpb). Every role imports this package; none imports
// another role's.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/loom-yarn/loom/conf"
	"github.com/loom-yarn/loom/scheduler"
)

// JobSpec describes a submitted job. The client writes it as SpecFile into
// the staging directory; the AM and every worker read it from their working
// directory and rebuild the job's graph from Job, Args and Conf, as the
// client did.
type JobSpec struct {
	// Job is the registered job name; Args are the job's own flags as given
	// to loom submit (without loom's own submit flags).
	Job  string   `json:"job"`
	Args []string `json:"args"`
	// Conf holds loom's options (--conf file, -D, flags), by key.
	Conf map[string]string `json:"conf"`

	AppName string `json:"appName"`
	Queue   string `json:"queue"`
	User    string `json:"user"`
	// Staging is the HDFS directory of the application's files
	// (/user/<user>/.loom/<application id>), deleted when the job ends.
	Staging string `json:"staging"`
	// Resources lists the files of Staging to localize in every container
	// (link name -> HDFS path, size, modification time in ms), so the AM can
	// launch workers with the same files the client uploaded. SpecFile
	// itself is not listed (it cannot hold its own size and time): it is
	// Staging + "/" + SpecFile, which the AM's container already has.
	Resources []Resource `json:"resources"`

	Parallelism    int   `json:"parallelism"`
	SlotsPerWorker int   `json:"slotsPerWorker"`
	WorkerMemoryMB int64 `json:"workerMemoryMB"`
	WorkerVCores   int32 `json:"workerVCores"`
	// WorkerRestarts is how many times the job master reruns the job after
	// a lost worker or a failed task, and RestartDelayMS the wait before
	// each (the first, with exponential-delay).
	WorkerRestarts int   `json:"workerRestarts"`
	RestartDelayMS int64 `json:"restartDelayMS"`
	// With the exponential-delay strategy, each restart's wait is
	// BackoffMultiplier times the one before, at most MaxRestartDelayMS; a
	// run up ResetAfterMS resets the wait and the count of restarts.
	BackoffMultiplier float64 `json:"backoffMultiplier,omitempty"`
	MaxRestartDelayMS int64   `json:"maxRestartDelayMS,omitempty"`
	ResetAfterMS      int64   `json:"resetAfterMS,omitempty"`

	// Plan is the job's physical plan, made once by the client (NewPlan);
	// the job master and the workers use it as it is.
	Plan *scheduler.Plan `json:"plan,omitempty"`
	// RestoreFrom is the checkpoint the job's first run restores from
	// (--from-checkpoint): a chk-N directory or a directory of them.
	RestoreFrom string `json:"restoreFrom,omitempty"`
}

// Resource is a file localized into a container's working directory.
type Resource struct {
	Name      string `json:"name"` // link name in the working directory
	Path      string `json:"path"` // hdfs://host:port/abs/path
	Size      int64  `json:"size"`
	Timestamp int64  `json:"timestamp"` // HDFS modification time, ms
}

// Files and names every role agrees on.
const (
	// SpecFile is the job spec's name in staging and in containers.
	SpecFile = "job.json"
	// SecretFile, in staging only (readable by the job's user alone), holds
	// the application secret: the AM reads it, and so do loom savepoint and
	// loom stop to prove they act for the job's user.
	SecretFile = ".secret"
	// BinaryFile is the loom (or user job) binary's name in staging and
	// containers.
	BinaryFile = "loom"
	// ApplicationType is the YARN application type of loom jobs.
	ApplicationType = "LOOM"

	// EnvSecret carries the per-application secret from the AM to its
	// workers (launch context environment); a worker without it is refused.
	EnvSecret = "LOOM_APP_SECRET"
	// EnvAMAddress is the host:port of the AM's gRPC service, for workers.
	EnvAMAddress = "LOOM_AM_ADDRESS"
	// EnvWorkerID is the worker's index in the AM's plan.
	EnvWorkerID = "LOOM_WORKER_ID"
)

// AMCommand is the AM container's command: the hidden `am` role of the
// binary, with its output in the container's log directory.
func AMCommand() string {
	return "./" + BinaryFile + " am 1><LOG_DIR>/am.out 2><LOG_DIR>/am.err"
}

// WorkerCommand is a worker container's command.
func WorkerCommand() string {
	return "./" + BinaryFile + " worker 1><LOG_DIR>/worker.out 2><LOG_DIR>/worker.err"
}

// ReadSpec reads the job spec at path.
func ReadSpec(path string) (*JobSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	var s JobSpec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("job spec %s: %w", path, err)
	}
	if s.Job == "" {
		return nil, fmt.Errorf("job spec %s names no job", path)
	}
	return &s, nil
}

// Marshal encodes the spec for the staging directory.
func (s *JobSpec) Marshal() ([]byte, error) { return json.MarshalIndent(s, "", "  ") }

// NewJobSpec is the part of a job spec that comes from the job, its flags
// and its options (restart strategy included), the same for loom run and
// loom submit.
func NewJobSpec(job string, args []string, cfg *conf.Config) *JobSpec {
	spec := &JobSpec{Job: job, Args: args, Conf: cfg.Map(), Parallelism: conf.Parallelism.Get(cfg)}
	if spec.Args == nil {
		spec.Args = []string{}
	}
	switch conf.RestartStrategyOf(cfg) {
	case conf.RestartFixedDelay:
		spec.WorkerRestarts = conf.RestartAttempts.Get(cfg)
		spec.RestartDelayMS = conf.RestartDelay.Get(cfg).Milliseconds()
	case conf.RestartExponentialDelay:
		spec.WorkerRestarts = conf.BackoffAttempts.Get(cfg)
		spec.RestartDelayMS = conf.InitialBackoff.Get(cfg).Milliseconds()
		spec.BackoffMultiplier = conf.BackoffMultiplier.Get(cfg)
		spec.MaxRestartDelayMS = conf.MaxBackoff.Get(cfg).Milliseconds()
		spec.ResetAfterMS = conf.ResetBackoffThreshold.Get(cfg).Milliseconds()
	}
	return spec
}
