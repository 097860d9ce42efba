"""More than 100 endpoints over several EndpointSlices; TCP completeness and UDP truncation (rows 53-57)."""

from __future__ import annotations

import pytest

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import address_block, manual_endpoint
from fixtures.verdict import precondition

SLICES = 3
PER_SLICE = 50  # 150 endpoints: > 100 (the controller's default slice size) and far beyond 512 bytes of A records


def _big_service(namespace: CaseNamespace) -> None:
    namespace.headless_service("big", selectorless=True)
    ips = address_block(namespace, SLICES * PER_SLICE)
    for i in range(SLICES):
        chunk = ips[i * PER_SLICE:(i + 1) * PER_SLICE]
        namespace.endpoint_slice("big", f"big-{i}", [manual_endpoint(ip) for ip in chunk],
                                 ports=[{"name": "http", "port": 8080, "protocol": "TCP"}])
    view = namespace.wait_endpoints("big", lambda v: len(v.ready()) == SLICES * PER_SLICE,
                                    what=f"{SLICES * PER_SLICE} ready endpoints in {SLICES} slices")
    precondition(len({e.slice for e in view.endpoints}) == SLICES, f"the endpoints are spread over {SLICES} slices")


@pytest.mark.slow
@case("HS-DNS-025")
def test_more_than_100_endpoints_over_several_slices_are_all_answered_over_tcp(namespace: CaseNamespace,
                                                                               dns: Dns) -> None:
    _big_service(namespace)
    dns.converge(namespace.live("big", lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"), transports=("tcp",))))


@pytest.mark.slow
@case("HS-DNS-026")
def test_a_answer_too_large_for_udp_is_truncated_with_tc(namespace: CaseNamespace, dns: Dns) -> None:
    _big_service(namespace)

    def checks(v: EndpointView) -> list[Check]:
        addresses = v.addresses(4)
        return [Check(Query(v.fqdn, "A", "udp", payload=0), Expectation.truncated_subset(addresses, "A")),
                Check(Query(v.fqdn, "A", "tcp"), Expectation.exactly(addresses, "A"))]

    dns.converge(namespace.live("big", checks))
