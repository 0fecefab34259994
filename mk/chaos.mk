# Whole-system chaos run and fuzzing. Included by the main Makefile (`-include mk/*.mk`).
#
# `make chaos`  the big end-to-end chaos run: 320 instances of up to 20 data elements (some of
#               3 MiB), faults on every Altinn route, two S3/SQS outages. CI runs the same test
#               at its small default scale as part of `cargo test`. Override any CHAOS_* variable:
#               `make chaos CHAOS_INSTANCES=1000`.
# `make fuzz`   each cargo-fuzz target for FUZZ_SECONDS (default 60) on the stable toolchain
#               (RUSTC_BOOTSTRAP=1, no sanitizer); a crash fails the target and leaves its input
#               in fuzz/artifacts/<target>/ (turn it into a case in tools/chaos/tests/fuzz_regressions.rs).

CHAOS_INSTANCES ?= 320
CHAOS_MAX_ELEMENTS ?= 20
CHAOS_LARGE_BYTES ?= 3145728
CHAOS_BROKEN ?= 8
CHAOS_TIMEOUT_SECS ?= 1800
CHAOS_OUTAGE_SECS ?= 8
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := cloud_event source instance

.PHONY: chaos fuzz fuzz-tools

chaos: tools
	@set -o pipefail; \
	CHAOS_INSTANCES=$(CHAOS_INSTANCES) CHAOS_MAX_ELEMENTS=$(CHAOS_MAX_ELEMENTS) \
	CHAOS_LARGE_BYTES=$(CHAOS_LARGE_BYTES) CHAOS_BROKEN=$(CHAOS_BROKEN) \
	CHAOS_TIMEOUT_SECS=$(CHAOS_TIMEOUT_SECS) CHAOS_OUTAGE_SECS=$(CHAOS_OUTAGE_SECS) \
	cargo test -p chaos --test chaos -- --nocapture 2>&1 \
	  | grep --line-buffered -E '^CHAOS |^test |panicked|assertion|  left|  right|FAILED|^error'

# cargo-fuzz from crates.io, into the project's .tools (not ~/.cargo).
$(TOOLS)/bin/cargo-fuzz:
	cargo install --locked --root $(TOOLS) cargo-fuzz

fuzz-tools: $(TOOLS)/bin/cargo-fuzz

fuzz: fuzz-tools
	@set -e; for target in $(FUZZ_TARGETS); do \
	  echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
	  mkdir -p fuzz/corpus/$$target; \
	  (cd fuzz && RUSTC_BOOTSTRAP=1 $(TOOLS)/bin/cargo-fuzz run --sanitizer none $$target \
	    corpus/$$target seeds/$$target -- -max_total_time=$(FUZZ_SECONDS)); \
	done
