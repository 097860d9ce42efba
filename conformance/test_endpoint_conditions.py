"""What DNS makes of EndpointSlice contents: the ready/serving/terminating conditions, an endpoint in two
slices, FQDN slices, a slice of no Service (spec 2.1 "ready"; behaviour rows 34-46)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import ANY_RCODE, Check, Expectation, Query
from fixtures.kube.endpoints import EndpointView, reverse_name
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, address_block, manual_endpoint, ptr_checks
from fixtures.verdict import Evidence, precondition, unsupported

HTTP = [{"name": "http", "port": 8080, "protocol": "TCP"}]
TERMINATING_GRACE_S = 60


def names_of(v: EndpointView, hosts: list[str]) -> list[Check]:
    """The Service name, the SRV set, each of ``hosts`` (answered or not, as the slices say) and the PTRs of
    the ready endpoints."""
    checks = (Dns.checks(v.fqdn, "A", v.expect_address("A"))
              + Dns.checks(v.srv_name("http"), "SRV", v.expect_srv("http")))
    for h in hosts:
        checks += Dns.checks(v.name(h), "A", v.expect_address("A", h))
    return checks + ptr_checks(v)


def unpublished_ptrs(v: EndpointView, hosts: dict[str, str]) -> list[Check]:
    """No PTR names a host that is not published (``hosts``: hostname -> address)."""
    return [c for h, a in sorted(hosts.items()) if h not in v.hostnames()
            for c in Dns.checks(reverse_name(a), "PTR",
                                Expectation.none_of([v.ptr_target(h)], "PTR", rcodes=ANY_RCODE))]


@case("HS-DNS-059")
def test_publish_not_ready_addresses_keeps_a_terminating_pod_published(namespace: CaseNamespace, dns: Dns,
                                                                      evidence: Evidence) -> None:
    why = namespace.pre_stop_sleep_rejection()
    if why is not None:
        unsupported(f"a pod cannot be kept terminating with a preStop sleep: {why}")
    namespace.headless_service(SVC, publish_not_ready=True)
    namespace.pod("keep", hostname="keep", subdomain=SVC)
    # the preStop sleep keeps the container running through the grace period, the finalizer keeps the object
    namespace.pod("leave", hostname="leave", subdomain=SVC, hold=True, pre_stop_sleep=TERMINATING_GRACE_S)
    try:
        namespace.wait_pods_running("app=web", 2)
        namespace.wait_endpoints(SVC, lambda v: v.hostnames() == {"keep", "leave"}, what="2 ready endpoints")
        dns.converge(namespace.live(SVC, lambda v: names_of(v, ["keep", "leave"])), hold=False)
        namespace.delete_pod("leave", grace=TERMINATING_GRACE_S)

        def terminating_but_ready(v: EndpointView) -> bool:
            e = v.endpoint_for_pod("leave")
            return e is not None and bool(e.terminating) and e.ready

        view = namespace.wait_endpoints(SVC, terminating_but_ready, what="leave's endpoint terminating and ready")
        evidence.info["leave_endpoint"] = next((e.to_json() for e in view.endpoints if e.pod == "leave"), None)
        dns.converge(namespace.live(SVC, lambda v: names_of(v, ["keep", "leave"])),
                     requirement="the terminating pod whose endpoint is still ready keeps its names")
        still = namespace.endpoints(SVC).endpoint_for_pod("leave")
        precondition(still is not None and bool(still.terminating),
                     "the pod's endpoint was still terminating when DNS had been judged",
                     observed=namespace.endpoints(SVC).to_json())
    finally:
        namespace.release_pod("leave")


@case("HS-DNS-060")
def test_dns_follows_each_endpoints_ready_condition(namespace: CaseNamespace, dns: Dns) -> None:
    namespace.headless_service("cond", selectorless=True)
    ips = address_block(namespace, 5)
    conditions = {  # hostname -> (ready, serving, terminating); None = unset
        "ready": (True, True, False),
        "unset": (None, None, None),
        "ready-terminating": (True, True, True),
        "serving-terminating": (False, True, True),
        "not-ready": (False, False, False),
    }
    hosts = dict(zip(conditions, ips, strict=True))
    namespace.endpoint_slice("cond", "cond-1", [manual_endpoint(hosts[h], h, r, serving=s, terminating=t)
                                                for h, (r, s, t) in conditions.items()], ports=HTTP)
    view = namespace.wait_endpoints("cond", lambda v: len(v.endpoints) == 5, what="5 hand-made endpoints")
    precondition(view.hostnames() == {"ready", "unset", "ready-terminating"},
                 "the endpoints counted ready are those whose ready condition is true or unset",
                 observed=sorted(view.hostnames()))
    dns.converge(namespace.live("cond", lambda v: names_of(v, list(conditions)) + unpublished_ptrs(v, hosts)))


@case("HS-DNS-061")
def test_an_endpoint_listed_in_two_slices_is_answered_once(namespace: CaseNamespace, dns: Dns) -> None:
    namespace.headless_service("twice", selectorless=True)
    a1, a2, a3 = address_block(namespace, 3)
    namespace.endpoint_slice("twice", "twice-1", [manual_endpoint(a1, "one"), manual_endpoint(a2, "both")], ports=HTTP)
    namespace.endpoint_slice("twice", "twice-2", [manual_endpoint(a2, "both"), manual_endpoint(a3, "three")],
                             ports=HTTP)
    view = namespace.wait_endpoints("twice", lambda v: len(v.endpoints) == 4, what="4 endpoints in 2 slices")
    precondition(sum(1 for e in view.endpoints if e.addresses == (a2,)) == 2, f"{a2} is listed in both slices")
    # the expectations are sets: each address, target and name exactly once (a repeated record is "extra")
    dns.converge(namespace.live("twice", lambda v: names_of(v, ["one", "both", "three"])))


@case("HS-DNS-062")
def test_an_fqdn_endpoint_slice_adds_no_record_to_the_service_name(namespace: CaseNamespace, dns: Dns) -> None:
    namespace.headless_service("fqdn", selectorless=True)
    ips = address_block(namespace, 1)
    namespace.endpoint_slice("fqdn", "fqdn-ipv4", [manual_endpoint(ips[0], "address")], ports=HTTP)
    namespace.endpoint_slice("fqdn", "fqdn-names", [{"addresses": ["backend.hsdns.invalid"], "hostname": "named"}],
                             ports=HTTP, address_type="FQDN")
    view = namespace.wait_endpoints("fqdn", lambda v: len(v.endpoints) == 2, what="an IPv4 and an FQDN endpoint")
    precondition(view.addresses(4) == {ips[0]}, "only the IPv4 slice holds addresses", observed=view.to_json())
    # the integrity rule "cname" also judges every answer: a CNAME next to the A records is a violation
    dns.converge(namespace.live("fqdn", lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.fqdn, "CNAME", Expectation.nodata())
                                + Dns.checks(v.name("named"), "A", Expectation.no_records())))


@case("HS-DNS-063")
def test_a_slice_without_the_service_name_label_belongs_to_no_service(namespace: CaseNamespace, dns: Dns,
                                                                     evidence: Evidence) -> None:
    namespace.headless_service("labelled", selectorless=True)
    mine, stray, control = address_block(namespace, 3)
    namespace.endpoint_slice("labelled", "labelled-1", [manual_endpoint(mine, "member")], ports=HTTP)
    namespace.endpoint_slice(None, "unlabelled-1", [manual_endpoint(stray, "stray")], ports=HTTP)
    namespace.wait_endpoints("labelled", lambda v: len(v.endpoints) == 1, what="the labelled slice's endpoint")
    unlabelled = [s.metadata.name for s in namespace.discovery.list_namespaced_endpoint_slice(
        namespace.name, _request_timeout=30).items if "kubernetes.io/service-name" not in (s.metadata.labels or {})]
    precondition(unlabelled == ["unlabelled-1"], "the stray slice exists without the label", observed=unlabelled)
    # The stray address's PTR must name nothing. Whether the DNS must answer it at all depends on where it
    # sends reverse names it does not own: the same question for an address in no slice (the control) tells.
    control_answered = all(r.rcode is not None for r in dns.observe(
        [Query(reverse_name(control), "PTR", t) for t in ("udp", "tcp")], label="control: an address in no slice"))
    evidence.info["control_ptr_answered"] = control_answered
    stray_ptr = Expectation.no_records(rcodes=ANY_RCODE, answer_required=control_answered)
    dns.converge(namespace.live("labelled", lambda v: names_of(v, ["member", "stray"])
                                + Dns.checks(v.fqdn, "A", Expectation.none_of([stray], "A"))
                                + Dns.checks(reverse_name(stray), "PTR", stray_ptr)))
