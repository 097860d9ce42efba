#!/usr/bin/env bash
# Outside check of the local cluster (issue 8): the upstream [sig-network] DNS e2e tests of the
# pinned k8s.io/kubernetes release (e2e.test built locally, on demand), against the local cluster
# scripts/with-local-cluster.sh starts, or the one already running in $HSDNS_RUN_DIR (left up).
# Writes reports/upstream-dns-e2e/ (junit_01.xml, e2e.log, summary.md, summary.json).
# Extra arguments go to python -m localcluster.upstream_e2e (e.g. --focus REGEX, -- --e2e-flag).
# Not part of `make test`: CI's cold build does not pay for e2e.test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HSDNS_UPSTREAM_E2E_INSIDE:-}" ]; then
    HSDNS_UPSTREAM_E2E_INSIDE=1 exec scripts/with-local-cluster.sh "$0" "$@"
fi
exec .venv/bin/python -m localcluster.upstream_e2e "$@"
