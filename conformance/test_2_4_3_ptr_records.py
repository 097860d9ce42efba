"""kubernetes/dns specification 2.4.3: PTR records of headless Service endpoints."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.kube.namespace import Cluster
from fixtures.scenarios import ptr_checks, seed


@case("HS-DNS-019")
def test_ptr_of_a_ready_headless_endpoint_names_the_endpoint(cluster: Cluster, dns: Dns) -> None:
    view = seed(cluster)
    checks = ptr_checks(view)
    assert checks, "precondition: ready endpoints with hostnames"
    dns.converge(checks)
