"""StatefulSet identity over time: pod re-creation and scale-down (spec 2.4.1 via hostname/subdomain)."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Expectation
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import SVC, seed


@case("HS-DNS-008")
def test_statefulset_pod_name_follows_the_pod_across_deletion(cluster: Cluster, dns: Dns,
                                                              evidence: Evidence) -> None:
    view = seed(cluster, replicas=2)
    old = view.endpoint_for_pod("web-0")
    assert old is not None and old.pod_uid
    dns.expect(view.name("web-0"), "A", Expectation.exactly(view.hostname_addresses("web-0"), "A"))
    cluster.delete_pod("web-0")

    def recreated(v: EndpointView) -> bool:
        e = v.endpoint_for_pod("web-0")
        return e is not None and e.pod_uid != old.pod_uid and e.ready and e.hostname == "web-0"

    view = cluster.wait_endpoints(SVC, recreated, what="web-0 re-created, ready, with a new uid")
    new = view.endpoint_for_pod("web-0")
    assert new is not None
    evidence.info["old_addresses"] = list(old.addresses)
    evidence.info["new_addresses"] = list(new.addresses)
    evidence.info["ip_changed"] = set(old.addresses) != set(new.addresses)
    checks = Dns.checks(view.name("web-0"), "A", Expectation.exactly(view.hostname_addresses("web-0"), "A"))
    gone = set(old.addresses) - set(new.addresses)
    if gone:
        checks += Dns.checks(view.fqdn, "A", Expectation.none_of(gone, "A"))
    dns.converge(checks, requirement="after re-creation web-0's name answers the new pod IP only")


@case("HS-DNS-009")
def test_scaling_down_removes_the_names_of_removed_pods(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster, replicas=3)
    dns.expect(view.name("web-2"), "A", Expectation.exactly(view.hostname_addresses("web-2"), "A"))
    cluster.scale_statefulset("web", 1)
    view = cluster.wait_endpoints(SVC, lambda v: {e.pod for e in v.ready()} == {"web-0"},
                                  what="only web-0 ready after scale-down")
    checks = Dns.checks(view.fqdn, "A", Expectation.exactly(view.addresses(4), "A"))
    for host in ("web-1", "web-2"):
        checks += Dns.checks(view.name(host), "A", Expectation.no_records())
    dns.converge(checks)
