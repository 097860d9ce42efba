"""The DNS protocol around the headless names: existence is not a matter of type (RFC 1034/2308), empty
non-terminals (RFC 8020), truncation under EDNS(0) (RFC 6891) and negative caching (RFC 2308 section 5).

Most of these ask the shared seed (``@on_seed``); the names that must not exist are built from its live
EndpointSlices, so they are absent by construction.
"""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.options import Settings
from fixtures.scenarios import address_block, manual_endpoint
from fixtures.shared import Seeded, on_seed
from fixtures.verdict import precondition, unsupported

#: Every type asked of a name that does not exist (SOA has a case of its own: HS-DNS-069).
TYPES_OF_ABSENT_NAMES = ("A", "AAAA", "SRV", "TXT", "MX", "CNAME", "PTR", "NS", "HINFO", "CAA", "ANY")
#: The types a headless Service name and a per-pod name do not have.
TYPES_NOT_HELD = ("TXT", "MX", "CNAME", "NS", "SOA", "PTR", "HINFO", "CAA")
EDNS_PAYLOAD = 1232
BIG_SRV_ENDPOINTS = 30  # ~100 bytes per SRV record with its uncompressed target: about 3 KB, well above 1232


def absent_names(v: EndpointView) -> list[str]:
    """A Service name, a per-pod name and an SRV name that do not exist next to the seed's."""
    host = next(f"{v.service}-absent-{i}" for i in range(100) if f"{v.service}-absent-{i}" not in v.hostnames())
    return [f"hsdns-absent-service.{v.namespace}.svc.{v.zone}.", v.name(host), v.srv_name("hsdns-absent")]


def present_names(v: EndpointView) -> list[str]:
    """The Service name and the first per-pod name of the seed."""
    return [v.fqdn] + [v.name(h) for h in sorted(v.hostnames())[:1]]


def _each_type(names: list[str], types: tuple[str, ...], expect: Expectation) -> list[Check]:
    """One UDP question per name and type (the type is the variable here, not the transport), plus TCP for A."""
    checks = [Check(Query(n, t, "udp"), expect) for n in names for t in types]
    return checks + [Check(Query(n, "A", "tcp"), expect) for n in names if "A" in types]


@case("HS-DNS-068")
@on_seed(lambda v: _each_type(absent_names(v), TYPES_OF_ABSENT_NAMES, Expectation.nxdomain()))
def test_a_name_that_does_not_exist_is_nxdomain_for_every_query_type(seeded: Seeded) -> None:
    seeded.judge()


@case("HS-DNS-069")
@on_seed(lambda v: _each_type(absent_names(v)[:2], ("SOA",), Expectation.nxdomain()))
def test_an_soa_query_for_a_name_that_does_not_exist_is_nxdomain(seeded: Seeded) -> None:
    seeded.judge()


@case("HS-DNS-070")
@on_seed(lambda v: _each_type(present_names(v), TYPES_NOT_HELD, Expectation.nodata()))
def test_a_name_that_exists_is_nodata_for_the_types_it_lacks(seeded: Seeded) -> None:
    precondition(len(present_names(seeded.view)) == 2, "the seed has a per-pod name", observed=seeded.view.to_json())
    seeded.judge()


def _one_family_hosts(v: EndpointView) -> list[tuple[str, str, str]]:
    """(hostname, its family's type, the other type) for per-pod names with addresses of one family only."""
    out = []
    for h in sorted(v.hostnames()):
        v4, v6 = v.hostname_addresses(h, 4), v.hostname_addresses(h, 6)
        if bool(v4) != bool(v6):
            out.append((h, "A", "AAAA") if v4 else (h, "AAAA", "A"))
    return out


def _other_family_checks(v: EndpointView) -> list[Check]:
    out: list[Check] = []
    for h, have, other in _one_family_hosts(v):
        out += Dns.checks(v.name(h), have, v.expect_address(have, h))
        out += Dns.checks(v.name(h), other, Expectation.nodata())
    return out


