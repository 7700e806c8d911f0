# factlab's entry points. Everything here needs only the Rust toolchain (and Python for the
# optional `check-python`).

CARGO ?= cargo
BIN := target/debug

.PHONY: build test lint check-python clean

## build: every stage binary (dependencies optimised, see Cargo.toml's dev profile)
build:
	$(CARGO) build --workspace --bins

## test: the whole test suite, as CI runs it
test:
	$(CARGO) test --workspace

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## check-python: generated Parquet files open in polars and pyarrow (installs both in .venv)
check-python: build
	python3 -m venv .venv
	.venv/bin/pip install --quiet polars pyarrow
	rm -rf target/check-python && mkdir -p target/check-python
	$(BIN)/gen-facts fictional -n 120 --seed 1 -o target/check-python/knowledge.parquet --probes target/check-python/probes.parquet
	$(BIN)/gen-facts background --documents 200 --seed 1 -o target/check-python/corpus.parquet
	.venv/bin/python scripts/check_parquet.py target/check-python

clean:
	rm -rf results target/check-python
