# The two commands a newcomer needs are `make run` and `make test` (see README.md).

.PHONY: run test build lint-proto clippy fmt clean-test-schemas deploy-check load trace-demo bench-check bench-instructions bench-writes

run:
	cargo run -p csm-cli --bin csm -- dev

test:
	./scripts/test.sh

build:
	cargo build --workspace --locked

lint-proto:
	"$$(./scripts/ensure-tools.sh)" lint

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

# Drops schemas left behind by interrupted PostgreSQL test runs.
clean-test-schemas:
	./scripts/clean-test-schemas.sh

# Validates deploy/ (compose, kustomize base + production overlay) without a
# container engine; installs its tools into .tools/ (see scripts/validate-deploy.sh).
deploy-check:
	./scripts/validate-deploy.sh

# Seeds the issue-6 data set into a running `make run` (csm dev, default ports)
# and drives the Check / ListVisibleCases benchmark (docs/benchmarks.md).
# Example: make load LOAD_SEED_ARGS="--cases 20000" LOAD_RUN_ARGS="--duration 10s"
load:
	cargo run -p csm-cli --bin csm -- load seed $(LOAD_SEED_ARGS)
	cargo run -p csm-cli --bin csm -- load run $(LOAD_RUN_ARGS)

# The Check benchmark of issue 15: release suite on CPU 0, h2load on CPU 1
# (health, allowed and denied Check at 1:1, 16:8, 64:16; docs/benchmarks.md).
bench-check:
	./scripts/bench-check.sh

# CreateCase from 1 and 32 concurrent clients on PostgreSQL and SQLite
# (release suite on CPU 0, h2load on CPU 1; docs/benchmarks.md).
bench-writes:
	./scripts/bench-writes.sh

# Instructions per Check / BatchCheck counted by callgrind: repeatable where
# req/s is noisy, for comparing a change with the build before it.
bench-instructions:
	./scripts/bench-instructions.sh

# `csm dev` exporting traces to a real OTLP receiver (oteltest's otelsink from
# PyPI): one cache-missing Check and its span tree (scripts/trace-demo.sh).
trace-demo:
	./scripts/trace-demo.sh
