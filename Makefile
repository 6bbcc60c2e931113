# Stacksearch: every command a developer or CI needs. Tools are pinned in go.mod
# (tool directive) and run with `go tool`, so every machine uses the same versions.

SHELL := /bin/bash
GO ?= go
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
FUZZTIME ?= 5s


.PHONY: run test check fmt vet staticcheck lint generate generate-check gotest fuzz vuln build clean

## run: start searchd on the embedded default corpus (REST :8080, gRPC :9090)
run:
	$(GO) run ./cmd/searchd $(ARGS)

## build: build searchd and searchctl into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## test: every check CI runs
test: check

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

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzParseMarkdown$$' -fuzztime $(FUZZTIME)
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzParseHTML$$' -fuzztime $(FUZZTIME)
	$(GO) test ./corpus -run '^$$' -fuzz '^FuzzReadJSONL$$' -fuzztime $(FUZZTIME)

## vuln: check dependencies against Go's vulnerability database (needs vuln.go.dev; not part of make test)
vuln:
	$(GO) tool govulncheck ./...

clean:
	rm -rf bin
