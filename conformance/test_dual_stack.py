"""Dual-stack headless Services (kubernetes/dns specification 2.4.1-2.4.3 with IPv4 and IPv6 endpoints).

Every expectation is read from the live EndpointSlices: one slice per IP family (``addressType`` IPv4 /
IPv6), each endpoint with the pod's address of that family. The set-ups check first that the API state is
the one the clause speaks of (the Service's ``spec.ipFamilies`` and an address of each family per pod): a
cluster that does not give it is an ERROR, never a DNS verdict; a cluster without IPv6 (or not dual-stack)
is skipped by the capability probe of the catalogue entry's ``requires``.
"""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, family_seed, ptr_checks, wait_families
from fixtures.verdict import Evidence, precondition

FAMILIES = ("AAAA", "A")
REQUIRE = "require-dual"  # HS-DNS-051: the RequireDualStack Service (it governs the StatefulSet)
PREFER = "prefer-dual"  # HS-DNS-051: the PreferDualStack Service over the same pods


def _per_pod_names_in_both_families(v: EndpointView) -> list[Check]:
    """<sts>-<i>.<svc> AAAA and A: exactly the addresses of that family of the endpoint with that hostname."""
    out: list[Check] = []
    for host in sorted(v.hostnames()):
        for rdtype in FAMILIES:
            out += Dns.checks(v.name(host), rdtype, v.expect_address(rdtype, host))
    return out


def _srv_targets_in_both_families(v: EndpointView) -> list[Check]:
    """The SRV set, and A and AAAA of each of its targets (the endpoint's addresses of that family)."""
    out = Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))
    for target, host in sorted(v.srv_targets("http").items()):
        for rdtype in FAMILIES:
            out += Dns.checks(target, rdtype, v.expect_address(rdtype, host))
    return out


def _service_name_in_both_families(v: EndpointView) -> list[Check]:
    return [c for rdtype in FAMILIES for c in Dns.checks(v.fqdn, rdtype, v.expect_address(rdtype))]


@case("HS-DNS-048")
def test_per_pod_names_of_a_dual_stack_service_answer_aaaa_and_a_with_the_pods_addresses(
        namespace: CaseNamespace, dns: Dns, evidence: Evidence) -> None:
    view = family_seed(namespace, ip_family_policy="PreferDualStack")
    evidence.info["per_pod_names"] = sorted(view.name(h) for h in view.hostnames())
    dns.converge(namespace.live(SVC, _per_pod_names_in_both_families))


@case("HS-DNS-049")
def test_ptr_of_an_ipv6_endpoint_address_names_the_endpoint(namespace: CaseNamespace, dns: Dns,
                                                            evidence: Evidence) -> None:
    view = family_seed(namespace, ip_family_policy="PreferDualStack")
    checks = ptr_checks(view, 6)
    evidence.info["ipv6_reverse_names"] = sorted({c.query.name for c in checks})
    precondition(bool(checks), "ready endpoints with a hostname and an IPv6 address", observed=view.to_json())
    dns.converge(namespace.live(SVC, lambda v: ptr_checks(v, 6)))


@case("HS-DNS-050")
def test_every_srv_target_of_a_dual_stack_service_answers_a_and_aaaa_with_its_endpoints_addresses(
        namespace: CaseNamespace, dns: Dns, evidence: Evidence) -> None:
    view = family_seed(namespace, ip_family_policy="PreferDualStack")
    targets = view.srv_targets("http")
    evidence.info["srv_targets"] = targets
    precondition(len(targets) == len(view.hostnames()) > 0, "every ready endpoint is an SRV target of _http._tcp",
                 observed=view.to_json())
    dns.converge(namespace.live(SVC, _srv_targets_in_both_families))


@case("HS-DNS-051")
def test_require_and_prefer_dual_stack_services_over_the_same_pods_both_answer_a_and_aaaa(
        namespace: CaseNamespace, dns: Dns, evidence: Evidence) -> None:
    family_seed(namespace, ip_family_policy="RequireDualStack", service=REQUIRE)
    namespace.headless_service(PREFER, ip_family_policy="PreferDualStack")
    views = {svc: wait_families(namespace, svc, pods=3) for svc in (REQUIRE, PREFER)}
    evidence.info["ip_families"] = {svc: namespace.service_ip_families(svc) for svc in views}
    precondition(set(views[REQUIRE].pod_families()) == set(views[PREFER].pod_families()),
                 "both Services select the same pods",
                 observed={svc: sorted(v.pod_families()) for svc, v in views.items()})
    for svc in (REQUIRE, PREFER):
        dns.converge(namespace.live(svc, _service_name_in_both_families),
                     requirement=f"{svc}: the Service name answers A with exactly the ready IPv4 and AAAA with "
                                 "exactly the ready IPv6 endpoint addresses")


@case("HS-DNS-052")
def test_ipv6_only_service_answers_aaaa_and_its_a_queries_are_nodata(namespace: CaseNamespace, dns: Dns,
                                                                     evidence: Evidence) -> None:
    view = family_seed(namespace, ip_family_policy="SingleStack", ip_families=["IPv6"], want=("IPv6",))
    evidence.info["ip_families"] = namespace.service_ip_families(SVC)
    precondition(not view.addresses(4, ready_only=False), "the IPv6-only Service has no IPv4 endpoint address",
                 observed=view.to_json())
    dns.converge(namespace.live(SVC, lambda v: _service_name_in_both_families(v)
                                + _per_pod_names_in_both_families(v)))
