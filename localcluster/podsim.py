"""Pod simulation that KWOK leaves to us: per-pod exec identity, readiness gates, IPv6 pod IPs.

KWOK plays the kubelet's status updates from Stages, but three kubelet duties need per-pod data
that a Stage cannot template:

* exec identity: KWOK's Exec objects carry static env values, so for every running pod this
  controller writes an ``Exec`` named after the pod (owned by it, garbage-collected with it)
  whose env carries the pod's name, namespace, IP, the DNS server address and a private TMPDIR;
* readiness gates: a kubelet reports ``Ready`` only while every ``spec.readinessGates`` condition
  is True; this controller applies that rule whenever a gate condition changes;
* the final delete of a terminating pod (the kubelet's, once its containers have stopped): at
  ``metadata.deletionTimestamp`` (the end of its grace period), with grace 0 and the pod's UID as
  precondition, so a delete that comes late never removes a successor of the same name (a
  StatefulSet's); KWOK 0.7.0's delete stage deletes by name only (``config.POD_STAGES``);
* pod IPs (the CNI's job): allocated round-robin from 10.244.0.0/16 like host-local IPAM, so a
  re-created pod gets a new address (KWOK's own pool hands a freed IP straight back); with
  ``--dual-stack`` each pod also gets an IPv6 address derived from the IPv4 one
  (10.244.a.b -> fd00:10:244::a:b).

Every status patch carries the pod's UID (as the kubelet's ``PatchPodStatus`` does): a patch meant for
a pod that has since been re-created under its name is refused by the API server, not applied to the
successor. It runs as one background process of the local cluster, started and stopped by PID like the
others. Everything it touches lives in the API server and the run directory.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import logging
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .config import LOCAL_NODE_LABEL, POD_CIDR_V4, POD_CIDR_V6

log = logging.getLogger("podsim")

EXEC_GROUP, EXEC_VERSION, EXEC_PLURAL = "kwok.x-k8s.io", "v1alpha1", "execs"


def ipv6_for(ipv4: str) -> str:
    a, b = ipv4.split(".")[2:]
    net = ipaddress.IPv6Network(POD_CIDR_V6)
    return str(net.network_address + (int(a) << 16) + int(b))


class RoundRobinIPAM:
    """Hands out the next free address after the last one given, wrapping at the end."""

    def __init__(self, cidr: str) -> None:
        self.net = ipaddress.IPv4Network(cidr)
        self.used: set[str] = set()
        self.next = 2  # .0 is the network, .1 the conventional gateway

    def allocate(self) -> str:
        size = self.net.num_addresses
        for _ in range(size):
            candidate = str(self.net.network_address + self.next)
            self.next = self.next + 1 if self.next + 1 < size - 1 else 2
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise RuntimeError(f"pod CIDR {self.net} exhausted")

    def release(self, ip: str | None) -> None:
        self.used.discard(ip or "")


class Reaper:
    """The final deletes, each at its pod's deletionTimestamp, by UID (one thread, its own API client)."""

    def __init__(self) -> None:
        self.core = client.CoreV1Api(client.ApiClient())
        self.due: list[tuple[float, str, str, str]] = []  # (when, uid, namespace, name)
        self.pending: set[str] = set()
        self.cond = threading.Condition()

    RETRY_S = 1.0  # a final delete that failed for another reason than 404/409 is made again this much later

    def schedule(self, pod: client.V1Pod) -> None:
        meta = pod.metadata
        self._push(meta.deletion_timestamp.timestamp(), meta.uid, meta.namespace, meta.name)

    def _push(self, when: float, uid: str, namespace: str, name: str) -> None:
        with self.cond:
            if uid in self.pending:
                return
            self.pending.add(uid)
            heapq.heappush(self.due, (when, uid, namespace, name))
            self.cond.notify()

    def run(self) -> None:
        while True:
            with self.cond:
                while not self.due or self.due[0][0] > time.time():
                    self.cond.wait(None if not self.due else self.due[0][0] - time.time())
                _, uid, namespace, name = heapq.heappop(self.due)
                self.pending.discard(uid)
            try:
                self.core.delete_namespaced_pod(name, namespace, body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)))
                log.info("deleted %s/%s uid=%s", namespace, name, uid)
            except ApiException as exc:  # 404: gone already; 409: the name has a successor, not ours
                if exc.status not in (404, 409):
                    log.warning("final delete of %s/%s: %s; again in %gs", namespace, name, exc.reason, self.RETRY_S)
                    self._push(time.time() + self.RETRY_S, uid, namespace, name)
            except Exception as exc:  # the API server restarting, say
                log.warning("final delete of %s/%s: %s; again in %gs", namespace, name, exc, self.RETRY_S)
                self._push(time.time() + self.RETRY_S, uid, namespace, name)


