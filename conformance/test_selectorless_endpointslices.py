"""Selector-less headless Services fed by hand-made EndpointSlices (spec 2.4.1/2.4.2, behaviour rows 40-42)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Expectation
from fixtures.kube.endpoints import reverse_name
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import address_block, manual_endpoint

HTTP = [{"name": "http", "port": 8080, "protocol": "TCP"}]


@case("HS-DNS-023")
def test_selectorless_service_answers_from_hand_made_slices_with_hostnames(cluster: Cluster, dns: Dns) -> None:
    cluster.headless_service("manual", selectorless=True)
    ips = address_block(cluster.ns, "198.18.0.0", 4)
    cluster.endpoint_slice("manual", "manual-1", [manual_endpoint(ips[0], "m1"), manual_endpoint(ips[1], "m2")],
                           ports=HTTP)
    cluster.endpoint_slice("manual", "manual-2", [manual_endpoint(ips[2], "m3", ready=True),
                                                  manual_endpoint(ips[3], "m4", ready=False)], ports=HTTP)
    view = cluster.wait_endpoints("manual", lambda v: len(v.endpoints) == 4, what="4 endpoints in 2 slices")
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += Dns.checks(view.name("m1"), "A", Expectation.exactly(view.hostname_addresses("m1"), "A"))
    checks += Dns.checks(view.name("m3"), "A", Expectation.exactly(view.hostname_addresses("m3"), "A"))
    checks += Dns.checks(view.name("m4"), "A", Expectation.no_records())
    checks += Dns.checks(view.srv_name("http"), "SRV", Expectation.exactly(view.srv_keys("http"), "SRV"))
    checks += Dns.checks(reverse_name(ips[0]), "PTR", Expectation.exactly([view.ptr_target("m1")], "PTR"))
    dns.converge(checks)


@case("HS-DNS-024")
def test_selectorless_srv_needs_the_slice_port_to_carry_the_service_port_name(cluster: Cluster, dns: Dns) -> None:
    cluster.headless_service("manual", selectorless=True)
    ips = address_block(cluster.ns, "198.18.0.0", 2)
    cluster.endpoint_slice("manual", "manual-named", [manual_endpoint(ips[0], "named")], ports=HTTP)
    cluster.endpoint_slice("manual", "manual-unnamed", [manual_endpoint(ips[1], "unnamed")],
                           ports=[{"port": 9090, "protocol": "TCP"}])
    view = cluster.wait_endpoints("manual", lambda v: len(v.endpoints) == 2, what="2 endpoints in 2 slices")
    keys = view.srv_keys("http")
    assert len(keys) == 1
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += Dns.checks(view.srv_name("http"), "SRV", Expectation.exactly(keys, "SRV"))
    dns.converge(checks)
