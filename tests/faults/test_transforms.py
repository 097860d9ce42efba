"""Fault transforms on real-looking CoreDNS responses built with dnspython (no DNS server needed)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from faults import transforms as t
from faults.kubeview import Endpoint, ServicePort
from faults.names import dashed, is_dashed_ip, parse
from faults.proxy import signature

ZONE = "cluster.local"
SVC = f"web.ns1.svc.{ZONE}."
IPS = ["10.244.0.5", "10.244.1.7", "10.244.0.9"]


def query(name: str, rdtype: str, payload: int | None = 1232) -> dns.message.Message:
    if payload is None:
        return dns.message.make_query(name, rdtype, use_edns=False)
    return dns.message.make_query(name, rdtype, use_edns=0, payload=payload)


def response(q: dns.message.Message, answer: list[str] | None = None, additional: list[str] | None = None,
             rcode: dns.rcode.Rcode = dns.rcode.NOERROR, soa: bool = False) -> dns.message.Message:
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.set_rcode(rcode)
    name = q.question[0].name
    by_type: dict[tuple[str, str], list[str]] = {}
    for line in answer or []:
        owner, rtype, rdata = line.split(" ", 2)
        by_type.setdefault((owner, rtype), []).append(rdata)
    for (owner, rtype), rdatas in by_type.items():
        r.answer.append(dns.rrset.from_text_list(owner or name, 5, "IN", rtype, rdatas))
    for line in additional or []:
        owner, rtype, rdata = line.split(" ", 2)
        r.additional.append(dns.rrset.from_text(owner, 5, "IN", rtype, rdata))
    if soa:
        r.authority.append(dns.rrset.from_text(f"{ZONE}.", 5, "IN", "SOA",
                                               f"ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 5"))
    return r


def a_resp(name: str = SVC, ips: list[str] = IPS) -> tuple[dns.message.Message, dns.message.Message]:
    q = query(name, "A")
    return q, response(q, [f"{name} A {ip}" for ip in ips])


def addrs(r: dns.message.Message, rdtype: int = dns.rdatatype.A) -> set[str]:
    return {rd.to_text() for rrset in r.answer if rrset.rdtype == rdtype for rd in rrset}


def srv_resp(port: int = 8080, targets: tuple[str, ...] = ("web-0", "web-1")) -> tuple[dns.message.Message,
                                                                                          dns.message.Message]:
    q = query(f"_http._tcp.{SVC}", "SRV")
    ans = [f"_http._tcp.{SVC} SRV 0 50 {port} {h}.{SVC}" for h in targets]
    add = [f"{h}.{SVC} A {ip}" for h, ip in zip(targets, IPS, strict=False)]
    return q, response(q, ans, add)


class FakeView:
    def __init__(self, ports: list[ServicePort] | None = None, endpoints: list[Endpoint] | None = None) -> None:
        self.ports = ports
        self.eps = endpoints or []

    def service_ports(self, namespace: str, service: str) -> list[ServicePort] | None:
        return self.ports

    def endpoints(self, namespace: str, service: str) -> list[Endpoint]:
        return self.eps


def wire_roundtrip(r: dns.message.Message) -> dns.message.Message:
    return dns.message.from_wire(r.to_wire())


# ------------------------------------------------------------------------------------------ names

@pytest.mark.parametrize(("name", "kind"), [
    (SVC, "service"), (f"web-0.{SVC}", "endpoint"), (f"_http._tcp.{SVC}", "srv"), (f"ns1.svc.{ZONE}.", "namespace"),
    (f"dns-version.{ZONE}.", "other"), ("5.0.244.10.in-addr.arpa.", "other"),
    (f"WeB.NS1.SVC.{ZONE.upper()}.", "service"),
    (f"a.b.c.{SVC}", "other"),
])
def test_parse_kinds(name: str, kind: str) -> None:
    assert parse(name).kind == kind


def test_parse_parts() -> None:
    kn = parse(f"_HTTP._tcp.{SVC}")
    assert (kn.port, kn.proto, kn.service, kn.namespace, kn.zone) == ("http", "tcp", "web", "ns1", ZONE)
    assert kn.service_name() == SVC


def test_dashed() -> None:
    assert dashed("10.244.0.5") == "10-244-0-5"
    assert dashed("fd00::1") == "fd00--1"
    assert is_dashed_ip("10-244-0-5") and not is_dashed_ip("web-0")


# ------------------------------------------------------------------------------------------ address sets

def test_drop_one_a_drops_lowest_and_is_stable() -> None:
    q, r = a_resp()
    out = t.drop_one_a(q, r, t.Ctx())
    assert addrs(out) == {"10.244.1.7", "10.244.0.9"}
    q2, r2 = a_resp(ips=list(reversed(IPS)))
    assert addrs(t.drop_one_a(q2, r2, t.Ctx())) == addrs(out)


def test_drop_one_a_leaves_single_records_and_other_names() -> None:
    q, r = a_resp(ips=IPS[:1])
    assert addrs(t.drop_one_a(q, r, t.Ctx())) == {IPS[0]}
    q, r = a_resp(name=f"web-0.{SVC}")
    assert addrs(t.drop_one_a(q, r, t.Ctx())) == set(IPS)


def test_foreign_a_adds_test_net_address() -> None:
    q, r = a_resp()
    assert addrs(wire_roundtrip(t.foreign_a(q, r, t.Ctx()))) == {*IPS, t.FOREIGN_IP}


def test_foreign_a_keeps_nxdomain() -> None:
    q = query(SVC, "A")
    r = response(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    out = t.foreign_a(q, r, t.Ctx())
    assert out.rcode() == dns.rcode.NXDOMAIN and not out.answer


def test_fake_cluster_ip_replaces_set() -> None:
    q, r = a_resp()
    assert addrs(t.fake_cluster_ip(q, r, t.Ctx())) == {t.FAKE_CLUSTER_IP}


def test_stale_cache_keeps_old_records_and_answers_after_nxdomain() -> None:
    ctx = t.Ctx()
    name = f"web-0.{SVC}"
    q, r = a_resp(name, ["10.244.0.5"])
    assert addrs(t.stale_cache(q, r, ctx)) == {"10.244.0.5"}
    q, r = a_resp(name, ["10.244.1.99"])  # pod re-created with a new IP
    assert addrs(t.stale_cache(q, r, ctx)) == {"10.244.0.5", "10.244.1.99"}
    q = query(name, "A")
    gone = response(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    out = t.stale_cache(q, gone, ctx)
    assert out.rcode() == dns.rcode.NOERROR and addrs(out) == {"10.244.0.5", "10.244.1.99"}
    assert not out.authority


def test_stale_cache_keeps_every_srv_record_of_a_scale_down() -> None:
    """The scale scenario's SRV set (150 -> 10): all 150 keep answering, the ten current ones once each."""
    ctx = t.Ctx()
    name = f"_http._tcp.{SVC}"

    def srv(n: int) -> tuple[dns.message.Message, dns.message.Message]:
        q = dns.message.make_query(name, "SRV")
        r = dns.message.make_response(q)
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "SRV",
                                                 [f"0 100 8080 web-{i}.{SVC}" for i in range(n)]))
        return q, r

    assert len(t.stale_cache(*srv(150), ctx).answer[0]) == 150
    out = t.stale_cache(*srv(10), ctx)
    assert sorted(rd.target.to_text() for rd in out.answer[0]) == sorted(f"web-{i}.{SVC}" for i in range(150))


