// Package proto holds loom's own .proto descriptions of the Hadoop IPC and
// YARN messages loom speaks, and (in commonpb and yarnpb) the Go code
// protoc-gen-go generates from them. The generated code is committed so a
// plain `go build` needs no protoc; `make proto` regenerates it.
//
// The files declare the proto packages loom.hadoop.common and
// loom.hadoop.yarn, not Hadoop's hadoop.common and hadoop.yarn: the wire
// format carries only field numbers, and Hadoop's names are already taken
// in the global registry by colinmarc/hdfs.
package proto
