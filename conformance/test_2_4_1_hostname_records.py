"""kubernetes/dns specification 2.4.1 (and 2.1 "hostname"): per-endpoint names of headless Services."""

from __future__ import annotations

import uuid

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Check, Expectation, normalise_name
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import SVC, require, seed


@case("HS-DNS-006")
def test_statefulset_pods_answer_at_their_ordinal_names(cluster: Cluster, dns: Dns, evidence: Evidence) -> None:
    view = seed(cluster)
    pods = {e.pod for e in view.endpoints}
    hosts = {e.hostname for e in view.endpoints}
    evidence.api_state.append(view.to_json())
    assert hosts == pods, (f"precondition (EndpointSlice controller): hostname = pod name for StatefulSet pods, "
                           f"got {sorted(h or '<none>' for h in hosts)} for pods {sorted(p or '' for p in pods)}")
    checks: list[Check] = []
    for host in sorted(view.hostnames()):
        checks += Dns.checks(view.name(host), "A", Expectation.exactly(view.hostname_addresses(host), "A"))
    dns.converge(checks)


@case("HS-DNS-007")
def test_no_per_pod_names_when_service_name_does_not_match(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, service_name="not-my-headless-service", expect_hostnames=False)
    assert not view.hostnames(), "precondition: endpoints without hostname"
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    for e in view.endpoints:
        assert e.pod
        checks += Dns.checks(view.name(e.pod), "A", Expectation.no_records())
    dns.converge(checks)


def _pods_with_identity(cluster: Cluster, specs: list[tuple[str, str | None, str | None]]) -> None:
    for name, hostname, subdomain in specs:
        cluster.pod(name, hostname=hostname, subdomain=subdomain)
    cluster.wait_pods_running("app=web", len(specs))


@case("HS-DNS-010")
def test_pod_with_hostname_and_subdomain_answers_under_the_headless_service(cluster: Cluster, dns: Dns) -> None:
    cluster.headless_service(SVC)
    _pods_with_identity(cluster, [("pod-a", "alpha", SVC), ("pod-b", None, SVC), ("pod-c", "gamma", "other-service")])
    view = cluster.wait_endpoints(SVC, lambda v: len(v.ready()) == 3 and v.hostnames() == {"alpha"},
                                  what="3 ready endpoints, only alpha with a hostname")
    checks = Dns.checks(view.name("alpha"), "A", Expectation.exactly(view.hostname_addresses("alpha"), "A"))
    checks += Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    checks += Dns.checks(view.name("gamma"), "A", Expectation.no_records())
    dns.converge(checks)


@case("HS-DNS-011")
def test_endpoints_sharing_a_hostname_give_one_record_per_ip(cluster: Cluster, dns: Dns) -> None:
    cluster.headless_service(SVC)
    _pods_with_identity(cluster, [("dup-1", "shared", SVC), ("dup-2", "shared", SVC), ("dup-3", "shared", SVC)])
    view = cluster.wait_endpoints(SVC, lambda v: len(v.ready()) == 3 and v.hostnames() == {"shared"},
                                  what="3 ready endpoints with hostname shared")
    assert len(view.hostname_addresses("shared")) == 3
    dns.expect(view.name("shared"), "A", Expectation.exactly(view.hostname_addresses("shared"), "A"))


@case("HS-DNS-030")
def test_endpoints_without_hostname_get_a_resolvable_system_assigned_name(cluster: Cluster, dns: Dns,
                                                                          evidence: Evidence) -> None:
    cluster.headless_service(SVC)
    _pods_with_identity(cluster, [("anon-1", None, None), ("anon-2", None, None)])
    view: EndpointView = cluster.wait_endpoints(SVC, lambda v: len(v.ready()) == 2, what="2 ready endpoints")
    srv = dns.expect(view.srv_name("http"), "SRV", Expectation.shape(len(view.ready()), view.fqdn))
    targets = sorted({k.split()[-1] for k in srv[0].rdata_keys()})
    evidence.info["system_assigned_names"] = targets
    checks: list[Check] = []
    for t in targets:
        # each name must resolve to exactly one of the endpoints (it identifies the endpoint)
        checks += Dns.checks(t, "A", Expectation.shape(1))
    results = dns.converge(checks)
    resolved = {next(iter(r.rdata_keys())) for r in results if r.rdata_keys()}
    require(resolved == view.addresses(4), evidence,
            requirement="the system-assigned names identify the endpoints (together they resolve to every "
                        "ready endpoint address)", expected=sorted(view.addresses(4)), observed=sorted(resolved))


@case("HS-DNS-031")
def test_unknown_endpoint_label_is_nxdomain(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    label = "nosuch-" + uuid.uuid4().hex[:6]
    assert label not in view.hostnames()
    dns.converge(Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
                 + Dns.checks(normalise_name(view.name(label)), "A", Expectation.nxdomain()))
