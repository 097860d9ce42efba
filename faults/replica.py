"""One diverging DNS replica: a third CoreDNS pod behind the cluster's kube-dns Service, misconfigured.

A proxy on 127.0.0.1 cannot make one replica of the DNS Service disagree with the others, so this
fault changes the cluster itself, the way a half-finished rollout or a missed ConfigMap reload does:

* a ConfigMap ``kube-system/coredns-bad`` with the cluster's Corefile (from ``kube-system/coredns``)
  changed by one mutation of faults/coredns.py (e.g. ``no-reverse-zones``);
* a Deployment ``kube-system/coredns-bad`` (1 replica): a copy of the spec of ``kube-system/coredns``
  with label ``k8s-app=kube-dns`` (so the kube-dns Service selects it), its own ConfigMap, and the
  image ``$HSDNS_IMAGE_REGISTRY/coredns:<version>`` (the cluster's own image when the variable is unset).

Its objects carry ``hsdns.io/fault=coredns-bad`` (its selector too, so neither Deployment adopts the
other's ReplicaSets). ``start()`` waits until the pod is a ready endpoint of kube-dns; ``stop()``
deletes both objects and waits until the pod is gone and no kube-dns EndpointSlice names it
(``check_removed()`` says what is left). Only the API is used (through KUBECONFIG on 127.0.0.1): the
host never talks to a pod or Service address.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

from faults.coredns import MUTATIONS, CoreDNSError, zone_of

NAMESPACE = "kube-system"
NAME = "coredns-bad"
SOURCE = "coredns"  # the cluster's own Deployment and ConfigMap
SERVICE = "kube-dns"
LABEL = ("hsdns.io/fault", NAME)
DEFAULT_VERSION = "1.14.7"


class ReplicaError(CoreDNSError):
    """The bad replica could not be added, did not become ready, or was not removed (message says what)."""


def image_for(source_image: str, environ: dict[str, str] | None = None) -> str:
    """``$HSDNS_IMAGE_REGISTRY/coredns:<version of the cluster's image>``, or the cluster's image itself."""
    env = os.environ if environ is None else environ
    registry = env.get("HSDNS_IMAGE_REGISTRY", "").strip().rstrip("/")
    if not registry:
        return source_image
    tag = source_image.rsplit(":", 1)[1] if ":" in source_image.rsplit("/", 1)[-1] else DEFAULT_VERSION
    return f"{registry}/coredns:{tag.removeprefix('v')}"


def bad_deployment(source: dict[str, Any], image: str) -> dict[str, Any]:
    """The bad replica's Deployment from the (serialised) spec of the cluster's CoreDNS Deployment."""
    spec = copy.deepcopy(source["spec"])
    labels = {**(spec["template"]["metadata"].get("labels") or {}), "k8s-app": "kube-dns", LABEL[0]: LABEL[1]}
    spec["replicas"] = 1
    spec["selector"] = {"matchLabels": {"k8s-app": "kube-dns", LABEL[0]: LABEL[1]}}
    spec["template"]["metadata"] = {"labels": labels}
    pod = spec["template"]["spec"]
    for c in pod["containers"]:
        if "coredns" in (c.get("image") or "") or c.get("name") == "coredns":
            c["image"] = image
    for v in pod.get("volumes") or []:
        if (v.get("configMap") or {}).get("name") == SOURCE:
            v["configMap"]["name"] = NAME
    spec.pop("revisionHistoryLimit", None)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"k8s-app": "kube-dns", LABEL[0]: LABEL[1]}},
            "spec": spec}


def bad_configmap(corefile: str, mutation: str) -> dict[str, Any]:
    if mutation not in MUTATIONS:
        raise ReplicaError(f"unknown CoreDNS mutation {mutation!r}")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {LABEL[0]: LABEL[1]},
                         "annotations": {"hsdns.io/mutation": mutation}},
            "data": {"Corefile": MUTATIONS[mutation](corefile, zone_of(corefile))}}


class BadReplica:
    """Add the misconfigured replica (``start``), remove it (``stop``); a context manager that always removes."""

    def __init__(self, mutation: str, kubeconfig: str, workdir: Path, *, timeout: float = 180.0) -> None:
        from kubernetes import client, config

        self.mutation = mutation
        self.workdir = workdir
        self.timeout = timeout
        api = config.new_client_from_config(config_file=kubeconfig)
        self._api = api
        self.core: Any = client.CoreV1Api(api)
        self.apps: Any = client.AppsV1Api(api)
        self.disc: Any = client.DiscoveryV1Api(api)
        self.pod: str | None = None
        self.address: str | None = None
        self.marker = workdir / "replica.json"

    # -- helpers
    def _selector(self) -> str:
        return f"{LABEL[0]}={LABEL[1]}"

    def pods(self) -> list[Any]:
        return list(self.core.list_namespaced_pod(NAMESPACE, label_selector=self._selector(),
                                                  _request_timeout=15).items)

    def endpoint_pods(self) -> dict[str, bool]:
        """kube-dns endpoints by pod name -> ready."""
        out: dict[str, bool] = {}
        for sl in self.disc.list_namespaced_endpoint_slice(
                NAMESPACE, label_selector=f"kubernetes.io/service-name={SERVICE}", _request_timeout=15).items:
            for ep in sl.endpoints or []:
                if ep.target_ref is not None:
                    ready = ep.conditions is None or ep.conditions.ready is not False
                    out[ep.target_ref.name] = out.get(ep.target_ref.name, False) or ready
        return out

    def _exists(self, read: Any) -> bool:
        from kubernetes.client.rest import ApiException

        try:
            read(NAME, NAMESPACE, _request_timeout=15)
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    # -- lifecycle
    def start(self) -> BadReplica:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._exists(self.apps.read_namespaced_deployment) or self._exists(self.core.read_namespaced_config_map):
            self.stop()  # left by an interrupted run
        source = self._api.sanitize_for_serialization(self.apps.read_namespaced_deployment(SOURCE, NAMESPACE))
        corefile = self.core.read_namespaced_config_map(SOURCE, NAMESPACE).data["Corefile"]
        image = image_for(source["spec"]["template"]["spec"]["containers"][0]["image"])
        self.marker.write_text(json.dumps({"namespace": NAMESPACE, "deployment": NAME, "configmap": NAME,
                                           "mutation": self.mutation, "image": image}) + "\n")
        try:
            self.core.create_namespaced_config_map(NAMESPACE, bad_configmap(corefile, self.mutation),
                                                   _request_timeout=30)
            self.apps.create_namespaced_deployment(NAMESPACE, bad_deployment(source, image), _request_timeout=30)
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                pods = [p for p in self.pods() if p.metadata.deletion_timestamp is None]
                ready = [p for p in pods if any(c.type == "Ready" and c.status == "True"
                                                for c in (p.status.conditions or []))]
                if ready and self.endpoint_pods().get(ready[0].metadata.name):
                    self.pod, self.address = ready[0].metadata.name, ready[0].status.pod_ip
                    return self
                time.sleep(0.5)
            state = [(p.metadata.name, p.status.phase) for p in self.pods()]
            raise ReplicaError(f"the bad replica did not become a ready kube-dns endpoint within {self.timeout:.0f}s "
                               f"(pods: {state})")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Delete the Deployment and ConfigMap and wait until nothing of them is left (raises if something is)."""
        from kubernetes.client.rest import ApiException

        for delete in (self.apps.delete_namespaced_deployment, self.core.delete_namespaced_config_map):
            try:
                delete(NAME, NAMESPACE, propagation_policy="Foreground", _request_timeout=30)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        deadline = time.monotonic() + self.timeout
        left: list[str] = []
        while time.monotonic() < deadline:
            left = self.check_removed()
            if not left:
                self.marker.unlink(missing_ok=True)
                return
            time.sleep(0.5)
        raise ReplicaError(f"the bad replica was not removed within {self.timeout:.0f}s: {', '.join(left)}")

    def check_removed(self) -> list[str]:
        """What is left of the bad replica (empty: nothing)."""
        left = []
        if self._exists(self.apps.read_namespaced_deployment):
            left.append(f"Deployment {NAMESPACE}/{NAME}")
        if self._exists(self.core.read_namespaced_config_map):
            left.append(f"ConfigMap {NAMESPACE}/{NAME}")
        left += [f"Pod {NAMESPACE}/{p.metadata.name}" for p in self.pods()]
        left += [f"kube-dns endpoint {pod}" for pod in self.endpoint_pods() if pod.startswith(NAME + "-")]
        return left

    def __enter__(self) -> BadReplica:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
