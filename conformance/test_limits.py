"""Names and Services at their limits: a 63-character label, the longest StatefulSet name, no ports, many
ports (spec 2.4.1/2.4.2; kubernetes#64023)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, ptr_checks, seed
from fixtures.verdict import precondition

LONGEST_LABEL = ("a-hostname-of-sixty-three-characters-the-longest-dns-label-" + "x" * 63)[:63]
# controller-revision-hash = <sts>-<hash of up to 10 characters> must fit a 63-character label value
LONGEST_STS = ("a-statefulset-name-at-the-limit-" + "s" * 52)[:52]
MANY_PORTS = [(f"tcp-{i:02d}", 9000 + i, "TCP") for i in range(12)] + [(f"udp-{i:02d}", 9100 + i, "UDP")
                                                                      for i in range(4)]


def per_pod_names(v: EndpointView) -> list[Check]:
    out = Dns.checks(v.fqdn, "A", v.expect_address("A"))
    for h in sorted(v.hostnames()):
        out += Dns.checks(v.name(h), "A", v.expect_address("A", h))
    return out


@case("HS-DNS-064")
def test_a_63_character_hostname_answers_under_the_headless_service(namespace: CaseNamespace, dns: Dns) -> None:
    assert len(LONGEST_LABEL) == 63
    namespace.headless_service(SVC)
    namespace.pod("long-hostname", hostname=LONGEST_LABEL, subdomain=SVC)
    namespace.wait_pods_running("app=web", 1)
    view = namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {LONGEST_LABEL},
                                    what="the endpoint with the 63-character hostname")
    precondition(len(view.name(LONGEST_LABEL)) <= 254, "the whole name fits 253 characters",
                 observed=view.name(LONGEST_LABEL))
    dns.converge(namespace.live(SVC, lambda v: per_pod_names(v) + ptr_checks(v)))


@case("HS-DNS-065")
def test_a_statefulset_with_the_longest_name_its_pods_allow_gets_per_pod_names(namespace: CaseNamespace,
                                                                              dns: Dns) -> None:
    assert len(LONGEST_STS) == 52
    view = seed(namespace, replicas=2, sts=LONGEST_STS)
    precondition(view.hostnames() == {f"{LONGEST_STS}-0", f"{LONGEST_STS}-1"},
                 "the pods' endpoints carry their 54-character names as hostnames", observed=sorted(view.hostnames()))
    dns.converge(namespace.live(SVC, lambda v: per_pod_names(v) + ptr_checks(v)))


@case("HS-DNS-066")
def test_a_headless_service_without_ports_answers_a_records_and_no_srv(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace, replicas=2, service_ports=[])
    svc = namespace.core.read_namespaced_service(SVC, namespace.name, _request_timeout=30)
    precondition(not svc.spec.ports, "the Service declares no ports", observed=svc.spec.ports)
    precondition(all(not e.ports for e in view.endpoints), "its EndpointSlices carry no ports",
                 observed=view.to_json())
    dns.converge(namespace.live(SVC, lambda v: per_pod_names(v)
                                + Dns.checks(v.srv_name("http"), "SRV", Expectation.no_records())
                                + Dns.checks(v.srv_name("http", "udp"), "SRV", Expectation.no_records())))


@case("HS-DNS-067")
def test_every_one_of_many_named_ports_has_its_own_srv_set(namespace: CaseNamespace, dns: Dns) -> None:
    service_ports = [{"name": n, "port": p, "targetPort": p - 1000, "protocol": proto} for n, p, proto in MANY_PORTS]
    view = seed(namespace, replicas=2, service_ports=service_ports,
                ports=[(None, p - 1000, proto) for _, p, proto in MANY_PORTS])
    precondition(all(view.srv_keys(n, proto) for n, _, proto in MANY_PORTS), "every port is in the slices",
                 observed=view.to_json())

    def checks(v: EndpointView) -> list[Check]:
        # the port is the variable here, not the transport: one UDP question per port
        return [c for n, _, proto in MANY_PORTS
                for c in Dns.checks(v.srv_name(n, proto), "SRV", v.expect_srv(n, proto), transports=("udp",))]

    dns.converge(namespace.live(SVC, checks))
