// Package connector groups loom's sources and sinks. Each subpackage
// implements task.Source or task.Sink:
//
//   - fs: the file-system seam (local files; HDFS registers itself here)
//   - file: splittable bounded file sources (text, CSV, JSON lines, Avro) and
//     the part-file sink
//   - datagen: a deterministic, optionally rate-limited generator
//   - print: a sink writing lines to stdout or any io.Writer
//   - blackhole: a sink that only counts
//
// Jobs should call Validate on sources and Prepare on sinks before starting
// tasks (see Validator and Preparer), so that a bad input path or a non-empty
// output directory fails the job at submission, not in a task.
package connector

// Validator is a source that can check its input before tasks start: a file
// source lists its paths and fails naming the first one that matches nothing.
type Validator interface {
	Validate() error
}

// Preparer is a sink that must prepare its destination once per job, before
// tasks start. fresh is false when the job restores from a checkpoint, in
// which case files already written must be left alone.
type Preparer interface {
	Prepare(fresh bool) error
}
