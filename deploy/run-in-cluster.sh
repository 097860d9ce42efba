#!/usr/bin/env bash
# Entrypoint of the conformance image: run the suite with the pod's ServiceAccount, write every report,
# and (under Sonobuoy) hand the results to the Sonobuoy worker through the "done" file.
#
# Environment:
#   HSDNS_RESULTS_DIR          where reports go (default /tmp/results; an emptyDir in job.yaml)
#   SONOBUOY_RESULTS_DIR       set by Sonobuoy (default /tmp/sonobuoy/results when that directory exists)
#   HSDNS_HOLD_RESULTS_S       keep the pod alive this long after the run so `kubectl cp` can fetch reports
#   HSDNS_PYTEST_ARGS          extra pytest arguments (e.g. "-n 4 -m 'not slow'"; quotes as in a shell)
#   HSDNS_*                    every suite option has an environment twin (see `pytest --help`)
set -uo pipefail
cd "$(dirname "$0")/.."

results="${HSDNS_RESULTS_DIR:-/tmp/results}"
sonobuoy_dir="${SONOBUOY_RESULTS_DIR:-}"
if [[ -z "$sonobuoy_dir" && -d /tmp/sonobuoy/results ]]; then
    sonobuoy_dir=/tmp/sonobuoy/results
fi
if [[ -n "$sonobuoy_dir" ]]; then
    results="$sonobuoy_dir/reports"
    export HSDNS_SONOBUOY_RESULTS_DIR="$sonobuoy_dir"
fi
mkdir -p "$results"
export HSDNS_REPORTS_DIR="$results"

# A kubeconfig for the pod's own ServiceAccount (the suite talks to the API through a kubeconfig).
sa=/var/run/secrets/kubernetes.io/serviceaccount
if [[ -z "${HSDNS_KUBECONFIG:-}${KUBECONFIG:-}" && -r "$sa/token" ]]; then
    kubeconfig="${TMPDIR:-/tmp}/in-cluster.kubeconfig"
    cat >"$kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: in-cluster
    cluster:
      server: https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}
      certificate-authority: $sa/ca.crt
users:
  - name: service-account
    user:
      tokenFile: $sa/token
contexts:
  - name: in-cluster
    context: {cluster: in-cluster, user: service-account}
current-context: in-cluster
KUBECONFIG
    export HSDNS_KUBECONFIG="$kubeconfig"
fi

# The installed suite (`hsdns run`, which also reads HSDNS_PYTEST_ARGS, split like a shell line, so
# -k "HS-DNS-002 or HS-DNS-013" works); a source tree without it runs in place (plain word splitting).
# shellcheck disable=SC2086  # HSDNS_PYTEST_ARGS is a list of words on purpose
if command -v hsdns >/dev/null 2>&1; then
    hsdns run -p no:cacheprovider --basetemp "${TMPDIR:-/tmp}/hsdns-pytest"
else
    python -m pytest conformance -p no:cacheprovider --basetemp "${TMPDIR:-/tmp}/hsdns-pytest" ${HSDNS_PYTEST_ARGS:-}
fi
rc=$?

# The logs carry the evidence even when nobody copies the files out.
if [[ -f "$results/summary.md" ]]; then
    cat "$results/summary.md"
fi

if [[ -n "$sonobuoy_dir" ]]; then
    tarball="$sonobuoy_dir/hsdns-results.tar.gz"
    # written beside, then moved in: tar must not read the directory it is writing into
    tar -czf "${TMPDIR:-/tmp}/hsdns-results.tar.gz" -C "$sonobuoy_dir" --exclude "$(basename "$tarball")" --exclude done .
    mv "${TMPDIR:-/tmp}/hsdns-results.tar.gz" "$tarball"
    printf '%s' "$tarball" >"$sonobuoy_dir/done"
fi

if [[ "${HSDNS_HOLD_RESULTS_S:-0}" -gt 0 ]]; then
    echo "reports in $results; holding ${HSDNS_HOLD_RESULTS_S}s for: kubectl cp <namespace>/<pod>:$results ./reports"
    sleep "$HSDNS_HOLD_RESULTS_S"
fi
# pytest exit codes: 0 all passed, 1 some failed; both are a completed run for the Job.
if [[ $rc -le 1 ]]; then
    exit 0
fi
exit "$rc"
