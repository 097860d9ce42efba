"""kubernetes/dns specification 2.2: the schema version record."""

from __future__ import annotations

import re

from fixtures.catalogue import case
from fixtures.dns.converge import Dns
from fixtures.dns.model import Expectation
from fixtures.verdict import Evidence, require

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@case("HS-DNS-027")
def test_dns_version_txt_names_the_schema_version(dns: Dns, zone: str, evidence: Evidence) -> None:
    results = dns.expect(f"dns-version.{zone}.", "TXT", Expectation.shape(1))
    versions = sorted({v for r in results for v in r.rdata_keys()})
    evidence.info["schema_version"] = versions
    require(len(versions) == 1 and bool(SEMVER.match(versions[0])), evidence,
            requirement="dns-version TXT holds one semantic version", expected="<major>.<minor>.<patch>",
            observed=versions)