class PodSim:
    def __init__(self, run_dir: Path, dns_server: str, dual_stack: bool) -> None:
        self.run_dir = run_dir
        self.dns_server = dns_server
        self.dual_stack = dual_stack
        self.core = client.CoreV1Api()
        self.custom = client.CustomObjectsApi()
        self.nodes: set[str] = set()
        self.ipam = RoundRobinIPAM(POD_CIDR_V4)
        self.reaper = Reaper()

    def patch_status(self, pod: client.V1Pod, status: dict[str, Any]) -> None:
        """A status patch for exactly this pod: its UID in the patch is a precondition (422 for a successor)."""
        self.core.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                              {"metadata": {"uid": pod.metadata.uid}, "status": status})

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
    @staticmethod
    def wanted_ready(pod: client.V1Pod) -> str:
        """The kubelet rule: Ready = containers ready AND every readiness gate condition True."""
        gates = [g.condition_type for g in (pod.spec.readiness_gates or [])]
        conds = {c.type: c.status for c in (pod.status.conditions or [])}
        ready = conds.get("ContainersReady") == "True" and all(conds.get(g) == "True" for g in gates)
        return "True" if ready else "False"

    @staticmethod
    def ready_condition(status: str) -> dict[str, str]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"type": "Ready", "status": status, "lastTransitionTime": now}

    def sync_readiness(self, pod: client.V1Pod) -> None:
        if pod.metadata.deletion_timestamp is not None:
            return
        want = self.wanted_ready(pod)
        if any(c.type == "Ready" and c.status == want for c in (pod.status.conditions or [])):
            return
        self.patch_status(pod, {"conditions": [self.ready_condition(want)]})
        log.info("readiness %s/%s -> %s", pod.metadata.namespace, pod.metadata.name, want)

    def assign_ips(self, pod: client.V1Pod) -> None:
        """The CNI step: give a Running pod its IP(s) once; host-network pods take the node IP."""
        if pod.spec.host_network:
            ips = [pod.status.host_ip]
        else:
            v4 = self.ipam.allocate()
            ips = [v4, ipv6_for(v4)] if self.dual_stack else [v4]
        try:
            self.patch_status(pod, {"podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips],
                                    "conditions": [self.ready_condition(self.wanted_ready(pod))]})
        except ApiException:
            if not pod.spec.host_network:
                self.ipam.release(ips[0])
            raise
        pod.status.pod_ip = ips[0]
        pod.status.conditions = [c for c in (pod.status.conditions or []) if c.type != "Ready"] + [
            client.V1PodCondition(type="Ready", status=self.wanted_ready(pod))]
        log.info("ips %s/%s -> %s", pod.metadata.namespace, pod.metadata.name, ips)

    def handle(self, event_type: str, pod: client.V1Pod) -> None:
        if pod.spec.node_name not in self.nodes:
            if pod.spec.node_name:
                self.refresh_nodes()
            if pod.spec.node_name not in self.nodes:
                return
        if event_type == "DELETED":
            if not pod.spec.host_network:
                self.ipam.release(pod.status.pod_ip)
            shutil.rmtree(self.pod_dir(pod.metadata.namespace, pod.metadata.name), ignore_errors=True)
            return
        if pod.metadata.deletion_timestamp is not None:
            self.reaper.schedule(pod)
        if pod.status.phase != "Running":
            return
        if not pod.status.pod_ip:
            if pod.metadata.deletion_timestamp is not None:
                return
            self.assign_ips(pod)
        elif not pod.spec.host_network:
            self.ipam.used.add(pod.status.pod_ip)  # known after a re-list
        self.sync_readiness(pod)
        if pod.metadata.deletion_timestamp is None:
            self.ensure_exec(pod)

    def run(self, ready_file: Path) -> None:
        threading.Thread(target=self.reaper.run, name="reaper", daemon=True).start()
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
