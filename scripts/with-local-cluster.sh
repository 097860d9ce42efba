#!/usr/bin/env bash
# Run a command with the local cluster up: start it (building what is missing), export its
# KUBECONFIG (and the DNS address or image registry the cluster offers), run the command, and
# always stop the cluster again. The cluster is dual-stack with one real node (kubelet, containerd,
# kube-proxy) unless HSDNS_LOCALCLUSTER_UP_ARGS says otherwise, so the AAAA behaviours and the
# in-pod ones (resolv.conf, search path) run too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if $PY -m localcluster status >/dev/null 2>&1; then
    echo "local cluster already running: using it and leaving it up"
else
    trap '$PY -m localcluster down' EXIT
    # shellcheck disable=SC2086  # word splitting of extra `up` flags is intended
    $PY -m localcluster up ${HSDNS_LOCALCLUSTER_UP_ARGS:---dual-stack}
fi
eval "$($PY -m localcluster env)"
"$@"