def test_stale_cache_is_case_insensitive_per_name() -> None:
    ctx = t.Ctx()
    q, r = a_resp(SVC, IPS)
    t.stale_cache(q, r, ctx)
    q, r = a_resp(SVC.upper(), IPS[:1])
    assert addrs(t.stale_cache(q, r, ctx)) == set(IPS)


def test_publish_not_ready_adds_not_ready_endpoints() -> None:
    view = FakeView(endpoints=[Endpoint(("10.244.0.5",), "web-0", True), Endpoint(("10.244.3.3",), "web-1", False)])
    ctx = t.Ctx(view=view)
    q, r = a_resp(ips=["10.244.0.5"])
    assert addrs(t.publish_not_ready(q, r, ctx)) == {"10.244.0.5", "10.244.3.3"}
    q = query(f"web-1.{SVC}", "A")
    out = t.publish_not_ready(q, response(q, rcode=dns.rcode.NXDOMAIN, soa=True), ctx)
    assert out.rcode() == dns.rcode.NOERROR and addrs(out) == {"10.244.3.3"}
    q = query(f"web-0.{SVC}", "A")
    out = t.publish_not_ready(q, response(q, [f"web-0.{SVC} A 10.244.0.5"]), ctx)
    assert addrs(out) == {"10.244.0.5"}


