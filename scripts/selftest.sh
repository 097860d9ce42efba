#!/usr/bin/env bash
# The cluster part of `make test` (run inside scripts/with-local-cluster.sh): the local-cluster
# smoke and lifecycle tests, the whole conformance suite, the dig backend, the CI subset of the
# seeded faults, and a check of the run's HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest tests/e2e -v -p no:cacheprovider
.venv/bin/python -m pytest conformance -p no:cacheprovider -n 4 "$@"
# The dig resolver backend on the A and SRV groups (its own reports dir: the main run's stay). Its
# image runs as root like upstream agnhost, so the kubelet's runAsNonRoot check needs --run-as-user.
.venv/bin/python -m pytest conformance/test_2_4_1_a_records.py conformance/test_2_4_2_srv_records.py \
    -p no:cacheprovider -n 4 --resolver-backend dig --run-as-user 65534 --reports-dir reports/dig-backend
# Seeded faults, the representative CI subset (`make faults` runs all): each must turn exactly its
# catalogue ids into FAIL, and the healthy run through the transparent proxy must have none. The
# fault proxies listen on the host's loopback, so these runs use the KWOK nodes (the runner steers
# the suite's pods there with --node-selector/--tolerations).
.venv/bin/python -m faults run --ci -- -n 4 --dns-timeout 30
# The reports of that run: the HTML page renders in headless Chromium with the run's real results
# (screenshot: reports/conformance.png).
.venv/bin/python -m pytest tests/postrun -v -p no:cacheprovider
