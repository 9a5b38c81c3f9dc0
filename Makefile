# `make test` is the one command to run: it needs Go and the PostgreSQL server
# binaries (apt-get install -y postgresql); the tests start their own private
# PostgreSQL, or use TEST_DATABASE_URL when it is set.
GO ?= go
# make bench BENCH=Ingest BENCHTIME=5x
BENCH ?= .
BENCHTIME ?= 1s

.PHONY: run test build bench lint

run:
	$(GO) run ./cmd/devflow serve

test:
	$(GO) test -p 2 -count=1 -timeout 15m ./...

build:
	$(GO) build -o bin/devflow ./cmd/devflow

# One package at a time: benchmarks running side by side would skew each other's ratios.
bench:
	$(GO) test -p 1 -count=1 -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 60m ./...

lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed for:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
