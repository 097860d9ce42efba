#!/usr/bin/env bash
# System packages the project's own tests and the local cluster's real node use, all from
# Debian's packages:
#   real node:  containerd, runc, CNI plugins, iptables, conntrack (kube-proxy), docker-registry
#               (the local image registry), skopeo (pushes images), mmdebstrap (builds image rootfs)
#   tests:      Chromium renders the HTML report; dig (bind9-dnsutils) runs the dig backend
# Installed when missing and we may (root + apt-get); otherwise say so.
set -euo pipefail
missing=()
need() { command -v "$1" >/dev/null || missing+=("$2"); }
need chromium chromium
need openssl openssl
need dig bind9-dnsutils
need containerd containerd
need runc runc
need iptables iptables
need conntrack conntrack
need docker-registry docker-registry
need skopeo skopeo
need mmdebstrap mmdebstrap
need nsenter util-linux
need ip iproute2
[[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "note: missing system packages (${missing[*]}); install them with your package manager." \
         "Tests that need them are skipped with that reason; the local cluster's real node needs them" \
         "(or run it with --real-nodes 0)." >&2
fi
