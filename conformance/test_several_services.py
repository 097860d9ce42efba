"""Pods behind several Services, and one Service name in two namespaces (spec 2.3.1, 2.4.1, 2.4.3; the
multi-PTR history of kubernetes#127716 / coredns#6898 / #7177)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, combine
from fixtures.dns.model import Check, Expectation, QueryResult
from fixtures.kube.endpoints import EndpointView, family, reverse_name
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, info_converge, seed
from fixtures.verdict import Evidence, precondition

OTHER = "second-headless"  # a second headless Service over the seed's pods (not their serviceName)
CLUSTERIP = "web-clusterip"


def _second_headless(namespace: CaseNamespace, pods: int) -> None:
    namespace.headless_service(OTHER)
    namespace.wait_endpoints(OTHER, lambda v: len(v.ready()) == pods, what=f"{pods} ready endpoints")


def _service_names(views: dict[str, EndpointView]) -> list[Check]:
    """Each Service name answers its own ready endpoints; each per-pod name of any of them exists exactly
    under the Services whose slices give the endpoint that hostname."""
    hosts = sorted({h for v in views.values() for h in v.hostnames()})
    checks: list[Check] = []
    for v in views.values():
        checks += Dns.checks(v.fqdn, "A", v.expect_address("A"))
        for h in hosts:
            checks += Dns.checks(v.name(h), "A", v.expect_address("A", h))
    return checks


def _hostname_ptrs(view: EndpointView) -> list[Check]:
    """The PTR of each endpoint IP includes its hostname's name under the Service that gives it."""
    return [c for e in view.ready() if e.hostname for a in e.addresses
            for c in Dns.checks(reverse_name(a), "PTR", Expectation.including([view.ptr_target(e.hostname)], "PTR"))]


@case("HS-DNS-053")
def test_two_headless_services_over_the_same_pods_each_answer_every_ready_pod(namespace: CaseNamespace,
                                                                             dns: Dns) -> None:
    seed(namespace, replicas=2)
    _second_headless(namespace, 2)
    other = namespace.endpoints(OTHER)
    precondition(not other.hostnames(), f"{OTHER}'s slices give no hostname (the pods' subdomain is the "
                 "StatefulSet's serviceName)", observed=other.to_json())
    dns.converge(namespace.live_services([SVC, OTHER], _service_names))


@case("HS-DNS-054")
def test_ptr_of_a_pod_behind_two_headless_services_names_it_under_its_governing_service(namespace: CaseNamespace,
                                                                                      dns: Dns) -> None:
    seed(namespace, replicas=2)
    _second_headless(namespace, 2)
    dns.converge(namespace.live_services([SVC, OTHER], lambda vs: _hostname_ptrs(vs[SVC])))


@case("HS-DNS-055")
def test_info_ptr_names_of_a_pod_ip_selected_by_several_services(namespace: CaseNamespace, dns: Dns,
                                                                evidence: Evidence) -> None:
    view = seed(namespace, replicas=2)
    _second_headless(namespace, 2)
    namespace.clusterip_service(CLUSTERIP)
    namespace.wait_endpoints(CLUSTERIP, lambda v: len(v.ready()) == 2, what="2 ready endpoints")
    results = info_converge(dns, namespace.live_services([SVC, OTHER, CLUSTERIP], lambda vs: _hostname_ptrs(vs[SVC])))
    evidence.info["ptr_names"] = _ptr_names(results)
    evidence.info["selecting_services"] = [SVC, OTHER, CLUSTERIP]
    evidence.info["pods"] = {e.pod: list(e.addresses) for e in view.ready()}


