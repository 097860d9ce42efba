#!/usr/bin/env python3
"""Time to resolve with and without a cache in CoreDNS (issue 12 item 3; the figures of docs/monitor.md).

For each Corefile variant: rewrite the ``kube-system/coredns`` ConfigMap, restart the CoreDNS pods (the
local cluster's CoreDNS is built without the ``reload`` plugin, see localcluster/pins.toml, so a new
Corefile takes effect only in new pods: they are deleted and the Deployment makes new ones), then run
``python -m monitor --ttr-probes N`` (the StatefulSet is scaled up by one pod and back N times, alternately
asking the new pod's name before it exists, "primed", and not, "fresh"). The original Corefile is put back
and the pods restarted at the end, also on Ctrl-C.

Disruptive (CoreDNS restarts): run it on a cluster of your own, e.g. the local cluster of another run dir:

    HSDNS_RUN_DIR=/tmp/ttr .venv/bin/python -m localcluster up --dual-stack
    eval "$(HSDNS_RUN_DIR=/tmp/ttr .venv/bin/python -m localcluster env)"
    .venv/bin/python scripts/monitor_cache_ttr.py --probes 6

Writes ``<out>/<variant>/monitor.{json,html}`` and ``<out>/summary.{json,md}`` (default out:
reports/ttr-cache).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "no-cache": "the local cluster's Corefile (kubernetes plugin ttl 5, no cache)",
    "cache-30": "plus `cache 30` (records and negative answers cached for min(TTL, 30) s)",
    "cache-30-ttl-30": "plus `cache 30` and kubernetes plugin `ttl 30` (kubeadm's defaults)",
}


def corefile_for(original: str, variant: str) -> str:
    text = re.sub(r"^\s*cache\b.*\n", "", original, flags=re.M)
    if variant.startswith("cache-30"):
        text = re.sub(r"^(\s*)kubernetes\b", r"\1cache 30\n\1kubernetes", text, count=1, flags=re.M)
    if variant.endswith("ttl-30"):
        text = re.sub(r"^(\s*)ttl \d+", r"\1ttl 30", text, count=1, flags=re.M)
    return text


def restart_coredns(core: client.CoreV1Api, timeout: float = 180) -> list[str]:
    """Delete every CoreDNS pod; wait until as many new ones are Ready."""
    old = core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
    names = {p.metadata.name for p in old}
    for p in old:
        core.delete_namespaced_pod(p.metadata.name, "kube-system")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [p for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
                if p.metadata.name not in names and p.metadata.deletion_timestamp is None
                and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        if len(pods) >= len(names):
            return sorted(p.metadata.name for p in pods)
        time.sleep(0.5)
    raise SystemExit(f"CoreDNS pods not Ready within {timeout:.0f}s after the restart")


def set_corefile(core: client.CoreV1Api, text: str) -> None:
    core.patch_namespaced_config_map("coredns", "kube-system", {"data": {"Corefile": text}})


def fmt(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "-"
    return f"{s['p50']:.2f} / {s['p95']:.2f} / {s['max']:.2f} (n={s['n']})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probes", type=int, default=6, help="time-to-resolve probes per variant (default 6)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--out", default="reports/ttr-cache")
    ap.add_argument("monitor_args", nargs="*", help="extra arguments of python -m monitor (after --)")
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}")
    kubeconfig = os.environ.get("HSDNS_KUBECONFIG") or os.environ.get("KUBECONFIG")
    if not kubeconfig:
        ap.error("set KUBECONFIG (eval \"$(python -m localcluster env)\")")
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    original = core.read_namespaced_config_map("coredns", "kube-system").data["Corefile"]
    out = ROOT / args.out
    summary: dict[str, Any] = {"probes": args.probes, "variants": {}}
    try:
        for variant in variants:
            corefile = corefile_for(original, variant)
            set_corefile(core, corefile)
            pods = restart_coredns(core)
            print(f"== {variant}: CoreDNS pods {pods} with\n{corefile}", flush=True)
            reports = out / variant
            cmd = [sys.executable, "-m", "monitor", "--ttr-probes", str(args.probes), "--reports-dir", str(reports),
                   "--max-wrong-seconds", "off", "--progress", "30", *args.monitor_args]
            print("$ " + " ".join(cmd), flush=True)
            rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
            doc = json.loads((reports / "monitor.json").read_text())
            ttr = doc["time_to_resolve"]
            summary["variants"][variant] = {
                "description": VARIANTS[variant], "exit_status": rc, "corefile": corefile,
                "max_ttl_seen": doc["parameters"]["max_ttl_seen"], "grace_s": doc["parameters"]["grace_effective_s"],
                "ready_to_answer": ttr["ready_to_answer"], "deleted_to_gone": ttr["deleted_to_gone"],
                "summary_line": doc["summary_line"], "figures": doc["figures"]}
    finally:
        set_corefile(core, original)
        print(f"restored the original Corefile; CoreDNS pods {restart_coredns(core)}", flush=True)
    lines = ["| Corefile | primed: pod Ready → name answers at the DNS Service (p50 / p95 / max s) | "
             "fresh: pod Ready → name answers | pod deleted → name gone | grace (s) | monitor |",
             "|---|---|---|---|---|---|"]
    for variant, v in summary["variants"].items():
        r, d = v["ready_to_answer"], v["deleted_to_gone"]
        lines.append(f"| {variant} | {fmt(r['primed_dns_service'])} | {fmt(r['fresh_dns_service'])} | "
                     f"{fmt(d['dns_service'])} | {v['grace_s']:g} | {v['figures']['incidents']} incident(s), "
                     f"wrong {v['figures']['wrong_seconds']:g} s |")
    lines.append("")
    lines.append("All targets (the DNS Service and each replica, per event):")
    lines.append("")
    lines.append("| Corefile | primed | fresh | deleted → gone |")
    lines.append("|---|---|---|---|")
    for variant, v in summary["variants"].items():
        r, d = v["ready_to_answer"], v["deleted_to_gone"]
        lines.append(f"| {variant} | {fmt(r['primed'])} | {fmt(r['fresh'])} | {fmt(d['all'])} |")
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
