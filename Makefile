# Heimdall — see README.md.
#   make run    build plugins and gateway, start httpbin + the gateway with conf/
#   make test   install test services if missing, build, vet and run every test
#               (and every fuzz target for FUZZTIME_TEST, 3s)
#   make fuzz   every fuzz target for FUZZTIME (60s); see scripts/fuzz.sh
GO      ?= go
BIN     := bin/heimdall
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

FUZZTIME      ?= 60s
FUZZTIME_TEST ?= 3s

.PHONY: all build plugins run test test-deps vet fmt fuzz bench bench-micro soak clean

all: build plugins

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/heimdall

plugins:
	scripts/build-plugins.sh

run: build plugins
	scripts/run-demo.sh $(BIN)

test-deps:
	scripts/test-deps.sh

vet:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/... ./plugins/...

fmt:
	gofmt -l -w .

test: test-deps build plugins vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -count=1 -timeout 12m ./...
	FUZZTIME=$(FUZZTIME_TEST) GO=$(GO) scripts/fuzz.sh

# Native Go fuzzing (go test -fuzz), each target for FUZZTIME; crashers land
# in the package's testdata/fuzz/FuzzXxx/ and then run with every go test.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

# Side-by-side harness (bench/cmd/sidebyside): direct upstream, nginx and
# Heimdall variants under wrk and an open-loop generator; report in
# bench/results/. BENCH_FLAGS passes harness flags (e.g. -rounds 1).
bench: build plugins
	bench/deps.sh
	$(GO) run ./bench/cmd/sidebyside $(BENCH_FLAGS)

# Soak (bench/cmd/soak): 10 minutes of mixed traffic with a failing plugin
# against bin/heimdall; RSS, goroutines and fds at start and end in
# bench/results/soak-<date>.md. SOAK_FLAGS passes flags (e.g. -duration 45s).
soak: build plugins
	$(GO) run ./bench/cmd/soak $(SOAK_FLAGS)

# Go microbenchmarks (never part of make test).
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./bench/ ./internal/...

clean:
	rm -rf bin build
