#!/usr/bin/env bash
# The cluster part of `make test` (run inside scripts/with-local-cluster.sh): the local-cluster
# smoke test, then the whole conformance suite against the local cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest tests/e2e -v -p no:cacheprovider
.venv/bin/python -m pytest conformance -p no:cacheprovider -n 4 "$@"
