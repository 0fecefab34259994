# Altinn → AWS archive: build, test, lint, demo, deploy.
# `make test` is the one command CI and developers run; it installs what the tests need.

SHELL := /bin/bash
PYTHON ?= python3
TOOLS := $(CURDIR)/.tools
VENV := $(TOOLS)/venv
BIN := $(VENV)/bin
# moto < 5.2.2 answers CompleteMultipartUpload with the wrong XML root (aws-sdk-s3 then fails).
MOTO_SPEC := moto[server]>=5.2.2,<6
# cfn-lint 1.52+ no longer expands the SAM transform (it dropped aws-sam-translator) and misses
# real errors in AWS::Serverless resources; 1.51 expands it locally and checks the result.
CFN_LINT_SPEC := cfn-lint==1.51.*
CARGO_LAMBDA_SPEC := cargo-lambda>=1.9.2,<2

export MOTO_SERVER := $(BIN)/moto_server
export PATH := $(BIN):$(PATH)

.PHONY: help tools test test-rust lint fmt clippy cfn-lint build deploy demo clean

help:
	@echo "make demo     run the whole system locally against the Altinn simulator"
	@echo "make test     install test tools if missing, run every test"
	@echo "make lint     cargo fmt --check, clippy -D warnings, cfn-lint template.yaml"
	@echo "make build    cargo lambda build --release (zips in target/lambda)"
	@echo "make deploy   sam build && sam deploy --guided"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs moto_server and cfn-lint into .tools/venv when missing or too old.
tools: $(BIN)/python
	@$(BIN)/python tools/check-version.py moto ">=5.2.2" || $(BIN)/pip install --quiet "$(MOTO_SPEC)"
	@$(BIN)/python tools/check-version.py cfn-lint "==1.51" || $(BIN)/pip install --quiet "$(CFN_LINT_SPEC)"

# cargo-lambda from PyPI without its zig dependency: we build with `--compiler cargo`.
$(BIN)/cargo-lambda: $(BIN)/python
	$(BIN)/pip install --quiet --no-deps "$(CARGO_LAMBDA_SPEC)"

test: tools
	cargo test --workspace --all-targets

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

cfn-lint: tools
	@if [ -f template.yaml ]; then $(BIN)/cfn-lint template.yaml; fi

lint: cfn-lint clippy
	cargo fmt --all --check

build: $(BIN)/cargo-lambda
	cargo lambda build --release --compiler cargo --output-format zip

deploy:
	sam build && sam deploy --guided

clean:
	cargo clean
	rm -rf $(TOOLS)
