# logagent build and test entry points. `make test` is what CI runs (.ci/run).

GO ?= go
# CI checkouts may lack .git or belong to another user, which makes VCS
# stamping fail the build.
GOFLAGS += -buildvcs=false
export GOFLAGS

# Packages with files behind the e2e build tag (make test-e2e).
E2E_PKGS = $(shell grep -rlE --include='*.go' --exclude-dir=.git --exclude-dir=.cache \
	--exclude-dir=.demo --exclude-dir=bin --exclude-dir=vendor --exclude-dir=testdata \
	'^//go:build .*\be2e\b' . | xargs -r -n1 dirname | sort -u)

# test's prerequisites must run in order (deps first), even under make -j.
.NOTPARALLEL:

.PHONY: all build deps test vet test-all test-unit test-e2e test-units fuzz fuzz-short mutants bench demo clean install uninstall

# Where `make install` puts things. DESTDIR stages into another root (for
# packages and for the unit checks); PREFIX is baked into the units' ExecStart.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DAEMONS = logagent logtransfer

all: build

# The version the daemons report (-version, the status key, logs).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X github.com/logagent/logagent/internal/cli.Version=$(VERSION)" -o bin/ ./cmd/...

deps:
	./scripts/deps.sh
	./scripts/build-zinc.sh

test: deps vet test-all fuzz-short test-units

# The e2e tag only adds files, so one pass with it vets and tests everything
# once.
vet:
	$(GO) vet -tags e2e ./...

test-all:
	$(GO) test -race -count=1 -tags e2e -timeout 30m ./...

# Every fuzz target (func FuzzX in a test file) for a fixed time each, one
# after the other: briefly in `make test`, longer on demand. Their seed
# corpora (testdata/fuzz/) run in every go test anyway.
FUZZ_SHORT_TIME ?= 7s
FUZZ_TIME ?= 2m
fuzz-short:
	./scripts/fuzz.sh $(FUZZ_SHORT_TIME)

fuzz:
	./scripts/fuzz.sh $(FUZZ_TIME)

# Breaks each guarantee on purpose (tools/mutants/mutations.go), one at a
# time in a scratch copy, and reports which breaks the tests miss. By hand,
# not in CI (about a quarter of an hour); MUTANTSFLAGS='-run commit' picks.
MUTANTSFLAGS ?=
mutants:
	$(GO) run ./tools/mutants $(MUTANTSFLAGS)

# For development: the fast tests only, or the e2e packages only.
test-unit:
	$(GO) test -race -count=1 ./...

test-e2e:
	@pkgs='$(E2E_PKGS)'; if [ -z "$$pkgs" ]; then \
		echo "no e2e tests yet (no file has //go:build e2e)"; \
	else \
		echo "$(GO) test -race -count=1 -tags e2e -timeout 30m $$pkgs"; \
		$(GO) test -race -count=1 -tags e2e -timeout 30m $$pkgs; \
	fi

# The unit files: installed into a scratch root, then `systemd-analyze
# verify` (no warnings allowed) and `security` (exposure at most 3.0), and
# install/uninstall keeping existing configs.
test-units: build
	./scripts/test-units.sh

# Binaries, units, the sysusers file and, unless already present, the example
# configs. Run as root without DESTDIR on a real host, then:
#   systemd-sysusers && systemctl daemon-reload && systemctl enable --now logagent
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/logagent
	install -m 0755 bin/logagent bin/logtransfer bin/logctl $(DESTDIR)$(BINDIR)/
	for d in $(DAEMONS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' systemd/$$d.service > $(DESTDIR)$(UNITDIR)/$$d.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$d.service || exit 1; done
	install -m 0644 systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/logagent.conf
	@for c in agent transfer; do \
		dst=$(DESTDIR)$(SYSCONFDIR)/logagent/$$c.yaml; \
		if [ -e $$dst ]; then echo "install: keeping existing $$dst (new example: deploy/config/$$c.yaml)"; \
		else install -m 0644 deploy/config/$$c.yaml $$dst || exit 1; fi; done

# Removes what install added except configs and state (/var/lib/logagent).
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,logagent logtransfer logctl)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(addsuffix .service,$(DAEMONS)))
	rm -f $(DESTDIR)$(SYSUSERSDIR)/logagent.conf
	@echo "uninstall: left $(DESTDIR)$(SYSCONFDIR)/logagent and /var/lib/logagent in place"

# The agent against the bare limits of sarama (fire and forget, the
# at-least-once ceiling) in one run, then its memory with many files, under
# rotation and through a broker outage; the transfer against a bare bulk
# load; then the Go micro-benchmarks. BENCHFLAGS goes to the throughput run,
# e.g. make bench BENCHFLAGS='-before 35c43e2 -repeat 5'.
BENCHFLAGS ?=
bench:
	$(GO) run ./bench/agentbench $(BENCHFLAGS)
	$(GO) run ./bench/agentbench -files 1000
	$(GO) run ./bench/agentbench -files 10000 -max-open-files 1024
	$(GO) run ./bench/agentbench -rotation
	$(GO) run ./bench/agentbench -outage 30s
	$(GO) run ./bench/transferbench $(TRANSFERBENCHFLAGS)
	$(GO) run ./bench/transferbench -pipelines
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The whole pipeline on this machine: bin/* plus the ZincSearch stand-in
# (.cache/bin/zincsearch-es; scripts/build-zinc.sh does nothing when it is
# up to date).
demo: build
	./scripts/build-zinc.sh
	./bin/logdemo

clean:
	rm -rf bin/ .demo/
