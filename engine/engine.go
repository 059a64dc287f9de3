// Package engine turns a resolved job graph into running tasks. In local mode
// (loom run) every subtask of the job runs as a goroutine of this process,
// connected by in-memory channels, with the checkpoint coordinator driven by
// a goroutine of its own; on YARN a worker runs the subtasks it is given with
// the same task-building code.
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loom-yarn/loom/checkpoint"
	"github.com/loom-yarn/loom/graph"
	"github.com/loom-yarn/loom/network"
	"github.com/loom-yarn/loom/scheduler"
	"github.com/loom-yarn/loom/state"
	"github.com/loom-yarn/loom/task"
)

// Options configure a run.
type Options struct {
	// BatchSize is the number of records per batch between tasks.
	BatchSize int
	// ChannelCapacity is the number of elements queued per input channel.
	ChannelCapacity int
	// StateBackend is "heap" or "lsm"; StateDir holds the LSM files.
	StateBackend string
	StateDir     string
	// CheckpointDir is the root of the job's checkpoints; checkpoints go to
	// CheckpointDir/<job>. Checkpointing is on when CheckpointInterval > 0.
	CheckpointDir      string
	CheckpointInterval time.Duration
	CheckpointTimeout  time.Duration
	CheckpointMinPause time.Duration
	CheckpointsRetain  int
	// CheckpointMaxConcurrent and CheckpointTolerableFailures are the
	// coordinator's checkpoint.Config.MaxConcurrent and TolerableFailures.
	CheckpointMaxConcurrent     int
	CheckpointTolerableFailures int
	// RestoreFrom is a checkpoint (chk-N directory) or a directory of them.
	RestoreFrom string
	// BadRecords is the job's bad-record policy.
	BadRecords *task.BadRecordPolicy
	// Config is passed to operators.
	Config map[string]string
	// OnCheckpoint, if set, hears of every completed checkpoint.
	OnCheckpoint func(id int64, duration time.Duration, bytes int64)
	// OnCheckpointAborted, if set, hears of every aborted checkpoint.
	OnCheckpointAborted func(id int64, reason string)
	// Plan is the job's physical plan (scheduler.New); nil plans the job on
	// one worker. Worker and Stage select this process's share: the
	// subtasks of Plan's worker Worker in stage Stage.
	Plan   *scheduler.Plan
	Worker int
	Stage  int
	// Prepared says the job's once-per-job Prepare hooks already ran
	// elsewhere (the job master prepares; its workers do not).
	Prepared bool
	// Shuffle connects this process's subtasks to those of other processes
	// of the same job; nil refuses edges that would cross processes.
	Shuffle *Shuffle
	// Coordinated, if set, says the job master coordinates checkpoints:
	// the execution reports its tasks' snapshots through it and takes the
	// job master's triggers and completions (TriggerCheckpoint,
	// CompleteCheckpoint). Unset, a job with checkpointing on runs its own
	// coordinator, which only sees this process's tasks.
	Coordinated Coordinated
}

// Shuffle is how a worker's subtasks reach the subtasks other workers run:
// producers write to this process's partition server, consumers read
// through the partition client from the producers' servers.
type Shuffle struct {
	Server *network.PartitionServer
	Client *network.PartitionClient
	// Addresses are the partition servers of the plan's workers, by
	// worker index.
	Addresses []string
	// Attempt numbers the job's runs, so that a restarted job never reads
	// data of an earlier run.
	Attempt int64
}

// runs reports whether subtask i of chain c is this process's.
func (o *Options) runs(c *scheduler.ChainPlan, i int) bool {
	return o.Plan.WorkerOf(i) == o.Worker && c.Stage == o.Stage
}