def _ptr_names(results: list[QueryResult]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for r in results:
        out.setdefault(r.query.name, set()).update(r.rdata_keys())
    return {k: sorted(v) for k, v in sorted(out.items())}


@case("HS-DNS-056")
def test_a_clusterip_service_over_the_same_pods_answers_only_its_clusterip(namespace: CaseNamespace,
                                                                          dns: Dns) -> None:
    seed(namespace, replicas=2)
    svc = namespace.clusterip_service(CLUSTERIP)
    cluster_ips = [ip for ip in (svc.spec.cluster_ips or [svc.spec.cluster_ip]) if ip and ip != "None"]
    precondition(bool(cluster_ips), f"{CLUSTERIP} got a ClusterIP", observed=cluster_ips)
    namespace.wait_endpoints(CLUSTERIP, lambda v: len(v.ready()) == 2, what="2 ready endpoints")

    def checks(vs: dict[str, EndpointView]) -> list[Check]:
        headless, other = vs[SVC], vs[CLUSTERIP]
        out: list[Check] = []
        for rdtype, version in (("A", 4), ("AAAA", 6)):
            ips = [ip for ip in cluster_ips if family(ip) == version]
            if ips:
                out += Dns.checks(other.fqdn, rdtype, Expectation.exactly(ips, rdtype))
        out += Dns.checks(headless.fqdn, "A", headless.expect_address("A"))
        out += Dns.checks(headless.srv_name("http"), "SRV", headless.expect_srv("http"))
        for h in sorted(headless.hostnames()):
            out += Dns.checks(headless.name(h), "A", headless.expect_address("A", h))
        return out + _hostname_ptrs(headless)

    dns.converge(namespace.live_services([SVC, CLUSTERIP], checks))


@case("HS-DNS-057")
def test_every_ptr_name_of_an_endpoint_ip_resolves_back_to_that_ip(namespace: CaseNamespace, dns: Dns,
                                                                  evidence: Evidence) -> None:
    seed(namespace, replicas=2)
    _second_headless(namespace, 2)
    namespace.clusterip_service(CLUSTERIP)
    namespace.wait_endpoints(CLUSTERIP, lambda v: len(v.ready()) == 2, what="2 ready endpoints")
    services = [SVC, OTHER, CLUSTERIP]
    # first the PTR answers themselves (their hostname record is HS-DNS-054's rule), then every name they give
    ptrs = dns.converge(namespace.live_services(services, lambda vs: _hostname_ptrs(vs[SVC])), hold=False)
    names = _ptr_names(ptrs)
    evidence.info["ptr_names"] = names
    ip_of = {r.query.name: next(a for e in namespace.endpoints(SVC).ready() for a in e.addresses
                                if reverse_name(a) == r.query.name) for r in ptrs}

    def checks(_vs: dict[str, EndpointView]) -> list[Check]:
        out: list[Check] = []
        for rev, targets in names.items():
            ip = ip_of[rev]
            rdtype = "AAAA" if family(ip) == 6 else "A"
            for target in targets:
                out += Dns.checks(target, rdtype, Expectation.including([ip], rdtype))
        return out

    dns.converge(namespace.live_services(services, checks),
                 requirement="every name in the PTR answer of a pod IP answers that IP (forward-confirmed reverse DNS)")


@case("HS-DNS-058")
def test_the_same_service_name_in_two_namespaces_never_mixes(namespace: CaseNamespace, twin_namespace: CaseNamespace,
                                                             dns: Dns) -> None:
    seed(namespace, replicas=2)
    seed(twin_namespace, replicas=2)
    mine, theirs = namespace.endpoints(SVC), twin_namespace.endpoints(SVC)
    precondition(not (mine.addresses(4) & theirs.addresses(4)), "the two namespaces' pods have distinct addresses",
                 observed=[sorted(mine.addresses(4)), sorted(theirs.addresses(4))])

    def own_names(v: EndpointView, foreign: set[str]) -> list[Check]:
        out = (Dns.checks(v.fqdn, "A", v.expect_address("A"))
               + Dns.checks(v.fqdn, "A", Expectation.none_of(foreign, "A")))
        out += Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))
        for h in sorted(v.hostnames()):
            out += Dns.checks(v.name(h), "A", v.expect_address("A", h))
        return out

    dns.converge(combine(namespace.live(SVC, lambda v: own_names(v, theirs.addresses(4))),
                         twin_namespace.live(SVC, lambda v: own_names(v, mine.addresses(4)))),
                 requirement=f"{SVC} of {namespace.name} and of {twin_namespace.name} each answer only their own pods")
