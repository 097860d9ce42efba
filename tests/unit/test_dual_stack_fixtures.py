"""What the dual-stack cases (conformance/test_dual_stack.py, HS-DNS-048..052) build their expectations from:
the EndpointView of one Service with an IPv4 and an IPv6 slice, the IPv6-only view, the ip6.arpa PTR
questions, and the factory and precondition they use (cluster-free)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fixtures.dns.model import Expectation
from fixtures.kube.endpoints import EndpointView, endpoints_from_slices
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import check_families, ptr_checks
from fixtures.verdict import HarnessError

ZONE = "cluster.local"
PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def _slice(name: str, family: str, endpoints: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "addressType": family, "ports": PORTS,
            "endpoints": [{"addresses": [addr], "hostname": host, "conditions": {"ready": ready},
                           "targetRef": {"kind": "Pod", "name": host}} for addr, host, ready in endpoints]}


def _dual() -> EndpointView:
    v4 = _slice("svc-v4", "IPv4", [("10.245.0.5", "web-0", True), ("10.245.0.6", "web-1", True),
                                   ("10.245.0.7", "web-2", False)])
    v6 = _slice("svc-v6", "IPv6", [("fd00:10:245::5", "web-0", True), ("fd00:10:245::6", "web-1", True),
                                   ("fd00:10:245::7", "web-2", False)])
    return EndpointView("ns", "svc", ZONE, endpoints_from_slices([v4, v6]))


def test_per_pod_names_expect_exactly_their_own_address_in_each_family() -> None:
    view = _dual()
    assert view.expect_address("AAAA", "web-0") == Expectation.exactly(["fd00:10:245::5"], "AAAA")
    assert view.expect_address("A", "web-0") == Expectation.exactly(["10.245.0.5"], "A")
    assert view.expect_address("AAAA", "web-1") == Expectation.exactly(["fd00:10:245::6"], "AAAA")
    assert view.expect_address("AAAA", "web-2") == Expectation.nxdomain()  # not ready in either family
    assert view.families() == {4, 6} and view.families("web-0") == {4, 6} and view.families("web-2") == set()
    assert view.pod_families() == {"web-0": {4, 6}, "web-1": {4, 6}}


def test_srv_targets_are_the_per_pod_names_of_the_ready_endpoints_once_over_both_slices() -> None:
    view = _dual()
    assert view.srv_keys("http") == {"8080 web-0.svc.ns.svc.cluster.local.", "8080 web-1.svc.ns.svc.cluster.local."}
    assert view.srv_targets("http") == {"web-0.svc.ns.svc.cluster.local.": "web-0",
                                        "web-1.svc.ns.svc.cluster.local.": "web-1"}
    assert view.srv_targets("nosuch") == {}


def test_ipv6_ptr_questions_are_the_32_nibble_ip6_arpa_names_of_the_ipv6_addresses_only() -> None:
    view = _dual()
    checks = ptr_checks(view, 6)
    names = {c.query.name for c in checks}
    assert names == {"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.5.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.",
                     "6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.5.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa."}
    assert all(len(n.split(".")) == 32 + 3 for n in names)  # 32 nibbles, ip6, arpa, root
    assert {c.query.transport for c in checks} == {"udp", "tcp"}
    by_name = {c.query.name: c.expect for c in checks}
    assert by_name[min(names)] == Expectation.exactly(["web-0.svc.ns.svc.cluster.local."], "PTR")
    assert {c.query.name for c in ptr_checks(view, 4)} == {"5.0.245.10.in-addr.arpa.", "6.0.245.10.in-addr.arpa."}
    assert len(ptr_checks(view)) == len(ptr_checks(view, 4)) + len(ptr_checks(view, 6))


def test_an_ipv6_only_service_expects_aaaa_records_and_nodata_for_a() -> None:
    v6 = _slice("svc-v6", "IPv6", [("fd00:10:245::5", "web-0", True), ("fd00:10:245::6", "web-1", True)])
    view = EndpointView("ns", "svc", ZONE, endpoints_from_slices([v6]))
    assert view.expect_address("AAAA") == Expectation.exactly(["fd00:10:245::5", "fd00:10:245::6"], "AAAA")
    assert view.expect_address("A") == Expectation.nodata()  # the name exists: NODATA, never NXDOMAIN
    assert view.expect_address("A", "web-1") == Expectation.nodata()
    assert view.expect_address("A", "web-9") == Expectation.nxdomain()


class _Core:
    """Records created Services; reads back a Service with the given ipFamilies."""

    def __init__(self, families: list[str]) -> None:
        self.families = families
        self.bodies: list[dict[str, Any]] = []

    def create_namespaced_service(self, ns: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        self.bodies.append(body)
        return body

    def read_namespaced_service(self, name: str, ns: str, **kw: Any) -> Any:
        return SimpleNamespace(spec=SimpleNamespace(ip_families=self.families))


def _ns(core: _Core) -> CaseNamespace:
    ns = CaseNamespace.__new__(CaseNamespace)
    ns.name, ns.core, ns.created, ns.rollout_s = "t", core, [], 0.0
    return ns


def test_the_factory_makes_an_ipv6_only_service() -> None:
    core = _Core(["IPv6"])
    _ns(core).headless_service("v6", ip_family_policy="SingleStack", ip_families=["IPv6"])
    spec = core.bodies[0]["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["ipFamilyPolicy"] == "SingleStack" and spec["ipFamilies"] == ["IPv6"]
    _ns(core).headless_service("plain")
    assert "ipFamilies" not in core.bodies[1]["spec"] and "ipFamilyPolicy" not in core.bodies[1]["spec"]


def test_a_service_without_both_families_is_a_precondition_error_never_a_verdict() -> None:
    view = _dual()
    check_families(_ns(_Core(["IPv4", "IPv6"])), view, ("IPv4", "IPv6"))
    with pytest.raises(HarnessError, match="ipFamilies"):
        check_families(_ns(_Core(["IPv4"])), view, ("IPv4", "IPv6"))
    v4_only = EndpointView("ns", "svc", ZONE, endpoints_from_slices(
        [_slice("svc-v4", "IPv4", [("10.245.0.5", "web-0", True)])]))
    with pytest.raises(HarnessError, match="an address of each"):
        check_families(_ns(_Core(["IPv4", "IPv6"])), v4_only, ("IPv4", "IPv6"))
