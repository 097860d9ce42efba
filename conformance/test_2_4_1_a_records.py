"""kubernetes/dns specification 2.4.1: A/AAAA records of headless Services (Service name level)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, mixed_case, seed
from fixtures.shared import Seeded, on_seed
from fixtures.verdict import Evidence, precondition, require, unsupported


@case("HS-DNS-001")
def test_headless_service_has_no_clusterip_and_its_name_never_answers_one(namespace: CaseNamespace, dns: Dns,
                                                                           evidence: Evidence) -> None:
    seed(namespace)
    other = namespace.clusterip_service("web-clusterip")
    svc = namespace.core.read_namespaced_service(SVC, namespace.name)
    ips = list(svc.spec.cluster_ips or [svc.spec.cluster_ip])
    cluster_ips = [ip for ip in (other.spec.cluster_ips or [other.spec.cluster_ip]) if ip and ip != "None"]
    evidence.info["headless_cluster_ips"] = ips
    evidence.info["other_service_cluster_ips"] = cluster_ips
    require(all(ip == "None" for ip in ips), evidence, requirement="spec.clusterIP(s) of a headless Service stay None",
            expected=["None"], observed=ips)
    v4 = [ip for ip in cluster_ips if ":" not in ip]
    v6 = [ip for ip in cluster_ips if ":" in ip]

    def checks(v: EndpointView) -> list[Check]:
        out = Dns.checks(v.fqdn, "A", v.expect_address("A"))
        out += Dns.checks(v.fqdn, "A", Expectation.none_of(v4, "A")) if v4 else []
        out += Dns.checks(v.fqdn, "AAAA", Expectation.none_of(v6, "AAAA")) if v6 else []
        return out

    dns.converge(namespace.live(SVC, checks))


@case("HS-DNS-002")
@on_seed(lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A")))
def test_headless_service_returns_one_a_record_per_ready_endpoint(seeded: Seeded) -> None:
    if not seeded.view.addresses(4):
        unsupported("the endpoints have no IPv4 addresses (IPv6-only cluster)")
    seeded.judge()


@case("HS-DNS-003")
def test_headless_service_returns_one_aaaa_record_per_ready_ipv6_endpoint(namespace: CaseNamespace,
                                                                          dns: Dns) -> None:
    view = seed(namespace, ip_family_policy="PreferDualStack")
    if not view.addresses(6):
        unsupported("no IPv6 endpoint addresses were published for the Service")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "AAAA", v.expect_address("AAAA"))))


@case("HS-DNS-004")
def test_headless_service_without_ready_endpoints_is_nxdomain(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace, readiness_gate=True)
    precondition(not view.ready(), "no endpoint is ready (readiness gates closed)", observed=view.to_json())
    dns.converge(Dns.checks(view.fqdn, "A", Expectation.nxdomain())
                 + Dns.checks(view.srv_name("http"), "SRV", Expectation.nxdomain()))


def _one_family(v: EndpointView) -> tuple[str, str] | None:
    """(the family the Service publishes, the other one), or None when it publishes both."""
    if v.addresses(4) and not v.addresses(6):
        return "A", "AAAA"
    if v.addresses(6) and not v.addresses(4):
        return "AAAA", "A"
    return None


def _other_family_checks(v: EndpointView) -> list[Check]:
    fams = _one_family(v)
    if fams is None:
        return []
    have, other = fams
    return Dns.checks(v.fqdn, have, v.expect_address(have)) + Dns.checks(v.fqdn, other, Expectation.nodata())


@case("HS-DNS-005")
@on_seed(_other_family_checks)
def test_query_for_the_other_address_family_is_nodata(seeded: Seeded) -> None:
    if _one_family(seeded.view) is None:
        unsupported("the Service publishes both address families")
    seeded.judge()


def _mixed_case_checks(v: EndpointView) -> list[Check]:
    host = sorted(v.hostnames())[0] if v.hostnames() else "web-0"
    out: list[Check] = []
    for name, rdtype, expect in ((v.fqdn, "A", v.expect_address("A")),
                                 (v.name(host), "A", v.expect_address("A", host)),
                                 (v.srv_name("http"), "SRV", v.expect_srv("http"))):
        out += [Check(Query(mixed_case(name), rdtype, t), expect) for t in ("udp", "tcp")]
    return out


@case("HS-DNS-012")
@on_seed(_mixed_case_checks)
def test_names_match_case_insensitively(seeded: Seeded) -> None:
    seeded.judge()
