"""kubernetes/dns specification 2.4.1 (and 2.1 "hostname"): per-endpoint names of headless Services."""

from __future__ import annotations

import uuid

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation, normalise_name
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, seed
from fixtures.shared import Seeded, on_seed
from fixtures.verdict import Evidence, precondition, require


def _ordinal_names(v: EndpointView) -> list[Check]:
    out: list[Check] = []
    for host in sorted(v.hostnames()):
        out += Dns.checks(v.name(host), "A", v.expect_address("A", host))
    return out


@case("HS-DNS-006")
@on_seed(_ordinal_names)
def test_statefulset_pods_answer_at_their_ordinal_names(seeded: Seeded) -> None:
    pods = {e.pod for e in seeded.view.endpoints}
    hosts = {e.hostname for e in seeded.view.endpoints}
    precondition(hosts == pods, "the EndpointSlice controller sets hostname = pod name for StatefulSet pods",
                 observed={"hostnames": sorted(h or "<none>" for h in hosts), "pods": sorted(p or "" for p in pods)})
    seeded.judge()


@case("HS-DNS-007")
def test_no_per_pod_names_when_service_name_does_not_match(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace, service_name="not-my-headless-service", expect_hostnames=False)
    precondition(not view.hostnames(), "endpoints without hostname (serviceName does not match)",
                 observed=sorted(view.hostnames()))
    pods = sorted(e.pod for e in view.endpoints if e.pod)

    def checks(v: EndpointView) -> list[Check]:
        out = Dns.checks(v.fqdn, "A", v.expect_address("A"))
        for pod in pods:
            out += Dns.checks(v.name(pod), "A", Expectation.no_records())
        return out

    dns.converge(namespace.live(SVC, checks))


def _pods_with_identity(namespace: CaseNamespace, specs: list[tuple[str, str | None, str | None]]) -> None:
    for name, hostname, subdomain in specs:
        namespace.pod(name, hostname=hostname, subdomain=subdomain)
    namespace.wait_pods_running("app=web", len(specs))


@case("HS-DNS-010")
def test_pod_with_hostname_and_subdomain_answers_under_the_headless_service(namespace: CaseNamespace,
                                                                            dns: Dns) -> None:
    namespace.headless_service(SVC)
    _pods_with_identity(namespace, [("pod-a", "alpha", SVC), ("pod-b", None, SVC),
                                    ("pod-c", "gamma", "other-service")])
    namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 3 and v.hostnames() == {"alpha"},
                             what="3 ready endpoints, only alpha with a hostname")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.name("alpha"), "A", v.expect_address("A", "alpha"))
                                + Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.name("gamma"), "A", Expectation.no_records())))


@case("HS-DNS-011")
def test_endpoints_sharing_a_hostname_give_one_record_per_ip(namespace: CaseNamespace, dns: Dns) -> None:
    namespace.headless_service(SVC)
    _pods_with_identity(namespace, [("dup-1", "shared", SVC), ("dup-2", "shared", SVC), ("dup-3", "shared", SVC)])
    view = namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 3 and v.hostnames() == {"shared"},
                                    what="3 ready endpoints with hostname shared")
    precondition(len(view.hostname_addresses("shared")) == 3, "3 distinct IPv4 addresses behind hostname shared",
                 observed=sorted(view.hostname_addresses("shared")))
    # exact multiset: every IP once (a record given twice is a mismatch, not a pass)
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.name("shared"), "A", v.expect_address("A", "shared"))))


@case("HS-DNS-030")
def test_endpoints_without_hostname_get_a_resolvable_system_assigned_name(namespace: CaseNamespace, dns: Dns,
                                                                          evidence: Evidence) -> None:
    namespace.headless_service(SVC)
    _pods_with_identity(namespace, [("anon-1", None, None), ("anon-2", None, None)])
    view = namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 2, what="2 ready endpoints")
    srv = dns.converge(Dns.checks(view.srv_name("http"), "SRV", Expectation.shape(len(view.ready()), view.fqdn)))
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


UNKNOWN_LABEL = "nosuch-" + uuid.uuid4().hex[:6]


@case("HS-DNS-031")
@on_seed(lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
         + Dns.checks(normalise_name(v.name(UNKNOWN_LABEL)), "A", Expectation.nxdomain()))
def test_unknown_endpoint_label_is_nxdomain(seeded: Seeded) -> None:
    precondition(UNKNOWN_LABEL not in seeded.view.hostnames(), f"no endpoint has the hostname {UNKNOWN_LABEL}")
    seeded.judge()
