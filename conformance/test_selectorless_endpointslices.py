"""Selector-less headless Services fed by hand-made EndpointSlices (spec 2.4.1/2.4.2, behaviour rows 40-42)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Expectation
from fixtures.kube.endpoints import reverse_name
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import address_block, manual_endpoint
from fixtures.verdict import precondition

HTTP = [{"name": "http", "port": 8080, "protocol": "TCP"}]


@case("HS-DNS-023")
def test_selectorless_service_answers_from_hand_made_slices_with_hostnames(namespace: CaseNamespace,
                                                                           dns: Dns) -> None:
    namespace.headless_service("manual", selectorless=True)
    ips = address_block(namespace, 4)
    namespace.endpoint_slice("manual", "manual-1", [manual_endpoint(ips[0], "m1"), manual_endpoint(ips[1], "m2")],
                             ports=HTTP)
    namespace.endpoint_slice("manual", "manual-2", [manual_endpoint(ips[2], "m3", ready=True),
                                                    manual_endpoint(ips[3], "m4", ready=False)], ports=HTTP)
    namespace.wait_endpoints("manual", lambda v: len(v.endpoints) == 4, what="4 endpoints in 2 slices")
    dns.converge(namespace.live("manual", lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.name("m1"), "A", v.expect_address("A", "m1"))
                                + Dns.checks(v.name("m3"), "A", v.expect_address("A", "m3"))
                                + Dns.checks(v.name("m4"), "A", Expectation.no_records())
                                + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))
                                + Dns.checks(reverse_name(ips[0]), "PTR",
                                             Expectation.exactly([v.ptr_target("m1")], "PTR"))))


@case("HS-DNS-024")
def test_selectorless_srv_needs_the_slice_port_to_carry_the_service_port_name(namespace: CaseNamespace,
                                                                              dns: Dns) -> None:
    namespace.headless_service("manual", selectorless=True)
    ips = address_block(namespace, 2)
    namespace.endpoint_slice("manual", "manual-named", [manual_endpoint(ips[0], "named")], ports=HTTP)
    namespace.endpoint_slice("manual", "manual-unnamed", [manual_endpoint(ips[1], "unnamed")],
                             ports=[{"port": 9090, "protocol": "TCP"}])
    view = namespace.wait_endpoints("manual", lambda v: len(v.endpoints) == 2, what="2 endpoints in 2 slices")
    precondition(len(view.srv_keys("http")) == 1, "one endpoint's slice names the port http",
                 observed=sorted(view.srv_keys("http")))
    dns.converge(namespace.live("manual", lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http"))))
