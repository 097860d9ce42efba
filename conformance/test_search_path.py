"""Resolution from pods through resolv.conf (dnsPolicy ClusterFirst): search list and ndots (rows 67-69).

These need a real kubelet: the resolver pod must run in the case's namespace with the resolv.conf the
kubelet wrote for it. On simulated nodes (KWOK) exec runs outside the pod, so they SKIP with that reason.
"""

from __future__ import annotations

from kubernetes import client as k8s

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Query
from fixtures.dns.resolver import Resolver
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.facts import ClusterFacts, kubelet_cluster_dns, names_cluster_dns
from fixtures.kube.namespace import CaseNamespace
from fixtures.options import Settings
from fixtures.polling import poll_until
from fixtures.scenarios import SVC, SearchRunner, seed
from fixtures.verdict import Evidence, HarnessError, require


@case("HS-DNS-028")
def test_partial_names_resolve_through_the_pod_search_path(namespace: CaseNamespace, local_resolver: Resolver,
                                                           evidence: Evidence, hsdns_settings: Settings) -> None:
    view = seed(namespace)
    # Relative names: the answer's owner is the qualified name, so the integrity rules (which compare
    # owners with the question) do not apply to this runner; the records and rcodes are judged as ever.
    search_dns = Dns(SearchRunner(local_resolver.search), evidence, timeout=hsdns_settings.dns_timeout,
                     stable=hsdns_settings.stable_answers)
    ns = namespace.name

    def checks(v: EndpointView) -> list[Check]:
        out = [Check(Query(n, "A"), v.expect_address("A")) for n in (v.service, f"{v.service}.{ns}",
                                                                      f"{v.service}.{ns}.svc")]
        out.append(Check(Query(f"web-0.{v.service}", "A"), v.expect_address("A", "web-0")))
        out.append(Check(Query(f"_http._tcp.{v.service}.{ns}.svc", "SRV"), v.expect_srv("http")))
        return out

    search_dns.converge(namespace.live(SVC, checks))
    # What applications see: the C library's getaddrinfo, through the same resolv.conf (asked again
    # for a few seconds: the name just converged above, so a miss here is the resolver path's own).
    want = sorted(view.addresses(4))
    seen: list[dict[str, object]] = []

    def gai() -> dict[str, object] | None:
        r = local_resolver.getaddrinfo(view.service, "inet")
        seen.append(r)
        return r if sorted(r["addresses"]) == want else None

    try:
        got: dict[str, object] | None = poll_until(gai, timeout=5, what="getaddrinfo to return the endpoints")
    except HarnessError:
        got = None
    evidence.info["getaddrinfo"] = seen[-1] if seen else None
    require(got is not None, evidence, requirement="getaddrinfo(<svc>) through the search path returns every ready "
            "IPv4 endpoint address", expected=want, observed=seen[-1] if seen else None)


@case("HS-DNS-029")
def test_cluster_first_resolv_conf_has_the_cluster_search_list_and_ndots(namespace: CaseNamespace,
                                                                         local_resolver: Resolver,
                                                                         evidence: Evidence, kube_api: k8s.ApiClient,
                                                                         cluster_facts: ClusterFacts) -> None:
    text = local_resolver.read_file("/etc/resolv.conf")
    evidence.info["resolv_conf"] = text
    nameservers, search, options = [], [], []
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "nameserver":
            nameservers += parts[1:]
        elif parts[0] == "search":
            search = parts[1:]
        elif parts[0] == "options":
            options += parts[1:]
    zone = cluster_facts.cluster_domain
    want = [f"{namespace.name}.svc.{zone}", f"svc.{zone}", zone]
    # The cluster DNS a pod is given is the kubelet's clusterDNS: the DNS Service IP, or a node-local
    # cache in front of it (NodeLocal DNSCache listens on a link-local address such as 169.254.20.10).
    kubelet_dns = kubelet_cluster_dns(kube_api, local_resolver.node) if local_resolver.node else None
    accepted = set(cluster_facts.dns_service_ips) | set(kubelet_dns or [])
    evidence.info["kubelet_cluster_dns"] = kubelet_dns
    ok = names_cluster_dns(nameservers, cluster_facts.dns_service_ips, kubelet_dns)
    require(ok, evidence, requirement="nameserver is the cluster DNS (the kubelet's clusterDNS: the DNS Service IP or "
            "a node-local cache)", expected=sorted(accepted) or ["<DNS Service IP or node-local cache>"],
            observed=nameservers)
    require([s.rstrip(".") for s in search[:3]] == want, evidence,
            requirement="the search list starts with <ns>.svc.<zone> svc.<zone> <zone>", expected=want,
            observed=search)
    require("ndots:5" in options, evidence, requirement="options ndots:5", expected="ndots:5", observed=options)
