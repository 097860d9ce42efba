"""More than 100 endpoints over several EndpointSlices; TCP completeness and UDP truncation (rows 53-57)."""

from __future__ import annotations

import pytest

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, Query
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import address_block, manual_endpoint

SLICES = 3
PER_SLICE = 50  # 150 endpoints: > 100 (the controller's default slice size) and far beyond 512 bytes of A records


def _big_service(cluster: Cluster) -> EndpointView:
    cluster.headless_service("big", selectorless=True)
    ips = address_block(cluster.ns, "198.19.0.0", SLICES * PER_SLICE)
    for i in range(SLICES):
        chunk = ips[i * PER_SLICE:(i + 1) * PER_SLICE]
        cluster.endpoint_slice("big", f"big-{i}", [manual_endpoint(ip) for ip in chunk],
                               ports=[{"name": "http", "port": 8080, "protocol": "TCP"}])
    view = cluster.wait_endpoints("big", lambda v: len(v.ready()) == SLICES * PER_SLICE,
                                  what=f"{SLICES * PER_SLICE} ready endpoints in {SLICES} slices")
    assert len({e.slice for e in view.endpoints}) == SLICES
    return view


@pytest.mark.slow
@case("HS-DNS-025")
def test_more_than_100_endpoints_over_several_slices_are_all_answered_over_tcp(cluster: Cluster, dns: Dns) -> None:
    view = _big_service(cluster)
    dns.expect(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"), transports=("tcp",))


@pytest.mark.slow
@case("HS-DNS-026")
def test_a_answer_too_large_for_udp_is_truncated_with_tc(cluster: Cluster, dns: Dns) -> None:
    view = _big_service(cluster)
    addresses = view.addresses(4)
    dns.converge([
        Check(Query(view.fqdn, "A", "udp", payload=0), Expectation.truncated_subset(addresses, "A")),
        Check(Query(view.fqdn, "A", "tcp"), Expectation.exactly(addresses, "A")),
    ])
