"""StatefulSet identity over time: pod re-creation and scale-down (spec 2.4.1 via hostname/subdomain)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Check, Expectation
from fixtures.kube.endpoints import Endpoint, EndpointView
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, seed
from fixtures.verdict import Evidence, precondition, unsupported

RECREATE_ATTEMPTS = 3


def _recreate(namespace: CaseNamespace, old: Endpoint) -> Endpoint:
    """Delete web-0 and wait for the StatefulSet's new web-0 (new uid, ready, hostname web-0)."""
    namespace.delete_pod("web-0")

    def recreated(v: EndpointView) -> bool:
        e = v.endpoint_for_pod("web-0")
        return e is not None and e.pod_uid != old.pod_uid and e.ready and e.hostname == "web-0"

    view = namespace.wait_endpoints(SVC, recreated, what="web-0 re-created, ready, with a new uid")
    new = view.endpoint_for_pod("web-0")
    precondition(new is not None, "the new web-0 is an endpoint")
    assert new is not None
    return new


@case("HS-DNS-008")
def test_statefulset_pod_name_follows_the_pod_across_deletion(namespace: CaseNamespace, dns: Dns,
                                                              evidence: Evidence) -> None:
    view = seed(namespace, replicas=2)
    first = view.endpoint_for_pod("web-0")
    precondition(first is not None and bool(first.pod_uid), "web-0 is an endpoint with its pod's uid")
    assert first is not None
    # the starting point (not the rule itself): no hold needed before the pod is re-created
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.name("web-0"), "A", v.expect_address("A", "web-0"))),
                 hold=False)
    # The rule can only be seen when the new pod has another address: with the same one, a stale
    # record and a followed name look alike. Re-create until the address changes.
    new = _recreate(namespace, first)
    tries = [list(new.addresses)]
    while set(new.addresses) == set(first.addresses) and len(tries) < RECREATE_ATTEMPTS:
        new = _recreate(namespace, new)
        tries.append(list(new.addresses))
    evidence.info["old_addresses"] = list(first.addresses)
    evidence.info["new_addresses_per_attempt"] = tries
    gone = set(first.addresses) - set(new.addresses)
    if not gone:
        unsupported(f"the cluster's IPAM gave web-0 the same address on each of {len(tries)} re-creations "
                    f"({sorted(first.addresses)}): whether its name follows the pod cannot be told from DNS")

    def checks(v: EndpointView) -> list[Check]:
        return (Dns.checks(v.name("web-0"), "A", v.expect_address("A", "web-0"))
                + Dns.checks(v.fqdn, "A", Expectation.none_of({a for a in gone if ":" not in a}, "A")))

    dns.converge(namespace.live(SVC, checks), requirement="after re-creation web-0's name answers the new pod IP "
                                                          "only, and the old IP is gone from the Service name")


@case("HS-DNS-009")
def test_scaling_down_removes_the_names_of_removed_pods(namespace: CaseNamespace, dns: Dns) -> None:
    seed(namespace, replicas=3)
    # the starting point (not the rule itself): no hold needed before scaling down
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.name("web-2"), "A", v.expect_address("A", "web-2"))),
                 hold=False)
    namespace.scale_statefulset("web", 1)
    namespace.wait_endpoints(SVC, lambda v: {e.pod for e in v.ready()} == {"web-0"},
                             what="only web-0 ready after scale-down")
    dns.converge(namespace.live(SVC, lambda v: Dns.checks(v.fqdn, "A", v.expect_address("A"))
                                + Dns.checks(v.name("web-1"), "A", Expectation.no_records())
                                + Dns.checks(v.name("web-2"), "A", Expectation.no_records())))