def test_publish_not_ready_srv() -> None:
    view = FakeView(endpoints=[Endpoint(("10.244.3.3",), None, False, (("http", "TCP", 8080),))])
    q, r = srv_resp(targets=("web-0",))
    out = t.publish_not_ready(q, r, t.Ctx(view=view))
    targets = {(rd.port, rd.target.to_text()) for rrset in out.answer for rd in rrset}
    assert (8080, f"10-244-3-3.{SVC}") in targets and len(targets) == 2


# ------------------------------------------------------------------------------------------ endpoint names

def test_pod_name_nxdomain() -> None:
    q, r = a_resp(f"web-0.{SVC}", IPS[:1])
    out = wire_roundtrip(t.pod_name_nxdomain(q, r, t.Ctx()))
    assert out.rcode() == dns.rcode.NXDOMAIN and not out.answer
    assert out.authority[0].rdtype == dns.rdatatype.SOA
    q, r = a_resp()
    assert t.pod_name_nxdomain(q, r, t.Ctx()).rcode() == dns.rcode.NOERROR


def test_one_record_per_hostname() -> None:
    q, r = a_resp(f"shared.{SVC}", IPS)
    assert addrs(t.one_record_per_hostname(q, r, t.Ctx())) == {"10.244.1.7"}
    q, r = a_resp()
    assert addrs(t.one_record_per_hostname(q, r, t.Ctx())) == set(IPS)


# ------------------------------------------------------------------------------------------ SRV

def test_srv_service_port_from_api() -> None:
    view = FakeView(ports=[ServicePort("http", "TCP", 80), ServicePort("metrics", "TCP", 9090)])
    q, r = srv_resp()
    out = wire_roundtrip(t.srv_service_port(q, r, t.Ctx(view=view)))
    assert {rd.port for rrset in out.answer for rd in rrset} == {80}
    assert len(out.additional) == 2


def test_srv_service_port_without_api_uses_fixed_rewrite() -> None:
    q, r = srv_resp(port=8080)
    assert {rd.port for rrset in t.srv_service_port(q, r, t.Ctx()).answer for rd in rrset} == {80}
    q, r = srv_resp(port=80)
    assert {rd.port for rrset in t.srv_service_port(q, r, t.Ctx()).answer for rd in rrset} == {8080}


def test_srv_service_port_unknown_port_name_untouched() -> None:
    view = FakeView(ports=[ServicePort("other", "TCP", 80)])
    q, r = srv_resp()
    assert {rd.port for rrset in t.srv_service_port(q, r, t.Ctx(view=view)).answer for rd in rrset} == {8080}


def test_srv_dashed_targets_renames_targets_and_additional() -> None:
    q, r = srv_resp()
    out = wire_roundtrip(t.srv_dashed_targets(q, r, t.Ctx()))
    targets = {rd.target.to_text() for rrset in out.answer for rd in rrset}
    assert targets == {f"10-244-0-5.{SVC}", f"10-244-1-7.{SVC}"}
    assert {rrset.name.to_text() for rrset in out.additional} == targets


