"""kubernetes/dns specification 2.4.2: SRV records of headless Services."""

from __future__ import annotations

from typing import Any

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Expectation
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import SVC, seed, skip_if_rejected
from fixtures.verdict import InfrastructureError


def _port(name: str | None, port: int, target: int | str, protocol: str = "TCP") -> dict[str, Any]:
    p: dict[str, Any] = {"port": port, "targetPort": target, "protocol": protocol}
    if name:
        p["name"] = name
    return p


@case("HS-DNS-013")
def test_srv_has_one_record_per_ready_endpoint_with_endpoint_port(cluster: Cluster, dns: Dns,
                                                                  evidence: Evidence) -> None:
    view = seed(cluster)
    svc = cluster.core.read_namespaced_service(SVC, cluster.ns)
    evidence.info["service_ports"] = [f"{p.name}/{p.protocol}/{p.port}->{p.target_port}" for p in svc.spec.ports]
    evidence.info["note"] = "expected port = EndpointSlice port (resolved targetPort), see behaviour row 22"
    dns.expect(view.srv_name("http", "tcp"), "SRV", Expectation.exactly(view.srv_keys("http", "TCP"), "SRV"))


@case("HS-DNS-014")
def test_every_named_port_has_its_own_srv_set(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, service_ports=[_port("http", 80, "http"), _port("metrics", 9090, "metrics")],
                ports=[("http", 8080, "TCP"), ("metrics", 9100, "TCP")])
    checks = Dns.checks(view.srv_name("http"), "SRV", Expectation.exactly(view.srv_keys("http"), "SRV"))
    checks += Dns.checks(view.srv_name("metrics"), "SRV", Expectation.exactly(view.srv_keys("metrics"), "SRV"))
    dns.converge(checks)


@case("HS-DNS-015")
def test_udp_named_port_has_srv_records_under_udp(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, service_ports=[_port("syslog", 514, 5514, "UDP")], ports=[("syslog", 5514, "UDP")])
    dns.expect(view.srv_name("syslog", "udp"), "SRV", Expectation.exactly(view.srv_keys("syslog", "UDP"), "SRV"))


@case("HS-DNS-016")
def test_sctp_named_port_has_srv_records_under_sctp(cluster: Cluster, dns: Dns) -> None:
    try:
        view = seed(cluster, service_ports=[_port("diameter", 3868, 3868, "SCTP")],
                    ports=[("diameter", 3868, "SCTP")])
    except InfrastructureError as exc:
        skip_if_rejected(exc, ["SCTP", "protocol"], "the API server rejects SCTP ports")
        raise
    dns.expect(view.srv_name("diameter", "sctp"), "SRV",
               Expectation.exactly(view.srv_keys("diameter", "SCTP"), "SRV"))


@case("HS-DNS-017")
def test_unnamed_port_has_no_port_srv_record(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, service_ports=[_port(None, 80, 8080)])
    assert all(p.name is None for e in view.endpoints for p in e.ports), "precondition: unnamed slice port"
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += Dns.checks(view.srv_name("http"), "SRV", Expectation.no_records())
    checks += Dns.checks(view.srv_name("80"), "SRV", Expectation.no_records())
    dns.converge(checks)


@case("HS-DNS-018")
def test_named_target_port_gives_each_endpoint_its_own_srv_port(cluster: Cluster, dns: Dns,
                                                                evidence: Evidence) -> None:
    cluster.headless_service(SVC, ports=[_port("http", 80, "web")])
    cluster.pod("pa", hostname="pa", subdomain=SVC, ports=[("web", 8080, "TCP")])
    cluster.pod("pb", hostname="pb", subdomain=SVC, ports=[("web", 8081, "TCP")])
    cluster.pod("pc", hostname="pc", subdomain=SVC, ports=[("other", 9000, "TCP")])
    cluster.wait_pods_running("app=web", 3)
    view = cluster.wait_endpoints(SVC, lambda v: len(v.ready()) == 3 and len(v.hostnames()) == 3,
                                  what="3 ready endpoints with hostnames")
    keys = view.srv_keys("http")
    evidence.api_state.append(view.to_json())
    assert len(keys) == 2, f"precondition: two endpoints carry the named port, got {sorted(keys)}"
    dns.expect(view.srv_name("http"), "SRV", Expectation.exactly(keys, "SRV"))


@case("HS-DNS-032")
def test_wrong_port_name_or_protocol_gives_no_srv_records(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    checks = Dns.checks(view.srv_name("http"), "SRV", Expectation.exactly(view.srv_keys("http"), "SRV"))
    checks += Dns.checks(view.srv_name("nosuch", "tcp"), "SRV", Expectation.no_records())
    checks += Dns.checks(view.srv_name("http", "udp"), "SRV", Expectation.no_records())
    dns.converge(checks)
