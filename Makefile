# Two commands for a fresh machine (see README.md):
#   make conformance   set up, then run the suite against $KUBECONFIG, or the local cluster if unset
#   make test          set up, then run the project's own tests (what CI runs through .ci/run)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: system-deps setup build cluster-up cluster-down cluster-status conformance test lint unit faults flaky upstream-dns-e2e clean

$(VENV)/.installed: pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	# Install the pinned dependencies from pyproject.toml (nothing to build: the repo runs in place).
	$(VPY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	    print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' > $(VENV)/requirements.txt
	$(VPY) -m pip install --quiet -r $(VENV)/requirements.txt
	touch $@

setup: $(VENV)/.installed

system-deps:
	scripts/setup-system.sh

build: setup
	$(VPY) -m localcluster build

cluster-up: setup
	$(VPY) -m localcluster up

cluster-down: setup
	$(VPY) -m localcluster down

cluster-status: setup
	$(VPY) -m localcluster status

conformance: setup
	scripts/conformance.sh $(PYTEST_ARGS)

lint: setup
	$(VPY) -m ruff check .
	$(VPY) -m mypy .

unit: setup
	$(VPY) -m pytest tests/unit tests/reports tests/faults -q -p no:cacheprovider

# The project's own tests: lint, cluster-free unit tests, then the local cluster (built if
# missing) with the smoke test and the whole conformance suite against it; always torn down.
test: system-deps lint unit
	scripts/with-local-cluster.sh scripts/selftest.sh

# Seeded-fault self-test (issue 4): the suite healthy and once per fault against the local cluster;
# every fault must turn exactly its catalogue ids into FAIL. Full set; `make test` runs the CI subset.
faults: setup
	scripts/with-local-cluster.sh $(VPY) -m faults run --report-stem fault-detection -- -n 4 --dns-timeout 30 $(PYTEST_ARGS)

# Flakiness benchmark: the healthy suite N times against the local cluster.
flaky: setup
	scripts/with-local-cluster.sh $(VPY) -m faults flaky -n $(or $(N),20) -- -n 4 $(PYTEST_ARGS)

# Outside check (issue 8): the upstream [sig-network] DNS e2e tests (e2e.test of the pinned
# release, built on demand) against the local cluster; reports/upstream-dns-e2e/. Not in `make test`.
upstream-dns-e2e: setup
	scripts/upstream-dns-e2e.sh $(UPSTREAM_E2E_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
