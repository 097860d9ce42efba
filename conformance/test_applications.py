"""What applications see (category ``applications``, HS-DNS-076..080): the C library's resolver inside pods of
the case, the pod DNS policies None and ClusterFirstWithHostNet, and a pod's own name.

Every case needs a real kubelet (the lookups run inside the pod, through the resolv.conf and /etc/hosts the
kubelet wrote for it); on simulated nodes they SKIP. Each case reads scenario / action / expectation: the
objects it creates, the pod that looks, and what that pod must see, always derived from the live
EndpointSlices (``namespace.live``). An application-level lookup is judged as a DNS answer is: converge,
then hold (``fixtures.dns.applookup``); a wrong answer is a FAIL, a pod or exec that fails is an ERROR.

* 076: the resolver image (glibc by default: UBI's python, Debian's on the local cluster) in the case's
  namespace, ``socket.getaddrinfo`` = glibc's.
* 077: a pod of ``--musl-image`` (Alpine by default) and its ``getent ahosts*`` (musl's getaddrinfo, with
  AI_ADDRCONFIG); the image must be musl-based (its dynamic loader ``/lib/ld-musl-*.so.1`` is asked).
* 078: a resolver pod with ``dnsPolicy: None`` and a ``dnsConfig``; its searches through dnspython, which
  follows resolv.conf's search list and ndots as the C libraries do.
* 079: a hostNetwork resolver pod with ``dnsPolicy: ClusterFirstWithHostNet``. PodSecurity ``restricted`` and
  ``baseline`` forbid host namespaces, so the case relabels its own namespace ``privileged`` (never the
  namespace given with ``--namespace``) and probes with a server-side dry run of the pod: when the cluster
  refuses it (RBAC, PodSecurity, OpenShift SCC) the case SKIPs with the API server's words.
* 080: the workload pod itself runs the resolver image (``namespace.pod(..., probe=True)``) so that
  ``hostname -f`` can be asked inside it; the name is then asked from another pod (the ``dns`` fixture).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from fixtures.catalogue import case
from fixtures.dns.applookup import AppCheck, converge_lookups
from fixtures.dns.converge import Dns, HoldPolicy
from fixtures.dns.model import Check, Query
from fixtures.dns.resolver import Resolver, case_resolver, parse_resolv_conf
from fixtures.kube.endpoints import EndpointView, family
from fixtures.kube.facts import ClusterFacts, kubelet_cluster_dns, names_cluster_dns
from fixtures.kube.namespace import CaseNamespace
from fixtures.options import Settings
from fixtures.scenarios import STS, SVC, SearchRunner, seed
from fixtures.verdict import Evidence, HarnessError, ImagePullError, precondition, require, unsupported

# Alpine-like images run as root: the musl pod runs as nobody unless --run-as-user says otherwise; on
# OpenShift no user is set (restricted-v2 assigns one from the namespace's range and refuses any other).
MUSL_RUN_AS_USER = 65534
HOSTNAME, FQDN_POD = "querier", "fqdn-pod"
LookupFn = Callable[[str, str], dict[str, Any]]


def _ips(addresses: set[str]) -> tuple[str, ...]:
    return tuple(sorted(str(ipaddress.ip_address(a)) for a in addresses))


def _lookup(fn: LookupFn, name: str, fam: str) -> Callable[[], dict[str, Any]]:
    return lambda: fn(name, fam)


def getaddrinfo_checks(view: EndpointView, fn: LookupFn, libc: str, *, short: bool = False, families: bool = True,
                       empty_is_no_answer: bool = False) -> list[AppCheck]:
    """getaddrinfo of the Service name (``short``: the bare ``<svc>``, else ``<svc>.<ns>.svc.<zone>``, both
    without a trailing dot, as applications ask) with AF_UNSPEC (every ready address) and, with ``families``,
    AF_INET / AF_INET6 for each family the Service has endpoints in (only that family's ready addresses)."""
    name, shown = (view.service, "<svc>") if short else (view.fqdn.rstrip("."), "<svc>.<ns>.svc.<zone>")
    v4, v6 = _ips(view.addresses(4)), _ips(view.addresses(6))
    asks = [("", "AF_UNSPEC", tuple(sorted(v4 + v6)))]
    if families:
        asks += [(fam, label, want) for fam, label, want in (("inet", "AF_INET", v4), ("inet6", "AF_INET6", v6))
                 if want]
    return [AppCheck(f"{libc} getaddrinfo({shown}, {label})", _lookup(fn, name, fam), want,
                     empty_is_no_answer=empty_is_no_answer) for fam, label, want in asks]


def converge_app(namespace: CaseNamespace, build: Callable[[EndpointView], list[AppCheck]], evidence: Evidence,
                 settings: Settings, requirement: str) -> None:
    """The lookups ``build`` makes of the Service's live EndpointSlices must converge and hold."""
    converge_lookups(namespace.live(SVC, lambda _v: []), build, evidence, requirement=requirement,
                     timeout=settings.dns_timeout, stable=settings.stable_answers,
                     hold_answers=settings.hold_answers, hold_seconds=settings.hold_seconds,
                     settle=settings.settle_seconds)


def search_dns(resolver: Resolver, evidence: Evidence, settings: Settings) -> Dns:
    """Relative names through the pod's resolv.conf (the owner of an answer is the qualified name, so the
    integrity rules, which compare owners with the question, do not apply; records and rcodes do)."""
    return Dns(SearchRunner(resolver.search), evidence, timeout=settings.dns_timeout,
               hold=HoldPolicy(stable=settings.stable_answers, answers=settings.hold_answers,
                               seconds=settings.hold_seconds))


@pytest.fixture
def musl_pod(kube_api: k8s.ApiClient, hsdns_settings: Settings, namespace: CaseNamespace,
             cluster_facts: ClusterFacts) -> Iterator[Resolver]:
    """A pod of --musl-image in the case's namespace, with a shell session for its getent."""
    settings = hsdns_settings
    user = settings.run_as_user if settings.run_as_user is not None else (
        None if cluster_facts.platform == "openshift" else MUSL_RUN_AS_USER)
    res = Resolver(kube_api, settings, namespace.name, cluster_facts.dns_server, cluster_facts.dns_port,
                   name="hsdns-musl", backend="getent", image=settings.musl_image, image_option="musl-image",
                   run_as_user=user)
    namespace.adopt("Pod", res.name)
    try:
        res.start()
    except ImagePullError:
        raise  # names the image and --musl-image already
    except HarnessError as exc:
        raise HarnessError(f"the musl pod (--musl-image {settings.musl_image}) could not start: {exc}") from None
    try:
        yield res
    finally:
        res.close()


@case("HS-DNS-076")
def test_getaddrinfo_in_a_glibc_pod_returns_exactly_the_ready_addresses_of_the_service_name(
        namespace: CaseNamespace, local_resolver: Resolver, evidence: Evidence, hsdns_settings: Settings) -> None:
    libc = local_resolver.libc()
    evidence.info["libc"] = libc
    if libc.get("libc") != "glibc":
        unsupported(f"the case needs a glibc-based resolver image: {local_resolver.image} (--resolver-image) runs "
                    f"{libc.get('libc')} {libc.get('version') or ''}".strip())
    # scenario: the seed, in both families where the cluster has both
    seed(namespace, ip_family_policy="PreferDualStack")
    # action: an application in a pod of the case asks glibc for the Service name, as applications do (no
    # trailing dot: through resolv.conf); expectation: exactly the ready endpoint addresses, per family
    converge_app(namespace, lambda v: getaddrinfo_checks(v, local_resolver.getaddrinfo, "glibc"), evidence,
                 hsdns_settings, "getaddrinfo(<svc>.<ns>.svc.<zone>) in a glibc pod returns exactly the ready "
                 "endpoint addresses: AF_UNSPEC both families, AF_INET / AF_INET6 each family of the Service")


@case("HS-DNS-077")
def test_getaddrinfo_in_a_musl_pod_returns_exactly_the_ready_addresses_of_the_service_name_and_its_short_name(
        namespace: CaseNamespace, musl_pod: Resolver, evidence: Evidence, hsdns_settings: Settings) -> None:
    libc = musl_pod.libc()
    evidence.info["libc"] = libc
    precondition(libc.get("libc") == "musl", f"--musl-image {musl_pod.image} is musl-based (its dynamic loader "
                 "/lib/ld-musl-*.so.1 answers). Fix: pass --musl-image with an Alpine-based image", observed=libc)
    # scenario: the seed, in both families where the cluster has both
    seed(namespace, ip_family_policy="PreferDualStack")

    # action: the musl pod's getent asks musl's getaddrinfo for the Service name and for the short <svc> (musl
    # walks the search list for it); expectation: exactly the ready endpoint addresses
    def lookups(v: EndpointView) -> list[AppCheck]:
        return (getaddrinfo_checks(v, musl_pod.getaddrinfo, "musl", empty_is_no_answer=True)
                + getaddrinfo_checks(v, musl_pod.getaddrinfo, "musl", short=True, families=False,
                                     empty_is_no_answer=True))

    converge_app(namespace, lookups, evidence, hsdns_settings,
                 "getaddrinfo(<svc>.<ns>.svc.<zone>) and getaddrinfo(<svc>) in a musl pod return exactly the ready "
                 "endpoint addresses")


@case("HS-DNS-078")
def test_dns_policy_none_gives_exactly_the_dns_config_and_the_short_names_resolve_through_it(
        kube_api: k8s.ApiClient, namespace: CaseNamespace, cluster_facts: ClusterFacts, evidence: Evidence,
        hsdns_settings: Settings) -> None:
    precondition(cluster_facts.dns_port == 53, "the cluster DNS listens on port 53 (a resolv.conf nameserver has "
                 "no port)", observed=f"{cluster_facts.dns_server}:{cluster_facts.dns_port}")
    # scenario: the seed, and a pod whose resolv.conf is only its dnsConfig
    want = {"nameservers": [cluster_facts.dns_server], "search": [f"{namespace.name}.svc.{namespace.zone}"],
            "options": ["ndots:2"]}
    dns_config = {"nameservers": want["nameservers"], "searches": want["search"],
                  "options": [{"name": "ndots", "value": "2"}]}
    seed(namespace)
    with case_resolver(kube_api, hsdns_settings, namespace, cluster_facts.dns_server, cluster_facts.dns_port,
                       name="hsdns-dnsconfig", spec={"dnsPolicy": "None", "dnsConfig": dns_config}) as pod:
        # action: read the pod's resolv.conf; expectation: exactly the dnsConfig, nothing of the cluster's
        text = pod.read_file("/etc/resolv.conf")
        evidence.info["resolv_conf"] = text
        got = parse_resolv_conf(text)
        require(got == want, evidence, requirement="with dnsPolicy None the pod's resolv.conf has exactly the "
                "dnsConfig's nameservers, searches and options", expected=want, observed=got)

        # action: the short names through that resolv.conf (fewer dots than ndots:2, so the search list first);
        # expectation: the ready endpoint addresses of the Service and of web-0
        def checks(v: EndpointView) -> list[Check]:
            types = [t for t, fam in (("A", 4), ("AAAA", 6)) if v.addresses(fam)] or ["A"]
            return [c for t in types for c in (Check(Query(SVC, t), v.expect_address(t)),
                                              Check(Query(f"{STS}-0.{SVC}", t), v.expect_address(t, f"{STS}-0")))]

        search_dns(pod, evidence, hsdns_settings).converge(namespace.live(SVC, checks))


@case("HS-DNS-079")
def test_host_network_pod_with_cluster_first_with_host_net_gets_the_cluster_dns_and_resolves_the_service_name(
        kube_api: k8s.ApiClient, namespace: CaseNamespace, cluster_facts: ClusterFacts, evidence: Evidence,
        hsdns_settings: Settings) -> None:
    pod_kwargs: dict[str, Any] = {"name": "hsdns-hostnet",
                                  "spec": {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}}
    # capability: may a hostNetwork pod run in the case's namespace? (its own namespace is relabelled
    # privileged; a namespace given with --namespace is left as it is)
    relabel = ("not relabelled: --namespace mode leaves the given namespace's PodSecurity labels alone"
               if hsdns_settings.namespace else namespace.set_pod_security("privileged"))
    body = Resolver(kube_api, hsdns_settings, namespace.name, cluster_facts.dns_server, cluster_facts.dns_port,
                    **pod_kwargs).pod_body()
    rejection = namespace.pod_rejection(body)
    evidence.info["host_network_probe"] = {"relabel_privileged": relabel or "done", "dry_run": rejection or "admitted"}
    if rejection is not None:
        unsupported("a hostNetwork pod is not admitted in the case's namespace (server-side dry run): "
                    f"{rejection[:400]}" + (f"; PodSecurity privileged label: {relabel[:300]}" if relabel else ""))
    # scenario: the seed (both families where the cluster has both), and a hostNetwork pod with dnsPolicy
    # ClusterFirstWithHostNet
    seed(namespace, ip_family_policy="PreferDualStack")
    with case_resolver(kube_api, hsdns_settings, namespace, cluster_facts.dns_server, cluster_facts.dns_port,
                       **pod_kwargs) as pod:
        # action: read its resolv.conf; expectation: the cluster DNS and the cluster search list (as ClusterFirst)
        text = pod.read_file("/etc/resolv.conf")
        evidence.info["resolv_conf"] = text
        got = parse_resolv_conf(text)
        kubelet_dns = kubelet_cluster_dns(kube_api, pod.node) if pod.node else None
        evidence.info["kubelet_cluster_dns"] = kubelet_dns
        require(names_cluster_dns(got["nameservers"], cluster_facts.dns_service_ips, kubelet_dns), evidence,
                requirement="a hostNetwork pod with ClusterFirstWithHostNet gets the cluster DNS as nameserver (the "
                "kubelet's clusterDNS: the DNS Service IP or a node-local cache), not the node's resolver",
                expected=sorted(set(cluster_facts.dns_service_ips) | set(kubelet_dns or [])),
                observed=got["nameservers"])
        zone = namespace.zone
        search = [f"{namespace.name}.svc.{zone}", f"svc.{zone}", zone]
        require([s.rstrip(".") for s in got["search"][:3]] == search, evidence,
                requirement="its search list starts with <ns>.svc.<zone> svc.<zone> <zone>", expected=search,
                observed=got["search"])
        # action: an application in the host's network asks glibc for the Service name; expectation: exactly
        # the ready endpoint addresses
        converge_app(namespace, lambda v: getaddrinfo_checks(v, pod.getaddrinfo, "hostNetwork glibc"),
                     evidence, hsdns_settings, "getaddrinfo(<svc>.<ns>.svc.<zone>) in a hostNetwork pod with "
                     "ClusterFirstWithHostNet returns exactly the ready endpoint addresses")


@case("HS-DNS-080")
def test_pod_with_hostname_and_subdomain_sees_its_own_fqdn_and_the_cluster_dns_answers_it_with_the_pod_ip(
        kube_api: k8s.ApiClient, namespace: CaseNamespace, cluster_facts: ClusterFacts, dns: Dns,
        evidence: Evidence, hsdns_settings: Settings) -> None:
    # scenario: a headless Service and a pod with hostname <h> and subdomain <svc> that it selects; the pod
    # runs the resolver image, so that it can be looked into
    namespace.headless_service(SVC, ip_family_policy="PreferDualStack")
    namespace.pod(FQDN_POD, hostname=HOSTNAME, subdomain=SVC, probe=True)
    view = namespace.wait_endpoints(SVC, lambda v: any(e.pod == FQDN_POD and e.ready and e.hostname == HOSTNAME
                                                       for e in v.endpoints),
                                    what=f"pod {FQDN_POD} ready, with hostname {HOSTNAME}")
    ip = namespace.pod_ip(FQDN_POD)
    precondition(ip in view.hostname_addresses(HOSTNAME, family(ip)),
                 f"the endpoint of {FQDN_POD} carries its IP {ip}", observed=view.to_json())

    def own_name(v: EndpointView) -> list[AppCheck]:
        e = v.endpoint_for_pod(FQDN_POD)
        want = v.name(e.hostname).rstrip(".").lower() if e is not None and e.hostname else None
        return [AppCheck(f"hostname -f in pod {FQDN_POD}", inside.fqdn, want,
                         pick=lambda o: str(o.get("fqdn") or "").rstrip(".").lower() or None)]

    with case_resolver(kube_api, hsdns_settings, namespace, cluster_facts.dns_server, cluster_facts.dns_port,
                       name=FQDN_POD, create=False) as inside:
        # action: hostname -f inside the pod (getaddrinfo(gethostname(), AI_CANONNAME)); expectation: the name
        # its endpoint has, <h>.<svc>.<ns>.svc.<zone>
        converge_app(namespace, own_name, evidence, hsdns_settings,
                     "hostname -f inside a pod with hostname <h> and subdomain <svc> is <h>.<svc>.<ns>.svc.<zone>")
    # action: another pod asks the cluster DNS for that name; expectation: the pod's IP(s), from its endpoint
    dns.converge(namespace.live(SVC, lambda v: [
        *Dns.checks(v.name(HOSTNAME), "A", v.expect_address("A", HOSTNAME)),
        *(Dns.checks(v.name(HOSTNAME), "AAAA", v.expect_address("AAAA", HOSTNAME))
          if v.hostname_addresses(HOSTNAME, 6) else [])]))
