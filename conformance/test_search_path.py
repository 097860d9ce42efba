"""Resolution from pods through resolv.conf (dnsPolicy ClusterFirst): search list and ndots (rows 67-69).

These need a real kubelet: the resolver pod must run in the test namespace with the resolv.conf the kubelet
wrote for it. On simulated nodes (KWOK) exec runs outside the pod, so they SKIP with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Check, Expectation, Query
from fixtures.dns.resolver import Resolver
from fixtures.kube.facts import ClusterFacts
from fixtures.kube.namespace import Cluster
from fixtures.options import Settings
from fixtures.scenarios import SearchRunner, require, seed


@pytest.fixture
def local_resolver(kube_api: k8s.ApiClient, hsdns_settings: Settings, cluster: Cluster,
                   cluster_facts: ClusterFacts) -> Iterator[Resolver]:
    """A resolver pod in the test namespace (its resolv.conf search list starts with that namespace)."""
    yield Resolver(kube_api, hsdns_settings, cluster.ns, cluster_facts.dns_server, cluster_facts.dns_port).start()


@case("HS-DNS-028")
def test_partial_names_resolve_through_the_pod_search_path(cluster: Cluster, local_resolver: Resolver,
                                                           evidence: Evidence, hsdns_settings: Settings) -> None:
    view = seed(cluster)
    search_dns = Dns(SearchRunner(local_resolver.search), evidence, timeout=hsdns_settings.dns_timeout,
                     stable=hsdns_settings.stable_answers)
    a = Expectation.exactly(view.addresses(4), "A")
    names = [view.service, f"{view.service}.{cluster.ns}", f"{view.service}.{cluster.ns}.svc"]
    checks = [Check(Query(n, "A"), a) for n in names]
    checks.append(Check(Query(f"web-0.{view.service}", "A"), Expectation.exactly(view.hostname_addresses("web-0"),
                                                                                    "A")))
    checks.append(Check(Query(f"_http._tcp.{view.service}.{cluster.ns}.svc", "SRV"),
                        Expectation.exactly(view.srv_keys("http"), "SRV")))
    search_dns.converge(checks)


@case("HS-DNS-029")
def test_cluster_first_resolv_conf_has_the_cluster_search_list_and_ndots(cluster: Cluster, local_resolver: Resolver,
                                                                         evidence: Evidence,
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
    want = [f"{cluster.ns}.svc.{zone}", f"svc.{zone}", zone]
    require(bool(set(nameservers) & set(cluster_facts.dns_service_ips)), evidence,
            requirement="nameserver is the cluster DNS Service IP", expected=cluster_facts.dns_service_ips,
            observed=nameservers)
    require([s.rstrip(".") for s in search[:3]] == want, evidence,
            requirement="the search list starts with <ns>.svc.<zone> svc.<zone> <zone>", expected=want,
            observed=search)
    require("ndots:5" in options, evidence, requirement="options ndots:5", expected="ndots:5", observed=options)
