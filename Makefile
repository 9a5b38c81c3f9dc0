# `make run` and `make test` are the two commands a newcomer needs. Both first install
# PostgreSQL's server binaries (and make's other needs) from Debian when missing; the
# service and the tests then start their own private PostgreSQL, unless DATABASE_URL
# (run) or TEST_DATABASE_URL (test) points at one.
GO ?= go
# make bench BENCH=Ingest BENCHTIME=5x BENCHCOUNT=6 (repeat runs for benchstat)
BENCH ?= .
BENCHTIME ?= 1s
BENCHCOUNT ?= 1

.PHONY: deps run test build bench lint

deps:
	@bash .ci/install-deps

# A development-only JWT secret when none is set; the binary itself refuses to start
# without one, so production never gets this default.
run: deps
	JWT_SECRET="$${JWT_SECRET:-dev-only-insecure-jwt-secret}" $(GO) run ./cmd/devflow serve

# After the suite (which runs the fuzz seed corpora as tests), every fuzz target fuzzes
# for FUZZTIME, one at a time: go test -fuzz takes one target per package per run.
FUZZTIME ?= 20s

test: deps
	$(GO) test -p 2 -count=1 -timeout 15m ./...
	@for file in $$(grep -rl --include='*_test.go' '^func Fuzz' cmd domain commands projections queries infra); do \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			echo "fuzzing $$target in $$(dirname "$$file") for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s "./$$(dirname "$$file")" || exit 1; \
		done; \
	done

build:
	$(GO) build -o bin/devflow ./cmd/devflow

# One package at a time: benchmarks running side by side would skew each other's ratios.
bench:
	$(GO) test -p 1 -count=$(BENCHCOUNT) -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout 60m ./...

lint:
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed for:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@bash .ci/layers