def test_srv_dashed_targets_uses_upstream_when_no_additional() -> None:
    q = query(f"_http._tcp.{SVC}", "SRV")
    r = response(q, [f"_http._tcp.{SVC} SRV 0 100 8080 web-0.{SVC}"])

    def upstream(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        uq = dns.message.make_query(name, rdtype)
        return response(uq, [f"{name} A 10.244.2.2"])

    out = t.srv_dashed_targets(q, r, t.Ctx(upstream=upstream))
    assert {rd.target.to_text() for rrset in out.answer for rd in rrset} == {f"10-244-2-2.{SVC}"}


def test_srv_any_port_name_serves_bare_name_srv() -> None:
    q = query(f"_nosuch._tcp.{SVC}", "SRV")
    r = response(q, rcode=dns.rcode.NXDOMAIN, soa=True)
    asked: list[str] = []

    def upstream(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        asked.append(name.to_text())
        uq = dns.message.make_query(name, rdtype)
        return response(uq, [f"{SVC} SRV 0 100 8080 web-0.{SVC}"], [f"web-0.{SVC} A 10.244.0.5"])

    out = wire_roundtrip(t.srv_any_port_name(q, r, t.Ctx(upstream=upstream)))
    assert asked == [SVC]
    assert out.rcode() == dns.rcode.NOERROR
    assert out.answer[0].name.to_text() == f"_nosuch._tcp.{SVC}" and len(out.answer[0]) == 1


def test_srv_any_port_name_keeps_existing_answers() -> None:
    q, r = srv_resp()

    def upstream(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        raise AssertionError("no side query for a name that answers")

    assert t.srv_any_port_name(q, r, t.Ctx(upstream=upstream)) is r


# ------------------------------------------------------------------------------------------ rcodes, case, PTR

def test_swap_nxdomain_nodata() -> None:
    q = query(SVC, "A")
    out = t.swap_nxdomain_nodata(q, response(q, rcode=dns.rcode.NXDOMAIN, soa=True), t.Ctx())
    assert out.rcode() == dns.rcode.NOERROR and not out.answer and out.authority
    q = query(SVC, "AAAA")
    out = t.swap_nxdomain_nodata(q, response(q, soa=True), t.Ctx())
    assert out.rcode() == dns.rcode.NXDOMAIN
    q, r = a_resp()
    assert t.swap_nxdomain_nodata(q, r, t.Ctx()).rcode() == dns.rcode.NOERROR and addrs(r) == set(IPS)


def test_swap_leaves_other_zones() -> None:
    q = query(f"dns-version.{ZONE}.", "A")
    out = t.swap_nxdomain_nodata(q, response(q, rcode=dns.rcode.NXDOMAIN, soa=True), t.Ctx())
    assert out.rcode() == dns.rcode.NXDOMAIN


def test_case_sensitive() -> None:
    q, r = a_resp("WeB.ns1.svc.cluster.local.")
    assert t.case_sensitive(q, r, t.Ctx()).rcode() == dns.rcode.NXDOMAIN
    q, r = a_resp()
    assert addrs(t.case_sensitive(q, r, t.Ctx())) == set(IPS)


def test_drop_ptr() -> None:
    q = query("5.0.244.10.in-addr.arpa.", "PTR")
    r = response(q, [f"5.0.244.10.in-addr.arpa. PTR web-0.{SVC}"])
    out = t.drop_ptr(q, r, t.Ctx())
    assert out.rcode() == dns.rcode.NOERROR and not out.answer


# ------------------------------------------------------------------------------------------ size, transport, errors

def big_resp(n: int = 120) -> tuple[dns.message.Message, dns.message.Message]:
    return a_resp(ips=[f"10.244.{i // 250}.{i % 250 + 1}" for i in range(n)])


def test_truncate_tcp_only_over_tcp() -> None:
    q, r = big_resp()
    assert t.truncate_tcp(q, r, t.Ctx(transport="udp")) is r
    out = t.truncate_tcp(q, r, t.Ctx(transport="tcp"))
    assert out.flags & dns.flags.TC and len(out.to_wire()) <= t.TRUNCATE_TCP_AT
    q, r = a_resp()
    assert not t.truncate_tcp(q, r, t.Ctx(transport="tcp")).flags & dns.flags.TC


def test_udp_no_tc() -> None:
    q, r = big_resp()
    r.flags |= dns.flags.TC
    assert not t.udp_no_tc(q, r, t.Ctx(transport="udp")).flags & dns.flags.TC
    r.flags |= dns.flags.TC
    assert t.udp_no_tc(q, r, t.Ctx(transport="tcp")).flags & dns.flags.TC


def test_intermittent_servfail_every_third_cluster_query() -> None:
    ctx = t.Ctx()
    codes = []
    for _ in range(6):
        q, r = a_resp()
        codes.append(t.intermittent_servfail(q, r, ctx).rcode())
    assert codes.count(dns.rcode.SERVFAIL) == 2 and codes[2] == dns.rcode.SERVFAIL
    q = query("version.bind.", "TXT")
    for _ in range(3):
        assert t.intermittent_servfail(q, response(q), ctx).rcode() == dns.rcode.NOERROR


def test_every_transform_is_identity_on_unrelated_names() -> None:
    q = query("kubernetes.default.svc.cluster.local.", "TXT")
    for name, fn in t.TRANSFORMS.items():
        if name == "intermittent-servfail":
            continue
        r = response(q, soa=True)
        before = r.to_wire()
        out = fn(q, r, t.Ctx(view=FakeView(), upstream=lambda n, rt: None))
        if name == "swap-nxdomain-nodata":
            assert out.rcode() == dns.rcode.NXDOMAIN  # NODATA for an existing name becomes NXDOMAIN
            continue
        if name == "negative-without-soa":
            assert not out.authority  # every negative answer is its business
            continue
        assert out.to_wire() == before, name


# ------------------------------------------------------------------------------------------ rendering (the proxy's)

def test_render_fits_unchanged() -> None:
    _, r = a_resp()
    out = dns.message.from_wire(t.render(r, 512))
    assert signature(out) == signature(r)  # dnspython shuffles the records of an RRset on the wire


def test_render_drops_additional_first_without_tc() -> None:
    _, r = srv_resp(targets=tuple(f"web-{i}" for i in range(3)))
    r.additional = [dns.rrset.from_text(f"web-{i}.{SVC}", 5, "IN", "A", f"10.244.9.{i}") for i in range(30)]
    assert len(r.to_wire()) > 512
    out = dns.message.from_wire(t.render(r, 512))
    assert not out.flags & dns.flags.TC and not out.additional and len(out.answer[0]) == 3
    assert len(r.additional) == 30  # the original is untouched


def test_render_truncates_the_answer_to_a_prefix_with_tc() -> None:
    _, r = big_resp(120)
    wire = t.render(r, 512)
    out = dns.message.from_wire(wire)
    assert len(wire) <= 512 and out.flags & dns.flags.TC
    kept = {rd.to_text() for rd in out.answer[0]}
    first = {rd.to_text() for rd in list(r.answer[0])[:len(kept)]}
    assert 20 < len(kept) < 120 and kept == first  # the first records in the RRset's order (shuffled on the wire)
    assert len(r.answer[0]) == 120


def test_foreign_a_survives_truncation() -> None:
    q, r = big_resp(120)
    out = dns.message.from_wire(t.render(t.foreign_a(q, r, t.Ctx()), 512))
    assert out.flags & dns.flags.TC and t.FOREIGN_IP in addrs(out)


def test_truncate_tcp_limit_is_the_edns_default() -> None:
    q, r = big_resp(60)  # about 1 KB: fits in 1232 bytes
    assert t.truncate_tcp(q, r, t.Ctx(transport="tcp")) is r
    q, r = big_resp(150)
    out = t.truncate_tcp(q, r, t.Ctx(transport="tcp"))
    assert out.flags & dns.flags.TC and 60 < len(out.answer[0]) < 150


# ------------------------------------------------------------------------------------------ answer integrity

def test_wrong_owner_keeps_addresses_under_the_namespace_name() -> None:
    q, r = a_resp()
    out = wire_roundtrip(t.wrong_owner(q, r, t.Ctx()))
    assert addrs(out) == set(IPS) and {rr.name.to_text() for rr in out.answer} == {f"ns1.svc.{ZONE}."}
    q, r = a_resp(f"web-0.{SVC}", IPS[:1])
    assert t.wrong_owner(q, r, t.Ctx()).answer[0].name.to_text() == f"web-0.{SVC}"


def test_duplicate_records_repeat_the_first_record_on_the_wire() -> None:
    q, r = a_resp()
    wire = t.render(t.duplicate_records(q, r, t.Ctx()), 1232)
    assert int.from_bytes(wire[6:8], "big") == 4  # ANCOUNT: 3 records + the repeated one
    per_rr = dns.message.from_wire(wire, one_rr_per_rrset=True)
    texts = [rd.to_text() for rr in per_rr.answer for rd in rr]
    assert len(texts) == 4 and len(set(texts)) == 3 and texts.count(texts[0]) == 2
    merged = dns.message.from_wire(wire)  # dnspython's default parsing merges the twin (see docs/faults.md)
    assert sum(len(rr) for rr in merged.answer) == 3
    q, r = srv_resp()
    out = dns.message.from_wire(t.render(t.duplicate_records(q, r, t.Ctx()), 1232), one_rr_per_rrset=True)
    assert sum(len(rr) for rr in out.answer) == 3
    q, r = a_resp(f"web-0.{SVC}", IPS[:1])
    assert sum(len(rr) for rr in t.duplicate_records(q, r, t.Ctx()).answer) == 1


def test_duplicate_survives_truncation() -> None:
    q, r = big_resp(120)
    wire = t.render(t.duplicate_records(q, r, t.Ctx()), 512)
    per_rr = dns.message.from_wire(wire, one_rr_per_rrset=True)
    texts = [rd.to_text() for rr in per_rr.answer for rd in rr]
    assert per_rr.flags & dns.flags.TC and texts.count(texts[0]) == 2


def test_answer_in_additional_moves_endpoint_name_records() -> None:
    name = f"web-0.{SVC}"
    q, r = a_resp(name, IPS[:1])
    out = wire_roundtrip(t.answer_in_additional(q, r, t.Ctx()))
    assert out.rcode() == dns.rcode.NOERROR and not out.answer
    assert [(rr.name.to_text(), rr.rdtype) for rr in out.additional] == [(name, dns.rdatatype.A)]
    q, r = a_resp()
    assert addrs(t.answer_in_additional(q, r, t.Ctx())) == set(IPS)


def test_negative_without_soa() -> None:
    q = query(f"nosuch.{SVC}", "A")
    out = t.negative_without_soa(q, response(q, rcode=dns.rcode.NXDOMAIN, soa=True), t.Ctx())
    assert out.rcode() == dns.rcode.NXDOMAIN and not out.authority
    q = query(SVC, "AAAA")
    out = t.negative_without_soa(q, response(q, soa=True), t.Ctx())
    assert out.rcode() == dns.rcode.NOERROR and not out.authority and not out.answer
    q, r = a_resp()
    r.authority = [dns.rrset.from_text(f"{ZONE}.", 5, "IN", "NS", f"ns.dns.{ZONE}.")]
    assert t.negative_without_soa(q, r, t.Ctx()).authority  # positive answers untouched


def test_wrong_from_start_moves_every_a_answer() -> None:
    for name in ("kubernetes.default.svc.cluster.local.", SVC, "example.com."):
        q, r = a_resp(name, IPS[:2])
        out = wire_roundtrip(t.a_in_additional_everywhere(q, r, t.Ctx()))
        assert not out.answer and {rd.to_text() for rr in out.additional for rd in rr} == set(IPS[:2])
    q = query(SVC, "AAAA")
    r = response(q, [f"{SVC} AAAA fd00::1"])
    assert t.a_in_additional_everywhere(q, r, t.Ctx()).answer
    q, r = srv_resp()
    out = t.a_in_additional_everywhere(q, r, t.Ctx())
    assert len(out.answer[0]) == 2 and len(out.additional) == 2


# ------------------------------------------------------------------------------------------ answers over time

def test_flapping_stale_serves_the_previous_answer_one_in_ten() -> None:
    ctx = t.Ctx()
    name = f"web-0.{SVC}"
    for _ in range(3):  # the old pod's answer, given 3 times: remembered
        q, r = a_resp(name, ["10.244.0.5"])
        assert addrs(t.flapping_stale(q, r, ctx)) == {"10.244.0.5"}
    seen = []
    for _ in range(17):  # the pod was re-created: answers 4..20 of the name
        q, r = a_resp(name, ["10.244.1.99"])
        out = t.flapping_stale(q, r, ctx)
        assert out.question[0].name == q.question[0].name
        seen.append(addrs(out))
    stale = [i + 4 for i, a in enumerate(seen) if a == {"10.244.0.5"}]
    assert stale == [10, 20]
    assert all(a == {"10.244.1.99"} for i, a in enumerate(seen) if i + 4 not in (10, 20))


def test_flapping_stale_needs_an_established_older_answer() -> None:
    ctx = t.Ctx()
    for i in range(30):  # a name whose answer never changes has nothing older to give
        q, r = a_resp()
        assert addrs(t.flapping_stale(q, r, ctx)) == set(IPS), i
    ctx = t.Ctx()
    for i in range(30):  # shuffled truncated subsets: none is given 3 times, none is remembered
        q, r = a_resp(ips=[IPS[i % 3], f"10.9.{i}.1"])
        assert addrs(t.flapping_stale(q, r, ctx)) == {IPS[i % 3], f"10.9.{i}.1"}


def test_flapping_stale_is_per_transport() -> None:
    ctx = t.Ctx(transport="tcp")
    for _ in range(3):
        q, r = a_resp(ips=IPS)
        t.flapping_stale(q, r, ctx)
    udp = t.Ctx(transport="udp", state=ctx.state, lock=ctx.lock)
    for _ in range(20):
        q, r = a_resp(ips=IPS[:1])
        assert addrs(t.flapping_stale(q, r, udp)) == set(IPS[:1])


def test_right_then_wrong() -> None:
    ctx = t.Ctx()
    got = []
    for _ in range(10):
        q, r = a_resp()
        got.append(addrs(t.right_then_wrong(q, r, ctx)))
    assert got[:8] == [set(IPS)] * 8 and got[8:] == [{"10.244.1.7", "10.244.0.9"}] * 2
    other = t.Ctx(transport="tcp", state=ctx.state, lock=ctx.lock)
    q, r = a_resp()
    assert addrs(t.right_then_wrong(q, r, other)) == set(IPS)  # counted per transport
    name = f"web-0.{SVC}"
    for _ in range(8):
        q, r = a_resp(name, IPS[:1])
        t.right_then_wrong(q, r, ctx)
    q, r = a_resp(name, IPS[:1])
    out = wire_roundtrip(t.right_then_wrong(q, r, ctx))
    assert out.rcode() == dns.rcode.NOERROR and not out.answer and out.authority[0].rdtype == dns.rdatatype.SOA
    q = query("5.0.244.10.in-addr.arpa.", "PTR")
    for _ in range(12):
        r = response(q, [f"5.0.244.10.in-addr.arpa. PTR web-0.{SVC}"])
        assert t.right_then_wrong(q, r, ctx).answer


def test_srv_dashed_targets_caches_upstream_lookups() -> None:
    calls: list[str] = []

    def upstream(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        calls.append(name.to_text())
        return response(dns.message.make_query(name, rdtype), [f"{name} A 10.244.2.2"])

    ctx = t.Ctx(upstream=upstream)
    for _ in range(3):
        q = query(f"_http._tcp.{SVC}", "SRV")
        r = response(q, [f"_http._tcp.{SVC} SRV 0 100 8080 web-0.{SVC}"])
        t.srv_dashed_targets(q, r, ctx)
    assert calls == [f"web-0.{SVC}"]
