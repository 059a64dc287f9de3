# loom: build, test, demo, bench. `make test` is what CI runs (.ci/run).
GO       ?= go
BIN      := bin
LOOM     := $(BIN)/loom
PKG      := ./...

.PHONY: build test unit-test integration-test demo bench clean
build:
	$(GO) build -o $(LOOM) ./cmd/loom

# Unit tests need no server; the integration tests run against the real dev
# cluster, which is started before and always stopped after them.
test: unit-test integration-test

unit-test:
	$(GO) vet $(PKG)
	$(GO) test -count=1 $(PKG)

integration-test:
	$(MAKE) cluster-up
	status=0; $(GO) test -count=1 -tags integration -timeout 45m $(PKG) || status=$$?; \
	  $(MAKE) cluster-down; exit $$status

demo: build
	./scripts/demo.sh

bench:
	$(GO) test -run '^$$' -bench '^Benchmark(Plan|Deploy)$$' -benchtime 3x ./scheduler ./jobmaster
	$(GO) test -run '^$$' -bench . -benchtime 3x ./bench/...
	$(GO) test -run '^$$' -bench '^BenchmarkCoordinatorScale$$' -benchtime 3x ./checkpoint
	$(GO) test -run '^$$' -bench '^BenchmarkIncrementalCheckpoint$$' -benchtime 50x ./state
	$(GO) test -run '^$$' -bench '^BenchmarkIncrementalCheckpointJob$$' -benchtime 1x ./engine

clean:
	rm -rf $(BIN)

-include integration/cluster/cluster.mk

# Regenerates loom's Hadoop/YARN protobuf code (committed) from yarn/proto/*.proto.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go at the version of
# google.golang.org/protobuf in go.mod.
.PHONY: proto
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$$($(GO) list -m -f '{{.Version}}' google.golang.org/protobuf)
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I . --go_out=. --go_opt=module=github.com/loom-yarn/loom \
	  yarn/proto/hadoop_common.proto yarn/proto/hadoop_yarn.proto
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I . --go_out=. --go_opt=module=github.com/loom-yarn/loom \
	  --go-grpc_out=. --go-grpc_opt=module=github.com/loom-yarn/loom deploy/control.proto

# Fuzz targets of the parsers a user's bytes reach (docs/robustness.md),
# FUZZTIME each; crashers found land in the package's testdata/fuzz and
# become regression tests of plain go test.
FUZZTIME ?= 1m
FUZZ_TARGETS := \
	connector/file:FuzzCSVSplit connector/file:FuzzJSONLine connector/file:FuzzLineSplits \
	connector/file:FuzzCompressedInput connector/file:FuzzAvroOCF connector/file:FuzzPositionDecode \
	connector/file:FuzzAvroPositionDecode connector/file:FuzzSinkStateDecode connector/file:FuzzOwnerMarker \
	conf:FuzzLoadYAML conf:FuzzParseValues jobs:FuzzParseNumber \
	yarn/ipc:FuzzResponseFrame yarn/ipc:FuzzDigestChallenge

.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "== $$name (./$$pkg), $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done