// Execution is a running job.
type Execution struct {
	g        *graph.Graph
	opts     Options
	tasks    []*taskRun
	start    time.Time
	done     chan struct{}
	err      error
	restored *checkpoint.Metadata
	// stateRoot holds the LSM state of this execution's subtasks.
	stateRoot *stateRoot
	// cp is the checkpoint goroutine, nil when checkpointing is off.
	cp *checkpointer
	// failRun fails the execution with err (the first error wins).
	failRun func(err error)

	completed atomic.Int64
	sourceOps []*task.OperatorMetrics
	sinkOps   []*task.OperatorMetrics
	running   atomic.Int64
}

type taskRun struct {
	task   *task.Task
	id     checkpoint.TaskID
	kgs    state.KeyGroupRange
	source bool
}

// Stage is the stage of the plan this execution runs.
func (x *Execution) Stage() int { return x.opts.Stage }

// Restored is the checkpoint the job restarted from, or nil.
func (x *Execution) Restored() *checkpoint.Metadata { return x.restored }

// TaskMetrics lists every subtask's metrics.
func (x *Execution) TaskMetrics() []*task.TaskMetrics {
	out := make([]*task.TaskMetrics, len(x.tasks))
	for i, t := range x.tasks {
		out[i] = t.task.Metrics
	}
	return out
}

// Progress is the job's current progress.
func (x *Execution) Progress() task.Progress {
	p := task.Progress{Elapsed: time.Since(x.start), TotalTasks: len(x.tasks), Watermark: task.NoTimestamp,
		RunningTasks: int(x.running.Load()), CompletedCheckpoints: int(x.completed.Load())}
	for _, m := range x.sourceOps {
		p.RecordsIn += m.RecordsIn.Load()
	}
	for _, m := range x.sinkOps {
		p.RecordsOut += m.RecordsIn.Load()
	}
	first := true
	for _, t := range x.tasks {
		wm := t.task.Metrics.Watermark.Load()
		if wm == task.NoTimestamp || wm == task.MaxWatermark {
			continue
		}
		if first || wm < p.Watermark {
			p.Watermark, first = wm, false
		}
	}
	return p
}

// Wait blocks until the job ends and returns its error.
func (x *Execution) Wait() error {
	<-x.done
	return x.err
}

// Done is closed when the job ended.
func (x *Execution) Done() <-chan struct{} { return x.done }

