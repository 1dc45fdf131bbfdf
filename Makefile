# logagent build and test entry points. `make test` is what CI runs (.ci/run).

GO ?= go
# CI checkouts may lack .git or belong to another user, which makes VCS
# stamping fail the build.
GOFLAGS += -buildvcs=false
export GOFLAGS

# Packages with files behind the e2e build tag. The e2e pass runs only these,
# so plain tests elsewhere are not run (and linked with -race) a second time.
E2E_PKGS = $(shell grep -rlE --include='*.go' --exclude-dir=.git --exclude-dir=.cache \
	--exclude-dir=.demo --exclude-dir=bin --exclude-dir=vendor --exclude-dir=testdata \
	'^//go:build .*\be2e\b' . | xargs -r -n1 dirname | sort -u)

# test's prerequisites must run in order (deps first), even under make -j.
.NOTPARALLEL:

.PHONY: all build deps test vet test-unit test-e2e bench demo clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

deps:
	./scripts/deps.sh
	./scripts/build-zinc.sh

test: deps vet test-unit test-e2e

vet:
	$(GO) vet ./...
	@pkgs='$(E2E_PKGS)'; if [ -n "$$pkgs" ]; then \
		echo "$(GO) vet -tags e2e $$pkgs"; $(GO) vet -tags e2e $$pkgs; fi

test-unit:
	$(GO) test -race -count=1 ./...

test-e2e:
	@pkgs='$(E2E_PKGS)'; if [ -z "$$pkgs" ]; then \
		echo "no e2e tests yet (no file has //go:build e2e)"; \
	else \
		echo "$(GO) test -race -count=1 -tags e2e -timeout 30m $$pkgs"; \
		$(GO) test -race -count=1 -tags e2e -timeout 30m $$pkgs; \
	fi

# End-to-end throughput: the agent against a bare sarama producer on one
# kfake broker (devstack), 1M lines by default; BENCHFLAGS passes flags, e.g.
# make bench BENCHFLAGS='-lines 200000 -profile /tmp/prof'. Then the Go
# micro-benchmarks.
BENCHFLAGS ?=
bench:
	$(GO) run ./bench/agentbench $(BENCHFLAGS)
	$(GO) run ./bench/transferbench $(TRANSFERBENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The whole pipeline on this machine: bin/* plus the ZincSearch stand-in
# (.cache/bin/zincsearch-es; scripts/build-zinc.sh does nothing when it is
# up to date).
demo: build
	./scripts/build-zinc.sh
	./bin/logdemo

clean:
	rm -rf bin/ .demo/
