"""A headless Service over time: deleted, re-created, a pod relabelled out of it, a port renamed, a ClusterIP
refused (kubernetes/dns specification 2.4.1-2.4.3; the names exist only while the Service does)."""

from __future__ import annotations

from typing import Any

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import ANY_RCODE, Check, Expectation
from fixtures.kube.endpoints import EndpointView, reverse_name
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, ptr_checks, seed
from fixtures.verdict import Evidence, precondition, require


def every_name(v: EndpointView) -> list[Check]:
    """The Service name, every per-pod name, the SRV set of port http and the PTR of every endpoint."""
    checks = (Dns.checks(v.fqdn, "A", v.expect_address("A"))
              + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http")))
    for host in sorted(v.hostnames()):
        checks += Dns.checks(v.name(host), "A", v.expect_address("A", host))
    return checks + ptr_checks(v)


def names_gone(view: EndpointView) -> list[Check]:
    """What must hold once the Service is gone: its names are NXDOMAIN, and no PTR names it any more (a
    reverse name the cluster DNS does not own may be handed to an upstream: only its records are judged)."""
    checks = (Dns.checks(view.fqdn, "A", Expectation.nxdomain())
              + Dns.checks(view.srv_name("http"), "SRV", Expectation.nxdomain()))
    for e in view.ready():
        if e.hostname:
            checks += Dns.checks(view.name(e.hostname), "A", Expectation.nxdomain())
            checks += [c for a in e.addresses for c in Dns.checks(
                reverse_name(a), "PTR", Expectation.none_of([view.ptr_target(e.hostname)], "PTR", rcodes=ANY_RCODE))]
    return checks


def _pods_still_running(namespace: CaseNamespace, count: int) -> None:
    running = [p.metadata.name for p in namespace.list_pods("app=web")
               if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
    precondition(len(running) == count, f"the {count} StatefulSet pods keep running without their Service",
                 observed=running)


@case("HS-DNS-043")
def test_deleting_a_headless_service_removes_all_its_names(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace, replicas=2)
    # the starting point (not the rule itself): every name answers before the Service goes
    dns.converge(namespace.live(SVC, every_name), hold=False)
    namespace.delete_service(SVC)
    _pods_still_running(namespace, 2)
    # Without the Service there is no API state to read the names from: what must hold is fixed by the
    # state before the deletion (the names it had must now not exist).
    dns.converge(names_gone(view), requirement="after the Service is deleted its name, per-pod names and SRV are "
                                               "NXDOMAIN and no PTR names it, while its pods keep running")


@case("HS-DNS-044")
def test_re_creating_a_deleted_headless_service_brings_its_names_back(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace, replicas=2)
    dns.converge(namespace.live(SVC, every_name), hold=False)
    namespace.delete_service(SVC)
    # the starting point of the rule: the names are gone
    dns.converge(names_gone(view), hold=False)
    namespace.headless_service(SVC)
    namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 2 and v.hostnames() == {"web-0", "web-1"},
                             what="the re-created Service's slices list both pods with hostnames")
    dns.converge(namespace.live(SVC, every_name),
                 requirement="the re-created Service's name, per-pod names, SRV and PTR answer its new EndpointSlices")


@case("HS-DNS-045")
def test_a_pod_relabelled_out_of_the_selector_leaves_every_name(namespace: CaseNamespace, dns: Dns) -> None:
    namespace.headless_service(SVC)
    for name in ("stays", "leaves"):
        namespace.pod(name, hostname=name, subdomain=SVC)
    namespace.wait_pods_running("app=web", 2)
    before = namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {"stays", "leaves"}, what="2 ready endpoints")
    dns.converge(namespace.live(SVC, every_name), hold=False)
    leaving = before.hostname_addresses("leaves", 4) | before.hostname_addresses("leaves", 6)
    namespace.relabel_pod("leaves", {"app": "elsewhere"})
    namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {"stays"}, what="only the pod still selected")
    running = [p.metadata.name for p in namespace.list_pods("app=elsewhere") if p.status.phase == "Running"]
    precondition(running == ["leaves"], "the relabelled pod keeps running", observed=running)
    target = before.ptr_target("leaves")

    def checks(v: EndpointView) -> list[Check]:
        out = every_name(v) + Dns.checks(v.name("leaves"), "A", Expectation.no_records())
        out += Dns.checks(v.fqdn, "A", Expectation.none_of({a for a in leaving if ":" not in a}, "A"))
        for a in sorted(leaving):
            out += Dns.checks(reverse_name(a), "PTR", Expectation.none_of([target], "PTR", rcodes=ANY_RCODE))
        return out

    dns.converge(namespace.live(SVC, checks),
                 requirement="the relabelled pod's IP leaves the Service name and SRV set, its own name stops "
                             "resolving and its PTR stops naming it")


@case("HS-DNS-046")
def test_renaming_a_service_port_moves_its_srv_set(namespace: CaseNamespace, dns: Dns) -> None:
    seed(namespace, replicas=2)
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))),
                 hold=False)
    namespace.patch_service(SVC, {"spec": {"ports": [{"name": "web", "port": 80, "targetPort": 8080,
                                                      "protocol": "TCP"}]}})
    view = namespace.wait_endpoints(SVC, lambda v: bool(v.endpoints) and all(
        {p.name for p in e.ports} == {"web"} for e in v.endpoints), what="the slices' port is named web")
    precondition(len(view.srv_keys("web")) == 2, "both endpoints carry the port web", observed=view.to_json())
    # expect_srv("http") is "no records" now that no slice port is named http
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.srv_name("web"), "SRV", v.expect_srv("web"))
                                + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))),
                 requirement="_web._tcp answers the endpoints and _http._tcp no longer answers records")


@case("HS-DNS-047")
def test_a_headless_service_cannot_be_given_a_cluster_ip_and_its_names_stay(namespace: CaseNamespace, dns: Dns,
                                                                           evidence: Evidence) -> None:
    seed(namespace, replicas=2)
    dns.converge(namespace.live(SVC, every_name), hold=False)
    ips = namespace.dry_run_cluster_ips()
    precondition(bool(ips), "a dry-run ClusterIP Service got an address of the Service range", observed=ips)
    attempts: dict[str, dict[str, Any]] = {"spec.clusterIP": {"spec": {"clusterIP": ips[0]}},
                                           "spec.clusterIPs": {"spec": {"clusterIPs": ips}}}
    refusals = {field: namespace.try_patch_service(SVC, body) for field, body in attempts.items()}
    evidence.info["refusals"] = refusals
    svc = namespace.core.read_namespaced_service(SVC, namespace.name, _request_timeout=30)
    now = list(svc.spec.cluster_ips or [svc.spec.cluster_ip])
    require(all(refusals.values()), evidence, requirement="the API server refuses to give a headless Service a "
            "ClusterIP (clusterIP is immutable)", expected={f: "refused" for f in attempts}, observed=refusals)
    require(now == ["None"], evidence, requirement="the Service stays headless", expected=["None"], observed=now)
    dns.converge(namespace.live(SVC, every_name), requirement="the names still answer the endpoints")
