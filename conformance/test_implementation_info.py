"""Implementation-specific behaviours (INFO): recorded with the implementation's name, never failed."""

from __future__ import annotations

import re

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Expectation, Query
from fixtures.kube.endpoints import reverse_name
from fixtures.kube.facts import ClusterFacts
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, info_converge, observe_both
from fixtures.verdict import Evidence


def _label(evidence: Evidence, facts: ClusterFacts) -> None:
    evidence.info["implementation"] = f"{facts.dns_implementation} {facts.dns_version}"
    evidence.info["catalogue_implementation"] = evidence.case.implementation


@case("HS-DNS-033")
def test_info_fallback_names_of_hostname_less_endpoints(namespace: CaseNamespace, dns: Dns, evidence: Evidence,
                                                        cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    namespace.headless_service(SVC)
    namespace.pod("anon-1")
    namespace.pod("anon-2")
    namespace.wait_pods_running("app=web", 2)
    view = namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 2, what="2 ready endpoints")
    res = info_converge(dns, Dns.checks(view.srv_name("http"), "SRV", Expectation.shape(2, view.fqdn)))
    labels = sorted({k.split()[-1].split(".")[0] for r in res for k in r.rdata_keys()})
    dashed = {a.replace(".", "-").replace(":", "-") for a in view.addresses(4) | view.addresses(6)}
    pods = {e.pod for e in view.endpoints if e.pod}
    kinds = ["dashed-ip" if lb in dashed else "pod-name" if lb in pods else
             "hash" if re.fullmatch(r"[0-9a-f]{8,}", lb) else "other" for lb in labels]
    evidence.info["fallback_labels"] = labels
    evidence.info["fallback_kind"] = sorted(set(kinds))


@case("HS-DNS-034")
def test_info_bare_name_srv_query(namespace: CaseNamespace, dns: Dns, evidence: Evidence,
                                  cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    namespace.headless_service(SVC, ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}])
    namespace.pod("p1", hostname="p1", subdomain=SVC)
    namespace.wait_pods_running("app=web", 1)
    view = namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 1, what="1 ready endpoint")
    info_converge(dns, Dns.checks(view.fqdn, "A", view.expect_address("A")))
    res = observe_both(dns, view.fqdn, "SRV", "bare-name SRV")
    evidence.info["bare_srv_records"] = sorted(res[0].rdata_keys())
    evidence.info["bare_srv_rcode"] = res[0].rcode


@case("HS-DNS-035")
def test_info_endpoint_names_under_a_clusterip_service(namespace: CaseNamespace, dns: Dns, evidence: Evidence,
                                                       cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    namespace.clusterip_service("cip")
    namespace.pod("p1", hostname="h1", subdomain="cip")
    namespace.wait_pods_running("app=web", 1)
    view = namespace.wait_endpoints("cip", lambda v: v.hostnames() == {"h1"}, what="endpoint with hostname h1")
    svc = namespace.core.read_namespaced_service("cip", namespace.name)
    info_converge(dns, Dns.checks(view.fqdn, "A", Expectation.exactly([svc.spec.cluster_ip], "A")))
    res = info_converge(dns, Dns.checks(view.name("h1"), "A", view.expect_address("A", "h1")),
                        timeout=15)
    evidence.info["endpoint_name_answers"] = bool(res[0].rdata_keys())
    evidence.info["endpoint_name_rcode"] = res[0].rcode


@case("HS-DNS-036")
def test_info_ptr_for_hostname_less_endpoints_of_several_services(namespace: CaseNamespace, dns: Dns,
                                                                  evidence: Evidence,
                                                                  cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    namespace.headless_service("hl")
    namespace.clusterip_service("cip")
    namespace.pod("p1")
    namespace.wait_pods_running("app=web", 1)
    view = namespace.wait_endpoints("hl", lambda v: len(v.ready()) == 1, what="1 ready endpoint")
    namespace.wait_endpoints("cip", lambda v: len(v.ready()) == 1, what="1 ready endpoint")
    ip = sorted(view.addresses(4) | view.addresses(6))[0]
    info_converge(dns, Dns.checks(view.fqdn, "A", view.expect_address("A")))
    res = observe_both(dns, reverse_name(ip), "PTR", "PTR of a hostname-less endpoint selected by 2 Services")
    evidence.info["ptr_records"] = sorted(res[0].rdata_keys())
    evidence.info["ptr_rcode"] = res[0].rcode


@case("HS-DNS-037")
def test_info_non_txt_query_at_dns_version(dns: Dns, zone: str, evidence: Evidence,
                                           cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    res = dns.observe([Query(f"dns-version.{zone}.", "A", "udp")], label="dns-version A")
    evidence.info["rcode"] = res[0].rcode


@case("HS-DNS-038")
def test_info_negative_answer_soa_and_ttls(namespace: CaseNamespace, dns: Dns, evidence: Evidence,
                                           cluster_facts: ClusterFacts) -> None:
    _label(evidence, cluster_facts)
    namespace.headless_service(SVC)
    namespace.pod("p1", hostname="p1", subdomain=SVC)
    namespace.wait_pods_running("app=web", 1)
    view = namespace.wait_endpoints(SVC, lambda v: len(v.ready()) == 1, what="1 ready endpoint")
    info_converge(dns, Dns.checks(view.fqdn, "A", view.expect_address("A")))
    res = dns.observe([Query(view.fqdn, "A", "udp"), Query(view.name("nosuch"), "A", "udp"),
                       Query(view.fqdn, "TXT", "udp")], label="ttl and negative answers")
    evidence.info["positive_ttls"] = sorted({r.ttl for r in res[0].answer})
    evidence.info["nxdomain"] = {"rcode": res[1].rcode, "aa": res[1].aa,
                                 "authority": [f"{r.name} {r.ttl} {r.rdtype} {r.rdata}" for r in res[1].authority]}
    evidence.info["nodata"] = {"rcode": res[2].rcode, "aa": res[2].aa,
                               "authority": [f"{r.name} {r.ttl} {r.rdtype} {r.rdata}" for r in res[2].authority]}
