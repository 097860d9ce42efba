"""kubernetes/dns specification 2.4.3: PTR records of headless Service endpoints."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.kube.namespace import CaseNamespace
from fixtures.scenarios import SVC, ptr_checks, seed
from fixtures.verdict import precondition


@case("HS-DNS-019")
def test_ptr_of_a_ready_headless_endpoint_names_the_endpoint(namespace: CaseNamespace, dns: Dns) -> None:
    view = seed(namespace)
    precondition(bool(ptr_checks(view)), "ready endpoints with hostnames", observed=view.to_json())
    dns.converge(namespace.live(SVC, ptr_checks))