// Start builds the tasks of g (resolved) and runs them until end of input, an
// error, or ctx ends.
func Start(ctx context.Context, g *graph.Graph, opts Options) (*Execution, error) {
	if opts.BatchSize < 1 {
		opts.BatchSize = 1024
	}
	if opts.ChannelCapacity < 1 {
		opts.ChannelCapacity = 8
	}
	if opts.Plan == nil {
		// One worker with a slot per subtask index: every channel is in memory.
		p, err := scheduler.New(g, scheduler.Options{SlotsPerWorker: g.LargestParallelism(), Worker: scheduler.Resources{MemoryMB: 1, VCores: 1}})
		if err != nil {
			return nil, err
		}
		opts.Plan, opts.Worker, opts.Stage = p, 0, 0
	} else if err := opts.Plan.Check(g); err != nil {
		return nil, err
	}
	x := &Execution{g: g, opts: opts, start: time.Now(), done: make(chan struct{})}

	var md *checkpoint.Metadata
	var mdDir string
	if opts.RestoreFrom != "" {
		var err error
		md, mdDir, err = checkpoint.Load(opts.RestoreFrom)
		if err != nil {
			return nil, fmt.Errorf("restore from %s: %w", opts.RestoreFrom, err)
		}
		if md.GraphHash != g.StateHash() {
			return nil, fmt.Errorf("restore from %s: checkpoint %d was written by another version of job %s (graph %s, this graph %s): operators, uids, functions or the number of key groups changed", mdDir, md.ID, md.Job, md.GraphHash, g.StateHash())
		}
		x.restored = md
	}
	if !opts.Prepared {
		if err := Prepare(g, md == nil); err != nil {
			return nil, err
		}
	}

	var storage *checkpoint.Storage
	if opts.CheckpointInterval > 0 {
		if opts.CheckpointDir == "" {
			return nil, errors.New("checkpointing is on (execution.checkpointing.interval) but no checkpoint directory is set: set state.checkpoints.dir or --checkpoint-dir")
		}
		var err error
		if storage, err = checkpoint.OpenStorage(strings.TrimSuffix(opts.CheckpointDir, "/") + "/" + g.Name); err != nil {
			return nil, fmt.Errorf("checkpoint directory (state.checkpoints.dir) %s: %w", opts.CheckpointDir, err)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	var cp *checkpointer
	if storage != nil {
		cp = newCheckpointer(x, storage)
		x.cp = cp
	}
	// abandon releases what a Start that fails built: every backend (a
	// task that never runs does not close its own) and the state directory.
	abandon := func() {
		cancel()
		for _, t := range x.tasks {
			if t.task.Backend != nil {
				t.task.Backend.Close()
			}
		}
		if x.stateRoot != nil {
			x.stateRoot.Close()
		}
	}
	if err := x.build(runCtx, md, mdDir, cp); err != nil {
		abandon()
		return nil, err
	}
	if storage != nil {
		if err := cp.init(md); err != nil {
			abandon()
			return nil, err
		}
	}

	var wg sync.WaitGroup
	var once sync.Once
	fail := func(err error) {
		once.Do(func() {
			x.err = err
			cancel()
		})
	}
	x.failRun = fail
	x.running.Store(int64(len(x.tasks)))
	for _, t := range x.tasks {
		wg.Add(1)
		go func(t *taskRun) {
			defer wg.Done()
			defer x.running.Add(-1)
			if err := t.task.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, task.ErrStopped) {
				fail(err)
			}
		}(t)
	}
	driverDone := make(chan struct{})
	if storage != nil {
		go func() {
			defer close(driverDone)
			cp.run(runCtx)
		}()
	} else {
		close(driverDone)
	}
	go func() {
		wg.Wait()
		if x.err == nil && ctx.Err() != nil {
			x.err = ctx.Err()
		}
		cancel()
		<-driverDone
		// Every task closed its backend when it ended.
		if x.stateRoot != nil {
			if err := x.stateRoot.Close(); err != nil && x.err == nil {
				x.err = fmt.Errorf("remove the job's state directory: %w", err)
			}
		}
		close(x.done)
	}()
	return x, nil
}

// Prepare runs the once-per-job hooks of g's operators (a file sink checks
// and creates its directory). fresh is false on a restore.
func Prepare(g *graph.Graph, fresh bool) error {
	for _, v := range g.Vertices {
		if v.Prepare != nil {
			if err := v.Prepare(fresh); err != nil {
				return fmt.Errorf("%s: %w", v.Name, err)
			}
		}
	}
	return nil
}

// build makes this process's subtasks of every chain, following the plan.
func (x *Execution) build(ctx context.Context, md *checkpoint.Metadata, mdDir string, cp *checkpointer) error {
	plan := x.opts.Plan
	chains := map[string]*graph.Chain{}
	for _, c := range x.g.Chains() {
		chains[c.ID] = c
	}
	// Pass 1: the input gates of this process's subtasks.
	gates := make([][]*network.Gate, len(plan.Chains))
	for ci := range plan.Chains {
		c := &plan.Chains[ci]
		if len(c.Inputs) == 0 {
			continue
		}
		gates[ci] = make([]*network.Gate, c.Parallelism)
		for i := range gates[ci] {
			if x.opts.runs(c, i) {
				gates[ci][i] = network.NewGate(c.GateChannels, x.opts.ChannelCapacity)
			}
		}
	}
	// Pass 2: tasks.
	for ci := range plan.Chains {
		c := &plan.Chains[ci]
		gc, ok := chains[c.ID]
		if !ok {
			return fmt.Errorf("the plan's chain %s is not in job %s's graph", c.ID, x.g.Name)
		}
		for i := 0; i < c.Parallelism; i++ {
			if !x.opts.runs(c, i) {
				continue
			}
			tr, err := x.buildTask(ctx, gc, c, i, gates, md, mdDir, cp)
			if err != nil {
				return err
			}
			x.tasks = append(x.tasks, tr)
		}
	}
	return nil
}

// hasState reports whether any subtask saved operator state.
func hasState(states [][]byte) bool {
	for _, s := range states {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// connectRemote makes channel ch of gate read subtask producer of chain from
// the process running it.
func (x *Execution) connectRemote(gate *network.Gate, ch int, e *graph.Edge, ep *scheduler.EdgePlan, producer, consumer int) error {
	sh := x.opts.Shuffle
	if sh == nil {
		return fmt.Errorf("edge %s -> %s (%s) feeds subtask %d from subtask %d, which runs in another process: this job needs a network shuffle between workers", e.From.Name, e.To.Name, e.Part, consumer, producer)
	}
	bc, err := e.NewCodec()
	if err != nil {
		return err
	}
	id := network.ChannelID{Attempt: sh.Attempt, Edge: ep.Index, Producer: int32(producer), Consumer: int32(consumer)}
	w := x.opts.Plan.WorkerOf(producer)
	if w >= len(sh.Addresses) {
		return fmt.Errorf("edge %s -> %s: subtask %d runs on worker %d, but only %d partition server addresses are known", e.From.Name, e.To.Name, producer, w, len(sh.Addresses))
	}
	addr := sh.Addresses[w]
	if err := sh.Client.Connect(gate, ch, addr, id, bc); err != nil {
		return fmt.Errorf("edge %s -> %s: connect subtask %d to subtask %d at %s: %w", e.From.Name, e.To.Name, consumer, producer, addr, err)
	}
	return nil
}

// remoteSender is the sender of subtask producer to subtask consumer of e
// when the consumer runs in another process, or in a later stage.
func (x *Execution) remoteSender(e *graph.Edge, ep *scheduler.EdgePlan, producer, consumer int) (network.Sender, error) {
	sh := x.opts.Shuffle
	if sh == nil {
		return nil, fmt.Errorf("edge %s -> %s (%s) connects subtask %d to subtask %d, which runs in another process: this job needs a network shuffle between workers", e.From.Name, e.To.Name, e.Part, producer, consumer)
	}
	bc, err := e.NewCodec()
	if err != nil {
		return nil, err
	}
	id := network.ChannelID{Attempt: sh.Attempt, Edge: ep.Index, Producer: int32(producer), Consumer: int32(consumer)}
	if x.opts.Plan.Spilled(ep) {
		ss, err := sh.Server.SpillSender(id, bc)
		if err != nil {
			return nil, fmt.Errorf("edge %s -> %s: %w", e.From.Name, e.To.Name, err)
		}
		return ss, nil
	}
	rs, err := sh.Server.Sender(id, bc)
	if err != nil {
		return nil, fmt.Errorf("edge %s -> %s: %w", e.From.Name, e.To.Name, err)
	}
	return rs, nil
}

// buildTask makes subtask i of chain c (cp in the plan).
func (x *Execution) buildTask(ctx context.Context, c *graph.Chain, cp *scheduler.ChainPlan, i int, gates [][]*network.Gate,
	md *checkpoint.Metadata, mdDir string, ckp *checkpointer) (_ *taskRun, err error) {
	g, plan := x.g, x.opts.Plan
	maxP := cp.MaxParallelism
	kgs := state.RangeForSubtask(maxP, c.Parallelism, i)
	tm := &task.TaskMetrics{Task: c.Name, Subtask: i}
	t := &task.Task{ID: c.ID, Name: c.Name, Subtask: i, Parallel: c.Parallelism, Metrics: tm, Mail: make(chan task.Mail, 16)}
	tr := &taskRun{task: t, id: checkpoint.TaskID{Task: c.ID, Subtask: i}, kgs: kgs, source: cp.Source}

	if len(cp.Inputs) > 0 {
		t.Gate = gates[plan.ChainIndex(c.ID)][i]
		t.InputOf = make([]int, t.Gate.NumChannels())
		for _, k := range cp.Inputs {
			ep := &plan.Edges[k]
			for ch := ep.Offset; ch < ep.Offset+ep.Channels; ch++ {
				t.InputOf[ch] = g.Edges[ep.Index].ToInput
			}
		}
	}
	// Inputs from subtasks of other processes (or earlier stages) arrive
	// over the network.
	for _, k := range cp.Inputs {
		ep := &plan.Edges[k]
		lo, hi := ep.Peers(i, plan.Chains[ep.From].Parallelism)
		for j := lo; j < hi; j++ {
			if !plan.Remote(ep, j, i) {
				continue
			}
			if err := x.connectRemote(t.Gate, ep.Channel(j), g.Edges[ep.Index], ep, j, i); err != nil {
				return nil, err
			}
		}
	}
	// A task that fails to build never runs, so never closes its backend.
	defer func() {
		if err != nil && t.Backend != nil {
			t.Backend.Close()
		}
	}()
	// A subtask the checkpoint had finished restarts finished: it has no
	// state, and its operators are not opened.
	if md != nil {
		fin, err := finishedAtRestore(md, c, i)
		if err != nil {
			return nil, err
		}
		if fin {
			t.RestoredFinished = true
			md = nil
		}
	}
	var restore *checkpoint.Restore
	if md != nil {
		var err error
		restore, err = checkpoint.OpenRestore(mdDir, md, c.ID, i, kgs)
		if err != nil {
			return nil, fmt.Errorf("restore task %s subtask %d from checkpoint %d: %w", c.Name, i, md.ID, err)
		}
		defer restore.Close()
	}
	var inc *checkpoint.Incremental
	if c.Keyed {
		if t.Backend, inc, err = x.openKeyedState(c, i, kgs, maxP, restore, ckp); err != nil {
			if md != nil {
				return nil, fmt.Errorf("restore keyed state of %s subtask %d from checkpoint %d: %w", c.Name, i, md.ID, err)
			}
			return nil, err
		}
	}

	// Writers of the chain's outputs to other chains.
	writers := map[*graph.Edge]task.ChannelWriter{}
	opMetrics := make([]*task.OperatorMetrics, len(c.Vertices))
	for j, v := range c.Vertices {
		opMetrics[j] = &task.OperatorMetrics{Operator: v.Name, Subtask: i}
	}
	tm.Operators = opMetrics
	indexOf := map[*graph.Vertex]int{}
	for j, v := range c.Vertices {
		indexOf[v] = j
	}
	for _, k := range cp.Outputs {
		ep := &plan.Edges[k]
		e := g.Edges[ep.Index]
		consumers := plan.Chains[ep.To].Parallelism
		cg := gates[ep.To]
		var senders []network.Sender
		lo, hi := ep.Peers(i, consumers)
		for k := lo; k < hi; k++ {
			if plan.Remote(ep, i, k) {
				rs, err := x.remoteSender(e, ep, i, k)
				if err != nil {
					return nil, err
				}
				senders = append(senders, rs)
				continue
			}
			senders = append(senders, cg[k].Channel(ep.Channel(i)))
		}
		w := e.NewWriter(ctx, senders, x.opts.BatchSize, maxP, consumers, tm, opMetrics[indexOf[e.From]])
		writers[e] = w
		t.Writers = append(t.Writers, w)
	}

	// Operators, tail first: each one's outputs lead to the next.
	t.Ops = make([]task.Operator, len(c.Vertices))
	t.UIDs = make([]string, len(c.Vertices))
	t.Contexts = make([]*task.Context, len(c.Vertices))
	timers := t.Timers()
	for j := len(c.Vertices) - 1; j >= 0; j-- {
		v := c.Vertices[j]
		outs := make([]any, len(v.OutTypes))
		for o, typ := range v.OutTypes {
			var targets []any
			if o == 0 && j+1 < len(c.Vertices) {
				targets = append(targets, typ.ChainLink(t.Ops[j+1], 0, opMetrics[j], opMetrics[j+1]))
			}
			for _, e := range c.Outputs {
				if e.From == v && e.FromOutput == o {
					targets = append(targets, writers[e])
				}
			}
			switch len(targets) {
			case 0:
				outs[o] = typ.Discard()
			case 1:
				outs[o] = targets[0]
			default:
				outs[o] = typ.Fanout(targets)
			}
		}
		rc := &task.Context{Job: g.Name, Operator: v.Name, UID: v.UID, Subtask: i, Parallelism: c.Parallelism,
			MaxParallelism: maxP, KeyGroups: kgs, Backend: t.Backend, BadRecords: x.opts.BadRecords,
			Metrics: opMetrics[j], Timers: timers, Config: x.opts.Config, BatchSize: x.opts.BatchSize}
		rescaled := false
		if md != nil {
			rc.Attempt = 1
			if was := restore.Parallelism(); was == c.Parallelism || was == 0 {
				rc.Restored = restore.OperatorState(v.UID)
			} else if states, err := restore.OperatorStates(v.UID); err != nil {
				return nil, fmt.Errorf("restore %s subtask %d from checkpoint %d: %w", v.Name, i, md.ID, err)
			} else if hasState(states) {
				rc.Rescaled, rescaled = states, true
			}
		}
		if j == 0 && v.Source {
			rc.SetIdle = func(idle bool) error {
				for _, w := range t.Writers {
					if err := w.Broadcast(network.Element{Kind: network.KindIdle, Idle: idle}); err != nil {
						return err
					}
				}
				return nil
			}
		}
		op, err := v.New(rc, outs)
		if err != nil {
			return nil, fmt.Errorf("create %s subtask %d: %w", v.Name, i, err)
		}
		if rescaled {
			if r, ok := op.(task.Rescalable); !ok || !r.Rescalable() {
				return nil, fmt.Errorf("restore %s from checkpoint %d: it ran at parallelism %d there and has state that cannot be redistributed to parallelism %d: restore it at parallelism %d",
					v.Name, md.ID, restore.Parallelism(), c.Parallelism, restore.Parallelism())
			}
		}
		t.Ops[j], t.UIDs[j], t.Contexts[j] = op, v.UID, rc
		if v.Source {
			x.sourceOps = append(x.sourceOps, opMetrics[j])
		}
		if len(v.OutEdges()) == 0 && !v.Source {
			x.sinkOps = append(x.sinkOps, opMetrics[j])
		}
	}
	if ckp != nil {
		tc := &taskCheckpointer{cp: ckp, ctx: ctx, parallelism: c.Parallelism, kgs: kgs, inc: inc}
		t.Checkpointer = tc
		t.Finished = func() {
			tc.waitUpload() // the last snapshot is acknowledged first
			select {
			case ckp.finished <- tr.id:
			case <-ctx.Done():
			}
		}
	}
	return tr, nil
}

// finishedAtRestore reports whether subtask i of chain c is one the
// checkpoint md had finished. A chain all of whose subtasks had finished
// is finished at any parallelism; one partly finished restores only at its
// parallelism, since the finished subtasks' positions are gone.
func finishedAtRestore(md *checkpoint.Metadata, c *graph.Chain, i int) (bool, error) {
	var fin []int
	for _, f := range md.Finished {
		if f.Task == c.ID {
			fin = append(fin, f.Subtask)
		}
	}
	if len(fin) == 0 {
		return false, nil
	}
	was := 0
	for _, t := range md.Tasks {
		if t.Task == c.ID {
			was = t.Parallelism
			break
		}
	}
	if was == 0 {
		return true, nil // every subtask had finished
	}
	if was != c.Parallelism {
		return false, fmt.Errorf("restore %s from checkpoint %d: %d of its %d subtasks had finished there (subtasks %v), and a partly finished operator cannot be redistributed to parallelism %d: restore it at parallelism %d",
			c.Name, md.ID, len(fin), was, fin, c.Parallelism, was)
	}
	return slices.Contains(fin, i), nil
}
