package conf

import (
	"fmt"
	"time"
)

// The options loom understands, all in one place. Keys follow Flink's names
// where Flink has the option, so a Flink user's habits carry over.

// Values of RuntimeMode.
const (
	ModeStreaming = "streaming"
	ModeBatch     = "batch"
	ModeAutomatic = "automatic"
)

// Values of BatchShuffleMode.
const (
	ShufflePipelined = "pipelined"
	ShuffleBlocking  = "blocking"
)

// Values of StateBackend.
const (
	BackendHeap = "heap"
	BackendLSM  = "lsm"
)

// Values of RestartStrategy.
const (
	RestartNone             = "none"
	RestartFixedDelay       = "fixed-delay"
	RestartExponentialDelay = "exponential-delay"
)

// Values of OnBadRecord.
const (
	BadRecordFail = "fail"
	BadRecordSkip = "skip"
)

// MaxKeyGroups bounds pipeline.max-parallelism, as in Flink: key groups are
// numbered in 15 bits.
const MaxKeyGroups = 1 << 15

// The largest values of the options that size memory allocated up front. A
// value beyond them is refused when it is set, naming the bound, instead of
// passing validation and failing (or swapping) when the job allocates it.
const (
	// MaxBatchSize bounds pipeline.batch-size.
	MaxBatchSize = 1 << 16
	// MaxChannelCapacity bounds pipeline.channel-capacity.
	MaxChannelCapacity = 1 << 12
	// MaxNetworkBufferSize bounds taskmanager.memory.segment-size.
	MaxNetworkBufferSize = 64 << 20
	// MaxNetworkBuffers bounds the counts of network buffers per channel
	// and per gate.
	MaxNetworkBuffers = 1 << 10
	// MaxLineLength bounds source.file.max-line-length.
	MaxLineLength = 1 << 30
)

