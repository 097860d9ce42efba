# Two commands for a fresh machine (see README.md):
#   make conformance   set up, then run the suite against $KUBECONFIG, or the local cluster if unset
#   make test          set up, then run the project's own tests (what CI runs through .ci/run)
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=
MONITOR_ARGS ?=

.PHONY: system-deps setup build cluster-up cluster-down cluster-status conformance monitor test lint unit faults flaky upstream-dns-e2e wheel sonobuoy allure clean

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

# Live DNS monitor (issue 12, docs/monitor.md): the reference headless Service's answers at the DNS Service and
# every replica against the live EndpointSlices, until Ctrl-C or MONITOR_ARGS="--duration S";
# reports/monitor.{json,html}. Against $$KUBECONFIG, or the local cluster as `make conformance` chooses.
monitor: setup
	scripts/monitor.sh $(MONITOR_ARGS)

lint: setup
	$(VPY) -m ruff check .
	$(VPY) -m mypy .

unit: setup
	$(VPY) -m pytest tests/unit tests/reports tests/faults tests/packaging/test_layout.py tests/monitor -q -p no:cacheprovider

# The project's own tests: lint, cluster-free unit tests, then the local cluster (built if
# missing) with the smoke test and the whole conformance suite against it; always torn down.
test: system-deps lint unit
	scripts/with-local-cluster.sh scripts/selftest.sh

# Seeded-fault self-test (issue 4): the suite healthy and once per fault against the local cluster;
# every fault must turn exactly its catalogue ids into FAIL. Whole scopes, the slow cases included; runs packed by
# xdist workers as in CI (docs/faults.md "CI"); `make test` runs every fault targeted.
faults: setup
	scripts/with-local-cluster.sh $(VPY) -m faults run --jobs 6 --worker-budget 8 --report-stem fault-detection \
	    -- -n 4 --dns-timeout 15 $(PYTEST_ARGS)

# Flakiness benchmark: the healthy suite N times against the local cluster.
flaky: setup
	scripts/with-local-cluster.sh $(VPY) -m faults flaky -n $(or $(N),20) -- -n 4 $(PYTEST_ARGS)

# Outside check (issue 8): the upstream [sig-network] DNS e2e tests (e2e.test of the pinned
# release, built on demand) against the local cluster; reports/upstream-dns-e2e/. Not in `make test`.
upstream-dns-e2e: setup
	scripts/upstream-dns-e2e.sh $(UPSTREAM_E2E_ARGS)

# The suite as a wheel (pip install dist/headless_dns_conformance-*.whl gives the `hsdns` command).
wheel: setup
	$(VPY) -c 'from pathlib import Path; from localcluster.suite_image import build_wheel; print(build_wheel(Path("dist")))'

# Sonobuoy for real (issue 14): the sonobuoy CLI and aggregator image built here (pins.toml), the suite image,
# deploy/sonobuoy-plugin.yaml run on the local cluster, `sonobuoy retrieve` + `sonobuoy results`;
# reports/sonobuoy/summary.md. Not in `make test` (see docs/reports.md for the measured run).
sonobuoy: setup
	scripts/with-local-cluster.sh $(VPY) -m localcluster.sonobuoy $(SONOBUOY_ARGS)

# Allure for real (issue 14): the HTML report of reports/allure-results by the real Allure command line
# (npm allure-commandline, installed on demand into the cache), checked in headless Chromium.
allure: setup
	$(VPY) -m tests.postrun.allure_report reports

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist *.egg-info
