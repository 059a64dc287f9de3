package jobmaster

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/loom-yarn/loom/deploy"
	"github.com/loom-yarn/loom/hdfs"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/yarn"
	"github.com/loom-yarn/loom/yarn/proto/yarnpb"
)

// AMOptions configure the ApplicationMaster process: the job master of a
// job on YARN, with YARN as its resource provider.
type AMOptions struct {
	// Dir is the container's working directory, holding deploy.SpecFile
	// and the shipped *-site.xml files ("" is the current directory).
	Dir string
	// Log receives the AM's log (its container's am.err).
	Log io.Writer
	// Heartbeat settings of the job master (see Options).
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	RegisterTimeout   time.Duration
}

// Heartbeat pacing towards the RM: quick while containers are wanted, so
// workers start fast; Hadoop's usual 1 s otherwise.
const (
	rmIntervalBusy = 100 * time.Millisecond
	rmIntervalIdle = time.Second
	// workerPriority is the priority of worker container asks.
	workerPriority = 1
)

// RunApplicationMaster is the ApplicationMaster: it registers with the RM,
// runs the job of the spec in its working directory on worker containers
// through the job master, and unregisters with the outcome. It returns nil
// when it unregistered (whatever the job's outcome) or was killed, and an
// error when it could not reach the RM.
func RunApplicationMaster(ctx context.Context, opts AMOptions) error {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	lg := log.New(opts.Log, "am: ", log.LstdFlags|log.Lmicroseconds)
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	submitted := submitTime()
	spec, specErr := deploy.ReadSpec(filepath.Join(dir, deploy.SpecFile))
	user := ""
	if spec != nil {
		user = spec.User
	}
	// The cluster's configuration when the NodeManager passes one, else the
	// client's, shipped into this directory.
	hdfs.UseContainerDefaults(dir, user)
	confDir := hdfs.ConfDir()

	host := os.Getenv("NM_HOST")
	if host == "" {
		if host, err = os.Hostname(); err != nil {
			return fmt.Errorf("find this host's name: %w", err)
		}
	}
	webLn, err := net.Listen("tcp", ":0")
	if err != nil {
		return fmt.Errorf("status page listener: %w", err)
	}
	trackingURL := fmt.Sprintf("http://%s/", net.JoinHostPort(host, strconv.Itoa(webLn.Addr().(*net.TCPAddr).Port)))

	ycfg, err := yarn.LoadConfig(confDir)
	if err != nil {
		webLn.Close()
		return err
	}
	token, err := yarn.AMRMTokenFromEnv()
	if err != nil {
		webLn.Close()
		return err
	}
	amrm := yarn.NewAMRMClient(ycfg, token)
	defer amrm.Close()

	// The job master first: its control service's port goes into the
	// registration. A job that cannot be set up still registers, so that
	// it can unregister as FAILED with the reason.
	var m *Master
	setupErr := specErr
	if setupErr == nil {
		m, setupErr = newYARNMaster(spec, opts, host, submitted)
	}
	if spec != nil {
		defer deleteStaging(spec, lg)
	}
	ctlPort := int32(0)
	if m != nil {
		_, p, _ := net.SplitHostPort(m.Address())
		n, _ := strconv.Atoi(p)
		ctlPort = int32(n)
	}
	regCtx, cancelReg := context.WithTimeout(ctx, time.Minute)
	_, err = amrm.Register(regCtx, host, ctlPort, trackingURL)
	cancelReg()
	if err != nil {
		webLn.Close()
		if m != nil {
			m.Close()
		}
		return fmt.Errorf("register with the ResourceManager at %s: %w", ycfg.SchedulerAddress, err)
	}
	lg.Printf("registered with the ResourceManager at %s, %.2fs after submission; tracking URL %s", ycfg.SchedulerAddress, sinceSubmit(submitted), trackingURL)
	if setupErr != nil {
		webLn.Close()
		lg.Printf("job setup failed: %v", setupErr)
		return finish(amrm, trackingURL, yarnpb.FinalApplicationStatusProto_APP_FAILED, setupErr.Error(), lg)
	}
	m.board.update(func(s *JobStatus) { s.Timings.Registered = sinceSubmit(submitted) })
	web := serveStatus(webLn, m.board, lg)
	defer web.Close()

	p, err := newYARNProvider(amrm, spec, lg)
	if err != nil {
		m.Close()
		return finish(amrm, trackingURL, yarnpb.FinalApplicationStatusProto_APP_FAILED, err.Error(), lg)
	}
	defer p.nm.Close()
	out, runErr := m.Run(ctx, p)
	switch {
	case out != nil:
		status := yarnpb.FinalApplicationStatusProto_APP_FAILED
		if out.Status == PhaseSucceeded {
			status = yarnpb.FinalApplicationStatusProto_APP_SUCCEEDED
		}
		diag := "loom job " + spec.Job + ": " + out.Diagnostics
		lg.Printf("job %s, %.2fs after submission: %s", out.Status, sinceSubmit(submitted), diag)
		return finish(amrm, trackingURL, status, diag, lg)
	case errors.Is(runErr, ErrProviderShutdown) || ctx.Err() != nil:
		lg.Printf("killed (%v): stopping without unregistering; YARN stops the workers", context.Cause(ctx))
		return nil
	default:
		lg.Printf("giving up: %v", runErr)
		return finish(amrm, trackingURL, yarnpb.FinalApplicationStatusProto_APP_FAILED, "loom ApplicationMaster: "+runErr.Error(), lg)
	}
}

