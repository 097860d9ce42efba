#!/usr/bin/env python3
"""Measure the local cluster: build records, warm `up` time, idle RSS, pod and StatefulSet -> DNS times.

Usage: .venv/bin/python scripts/bench_localcluster.py [--cycles 3] [--sts-runs 5]
Uses its own run directory, so a cluster that is already up is left alone. Prints Markdown
tables (pasted into docs/local-cluster.md) and writes reports/bench-localcluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import dns.message
import dns.query
from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localcluster.build import components  # noqa: E402
from localcluster.cluster import State, expect_of, pid_alive, rss_kib  # noqa: E402


def cli(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HSDNS_RUN_DIR=str(run_dir))
    res = subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"localcluster {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return res


def a_records(server: tuple[str, int], name: str) -> set[str]:
    msg = dns.query.udp(dns.message.make_query(name, "A"), server[0], port=server[1], timeout=2)
    return {rd.to_text() for rrset in msg.answer for rd in rrset}


def new_namespace(core: client.CoreV1Api) -> str:
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    while True:
        try:
            core.read_namespaced_service_account("default", ns)
            return ns
        except client.ApiException:
            time.sleep(0.05)


def pod_to_running(api: client.ApiClient, image: str) -> float:
    """Seconds from pod create to Running with an IP (on the real node when there is one)."""
    core = client.CoreV1Api(api)
    ns = new_namespace(core)
    try:
        t0 = time.monotonic()
        core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": image}], "terminationGracePeriodSeconds": 1}})
        while time.monotonic() - t0 < 120:
            pod = core.read_namespaced_pod("p", ns)
            if pod.status.phase == "Running" and pod.status.pod_ip:
                return time.monotonic() - t0
            time.sleep(0.05)
        raise SystemExit("pod not Running within 120s")
    finally:
        core.delete_namespace(ns)


def sts_to_dns(api: client.ApiClient, server: tuple[str, int], image: str) -> float:
    """Seconds from StatefulSet create to all 3 per-pod names answering their pod IPs."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = new_namespace(core)
    core.create_namespaced_service(ns, {"metadata": {"name": "my-headless-service"}, "spec": {
        "clusterIP": "None", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    t0 = time.monotonic()
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "web"}, "spec": {
        "serviceName": "my-headless-service", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "web", "image": image,
             "ports": [{"name": "http", "containerPort": 8080}]}]}}}})
    deadline = t0 + 120
    try:
        while time.monotonic() < deadline:
            pods = {p.metadata.name: p.status.pod_ip for p in core.list_namespaced_pod(ns).items if p.status.pod_ip}
            if len(pods) == 3 and all(a_records(server, f"{n}.my-headless-service.{ns}.svc.cluster.local.") == {ip}
                                      for n, ip in pods.items()):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise SystemExit("StatefulSet names did not answer within 120s")
    finally:
        core.delete_namespace(ns)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=3, help="warm up/down cycles")
    ap.add_argument("--sts-runs", type=int, default=5, help="StatefulSet -> DNS repetitions")
    ap.add_argument("--up-args", default="--dual-stack", help="arguments of `localcluster up` (default --dual-stack)")
    args = ap.parse_args()
    out: dict[str, object] = {"host": {"cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}}

    builds = {}
    for comp in components():
        if comp.is_built():
            builds[comp.name] = json.loads(comp.stamp.read_text())
    out["builds"] = builds

    run_dir = Path(tempfile.mkdtemp(prefix="hsdns-bench-")) / "run"
    ups, per_component = [], []
    for _ in range(args.cycles):
        t0 = time.monotonic()
        cli(run_dir, "up", *args.up_args.split())
        ups.append(time.monotonic() - t0)
        per_component.append(json.loads((run_dir / "timings.json").read_text()))
        cli(run_dir, "down")
    out["warm_up_seconds"] = [round(x, 2) for x in ups]

    cli(run_dir, "up", *args.up_args.split())
    try:
        state = State.load(run_dir)
        assert state is not None
        api = config.new_client_from_config(config_file=state.kubeconfig)
        host, port = state.dns_server.rsplit(":", 1)
        image = f"{state.image_registry}/pause:3.10" if state.image_registry else "registry.k8s.io/pause:3.10"
        pods = [pod_to_running(api, image) for _ in range(args.sts_runs)]
        out["pod_to_running_seconds"] = [round(x, 2) for x in pods]
        sts = [sts_to_dns(api, (host, int(port)), image) for _ in range(args.sts_runs)]
        out["sts_to_dns_seconds"] = [round(x, 2) for x in sts]
        time.sleep(10)  # idle: let start-up work and GC settle before reading RSS
        out["idle_rss_mib"] = {n: round(rss_kib(p) / 1024, 1) for n, p in state.pids.items()
                               if pid_alive(p, expect_of(n, state))}
    finally:
        cli(run_dir, "down")

    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "bench-localcluster.json").write_text(json.dumps(out, indent=2) + "\n")

    print("| component | version | deps download (s) | compile (s) | binary sizes (MB) |\n|---|---|---|---|---|")
    for name, rec in builds.items():
        sizes = ", ".join(f"{b} {s / 1e6:.1f}" for b, s in rec["sizes_bytes"].items())
        print(f"| {name} | {rec['version']} | {rec['prepare_seconds']} | {rec['compile_seconds']} | {sizes} |")
    print(f"\nwarm `up` to all-healthy, {args.cycles} cycles: " + ", ".join(f"{x:.1f}s" for x in ups)
          + f" (median {statistics.median(ups):.1f}s)")
    print("per-component wait (s), median: " + ", ".join(
        f"{k} {statistics.median(t[k] for t in per_component):.2f}" for k in per_component[0]))
    print("\n| component | idle RSS (MiB) |\n|---|---|")
    rss = out["idle_rss_mib"]
    assert isinstance(rss, dict)
    for name, value in rss.items():
        print(f"| {name} | {value} |")
    print(f"\npod create -> Running, {args.sts_runs} runs: " + ", ".join(f"{x:.2f}s" for x in pods)
          + f" (median {statistics.median(pods):.2f}s)")
    print(f"\nStatefulSet create -> 3 names in DNS, {args.sts_runs} runs: "
          + ", ".join(f"{x:.2f}s" for x in sts) + f" (median {statistics.median(sts):.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