var (
	// Parallelism is the number of parallel subtasks of an operator that
	// does not set its own.
	Parallelism = Int("parallelism.default", 1,
		"default parallelism of operators that do not set their own").
		Check(within(1, MaxKeyGroups, "a subtask is a goroutine with its own buffers, and keyed state has at most that many key groups"))
	// MaxParallelism is the number of key groups: the upper bound of
	// parallelism a job's keyed state can be rescaled to.
	MaxParallelism = Int("pipeline.max-parallelism", 0,
		"number of key groups, the highest parallelism keyed state can be restored at; 0 derives it from the parallelism").
		Check(between(0, MaxKeyGroups))
	// BatchSize is how many records a batch carries at most.
	BatchSize = Int("pipeline.batch-size", 1024,
		"records per batch moved between operators and tasks").
		Check(within(1, MaxBatchSize, "batches are allocated whole, for every channel"))
	// ChannelCapacity is how many batches may wait on one input channel
	// before the sender is backpressured.
	ChannelCapacity = Int("pipeline.channel-capacity", 8,
		"batches queued per input channel before the sender waits").
		Check(within(1, MaxChannelCapacity, "every input channel may hold that many batches"))
	// BufferTimeout bounds how long a partly filled batch waits before it is
	// sent anyway: the latency cost of batching.
	BufferTimeout = Duration("execution.buffer-timeout", 100*time.Millisecond,
		"longest time a partly filled batch waits before it is sent")
	// NetworkBufferSize is the size of a network buffer: what crosses
	// between workers in one message, filled with serialized batches.
	NetworkBufferSize = Bytes("taskmanager.memory.segment-size", 32<<10,
		"size of a network buffer between workers (a larger batch makes one larger buffer)").
		Check(bytesWithin(1<<10, MaxNetworkBufferSize, "every channel between workers holds several buffers"))
	// NetworkBuffersPerChannel is the buffers each remote input channel
	// owns: its credit when its producer has no backlog.
	NetworkBuffersPerChannel = Int("taskmanager.network.memory.buffers-per-channel", 2,
		"exclusive network buffers of each input channel fed by another worker").
		Check(within(1, MaxNetworkBuffers, "they are allocated for every remote input channel"))
	// NetworkFloatingBuffers is the buffers an input gate lends to the
	// channels with a backlog.
	NetworkFloatingBuffers = Int("taskmanager.network.memory.floating-buffers-per-gate", 8,
		"network buffers a task's input shares among its remote channels with a backlog").
		Check(within(0, MaxNetworkBuffers, "they are allocated for every input gate"))
	// NetworkMaxBuffersPerChannel bounds the producer side: the buffers one
	// output channel to another worker may hold before its task waits.
	NetworkMaxBuffersPerChannel = Int("taskmanager.network.memory.max-buffers-per-channel", 4,
		"network buffers an output channel to another worker holds (filling or awaiting credit) before its task waits").
		Check(within(1, MaxNetworkBuffers, "every output channel to another worker may hold that many"))
	// RuntimeMode chooses streaming or batch execution; automatic picks
	// batch when every source is bounded.
	RuntimeMode = Enum("execution.runtime-mode", ModeAutomatic, []string{ModeStreaming, ModeBatch, ModeAutomatic},
		"streaming, batch, or automatic (batch when every source is bounded)")
	// BatchShuffleMode chooses how a bounded job runs on YARN. pipelined
	// (the default) deploys every task at once and streams records between
	// them, as a streaming job does; blocking runs the job stage by stage:
	// the producers of every non-forward edge write their output to their
	// worker's local disk, and the next stage starts when they all finished.
	// The default is pipelined, unlike Flink's batch default, because the
	// reasons for Flink's choice do not hold in loom yet: loom places slot i's
	// subtasks of every chain together either way, so both modes need the
	// same containers, and a failure reruns the whole job either way (no
	// region failover). What blocking buys is a lower peak per container, one
	// stage's subtasks running at a time instead of all, at the price of
	// writing and reading every shuffled record on disk and of a pause
	// between stages; choose it for jobs whose stages would not fit in the
	// workers' memory together. Streaming jobs are always pipelined, and
	// blocking for an unbounded job is an error.
	BatchShuffleMode = Enum("execution.batch-shuffle-mode", ShufflePipelined, []string{ShufflePipelined, ShuffleBlocking},
		"how a bounded job runs on YARN: pipelined (all tasks at once) or blocking (stage by stage, shuffled data on the workers' local disks)")
	// StateBackend chooses where keyed state lives.
	StateBackend = Enum("state.backend", BackendHeap, []string{BackendHeap, BackendLSM},
		"where keyed state lives: heap (memory) or lsm (Pebble on local disk)")
	// LSMDir is the local directory of the lsm backend's files.
	LSMDir = String("state.backend.lsm.dir", "",
		"local directory for the lsm state backend; empty means the OS temp dir")
	// CheckpointInterval is the time between checkpoint triggers.
	CheckpointInterval = Duration("execution.checkpointing.interval", 0,
		"time between checkpoints; 0 disables checkpointing")
	// CheckpointTimeout aborts a checkpoint that has not completed in time.
	CheckpointTimeout = Duration("execution.checkpointing.timeout", 10*time.Minute,
		"a checkpoint not completed within this time is aborted").Check(positiveDuration)
	// CheckpointMinPause keeps a gap between the end of one checkpoint and
	// the start of the next, so a slow job still makes progress.
	CheckpointMinPause = Duration("execution.checkpointing.min-pause", 0,
		"least time between the end of one checkpoint and the start of the next")
	// CheckpointMaxConcurrent is how many checkpoints may be in flight.
	CheckpointMaxConcurrent = Int("execution.checkpointing.max-concurrent-checkpoints", 1,
		"checkpoints that may be in flight at once").Check(atLeast(1))
	// CheckpointTolerableFailures is how many checkpoints in a row may fail
	// (time out, be declined, fail to write) before the job fails over.
	CheckpointTolerableFailures = Int("execution.checkpointing.tolerable-failed-checkpoints", 0,
		"checkpoint failures in a row tolerated before the job fails over and restarts by its restart strategy; -1 tolerates any number").Check(atLeast(-1))
	// CheckpointDir is where checkpoints are stored (local path or hdfs:// URL).
	CheckpointDir = String("state.checkpoints.dir", "",
		"directory or hdfs:// URL where checkpoints are stored")
	// CheckpointsRetained is how many completed checkpoints are kept.
	CheckpointsRetained = Int("state.checkpoints.num-retained", 1,
		"number of completed checkpoints kept").Check(atLeast(1))
	// RestartStrategy says whether a failed job restarts from its latest checkpoint.
	// Unset, it is none, or exponential-delay when checkpointing is on (as
	// in Flink): see RestartStrategyOf.
	RestartStrategy = Enum("restart-strategy.type", RestartNone, []string{RestartNone, RestartFixedDelay, RestartExponentialDelay},
		"none (a failure ends the job), fixed-delay or exponential-delay (restart from the latest checkpoint); unset: exponential-delay when checkpointing is on, else none")
	// RestartAttempts is how many restarts fixed-delay allows before the job fails.
	RestartAttempts = Int("restart-strategy.fixed-delay.attempts", 3,
		"restarts allowed before the job fails").Check(atLeast(1))
	// RestartDelay is the wait before each restart.
	RestartDelay = Duration("restart-strategy.fixed-delay.delay", time.Second,
		"wait before each restart")
	// The exponential-delay strategy's waits: InitialBackoff, then each
	// BackoffMultiplier times the one before, at most MaxBackoff; a run up
	// for ResetBackoffThreshold starts again from InitialBackoff, and
	// BackoffAttempts bounds the restarts between two resets.
	InitialBackoff = Duration("restart-strategy.exponential-delay.initial-backoff", time.Second,
		"wait before the first restart")
	MaxBackoff = Duration("restart-strategy.exponential-delay.max-backoff", time.Minute,
		"longest wait between restarts")
	BackoffMultiplier = Float("restart-strategy.exponential-delay.backoff-multiplier", 1.5,
		"growth of the wait from one restart to the next").Check(func(v float64) string {
		if v < 1 {
			return "must be at least 1"
		}
		return ""
	})
	ResetBackoffThreshold = Duration("restart-strategy.exponential-delay.reset-backoff-threshold", time.Hour,
		"a run up this long resets the wait and the count of restarts")
	BackoffAttempts = Int("restart-strategy.exponential-delay.attempts-before-reset-backoff", 1<<30,
		"restarts allowed between two resets before the job fails").Check(atLeast(1))
	// OnBadRecord says what a malformed input record does.
	OnBadRecord = Enum("pipeline.on-bad-record", BadRecordFail, []string{BadRecordFail, BadRecordSkip},
		"fail the job on a malformed input record, or skip and count it")
	// SourceMaxLineLength bounds the memory one line of a line-format file
	// source (text, CSV, JSON lines) may take: a longer line is a bad
	// record, instead of a buffer growing to hold a file without newlines.
	SourceMaxLineLength = Bytes("source.file.max-line-length", 16<<20,
		"longest line a text, CSV or JSON-lines file source reads; a longer line is a bad record (fails the job, or is skipped with pipeline.on-bad-record=skip)").
		Check(bytesWithin(1<<10, MaxLineLength, "a line is held in memory whole"))
	// DeadLetterPath receives skipped records when OnBadRecord is skip.
	DeadLetterPath = String("pipeline.dead-letter-path", "",
		"file that receives skipped bad records (where, reason, record); empty keeps none")
	// MetricsAddr is the listen address of the Prometheus /metrics endpoint.
	MetricsAddr = String("metrics.addr", "",
		"host:port serving Prometheus /metrics; empty serves none")
	// YarnAppName is the YARN application name.
	YarnAppName = String("yarn.application.name", "",
		"YARN application name; empty uses the job name")
	// YarnQueue is the YARN queue the application is submitted to.
	YarnQueue = String("yarn.application.queue", "default",
		"YARN queue to submit to")
)

