// Package proto holds the .proto of loom's network shuffle; its generated Go
// code (committed) is in shufflepb. Regenerate with `go generate
// ./network/proto` (needs protoc, and protoc-gen-go and protoc-gen-go-grpc at
// the versions named in the generated files' headers).
package proto

//go:generate protoc -I . --go_out=. --go_opt=module=github.com/loom-yarn/loom/network/proto --go-grpc_out=. --go-grpc_opt=module=github.com/loom-yarn/loom/network/proto shuffle.proto
