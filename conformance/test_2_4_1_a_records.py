"""kubernetes/dns specification 2.4.1: A/AAAA records of headless Services (Service name level)."""

from __future__ import annotations

import pytest

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import SVC, mixed_case, require, seed


@case("HS-DNS-001")
def test_headless_service_has_no_clusterip_and_its_name_never_answers_one(cluster: Cluster, dns: Dns,
                                                                           evidence: Evidence) -> None:
    view = seed(cluster)
    other = cluster.headless_service("web-clusterip", headless=False)
    svc = cluster.core.read_namespaced_service(SVC, cluster.ns)
    ips = list(svc.spec.cluster_ips or [svc.spec.cluster_ip])
    evidence.info["headless_cluster_ips"] = ips
    evidence.info["other_service_cluster_ips"] = list(other.spec.cluster_ips or [other.spec.cluster_ip])
    require(all(ip == "None" for ip in ips), evidence, requirement="spec.clusterIP(s) of a headless Service stay None",
            expected=["None"], observed=ips)
    cluster_ips = [ip for ip in evidence.info["other_service_cluster_ips"] if ip and ip != "None"]
    v4 = [ip for ip in cluster_ips if ":" not in ip]
    v6 = [ip for ip in cluster_ips if ":" in ip]
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A")) if view.addresses(4) else []
    checks += Dns.checks(view.fqdn, "A", Expectation.none_of(v4, "A")) if v4 else []
    checks += Dns.checks(view.fqdn, "AAAA", Expectation.none_of(v6, "AAAA")) if v6 else []
    dns.converge(checks)


@case("HS-DNS-002")
def test_headless_service_returns_one_a_record_per_ready_endpoint(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    if not view.addresses(4):
        pytest.skip("the endpoints have no IPv4 addresses (IPv6-only cluster)")
    dns.expect(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))


@case("HS-DNS-003")
def test_headless_service_returns_one_aaaa_record_per_ready_ipv6_endpoint(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, ip_family_policy="PreferDualStack")
    if not view.addresses(6):
        pytest.skip("no IPv6 endpoint addresses were published for the Service")
    dns.expect(view.fqdn, "AAAA", Expectation.exactly(view.addresses(6), "AAAA"))


@case("HS-DNS-004")
def test_headless_service_without_ready_endpoints_is_nxdomain(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, readiness_gate=True)
    assert not view.ready()
    dns.converge(Dns.checks(view.fqdn, "A", Expectation.nxdomain())
                 + Dns.checks(view.srv_name("http"), "SRV", Expectation.nxdomain()))


@case("HS-DNS-005")
def test_query_for_the_other_address_family_is_nodata(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    if view.addresses(4) and not view.addresses(6):
        have, other = "A", "AAAA"
    elif view.addresses(6) and not view.addresses(4):
        have, other = "AAAA", "A"
    else:
        pytest.skip("the Service publishes both address families")
    dns.converge(Dns.checks(view.fqdn, have, Expectation.exactly(view.addresses(4 if have == "A" else 6), have))
                 + Dns.checks(view.fqdn, other, Expectation.nodata()))


@case("HS-DNS-012")
def test_names_match_case_insensitively(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    host = sorted(view.hostnames())[0]
    checks: list[Check] = []
    for name, rdtype, expect in (
        (view.fqdn, "A", Expectation.exactly(view.addresses(4), "A")),
        (view.name(host), "A", Expectation.exactly(view.hostname_addresses(host), "A")),
        (view.srv_name("http"), "SRV", Expectation.exactly(view.srv_keys("http"), "SRV")),
    ):
        checks += [Check(Query(mixed_case(name), rdtype, t), expect) for t in ("udp", "tcp")]
    dns.converge(checks)