func atLeast(n int) func(int) string {
	return func(v int) string {
		if v < n {
			return fmt.Sprintf("want an integer of at least %d", n)
		}
		return ""
	}
}

func bytesAtLeast(n int64) func(int64) string {
	return func(v int64) string {
		if v < n {
			return "want a size of at least " + FormatBytes(n)
		}
		return ""
	}
}

func between(lo, hi int) func(int) string {
	return func(v int) string {
		if v < lo || v > hi {
			return fmt.Sprintf("want an integer from %d to %d", lo, hi)
		}
		return ""
	}
}

// within is between with the reason for the bound, shown to the user:
// "want an integer from 1 to 65536 (batches are allocated whole, ...)".
func within(lo, hi int, why string) func(int) string {
	return func(v int) string {
		if v < lo || v > hi {
			return fmt.Sprintf("want an integer from %d to %d (%s)", lo, hi, why)
		}
		return ""
	}
}

// bytesWithin bounds a size option, saying why.
func bytesWithin(lo, hi int64, why string) func(int64) string {
	return func(v int64) string {
		if v < lo || v > hi {
			return fmt.Sprintf("want a size from %s to %s (%s)", FormatBytes(lo), FormatBytes(hi), why)
		}
		return ""
	}
}

func positiveDuration(d time.Duration) string {
	if d <= 0 {
		return "want a duration greater than 0, like 10min"
	}
	return ""
}

// RestartStrategyOf is the job's restart strategy: the one set, or, unset,
// exponential-delay when checkpointing is on (a streaming job that
// checkpoints is meant to survive failures, as in Flink) and none otherwise.
func RestartStrategyOf(c *Config) string {
	if RestartStrategy.IsSet(c) || CheckpointInterval.Get(c) <= 0 {
		return RestartStrategy.Get(c)
	}
	return RestartExponentialDelay
}
