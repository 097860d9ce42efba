"""Readiness: not-ready, publishNotReadyAddresses and terminating endpoints (spec 2.1 "ready", 2.4.1)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Timed
from fixtures.dns.model import Check, Expectation
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, seed
from fixtures.verdict import Evidence, precondition

TERMINATING_GRACE_S = 60


def _pod_state(namespace: CaseNamespace, name: str) -> dict[str, str | None]:
    pods = [p for p in namespace.list_pods() if p.metadata.name == name]
    if not pods:
        return {"exists": "no"}
    return {"exists": "yes", "deletionTimestamp": str(pods[0].metadata.deletion_timestamp),
            "phase": pods[0].status.phase}


def _published(v: EndpointView, host: str) -> list[Check]:
    return Dns.checks(v.name(host), "A", v.expect_address("A", host))


@case("HS-DNS-020")
def test_not_ready_pods_are_not_published(namespace: CaseNamespace, dns: Dns) -> None:
    seed(namespace, readiness_gate=True)
    for pod in ("web-0", "web-1"):
        namespace.set_ready(pod, True)
    namespace.wait_endpoints(SVC, lambda v: {e.pod for e in v.ready()} == {"web-0", "web-1"},
                             what="web-0 and web-1 ready, web-2 not ready")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))
                                + _published(v, "web-0")
                                + Dns.checks(v.name("web-2"), "A", Expectation.no_records())),
                 requirement="a not-ready pod (web-2) is absent from the Service name, the SRV set and its own name")
    opened = Timed.now("ready", "web-2's readiness gate opened (its name answered negatively before)")
    namespace.set_ready("web-2", True)
    namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 3, what="all 3 endpoints ready")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + _published(v, "web-2")),
                 requirement="a pod that becomes ready (web-2) is published", timed=opened)


@case("HS-DNS-021")
def test_publish_not_ready_addresses_publishes_not_ready_pods(namespace: CaseNamespace, dns: Dns) -> None:
    seed(namespace, readiness_gate=True, publish_not_ready=True)
    pods = namespace.list_pods("app=web")
    precondition(not any(c.type == "Ready" and c.status == "True" for p in pods for c in p.status.conditions or []),
                 "no pod is Ready (readiness gates closed)")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + _published(v, "web-0")),
                 requirement="with publishNotReadyAddresses true, not-ready pods are published")
    namespace.patch_service(SVC, {"spec": {"publishNotReadyAddresses": False}})
    namespace.wait_endpoints(SVC, lambda v: not v.ready(), what="no ready endpoint after the field is false")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", Expectation.no_records())
                                + Dns.checks(v.name("web-0"), "A", Expectation.no_records())),
                 requirement="with publishNotReadyAddresses set back to false, not-ready pods disappear")


@case("HS-DNS-022")
def test_terminating_pods_are_dropped(namespace: CaseNamespace, dns: Dns, evidence: Evidence) -> None:
    namespace.headless_service(SVC)
    namespace.pod("keep", hostname="keep", subdomain=SVC)
    namespace.pod("leave", hostname="leave", subdomain=SVC, hold=True)
    try:
        namespace.wait_pods_running("app=web", 2)
        namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {"keep", "leave"}, what="2 ready endpoints")
        # the starting point (not the rule itself): no hold needed before the pod is deleted
        dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                    + _published(v, "leave")), hold=False)
        # a long grace period plus the finalizer keep the pod object Terminating while DNS is checked
        deleted = Timed.now("deleted", "the pod 'leave' was deleted (Terminating for its grace period)")
        namespace.delete_pod("leave", grace=TERMINATING_GRACE_S)
        namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {"keep"},
                                 what="the deleted pod's endpoint is no longer ready")
        evidence.info["pod_when_dropped_from_slices"] = _pod_state(namespace, "leave")
        dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                    + Dns.checks(v.name("leave"), "A", Expectation.no_records())), timed=deleted)
        state = _pod_state(namespace, "leave")
        evidence.info["pod_when_dns_converged"] = state
        # Without this the case would also pass for a pod that was simply deleted.
        precondition(state.get("exists") == "yes" and state.get("deletionTimestamp") not in (None, "None"),
                     "the pod was still Terminating (deletionTimestamp set, held by its finalizer) when DNS had "
                     "dropped it", observed=state)
    finally:
        namespace.release_pod("leave")