@case("HS-DNS-071")
@on_seed(_other_family_checks)
def test_a_per_pod_name_is_nodata_for_its_other_address_family(seeded: Seeded) -> None:
    if not _one_family_hosts(seeded.view):
        unsupported("every per-pod name of the seed has addresses of both families")
    seeded.judge()


def _zone_non_terminals(v: EndpointView) -> list[Check]:
    return (Dns.checks(f"{v.namespace}.svc.{v.zone}.", "A", Expectation.nodata())
            + Dns.checks(f"svc.{v.zone}.", "A", Expectation.nodata()))


@case("HS-DNS-072")
@on_seed(_zone_non_terminals)
def test_empty_non_terminals_of_the_cluster_zone_are_nodata(seeded: Seeded) -> None:
    seeded.judge()


def _protocol_label_checks(v: EndpointView) -> list[Check]:
    above = v.srv_name("http").split(".", 1)[1]  # _tcp.<svc>.<ns>.svc.<zone>.
    return (Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))
            + Dns.checks(above, "A", Expectation.nodata()) + Dns.checks(above, "SRV", Expectation.nodata()))


@case("HS-DNS-073")
@on_seed(_protocol_label_checks)
def test_the_protocol_label_above_an_srv_name_is_nodata_not_nxdomain(seeded: Seeded) -> None:
    precondition(bool(seeded.view.srv_keys("http")), "the seed's named port http has SRV records",
                 observed=seeded.view.to_json())
    seeded.judge()


@case("HS-DNS-074")
def test_an_answer_above_the_edns_payload_is_truncated_over_udp_and_complete_over_tcp(namespace: CaseNamespace,
                                                                                      dns: Dns) -> None:
    namespace.headless_service("big-srv", selectorless=True)
    ips = address_block(namespace, BIG_SRV_ENDPOINTS)
    namespace.endpoint_slice("big-srv", "big-srv-1",
                             [manual_endpoint(ip, f"member-{i:02d}") for i, ip in enumerate(ips)],
                             ports=[{"name": "http", "port": 8080, "protocol": "TCP"}])
    namespace.wait_endpoints("big-srv", lambda v: len(v.ready()) == BIG_SRV_ENDPOINTS,
                             what=f"{BIG_SRV_ENDPOINTS} ready endpoints with hostnames")

    def checks(v: EndpointView) -> list[Check]:
        keys = v.srv_keys("http")
        return [Check(Query(v.srv_name("http"), "SRV", "udp", payload=EDNS_PAYLOAD),
                      Expectation.truncated_subset(keys, "SRV").with_limits(max_bytes=EDNS_PAYLOAD)),
                Check(Query(v.srv_name("http"), "SRV", "tcp", payload=EDNS_PAYLOAD), Expectation.exactly(keys, "SRV"))]

    dns.converge(namespace.live("big-srv", checks))


def _negative_checks(v: EndpointView, bound: int) -> list[Check]:
    absent, present = absent_names(v)[0], v.fqdn
    nodata_type = "AAAA" if v.addresses(4) and not v.addresses(6) else "TXT"
    return (Dns.checks(absent, "A", Expectation.nxdomain().with_limits(negative_ttl_max=bound))
            + Dns.checks(present, nodata_type, Expectation.nodata().with_limits(negative_ttl_max=bound)))


@case("HS-DNS-075")
def test_negative_answers_carry_the_zone_soa_with_a_bounded_negative_ttl(namespace: CaseNamespace, dns: Dns,
                                                                        hsdns_settings: Settings) -> None:
    namespace.headless_service("negative", selectorless=True)
    ips = address_block(namespace, 1)
    namespace.endpoint_slice("negative", "negative-1", [manual_endpoint(ips[0], "only")])
    namespace.wait_endpoints("negative", lambda v: len(v.ready()) == 1, what="1 ready endpoint")
    dns.converge(namespace.live("negative", lambda v: _negative_checks(v, hsdns_settings.max_ttl)))
