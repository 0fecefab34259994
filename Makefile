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
# zig, the linker cargo-lambda cross-compiles arm64 with (only `make build ARCH=arm64` needs it).
ZIGLANG_SPEC := ziglang>=0.13,<0.15

# `make build`: one zip per function crate in functions/ (target/lambda/<name>/bootstrap.zip).
# ARCH=arm64 (the stack's architecture, the default) cross-compiles with zig and needs the
# aarch64-unknown-linux-gnu Rust target (cargo-lambda runs `rustup target add`, a download);
# ARCH=x86_64 builds natively with plain cargo (for local checks).
ARCH ?= arm64
LAMBDA_FUNCTIONS := $(notdir $(patsubst %/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)))
ifeq ($(ARCH),arm64)
LAMBDA_ARCH_FLAGS := --arm64 --compiler cargo-zigbuild
LAMBDA_ARCH_TOOLS := $(VENV)/.ziglang
else ifeq ($(ARCH),x86_64)
LAMBDA_ARCH_FLAGS := --x86-64 --compiler cargo
LAMBDA_ARCH_TOOLS :=
else
$(error ARCH must be arm64 or x86_64, not $(ARCH))
endif

# `make demo DEMO_ARGS="--keep-running"` passes options to `archive-local demo`.
DEMO_ARGS ?=

export MOTO_SERVER := $(BIN)/moto_server
export PATH := $(BIN):$(PATH)

.PHONY: help tools test test-rust lint fmt clippy cfn-lint build deploy demo clean

help:
	@echo "make demo     run the whole system locally against the Altinn simulator"
	@echo "make test     install test tools if missing, run every test"
	@echo "make contract-test  check against Altinn's OpenAPI documents (ALTINN_CONTRACTS_DIR)"
	@echo "make lint     cargo fmt --check, clippy -D warnings, cfn-lint template.yaml, doc links"
	@echo "make build    Lambda zips in target/lambda (ARCH=arm64 default, ARCH=x86_64)"
	@echo "make deploy   sam build && sam deploy --guided"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs moto_server and cfn-lint into .tools/venv when missing or too old.
tools: $(BIN)/python
	@$(BIN)/python tools/check-version.py moto ">=5.2.2" || $(BIN)/pip install --quiet "$(MOTO_SPEC)"
	@$(BIN)/python tools/check-version.py cfn-lint "==1.51" || $(BIN)/pip install --quiet "$(CFN_LINT_SPEC)"

# cargo-lambda from PyPI without its zig dependency (x86_64 builds with `--compiler cargo`);
# zig comes separately, for arm64 only.
$(BIN)/cargo-lambda: $(BIN)/python
	$(BIN)/pip install --quiet --no-deps "$(CARGO_LAMBDA_SPEC)"

$(VENV)/.ziglang: $(BIN)/python
	$(BIN)/pip install --quiet "$(ZIGLANG_SPEC)"
	touch $@

# The contract tests need Altinn's OpenAPI documents, which are not in the repository: they run
# with `make contract-test` (mk/contract.mk), not here.
test: tools
	cargo test --workspace --all-targets --exclude contract-tests

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

cfn-lint: tools
	@if [ -f template.yaml ]; then $(BIN)/cfn-lint template.yaml; fi

lint: cfn-lint clippy
	cargo fmt --all --check
	bash docs/check-links.sh

build: $(BIN)/cargo-lambda $(LAMBDA_ARCH_TOOLS)
	cargo lambda build --release $(LAMBDA_ARCH_FLAGS) --output-format zip $(addprefix -p ,$(LAMBDA_FUNCTIONS))
	@ls -l $(foreach f,$(LAMBDA_FUNCTIONS),target/lambda/$(f)/bootstrap.zip)

deploy:
	sam build && sam deploy --guided

# The whole system on this machine against the Altinn simulator (tools/local-runner). A dev
# build: dependencies are compiled at opt-level 2 (the workspace's dev profile), so it builds in
# a fraction of a release build's time and the demo still archives 50 MiB in seconds.
demo: tools
	cargo run -p local-runner --bin archive-local -- demo $(DEMO_ARGS)

clean:
	cargo clean
	rm -rf $(TOOLS)

# Extra targets (chaos, fuzz, bench, …) live in mk/*.mk, one file per concern.
-include mk/*.mk
