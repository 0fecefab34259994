# `make contract-test`: the contract tests (tools/contract, docs/testing.md#contract-tests). They
# check the Altinn client's requests, the simulator's routes and JSON, and the Altinn crate's
# models against Altinn's own OpenAPI documents, read from ALTINN_CONTRACTS_DIR (a folder with
# storage-openapi.json and app-openapi.json). The documents are Altinn's and not in this
# repository, so `make test` leaves this crate out; .ci/run sets the variable.
#   make contract-test ALTINN_CONTRACTS_DIR=../shared/altinn-contracts

.PHONY: contract-test

contract-test:
	@if [ -z "$(ALTINN_CONTRACTS_DIR)" ]; then \
	  echo "make contract-test: ALTINN_CONTRACTS_DIR is not set; point it at the folder with Altinn's OpenAPI documents (storage-openapi.json, app-openapi.json), e.g. ALTINN_CONTRACTS_DIR=../shared/altinn-contracts" >&2; \
	  exit 1; \
	fi
	@if [ ! -d "$(ALTINN_CONTRACTS_DIR)" ]; then \
	  echo "make contract-test: ALTINN_CONTRACTS_DIR=$(ALTINN_CONTRACTS_DIR) is not a folder; it must hold Altinn's OpenAPI documents (storage-openapi.json, app-openapi.json)" >&2; \
	  exit 1; \
	fi
	ALTINN_CONTRACTS_DIR="$(abspath $(ALTINN_CONTRACTS_DIR))" cargo test -p contract-tests
