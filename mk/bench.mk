# `make bench`: the performance measurements of issue 8 (tools/bench), each against a baseline
# measured in the same run on this machine, printed as one table. Not part of `make test`.
#
# Builds release binaries (the Lambda profile: LTO, codegen-units 1, panic = abort) of the two
# functions, the hello-world reference and the harness into their own target directory, so a
# benchmark build never waits for or blocks the lock on target/. S3 and SQS are moto_server
# (.tools/venv); the `aws s3 cp` baseline uses awscli installed into the same venv.
#   make bench BENCH_ARGS=--quick                  small sizes, a smoke run
#   make bench BENCH_ARGS="--only archive,scaling" some sections only
BENCH_TARGET_DIR := $(CURDIR)/target/bench
BENCH_BIN_DIR := $(BENCH_TARGET_DIR)/release
AWSCLI_SPEC := awscli>=1.40,<2
BENCH_ARGS ?=

.PHONY: bench

$(BIN)/aws: $(BIN)/python
	$(BIN)/pip install --quiet "$(AWSCLI_SPEC)"

bench: tools $(BIN)/aws
	cargo build --release --target-dir $(BENCH_TARGET_DIR) -p webhook -p archiver -p bench --bins
	$(BENCH_BIN_DIR)/bench --bin-dir $(BENCH_BIN_DIR) --aws $(BIN)/aws $(BENCH_ARGS)
