#!/usr/bin/env bash
# The cluster part of `make test` (run inside scripts/with-local-cluster.sh): the local-cluster
# smoke test, then the whole conformance suite against the local cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest tests/e2e -v -p no:cacheprovider
.venv/bin/python -m pytest conformance -p no:cacheprovider -n 4 "$@"
# The reports of that run: the HTML page renders in headless Chromium with the run's real results
# (screenshot: reports/conformance.png).
.venv/bin/python -m pytest tests/postrun -v -p no:cacheprovider
