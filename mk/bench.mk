# `make bench`: the performance measurements (tools/bench, docs/benchmarks.md), each against a baseline
# measured in the same run on this machine, printed as one table. Not part of `make test`.
#
# Builds release binaries (the Lambda profile: LTO, codegen-units 1, panic = abort) of the two
# functions, the hello-world references and the harness into their own target directory, so a
# benchmark build never waits for or blocks the lock on target/. SQS is moto_server
# (.tools/venv). The archive sections run against s3s-fs first (an S3 server in Rust on the file
# system, from crates.io; its rows carry the goals) and then moto's S3 (context); the
# `aws s3 cp` baseline uses awscli installed into the same venv and the same S3 server.
# s3s-fs is pinned to 0.14.1, the last release that builds with the machine's Rust 1.95.
#   make bench BENCH_ARGS=--quick                  small sizes, a smoke run
#   make bench BENCH_ARGS="--only archive,scaling" some sections only
BENCH_TARGET_DIR := $(CURDIR)/target/bench
BENCH_BIN_DIR := $(BENCH_TARGET_DIR)/release
AWSCLI_SPEC := awscli>=1.40,<2
S3S_FS_VERSION := 0.14.1
S3S_FS := $(CURDIR)/.tools/s3s-fs/bin/s3s-fs
BENCH_ARGS ?=

.PHONY: bench

$(BIN)/aws: $(BIN)/python
	$(BIN)/pip install --quiet "$(AWSCLI_SPEC)"

$(S3S_FS):
	cargo install s3s-fs@$(S3S_FS_VERSION) --features binary --locked \
		--root $(CURDIR)/.tools/s3s-fs --target-dir $(BENCH_TARGET_DIR)/s3s-fs

bench: tools $(BIN)/aws $(S3S_FS)
	cargo build --release --target-dir $(BENCH_TARGET_DIR) -p webhook -p archiver -p bench --bins
	$(BENCH_BIN_DIR)/bench --bin-dir $(BENCH_BIN_DIR) --aws $(BIN)/aws \
		--s3s-fs $(S3S_FS) --s3 s3s-fs,moto $(BENCH_ARGS)
