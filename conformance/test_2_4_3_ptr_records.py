"""kubernetes/dns specification 2.4.3: PTR records of headless Service endpoints."""

from __future__ import annotations

from fixtures.catalogue import case
from fixtures.scenarios import ptr_checks
from fixtures.shared import Seeded, on_seed
from fixtures.verdict import precondition


@case("HS-DNS-019")
@on_seed(ptr_checks)
def test_ptr_of_a_ready_headless_endpoint_names_the_endpoint(seeded: Seeded) -> None:
    precondition(bool(ptr_checks(seeded.view)), "ready endpoints with hostnames", observed=seeded.view.to_json())
    seeded.judge()
