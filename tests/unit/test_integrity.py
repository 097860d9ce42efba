"""Answer integrity: each rule flags the malformed answer it names, and a well-formed answer passes."""

from __future__ import annotations

import dataclasses

import pytest

from fixtures.dns.integrity import Integrity
from fixtures.dns.model import Query, QueryResult, Record

NAME = "web.ns.svc.cluster.local."
SOA = Record("cluster.local.", 5, "SOA", "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")
RULES = Integrity(zone="cluster.local", max_ttl=3600)


def good(rdtype: str = "A") -> QueryResult:
    q = Query(NAME, rdtype)
    return QueryResult(q, "10.96.0.10", "NOERROR", ("QR", "AA", "RD"), (Record(NAME, 5, "A", "10.0.0.1"),),
                       question=((NAME, rdtype),))


def test_a_well_formed_answer_has_no_problem() -> None:
    assert RULES.problems(good()) == []
    nx = dataclasses.replace(good(), rcode="NXDOMAIN", answer=(), authority=(SOA,))
    assert RULES.problems(nx) == []


@pytest.mark.parametrize(("change", "rule"), [
    ({"question": (("other.ns.svc.cluster.local.", "A"),)}, "question"),
    ({"answer": (Record("other.ns.svc.cluster.local.", 5, "A", "10.0.0.1"),)}, "owner"),
    ({"answer": (), "authority": (SOA,), "additional": (Record(NAME, 5, "A", "10.0.0.1"),)}, "section"),
    ({"answer": (Record(NAME, 5, "A", "10.0.0.1"), Record(NAME, 5, "A", "10.0.0.1"))}, "duplicate"),
    ({"flags": ("QR", "RD")}, "authoritative"),
    ({"answer": (Record(NAME, 0, "A", "10.0.0.1"),)}, "ttl"),
    ({"answer": (Record(NAME, 86400, "A", "10.0.0.1"),)}, "ttl"),
    ({"rcode": "NXDOMAIN", "answer": (), "authority": ()}, "negative-soa"),
    ({"answer": (), "authority": ()}, "negative-soa"),  # NODATA without SOA
    # an FQDN EndpointSlice as CoreDNS serves it: a CNAME next to the Service name's A records
    ({"answer": (Record(NAME, 5, "A", "10.0.0.1"), Record(NAME, 5, "CNAME", "backend.example."))}, "cname"),
])
def test_each_rule_names_its_problem(change: dict[str, object], rule: str) -> None:
    problems = RULES.problems(dataclasses.replace(good(), **change))  # type: ignore[arg-type]
    assert [p.split(":")[0] for p in problems] == [rule]


def test_cnames_may_own_the_answer_and_schema_txt_keeps_its_ttl() -> None:
    chained = dataclasses.replace(good(), answer=(Record(NAME, 5, "CNAME", "real.ns.svc.cluster.local."),
                                                  Record("real.ns.svc.cluster.local.", 5, "A", "10.0.0.1")))
    assert RULES.problems(chained) == []
    q = Query("dns-version.cluster.local.", "TXT")
    txt = QueryResult(q, "x", "NOERROR", ("QR", "AA"), (Record(q.name, 28800, "TXT", '"1.1.0"'),),
                      question=((q.name, "TXT"),))
    assert RULES.problems(txt) == []


def test_names_outside_the_cluster_zone_are_not_held_to_aa_or_soa() -> None:
    q = Query("example.org.", "A")
    r = QueryResult(q, "x", "NXDOMAIN", ("QR",), question=((q.name, "A"),))
    assert RULES.problems(r) == []
