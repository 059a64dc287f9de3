package conf

import "time"

// The file sink's rolling policy (connector/file), under Flink's keys and
// with the defaults of Flink's DataStream DefaultRollingPolicy. A part file
// rolls — is closed, and committed by the next completed checkpoint — when
// it is non-empty and either bound is reached: the size bounds the files a
// reader must handle, the interval bounds how long records of an unbounded
// job stay invisible (plus the checkpoint interval, since only a completed
// checkpoint publishes a file).
var (
	// SinkRollingFileSize is the size at which a part file rolls.
	SinkRollingFileSize = Bytes("sink.rolling-policy.file-size", 128<<20,
		"a file sink's part file is closed (and committed at the next completed checkpoint) once it holds this many bytes").
		Check(bytesAtLeast(1))
	// SinkRolloverInterval is the age at which a part file rolls, counted
	// from its first record.
	SinkRolloverInterval = Duration("sink.rolling-policy.rollover-interval", time.Minute,
		"a file sink's part file is closed (and committed at the next completed checkpoint) once its first record is this old").
		Check(positiveDuration)
)
