#!/usr/bin/env bash
# `make monitor`: the live DNS monitor (python -m monitor, docs/monitor.md) against $KUBECONFIG (or
# HSDNS_KUBECONFIG) when set, otherwise against the local cluster, which is brought up for the run and down
# afterwards -- the same choice `make conformance` makes (scripts/conformance.sh).
# Arguments go to the monitor (e.g. --duration 30, --ttr-probes 4, --max-incident-seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${HSDNS_KUBECONFIG:-}${KUBECONFIG:-}" ]]; then
    echo "monitoring the cluster of ${HSDNS_KUBECONFIG:-$KUBECONFIG}"
    exec .venv/bin/python -m monitor "$@"
fi
echo "no KUBECONFIG set: monitoring the local cluster"
scripts/setup-system.sh  # the local cluster's real node needs containerd, runc, CNI plugins ... (Debian)
exec scripts/with-local-cluster.sh .venv/bin/python -m monitor "$@"
