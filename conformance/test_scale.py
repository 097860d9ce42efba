"""1,000 endpoints made by the real controllers: a StatefulSet behind a headless Service (rows 53-56, 21, 49).

The EndpointSlice controller splits the endpoints over slices of at most 100; DNS must answer all of
them (TCP), truncate honestly (UDP), give the full SRV set, and follow a scale to 10 and back. The
scenario's pods can be placed apart from the rest of the suite (``--scale-node-selector``,
``--scale-tolerations``): the local cluster puts them on its KWOK nodes. Marked ``slow``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client as k8s

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.api import TransientApiError, api_call
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.facts import ClusterFacts, pod_capacity
from fixtures.kube.namespace import CaseNamespace, create_namespace, delete_namespace, namespace_name
from fixtures.options import Settings
from fixtures.polling import poll_until
from fixtures.verdict import Evidence, precondition, unsupported

SVC = "scale"
MAX_MESSAGE = 65535  # the largest DNS message (RFC 1035 4.2.2: TCP length prefix)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hsdns-scale")]


@dataclass
class ScaleWorkload:
    namespace: CaseNamespace
    replicas: int
    ready_at: float  # monotonic time the EndpointSlices reached the ready state
    slices: int
    rollout_s: float


def _ready_replicas(ns: CaseNamespace, want: int, timeout: float) -> None:
    """Until the StatefulSet has ``want`` ready replicas. The deadline follows progress: ``timeout`` without a
    new ready replica is an ERROR (the controllers stalled), and so is 4 x ``timeout`` in all; a slow but
    steady rollout on a loaded machine is not (the cold CI run of 2026-12-01 22:00 needed more than 360 s for
    10 -> 400 on 2 cores)."""
    seen = {"ready": -1}

    def check() -> bool | None:
        s = ns.apps.read_namespaced_stateful_set("web", ns.name, _request_timeout=30)
        seen["ready"] = s.status.ready_replicas or 0
        return True if seen["ready"] == want and (s.status.replicas or 0) == want else None

    poll_until(api_call(check, f"reading StatefulSet {ns.name}/web"), transient=(TransientApiError,),
               timeout=4 * timeout, stall=timeout, progress=lambda: seen["ready"],
               what=f"StatefulSet web readyReplicas={want}", interval=0.5,
               on_timeout=lambda: f"readyReplicas={seen['ready']} of {want}")


@pytest.fixture(scope="module")
def scale(kube_api: k8s.ApiClient, hsdns_settings: Settings, cluster_facts: ClusterFacts, run_id: str,
          worker_id_hsdns: str) -> Iterator[ScaleWorkload]:
    n = hsdns_settings.scale_replicas
    capacity = pod_capacity(kube_api, hsdns_settings.scale_node_selector, hsdns_settings.scale_tolerations)
    if capacity < n + 10:  # a capability probe: room for the scenario's pods on the nodes they may use
        unsupported(f"the nodes the scale scenario may use have room for {capacity} pods, it needs {n}: place it "
                    "with --scale-node-selector/--scale-tolerations or lower --scale-replicas")
    core = k8s.CoreV1Api(kube_api)
    shared = hsdns_settings.namespace
    name = shared or namespace_name(run_id, worker_id_hsdns, "scale")
    if shared is None:
        create_namespace(core, name, run_id, worker_id_hsdns, "scale")
    ns = CaseNamespace(kube_api, hsdns_settings, name, cluster_facts.cluster_domain, case_id="HS-DNS-039",
                       run_id=run_id)
    labels = {"app": SVC}
    try:
        ns.headless_service(SVC, ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                            selector=labels)
        ns.statefulset("web", service_name=SVC, replicas=n, labels=labels,
                       placement=(hsdns_settings.scale_node_selector, hsdns_settings.scale_tolerations))
        timeout = max(hsdns_settings.rollout_timeout, n * 0.3)
        with ns._rollout():
            _ready_replicas(ns, n, timeout)
        view = ns.wait_endpoints(SVC, lambda v: len(v.ready()) == n and len(v.hostnames()) == n,
                                 what=f"{n} ready endpoints with hostnames")
        slices = len({e.slice for e in view.endpoints if e.address_type == "IPv4"})
        precondition(slices >= n // 100, f"the EndpointSlice controller split {n} endpoints over at least "
                     f"{n // 100} slices", observed=slices)
        yield ScaleWorkload(ns, n, time.monotonic(), slices, ns.rollout_s)
    finally:
        if shared is None:
            delete_namespace(core, name, hsdns_settings.rollout_timeout, wait=False)
        else:
            ns.delete_created(max(hsdns_settings.rollout_timeout, n * 0.3))


def _note(evidence: Evidence, sc: ScaleWorkload) -> None:
    evidence.info.update({"replicas": sc.replicas, "endpoint_slices": sc.slices,
                          # the module's one workload: its rollout is shared by the scenario's cases
                          "shared_workload": sc.namespace.name, "shared_rollout_s": round(sc.rollout_s, 1),
                          "verified_after_ready_s": round(time.monotonic() - sc.ready_at, 1)})


@case("HS-DNS-039")
def test_one_thousand_ready_endpoints_are_all_answered_over_tcp(scale: ScaleWorkload, dns: Dns,
                                                                 evidence: Evidence) -> None:
    dns.converge(scale.namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"),
                                                                 transports=("tcp",))))
    _note(evidence, scale)


@case("HS-DNS-040")
def test_the_one_thousand_address_answer_over_udp_is_truncated(scale: ScaleWorkload, dns: Dns,
                                                               evidence: Evidence) -> None:
    def checks(v: EndpointView) -> list[Check]:
        addrs = v.addresses(4)
        return [Check(Query(v.fqdn, "A", "udp", payload=0), Expectation.truncated_subset(addrs, "A")),
                Check(Query(v.fqdn, "A", "udp", payload=1232), Expectation.truncated_subset(addrs, "A"))]

    dns.converge(scale.namespace.live(SVC, checks))
    _note(evidence, scale)


def srv_answer_bytes(v: EndpointView, port: str) -> int:
    """Smallest wire size of the complete SRV answer (RFC 2782: SRV targets are never compressed; the owner
    is one compression pointer; no additional section): 12 header + question + OPT + each record."""
    qname = v.srv_name(port)
    wire = sum(len(label) + 1 for label in qname.rstrip(".").split(".")) + 1
    per = [2 + 10 + 6 + sum(len(lb) + 1 for lb in k.split()[-1].rstrip(".").split(".")) + 1
           for k in v.srv_keys(port)]
    return 12 + wire + 4 + 11 + sum(per)


def _srv_checks(v: EndpointView) -> list[Check]:
    keys = v.srv_keys("http")
    fits = srv_answer_bytes(v, "http") <= MAX_MESSAGE
    expect = Expectation.exactly(keys, "SRV") if fits else Expectation.truncated_subset(keys, "SRV")
    return [Check(Query(v.srv_name("http"), "SRV", "tcp"), expect)]


@case("HS-DNS-041")
def test_srv_for_one_thousand_endpoints_is_complete_over_tcp(scale: ScaleWorkload, dns: Dns,
                                                             evidence: Evidence) -> None:
    view = scale.namespace.endpoints(SVC)
    size = srv_answer_bytes(view, "http")
    evidence.info["complete_srv_answer_bytes"] = size
    evidence.info["fits_one_message"] = size <= MAX_MESSAGE
    # Complete when one DNS message (65,535 bytes over TCP) can hold it; beyond that limit of the protocol
    # itself, TC and only real endpoints' records.
    dns.converge(scale.namespace.live(SVC, _srv_checks))
    _note(evidence, scale)


@case("HS-DNS-042")
def test_scaling_to_ten_and_back_converges_each_time(scale: ScaleWorkload, dns: Dns, evidence: Evidence,
                                                     hsdns_settings: Settings) -> None:
    ns, n = scale.namespace, scale.replicas
    removed = [f"web-{i}" for i in (10, n // 2, n - 1)]
    ns.scale_statefulset("web", 10)
    ns.wait_endpoints(SVC, lambda v: len(v.ready()) == 10, what="10 ready endpoints after the scale-down")
    dns.converge(ns.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"), transports=("tcp",))
                         + [c for host in removed for c in Dns.checks(v.name(host), "A", Expectation.no_records())]),
                 requirement=f"after scaling {n} -> 10 the Service name answers the 10 ready addresses and the removed "
                             "pods' names stop answering")
    t = time.monotonic()
    ns.scale_statefulset("web", n)
    # A StatefulSet re-creates ordinal k only once the old pod k is gone, so the scale-back waits for deletions
    # and creations: twice the first rollout's allowance without progress (a harness deadline, an ERROR)
    _ready_replicas(ns, n, 2 * max(hsdns_settings.rollout_timeout, n * 0.3))
    ns.wait_endpoints(SVC, lambda v: len(v.ready()) == n, what=f"{n} ready endpoints after the scale-up")
    evidence.info["scale_up_to_ready_s"] = round(time.monotonic() - t, 1)
    dns.converge(ns.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"), transports=("tcp",))),
                 requirement=f"after scaling 10 -> {n} the Service name answers every ready address again")
    _note(evidence, scale)
