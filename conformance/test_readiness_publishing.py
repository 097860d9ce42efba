"""Readiness: not-ready, publishNotReadyAddresses and terminating endpoints (spec 2.1 "ready", 2.4.1)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Check, Expectation
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import SVC, seed

TERMINATING_GRACE_S = 60


def _pod_state(cluster: Cluster, name: str) -> dict[str, str | None]:
    pods = [p for p in cluster.list_pods() if p.metadata.name == name]
    if not pods:
        return {"exists": "no"}
    return {"exists": "yes", "deletionTimestamp": str(pods[0].metadata.deletion_timestamp),
            "phase": pods[0].status.phase}


def _published(view: EndpointView, host: str) -> list[Check]:
    return Dns.checks(view.name(host), "A", Expectation.exactly(view.hostname_addresses(host), "A"))


@case("HS-DNS-020")
def test_not_ready_pods_are_not_published(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, readiness_gate=True)
    for pod in ("web-0", "web-1"):
        cluster.set_ready(pod, True)
    view = cluster.wait_endpoints(SVC, lambda v: {e.pod for e in v.ready()} == {"web-0", "web-1"},
                                  what="web-0 and web-1 ready, web-2 not ready")
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += Dns.checks(view.srv_name("http"), "SRV", Expectation.exactly(view.srv_keys("http"), "SRV"))
    checks += _published(view, "web-0")
    checks += Dns.checks(view.name("web-2"), "A", Expectation.no_records())
    dns.converge(checks, requirement="a not-ready pod (web-2) is absent from the Service name, the SRV set and "
                                     "its own name")
    cluster.set_ready("web-2", True)
    view = cluster.wait_endpoints(SVC, lambda v: len(v.ready()) == 3, what="all 3 endpoints ready")
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A")) + _published(view, "web-2")
    dns.converge(checks, requirement="a pod that becomes ready (web-2) is published")


@case("HS-DNS-021")
def test_publish_not_ready_addresses_publishes_not_ready_pods(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, readiness_gate=True, publish_not_ready=True)
    pods = cluster.list_pods("app=web")
    assert not any(c.type == "Ready" and c.status == "True" for p in pods for c in p.status.conditions or []), \
        "precondition: no pod is Ready"
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += _published(view, "web-0")
    dns.converge(checks, requirement="with publishNotReadyAddresses true, not-ready pods are published")
    cluster.patch_service(SVC, {"spec": {"publishNotReadyAddresses": False}})
    view = cluster.wait_endpoints(SVC, lambda v: not v.ready(), what="no ready endpoint after the field is false")
    checks = Dns.checks(view.fqdn, "A", Expectation.no_records())
    checks += Dns.checks(view.name("web-0"), "A", Expectation.no_records())
    dns.converge(checks, requirement="with publishNotReadyAddresses set back to false, not-ready pods disappear")


@case("HS-DNS-022")
def test_terminating_pods_are_dropped(cluster: Cluster, dns: Dns, evidence: Evidence) -> None:
    cluster.headless_service(SVC)
    cluster.pod("keep", hostname="keep", subdomain=SVC)
    cluster.pod("leave", hostname="leave", subdomain=SVC, hold=True)
    try:
        cluster.wait_pods_running("app=web", 2)
        view = cluster.wait_endpoints(SVC, lambda v: v.hostnames() == {"keep", "leave"}, what="2 ready endpoints")
        dns.converge(Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
                     + _published(view, "leave"))
        # a long grace period plus the finalizer keep the pod object Terminating while DNS is checked
        cluster.delete_pod("leave", grace=TERMINATING_GRACE_S)
        view = cluster.wait_endpoints(SVC, lambda v: v.hostnames() == {"keep"},
                                      what="the deleted pod's endpoint is no longer ready")
        evidence.info["pod_when_dropped_from_slices"] = _pod_state(cluster, "leave")
        checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
        checks += Dns.checks(view.name("leave"), "A", Expectation.no_records())
        dns.converge(checks)
        evidence.info["pod_when_dns_converged"] = _pod_state(cluster, "leave")
    finally:
        cluster.release_pod("leave")
