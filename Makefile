# Stacksearch: every command a developer or CI needs. Tools are pinned in go.mod
# (tool directive) and run with `go tool`, so every machine uses the same versions.

SHELL := /bin/bash
GO ?= go
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
# FUZZTIME, when set (30s, 100000x), bounds every fuzz target; by default each
# runs a number of executions that takes about 5 s here (see fuzz).
FUZZTIME ?=


.PHONY: run test deps bench-data check fmt vet staticcheck lint generate generate-check gotest fuzz vuln build clean

## run: start searchd on the embedded default corpus (REST :8080, gRPC :9090)
run:
	$(GO) run ./cmd/searchd $(ARGS)

## build: build searchd and searchctl into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: every check CI runs
test: deps
test: export STACKSEARCH_BROWSER_TESTS = 1
test: export STACKSEARCH_CLUSTER_TESTS = 1
test: check

# deps installs what the tests need beyond Go: Debian's chromium for the browser
# tests (cmd/searchd/browser_test.go) and Debian's haproxy, the load balancer of the
# cluster test (cmd/searchd/cluster_e2e_test.go), which `make test` runs as mandatory
# (STACKSEARCH_BROWSER_TESTS=1, STACKSEARCH_CLUSTER_TESTS=1: they fail instead of
# skipping without them). It installs only what is missing. The versions are pinned so
# CI runs what the tests were written against; but Debian's security archive offers
# only the newest build of a package, so once a security update replaces a pin we
# install the candidate with a warning rather than break CI: bump the version then.
# fonts-liberation (Arial's metrics) makes screenshots look alike on every machine.
CHROMIUM ?= /usr/bin/chromium
CHROMIUM_VERSION ?= 156.0.8078.108-1~deb12u1
HAPROXY ?= /usr/sbin/haproxy
HAPROXY_VERSION ?= 2.6.12-1+deb12u4

## deps: install Debian's chromium and haproxy (pinned) for the browser and cluster tests, when missing
deps:
	@[ -x $(CHROMIUM) ] && [ -x $(HAPROXY) ] && exit 0; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -qq || exit 1; \
	offered() { apt-cache madison $$1 | awk -F'|' '{gsub(/ /, "", $$2); print $$2}' | grep -qxF "$$2" && return 0; \
		echo "warning: $$1 $$2 is no longer offered by apt; installing $$(apt-cache policy $$1 | awk '/Candidate:/ {print $$2}') instead (update its version in the Makefile)" >&2; \
		return 1; }; \
	pkgs=; \
	if [ ! -x $(CHROMIUM) ]; then \
		if offered chromium '$(CHROMIUM_VERSION)'; then pkgs='chromium=$(CHROMIUM_VERSION) chromium-common=$(CHROMIUM_VERSION)'; else pkgs=chromium; fi; \
		pkgs="$$pkgs fonts-liberation"; \
	fi; \
	if [ ! -x $(HAPROXY) ]; then \
		if offered haproxy '$(HAPROXY_VERSION)'; then pkgs="$$pkgs haproxy=$(HAPROXY_VERSION)"; else pkgs="$$pkgs haproxy"; fi; \
	fi; \
	$$sudo apt-get install -y -qq --no-install-recommends $$pkgs && $(CHROMIUM) --version && $(HAPROXY) -v | head -1

check: fmt vet staticcheck lint generate-check gotest fuzz

fmt:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

lint:
	$(GO) tool buf lint

## generate: regenerate Go, gateway and OpenAPI code from proto/
generate:
	$(GO) tool buf generate --template proto/buf.gen.yaml

# generate-check regenerates into a temporary directory and fails on any
# difference from the committed files.
generate-check:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(GO) tool buf generate --template proto/buf.gen.yaml -o $$tmp && \
	for f in $$(cd $$tmp && find . -type f | sort); do \
		cmp -s "$$tmp/$$f" "$$f" || { echo "generated file $$f is out of date: run make generate"; exit 1; }; \
	done && echo "generated code is up to date"

gotest:
	$(GO) test -race -count=1 ./...

## fuzz: run each fuzz target for a few seconds (or FUZZTIME)
# Bounded by executions, not time: with a -fuzztime duration Go 1.26 can fail a
# target with a spurious "context deadline exceeded" at the deadline
# (go.dev/issue/75804, fixed in Go 1.27), which CI saw once.
fuzz:
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzParseMarkdown$$' -fuzztime $(or $(FUZZTIME),10000x)
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzParseHTML$$' -fuzztime $(or $(FUZZTIME),40000x)
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzReadJSONL$$' -fuzztime $(or $(FUZZTIME),100000x)
	$(GO) test ./service -run '^$$' -fuzz '^FuzzRESTRequest$$' -fuzztime $(or $(FUZZTIME),10000x)
	$(GO) test ./index -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $(or $(FUZZTIME),30000x)

# bench-data installs Debian's HTML documentation packages for back-end stacks (the list, with each
# package's language, framework and database, is cmd/benchdata/packages.yaml) and builds a JSONL
# corpus from /usr/share/doc. --path-include keeps the documentation on images whose dpkg
# configuration drops /usr/share/doc. Not part of make test: it downloads about 100 MB.
BENCH_DATA ?= data/debian-docs.jsonl

## bench-data: install Debian documentation packages and build the benchmark corpus $(BENCH_DATA)
bench-data:
	@pkgs="$$($(GO) run ./cmd/benchdata -packages)" || exit 1; \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -qq && \
	$$sudo apt-get install -y -qq --no-install-recommends -o 'DPkg::Options::=--path-include=/usr/share/doc/*' $$pkgs
	$(GO) run ./cmd/benchdata -o $(BENCH_DATA)

# bench runs the performance comparison of issue 7 and regenerates BENCHMARKS.md: searchd over gRPC
# and REST against Bleve in-process, SQLite FTS5 and PostgreSQL (Debian's, installed here when
# missing, run as a throwaway cluster by cmd/stackbench), on $(BENCH_DATA). Figures, logs and profiles
# go to data/bench/. Not part of make test. BENCH_ARGS passes settings (go run ./cmd/stackbench -h).
BENCH_ARGS ?=

.PHONY: bench
## bench: measure searchd against Bleve in-process, SQLite FTS5 and PostgreSQL; write BENCHMARKS.md
bench: bench-data
	@if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends postgresql; \
	fi
	$(GO) build -o bin/ ./cmd/searchd ./cmd/searchctl ./cmd/stackbench
	bin/stackbench -bin bin -corpus $(BENCH_DATA) $(BENCH_ARGS)

## vuln: check dependencies against Go's vulnerability database (needs vuln.go.dev; not part of make test)
vuln:
	$(GO) tool govulncheck ./...

clean:
	rm -rf bin
