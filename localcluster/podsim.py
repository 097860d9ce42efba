"""Pod simulation that KWOK leaves to us: per-pod exec identity, readiness gates, IPv6 pod IPs.

KWOK plays the kubelet's status updates from Stages, but three kubelet duties need per-pod data
that a Stage cannot template:

* exec identity: KWOK's Exec objects carry static env values, so for every running pod this
  controller writes an ``Exec`` named after the pod (owned by it, garbage-collected with it)
  whose env carries the pod's name, namespace, IP, the DNS server address and a private TMPDIR;
* readiness gates: a kubelet reports ``Ready`` only while every ``spec.readinessGates`` condition
  is True; this controller applies that rule whenever a gate condition changes;
* dual-stack: KWOK 0.7 allocates one pod IP; with ``--dual-stack`` an IPv6 address derived from the
  IPv4 one (10.244.a.b -> fd00:10:244::a:b) is added to ``status.podIPs``.

It runs as one background process of the local cluster, started and stopped by PID like the
others. Everything it touches lives in the API server and the run directory.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .config import LOCAL_NODE_LABEL, POD_CIDR_V6

log = logging.getLogger("podsim")

EXEC_GROUP, EXEC_VERSION, EXEC_PLURAL = "kwok.x-k8s.io", "v1alpha1", "execs"


def ipv6_for(ipv4: str) -> str:
    a, b = ipv4.split(".")[2:]
    net = ipaddress.IPv6Network(POD_CIDR_V6)
    return str(net.network_address + (int(a) << 16) + int(b))


class PodSim:
    def __init__(self, run_dir: Path, dns_server: str, dual_stack: bool) -> None:
        self.run_dir = run_dir
        self.dns_server = dns_server
        self.dual_stack = dual_stack
        self.core = client.CoreV1Api()
        self.custom = client.CustomObjectsApi()
        self.nodes: set[str] = set()

    def refresh_nodes(self) -> None:
        nodes = self.core.list_node(label_selector=f"{LOCAL_NODE_LABEL}=true").items
        self.nodes = {n.metadata.name for n in nodes}

    def pod_dir(self, namespace: str, name: str) -> Path:
        return self.run_dir / "pods" / namespace / name

    # --- exec identity -------------------------------------------------------------------
    def ensure_exec(self, pod: client.V1Pod) -> None:
        meta, ip = pod.metadata, pod.status.pod_ip
        workdir = self.pod_dir(meta.namespace, meta.name)
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        envs = {
            "POD_NAME": meta.name,
            "POD_NAMESPACE": meta.namespace,
            "POD_IP": ip,
            "POD_UID": meta.uid,
            "HSDNS_DNS_SERVER": self.dns_server,
            "KWOK_SIMULATED_POD": "1",
            "TMPDIR": str(workdir / "tmp"),
            "HOME": str(workdir),
        }
        body: dict[str, Any] = {
            "apiVersion": f"{EXEC_GROUP}/{EXEC_VERSION}",
            "kind": "Exec",
            "metadata": {
                "name": meta.name,
                "namespace": meta.namespace,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": meta.name, "uid": meta.uid}],
            },
            "spec": {"execs": [{"local": {"workDir": str(workdir),
                                          "envs": [{"name": k, "value": v} for k, v in envs.items()]}}]},
        }
        try:
            current = self.custom.get_namespaced_custom_object(
                EXEC_GROUP, EXEC_VERSION, meta.namespace, EXEC_PLURAL, meta.name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            current = None
        if current is not None:
            owners = current["metadata"].get("ownerReferences") or [{}]
            if owners[0].get("uid") == meta.uid and current.get("spec") == body["spec"]:
                return
            # A pod re-created under the same name (StatefulSet) gets a fresh Exec.
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.custom.replace_namespaced_custom_object(
                EXEC_GROUP, EXEC_VERSION, meta.namespace, EXEC_PLURAL, meta.name, body)
        else:
            self.custom.create_namespaced_custom_object(EXEC_GROUP, EXEC_VERSION, meta.namespace, EXEC_PLURAL, body)
        log.info("exec ready for %s/%s ip=%s", meta.namespace, meta.name, ip)

    # --- kubelet rules -------------------------------------------------------------------
    def sync_readiness(self, pod: client.V1Pod) -> None:
        gates = [g.condition_type for g in (pod.spec.readiness_gates or [])]
        if not gates or pod.metadata.deletion_timestamp is not None:
            return
        conds = {c.type: c.status for c in (pod.status.conditions or [])}
        ready = all(conds.get(g) == "True" for g in gates) and conds.get("ContainersReady") == "True"
        want = "True" if ready else "False"
        if conds.get("Ready") == want:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace,
            {"status": {"conditions": [{"type": "Ready", "status": want, "lastTransitionTime": now}]}})
        log.info("readiness %s/%s -> %s (gates %s)", pod.metadata.namespace, pod.metadata.name, want, gates)

    def sync_dual_stack(self, pod: client.V1Pod) -> None:
        ips = [p.ip for p in (pod.status.pod_i_ps or [])]
        v4 = pod.status.pod_ip
        if not self.dual_stack or pod.spec.host_network or len(ips) > 1 or ":" in v4:
            return
        self.core.patch_namespaced_pod_status(
            pod.metadata.name, pod.metadata.namespace,
            {"status": {"podIPs": [{"ip": v4}, {"ip": ipv6_for(v4)}]}})

    def handle(self, event_type: str, pod: client.V1Pod) -> None:
        if pod.spec.node_name not in self.nodes:
            if pod.spec.node_name:
                self.refresh_nodes()
            if pod.spec.node_name not in self.nodes:
                return
        if event_type == "DELETED":
            shutil.rmtree(self.pod_dir(pod.metadata.namespace, pod.metadata.name), ignore_errors=True)
            return
        if not pod.status.pod_ip or pod.status.phase != "Running":
            return
        self.sync_dual_stack(pod)
        self.sync_readiness(pod)
        if pod.metadata.deletion_timestamp is None:
            self.ensure_exec(pod)

    def run(self, ready_file: Path) -> None:
        self.refresh_nodes()
        resource_version = ""
        while True:
            try:
                if not resource_version:
                    listed = self.core.list_pod_for_all_namespaces()
                    for pod in listed.items:
                        self._safe_handle("ADDED", pod)
                    resource_version = listed.metadata.resource_version
                    ready_file.touch()
                w = watch.Watch()
                for ev in w.stream(self.core.list_pod_for_all_namespaces, resource_version=resource_version,
                                   timeout_seconds=300):
                    pod = ev["object"]
                    resource_version = pod.metadata.resource_version
                    self._safe_handle(ev["type"], pod)
            except ApiException as exc:
                if exc.status == 410:  # watch window expired: list again
                    resource_version = ""
                    continue
                log.warning("watch error: %s", exc)
                time.sleep(1)
            except Exception as exc:  # the API server may be restarting; keep the loop alive
                log.warning("watch loop error: %s", exc)
                resource_version = ""
                time.sleep(1)

    def _safe_handle(self, event_type: str, pod: Any) -> None:
        try:
            self.handle(event_type, pod)
        except ApiException as exc:
            # Conflicts and races with pod deletion resolve on the next event.
            log.info("handling %s %s/%s: %s", event_type, pod.metadata.namespace, pod.metadata.name, exc.reason)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.podsim")
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--run-dir", required=True, type=Path)
    ap.add_argument("--dns-server", required=True)
    ap.add_argument("--dual-stack", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    config.load_kube_config(config_file=args.kubeconfig)
    PodSim(args.run_dir, args.dns_server, args.dual_stack).run(args.run_dir / "podsim.ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
