# The two commands of this repository (see README.md):
#   make demo   build kaic and testenv, start the local cluster, run the suite, print the summary, write the report
#   make test   run every test: formatting, lints, unit tests, end-to-end tests against testenv, testenv's smoke test
# .ci/run calls `make test`.

CARGO ?= cargo
# Catalogue for the demo. 1.35 is the newest catalogue that still lists dra_support (1.36 moved it to base
# conformance); the demo passes the cluster's own version when left empty.
CONFORMANCE_VERSION ?= 1.35
REPORT_DIR ?= kaic-report

.PHONY: demo test prerequisites lint build unit e2e smoke

demo: prerequisites build
	@kubeconfig=$$(testenv/up) || exit 2; kubeconfig=$$(printf '%s\n' "$$kubeconfig" | tail -n 1); \
	status=0; $(TARGET_DIR)/debug/kaic run --kubeconfig "$$kubeconfig" --output-dir $(REPORT_DIR) \
	  $(if $(CONFORMANCE_VERSION),--conformance-version $(CONFORMANCE_VERSION)) || status=$$?; \
	echo "kaic exited $$status (0 every MUST met, 1 some MUST failed, 3 none failed but some undecided, 2 could not run); report in $(REPORT_DIR)/"; \
	echo "the cluster keeps running: KUBECONFIG=$$kubeconfig; stop it with testenv/down"

# The clusters are stopped whatever the tests did, and the first failure decides the exit status.
test: prerequisites lint build unit
	@status=0; $(MAKE) --no-print-directory e2e smoke || status=$$?; testenv/down --all || true; \
	if [ $$status -eq 0 ]; then echo "make test: all green"; fi; exit $$status

# Where cargo puts binaries (CARGO_TARGET_DIR or ./target), as an absolute path.
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo $(CURDIR)/target)

prerequisites:
	bash testenv/ci-install
	bash crates/registry/ci-install

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

build:
	$(CARGO) build --workspace --all-targets --locked

unit:
	$(CARGO) test --workspace --locked --exclude kaic-e2e
	testenv/build --only envoy
	cd testenv && KAIC_TESTENV_ENVOY=$$(bash -c 'source lib.sh; envoy_bin') go test ./cmd/kaic-testenv

# The end-to-end tests start (or reuse) the testenv clusters they need.
e2e:
	$(CARGO) test -p kaic-e2e --locked -- --test-threads 2

smoke:
	testenv/smoke
