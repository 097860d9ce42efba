#!/usr/bin/env bash
# System packages the project's own tests use: Chromium renders the HTML report in a test, and
# dig (bind9-dnsutils) runs the suite's dig resolver backend on the local cluster.
# Installed from Debian's packages when missing and we may (root + apt-get); otherwise say so.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v openssl >/dev/null || missing+=(openssl)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "note: missing system packages (${missing[*]}); install them with your package manager." \
         "Tests that need them are skipped with that reason." >&2
fi
