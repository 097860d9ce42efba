#!/usr/bin/env bash
# `make conformance`: the suite against $KUBECONFIG (or HSDNS_KUBECONFIG) when set, otherwise
# against the local cluster, which is brought up for the run and down afterwards.
# Extra arguments go to pytest (e.g. -n 4, -k srv, --resolver-backend dig).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${HSDNS_KUBECONFIG:-}${KUBECONFIG:-}" ]]; then
    echo "running the suite against ${HSDNS_KUBECONFIG:-$KUBECONFIG}"
    exec .venv/bin/python -m pytest conformance "$@"
fi
echo "no KUBECONFIG set: running the suite against the local cluster"
scripts/setup-system.sh  # the local cluster's real node needs containerd, runc, CNI plugins ... (Debian)
exec scripts/with-local-cluster.sh .venv/bin/python -m pytest conformance "$@"