// newYARNMaster rebuilds the spec's job and makes its job master, listening
// on every interface and advertising host.
func newYARNMaster(spec *deploy.JobSpec, opts AMOptions, host string, submitted time.Time) (*Master, error) {
	job, err := deploy.BuildJob(spec)
	if err != nil {
		return nil, err
	}
	attempt := attemptOf(os.Getenv("CONTAINER_ID"))
	secret, err := readSecret(spec.Staging)
	if err != nil {
		return nil, err
	}
	return New(Options{Job: job, Log: opts.Log, Listen: ":0", Advertise: host, HeartbeatInterval: opts.HeartbeatInterval,
		HeartbeatTimeout: opts.HeartbeatTimeout, RegisterTimeout: opts.RegisterTimeout, Submitted: submitted,
		Resume: attempt > 1, Secret: secret})
}

// readSecret reads the application secret loom submit left in staging
// (deploy.SecretFile); "" when there is none (a client before it).
func readSecret(staging string) (string, error) {
	if staging == "" {
		return "", nil
	}
	uri := strings.TrimSuffix(staging, "/") + "/" + deploy.SecretFile
	fsys, p, err := hdfs.For(uri)
	if err != nil {
		return "", fmt.Errorf("application secret %s: %w", uri, err)
	}
	f, err := fsys.Open(p)
	if errors.Is(err, iofs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("application secret %s: %w", uri, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", fmt.Errorf("application secret %s: %w", uri, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// attemptOf is the application attempt of a YARN container id
// (container_[e<epoch>_]<cluster>_<app>_<attempt>_<container>), 0 when
// the id has another form.
func attemptOf(container string) int {
	f := strings.Split(container, "_")
	if len(f) < 5 || f[0] != "container" {
		return 0
	}
	n, err := strconv.Atoi(f[len(f)-2])
	if err != nil {
		return 0
	}
	return n
}

// yarnProvider is the job master's resource provider on YARN: the allocate
// heartbeat asks the RM for containers and gives back released ones;
// workers start through their NodeManagers.
type yarnProvider struct {
	rm     *rmLoop
	nm     *yarn.NMClient
	spec   *deploy.JobSpec
	log    *log.Logger
	launch *WorkerLaunch

	mu         sync.Mutex
	containers map[string]*yarnpb.ContainerProto
	ev         Events
}

func newYARNProvider(amrm *yarn.AMRMClient, spec *deploy.JobSpec, lg *log.Logger) (*yarnProvider, error) {
	p := &yarnProvider{nm: yarn.NewNMClient(amrm.NMTokens), spec: spec, log: lg, containers: map[string]*yarnpb.ContainerProto{}}
	p.rm = &rmLoop{amrm: amrm, alloc: yarn.NewAllocator(), wake: make(chan struct{}, 1), log: lg, onUpdate: p.onUpdate}
	// The spec is not among its own Resources: the AM adds it, as HDFS has it.
	specRes, err := stagedFile(spec.Staging, deploy.SpecFile)
	if err != nil {
		return nil, err
	}
	spec.Resources = append(spec.Resources, specRes)
	return p, nil
}

// Run implements Provider: the allocate heartbeat.
func (p *yarnProvider) Run(ctx context.Context, ev Events) error {
	p.mu.Lock()
	p.ev = ev
	p.mu.Unlock()
	err := p.rm.Run(ctx)
	if errors.Is(err, errRMShutdown) {
		return fmt.Errorf("%w: %v", ErrProviderShutdown, err)
	}
	return err
}

func (p *yarnProvider) events() Events {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ev
}

func (p *yarnProvider) onUpdate(u *yarn.Update) {
	ev := p.events()
	for _, c := range u.Allocated {
		id := yarn.FormatContainerID(c.GetId())
		p.mu.Lock()
		p.containers[id] = c
		p.mu.Unlock()
		ev.Allocated(id, yarn.NodeAddr(c.GetNodeId()))
	}
	for _, st := range u.Completed {
		id := yarn.FormatContainerID(st.GetContainerId())
		p.mu.Lock()
		delete(p.containers, id)
		p.mu.Unlock()
		ev.Completed(id, st.GetExitStatus(), st.GetDiagnostics())
	}
}

// Ask implements Provider.
func (p *yarnProvider) Ask(count int, res scheduler.Resources) {
	p.rm.apply(func(al *yarn.Allocator) {
		al.SetAsk(yarn.Ask{Priority: workerPriority, MemoryMB: res.MemoryMB, VCores: res.VCores, Count: int32(count)})
	})
}

// Release implements Provider.
func (p *yarnProvider) Release(container string) {
	p.mu.Lock()
	c, ok := p.containers[container]
	p.mu.Unlock()
	if ok {
		id := c.GetId()
		p.rm.apply(func(al *yarn.Allocator) { al.Release(id) })
	}
}

// Progress implements Provider.
func (p *yarnProvider) Progress(f float32) {
	p.rm.apply(func(al *yarn.Allocator) { al.SetProgress(f) })
}

// Launch implements Provider: it starts the worker through its NodeManager
// without holding up the master's loop; a refusal comes back as an event.
func (p *yarnProvider) Launch(container string, worker int, env WorkerEnv) {
	p.mu.Lock()
	c := p.containers[container]
	if p.launch == nil { // the same for every worker of the master
		creds, err := ContainerCredentials()
		if err == nil {
			p.launch, err = NewWorkerLaunch(p.spec, env.Secret, env.MasterAddress, creds)
		}
		if err != nil {
			p.mu.Unlock()
			go p.events().LaunchFailed(container, fmt.Sprintf("prepare the worker launch: %v", err))
			return
		}
	}
	launch := p.launch.Context(worker)
	p.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.nm.StartContainer(ctx, c, launch); err != nil {
			p.events().LaunchFailed(container, err.Error())
			return
		}
		p.log.Printf("started worker %d in %s on %s", worker, container, yarn.NodeAddr(c.GetNodeId()))
	}()
}

// errRMShutdown: the RM told this attempt to go away (the application was
// killed or the attempt is considered dead).
var errRMShutdown = errors.New("the ResourceManager told the ApplicationMaster to shut down")

// finish unregisters with the RM.
func finish(amrm *yarn.AMRMClient, trackingURL string, status yarnpb.FinalApplicationStatusProto, diagnostics string, lg *log.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := amrm.Finish(ctx, status, diagnostics, trackingURL); err != nil {
		return fmt.Errorf("unregister from the ResourceManager (%s): %w", status, err)
	}
	lg.Printf("unregistered: %s", status)
	return nil
}

// deleteStaging removes the application's staging directory (the binary,
// spec and configuration the client uploaded), bounded in time since a kill
// leaves the AM little of it.
func deleteStaging(spec *deploy.JobSpec, lg *log.Logger) {
	if spec.Staging == "" {
		return
	}
	done := make(chan error, 1)
	go func() {
		fsys, p, err := hdfs.For(spec.Staging)
		if err == nil {
			err = fsys.RemoveAll(p)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			lg.Printf("delete staging directory %s: %v", spec.Staging, err)
			return
		}
		lg.Printf("deleted staging directory %s", spec.Staging)
	case <-time.After(10 * time.Second):
		lg.Printf("delete staging directory %s: no answer from HDFS within 10s", spec.Staging)
	}
}

// stagedFile describes the file name of the staging directory as a
// container resource.
func stagedFile(staging, name string) (deploy.Resource, error) {
	uri := strings.TrimSuffix(staging, "/") + "/" + name
	fsys, p, err := hdfs.For(uri)
	if err != nil {
		return deploy.Resource{}, fmt.Errorf("staged %s: %w", name, err)
	}
	fi, err := fsys.Stat(p)
	if err != nil {
		return deploy.Resource{}, fmt.Errorf("staged %s: %w", name, err)
	}
	return deploy.Resource{Name: name, Path: uri, Size: fi.Size(), Timestamp: fi.ModTime().UnixMilli()}, nil
}

// submitTime is when the client submitted the application (the NodeManager
// sets APP_SUBMIT_TIME_ENV for AMs), or now.
func submitTime() time.Time {
	if ms, err := strconv.ParseInt(os.Getenv("APP_SUBMIT_TIME_ENV"), 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Now()
}

func sinceSubmit(t time.Time) float64 { return sinceSubmitAt(t, time.Now()) }

func sinceSubmitAt(t, at time.Time) float64 { return at.Sub(t).Seconds() }

// rmLoop is the allocate heartbeat: one goroutine owning the Allocator.
// Changes to asks, releases and progress are queued with apply and take
// effect on the next heartbeat, which apply brings forward.
type rmLoop struct {
	amrm     *yarn.AMRMClient
	alloc    *yarn.Allocator
	onUpdate func(*yarn.Update)
	log      *log.Logger
	wake     chan struct{}

	mu      sync.Mutex
	pending []func(*yarn.Allocator)
}

// maxHeartbeatFailures in a row make the AM give up on the RM.
const maxHeartbeatFailures = 20

func (r *rmLoop) apply(f func(*yarn.Allocator)) {
	r.mu.Lock()
	r.pending = append(r.pending, f)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run heartbeats until ctx ends (nil), the RM says shut down
// (errRMShutdown) or heartbeats keep failing.
func (r *rmLoop) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		r.mu.Lock()
		for _, f := range r.pending {
			f(r.alloc)
		}
		r.pending = nil
		r.mu.Unlock()
		u, err := r.amrm.Allocate(ctx, r.alloc)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, yarn.ErrShutdown) {
				return errRMShutdown
			}
			if failures++; failures >= maxHeartbeatFailures {
				return fmt.Errorf("allocate heartbeat failed %d times in a row: %w", failures, err)
			}
			r.log.Printf("allocate heartbeat: %v", err)
			timer.Reset(rmIntervalIdle)
			continue
		}
		failures = 0
		if len(u.Allocated) > 0 || len(u.Completed) > 0 {
			r.onUpdate(u)
		}
		if u.Command == yarn.CommandShutdown {
			return errRMShutdown
		}
		wait := rmIntervalIdle
		for _, a := range r.alloc.Asks() {
			if a.Count > 0 {
				wait = rmIntervalBusy
			}
		}
		timer.Reset(wait)
	}
}
