"""Expectations, diffing and the failure message format (cluster-free)."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.dns.converge import Live, combine
from fixtures.dns.model import (
    ANY_RCODE,
    Check,
    Expectation,
    Query,
    QueryResult,
    Record,
    format_failure,
    normalise_rdata,
)
from fixtures.kube.endpoints import EndpointView, endpoints_from_slices
from fixtures.kube.namespace import namespace_name


def _res(rdtype: str, rdata: list[str], rcode: str = "NOERROR", flags: tuple[str, ...] = ("QR", "AA")) -> QueryResult:
    q = Query("svc.ns.svc.cluster.local.", rdtype)
    return QueryResult(q, "10.96.0.10", rcode, flags, tuple(Record(q.name, 5, rdtype, d) for d in rdata))


def test_normalisation() -> None:
    assert normalise_rdata("AAAA", "fd00:0::1") == "fd00::1"
    assert normalise_rdata("SRV", "0 33 8080 Web-0.SVC.ns.svc.cluster.local.") == "8080 web-0.svc.ns.svc.cluster.local."
    assert normalise_rdata("PTR", "web-0.svc.ns.svc.cluster.local") == "web-0.svc.ns.svc.cluster.local."
    assert normalise_rdata("TXT", '"1.1.0"') == "1.1.0"


def test_exact_set_comparison_ignores_order_and_priority_weight() -> None:
    exp = Expectation.exactly(["8080 a.svc.ns.svc.cluster.local.", "8080 b.svc.ns.svc.cluster.local."], "SRV")
    got = _res("SRV", ["0 50 8080 b.svc.ns.svc.cluster.local.", "10 50 8080 A.svc.ns.svc.cluster.local."])
    assert exp.matches(got)


def test_missing_and_extra() -> None:
    exp = Expectation.exactly(["10.0.0.1", "10.0.0.2"], "A")
    got = _res("A", ["10.0.0.2", "10.0.0.9"])
    assert exp.diff(got) == (["10.0.0.1"], ["10.0.0.9"])
    assert "1 missing record(s)" in exp.problems(got)


def test_an_empty_exact_expectation_is_refused_and_addresses_say_which_empty_answer() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        Expectation.exactly([], "A")
    # an IPv6-only name asked for A exists: NODATA, never NXDOMAIN
    assert Expectation.addresses([], "A", name_exists=True) == Expectation.nodata()
    assert Expectation.addresses([], "A", name_exists=False) == Expectation.nxdomain()
    assert not Expectation.nxdomain().matches(_res("A", [], rcode="NOERROR"))
    assert Expectation.no_records().matches(_res("A", [], rcode="NOERROR"))
    assert Expectation.nodata().matches(_res("A", []))


def test_records_are_compared_as_a_multiset() -> None:
    exp = Expectation.exactly(["10.0.0.1", "10.0.0.2"], "A")
    twice = _res("A", ["10.0.0.1", "10.0.0.2", "10.0.0.2"])
    assert not exp.matches(twice)
    assert exp.diff(twice) == ([], ["10.0.0.2 (x2)"])
    assert twice.duplicates() == ["10.0.0.2"]
    assert exp.stable_key(twice) != exp.stable_key(_res("A", ["10.0.0.2", "10.0.0.1"]))


def test_truncated_subset_requires_tc() -> None:
    exp = Expectation.truncated_subset(["10.0.0.1", "10.0.0.2", "10.0.0.3"], "A")
    assert exp.matches(_res("A", ["10.0.0.1"], flags=("QR", "AA", "TC")))
    assert not exp.matches(_res("A", ["10.0.0.1"]))
    assert not exp.matches(_res("A", ["10.9.9.9"], flags=("TC",)))


def test_none_of_and_shape() -> None:
    assert not Expectation.none_of(["10.96.0.5"], "A").matches(_res("A", ["10.96.0.5", "10.0.0.1"]))
    shape = Expectation.shape(2, "svc.ns.svc.cluster.local.")
    good = ["0 50 80 10-0-0-1.svc.ns.svc.cluster.local.", "0 50 80 x.svc.ns.svc.cluster.local."]
    bad = ["0 50 80 x.other.ns.svc.cluster.local.", "0 1 80 y.svc.ns.svc.cluster.local."]
    assert shape.matches(_res("SRV", good))
    assert not shape.matches(_res("SRV", bad))


def test_failure_message_format() -> None:
    check = Check(Query("svc.ns.svc.cluster.local.", "A", "tcp"), Expectation.exactly(["10.0.0.1"], "A"))
    text = format_failure("HS-DNS-002 [MUST k8s-dns/2.4.1]: one A per ready endpoint",
                          [(check, _res("A", ["10.0.0.2"]))], note="last answers:")
    lines = text.splitlines()
    assert lines[0] == "-> HS-DNS-002 [MUST k8s-dns/2.4.1]: one A per ready endpoint"
    for word in ("Expected:", "Observed:", 'Missing records: ["10.0.0.1"]', 'Extra records: ["10.0.0.2"]'):
        assert word in text


def test_expectations_from_endpoint_slices() -> None:
    slices: list[dict[str, Any]] = [
        {"metadata": {"name": "s1"}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "web-0",
                        "targetRef": {"kind": "Pod", "name": "web-0"}},
                       {"addresses": ["10.0.0.2"], "hostname": "web-1", "conditions": {"ready": False}},
                       {"addresses": ["10.0.0.3"], "hostname": "web-2", "conditions": {"ready": True}}]},
        {"metadata": {"name": "s2"}, "addressType": "IPv4",
         "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
         "endpoints": [{"addresses": ["10.0.0.4"], "hostname": "web-3"}]},
    ]
    view = EndpointView("ns", "svc", "cluster.local", endpoints_from_slices(slices))
    assert view.addresses(4) == {"10.0.0.1", "10.0.0.3", "10.0.0.4"}
    assert view.srv_keys("http") == {"8080 web-0.svc.ns.svc.cluster.local.", "8080 web-2.svc.ns.svc.cluster.local.",
                                     "9090 web-3.svc.ns.svc.cluster.local."}
    assert view.hostname_addresses("web-1") == set()
    assert view.ptr_target("web-0") == "web-0.svc.ns.svc.cluster.local."
    assert view.expect_address("A", "web-1") == Expectation.nxdomain()  # not ready: the name does not exist
    assert view.expect_address("AAAA") == Expectation.nodata()  # exists (IPv4 only): AAAA is NODATA
    assert view.expect_srv("nosuch") == Expectation.no_records()
    changed = [dict(slices[0], endpoints=slices[0]["endpoints"][:2]), slices[1]]
    assert EndpointView("ns", "svc", "cluster.local", endpoints_from_slices(changed)).key() != view.key()


def test_namespace_names_are_dns_labels() -> None:
    name = namespace_name("abcdef123456", "gw12", "013-" + "x" * 100)
    assert len(name) <= 63 and name.startswith("hsdns-abcdef-gw12-013-")
    assert namespace_name("abcdef", "m0", "resolver") == "hsdns-abcdef-m0-resolver"


SOA_TEXT = "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 {minimum}"


def _negative(rcode: str, soa_ttl: int | None, minimum: int = 5) -> QueryResult:
    q = Query("absent.ns.svc.cluster.local.", "A")
    auth = () if soa_ttl is None else (Record("cluster.local.", soa_ttl, "SOA", SOA_TEXT.format(minimum=minimum)),)
    return QueryResult(q, "x", rcode, ("QR", "AA"), (), auth)


def test_the_negative_ttl_bound_reads_the_authority_soa() -> None:
    exp = Expectation.nxdomain().with_limits(negative_ttl_max=60)
    assert exp.problems(_negative("NXDOMAIN", 5)) == []
    assert any("SOA TTL 30 > its MINIMUM 5" in p for p in exp.problems(_negative("NXDOMAIN", 30)))
    assert any("MINIMUM 3600 > 60" in p for p in exp.problems(_negative("NXDOMAIN", 5, minimum=3600)))
    assert any("without an SOA" in p for p in exp.problems(_negative("NXDOMAIN", None)))
    assert Expectation.nodata().with_limits(negative_ttl_max=60).problems(_negative("NOERROR", 5)) == []


def test_a_size_limit_is_judged_when_the_backend_tells_the_size() -> None:
    exp = Expectation.truncated_subset(["10.0.0.1"], "A").with_limits(max_bytes=1232)
    big = QueryResult(Query("a.", "A"), "x", "NOERROR", ("QR", "AA", "TC"), size=1400)
    assert any("1400 bytes" in p for p in exp.problems(big))
    assert exp.problems(QueryResult(Query("a.", "A"), "x", "NOERROR", ("QR", "AA", "TC"), size=900)) == []
    assert exp.describe()["max_bytes"] == 1232


def test_records_that_must_be_absent_accept_any_rcode_and_no_answer_only_when_asked() -> None:
    q = Query("1.0.18.198.in-addr.arpa.", "PTR")
    silent = QueryResult(q, "x", None, error="timeout")
    servfail = QueryResult(q, "x", "SERVFAIL", ("QR",))
    named = QueryResult(q, "x", "NOERROR", ("QR", "AA"), (Record(q.name, 5, "PTR", "web-0.svc.ns.svc.z."),))
    loose = Expectation.none_of(["web-0.svc.ns.svc.z."], "PTR", rcodes=ANY_RCODE)
    assert loose.problems(silent) == [] and loose.problems(servfail) == []
    assert loose.problems(named)
    strict = Expectation.no_records(rcodes=ANY_RCODE, answer_required=True)
    assert strict.problems(silent) == ["no response: timeout"] and strict.problems(servfail) == []
    assert Expectation.none_of(["web-0.svc.ns.svc.z."], "PTR").problems(servfail)  # NXDOMAIN/NOERROR only


def test_including_wants_these_records_and_allows_others() -> None:
    exp = Expectation.including(["web-0.svc.ns.svc.z."], "PTR")
    q = Query("1.0.18.198.in-addr.arpa.", "PTR")
    two = QueryResult(q, "x", "NOERROR", ("QR", "AA"), (Record(q.name, 5, "PTR", "web-0.svc.ns.svc.z."),
                                                        Record(q.name, 5, "PTR", "198-18-0-1.other.ns.svc.z.")))
    assert exp.matches(two)
    assert not exp.matches(QueryResult(q, "x", "NOERROR", ("QR", "AA"), (two.answer[1],)))
    with pytest.raises(ValueError):
        Expectation.including([], "PTR")


def test_combined_live_states_change_when_any_part_does() -> None:
    states = {"a": 1, "b": 1}

    def part(key: str) -> Live:
        return Live(read=lambda: (states[key], states[key], {key: states[key]}),
                    build=lambda s: [Check(Query(f"{key}{s}.", "A"), Expectation.nxdomain())])

    both = combine(part("a"), part("b"))
    first = both.read()
    assert first is not None and [c.query.name for c in both.build(first[1])] == ["a1.", "b1."]
    states["b"] = 2
    second = both.read()
    assert second is not None and second[0] != first[0] and second[2] == {"states": [{"a": 1}, {"b": 2}]}
    half = combine(part("a"), Live(read=lambda: None, build=lambda s: []))
    assert half.read() is None
