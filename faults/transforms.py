"""Fault transforms: pure functions that rewrite a real DNS response (dnspython messages).

Each transform gets the client's query, the upstream (real CoreDNS) response and a :class:`Ctx`
(transport, an upstream lookup function, an optional API view and per-fault memory), and returns
the response to send back. They only touch names of the cluster zone that they target, so every
fault breaks a narrow, documented set of behaviours.
"""

from __future__ import annotations

import copy
import ipaddress
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from faults.kubeview import ClusterView
from faults.names import KName, dashed, has_upper, is_dashed_ip, parse

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
SRV = dns.rdatatype.SRV
PTR = dns.rdatatype.PTR
SOA = dns.rdatatype.SOA
IN = dns.rdataclass.IN

FOREIGN_IP = "192.0.2.10"  # TEST-NET-1: never a pod IP
FAKE_CLUSTER_IP = "10.96.255.250"  # inside the local cluster's Service range, never allocated by the suite
SERVFAIL_EVERY = 3  # intermittent-servfail: every 3rd cluster-zone query fails
TRUNCATE_TCP_AT = 1232  # truncate-tcp: TCP answers are cut like an EDNS UDP answer of the default 1232-byte payload
STALE_EVERY = 10  # flapping-stale: every 10th answer of a name is its previous answer
STALE_ESTABLISHED = 3  # ... an answer counts as "previous" once it was given this often (a converged answer)
RIGHT_FOR = 8  # right-then-wrong: the first 8 answers of a (name, type, transport) are right
TARGET_CACHE_S = 2.0  # srv-dashed-targets: how long an upstream lookup of an SRV target is reused

Upstream = Callable[[dns.name.Name, dns.rdatatype.RdataType], dns.message.Message | None]


@dataclass
class Ctx:
    """Everything a transform may use besides the query and the response."""

    transport: str = "udp"  # "udp" | "tcp"
    upstream: Upstream | None = None
    view: ClusterView | None = None
    state: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


Transform = Callable[[dns.message.Message, dns.message.Message, Ctx], dns.message.Message]


# ---------------------------------------------------------------------------------------------- helpers

def question(query: dns.message.Message) -> tuple[dns.name.Name, dns.rdatatype.RdataType]:
    q = query.question[0]
    return q.name, dns.rdatatype.RdataType(q.rdtype)


def _answers(resp: dns.message.Message, rdtype: int) -> Iterator[dns.rrset.RRset]:
    for rrset in resp.answer:
        if rrset.rdtype == rdtype:
            yield rrset


def _soa(zone: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(f"{zone}.", 5, "IN", "SOA",
                               f"ns.dns.{zone}. hostmaster.{zone}. 1 7200 1800 86400 5")


def negative(resp: dns.message.Message, rcode: dns.rcode.Rcode, zone: str) -> dns.message.Message:
    """Turn ``resp`` into NXDOMAIN or NODATA (NOERROR, empty answer) with an SOA in authority."""
    resp.set_rcode(rcode)
    resp.answer = []
    resp.additional = []
    if not any(rrset.rdtype == SOA for rrset in resp.authority) and zone:
        resp.authority = [_soa(zone)]
    resp.flags |= dns.flags.AA
    return resp


def positive(resp: dns.message.Message, name: dns.name.Name, rdtype: int, rdatas: list[dns.rdata.Rdata],
             ttl: int = 5) -> dns.message.Message:
    """Make ``resp`` NOERROR and add ``rdatas`` to the answer RRset of (name, rdtype)."""
    if not rdatas:
        return resp
    rrset = next((r for r in _answers(resp, rdtype) if r.name == name), None)
    if rrset is None:
        rrset = dns.rrset.RRset(name, IN, dns.rdatatype.RdataType(rdtype))
        rrset.update_ttl(ttl)
        resp.answer.append(rrset)
    for rd in rdatas:
        rrset.add(rd)
    resp.set_rcode(dns.rcode.NOERROR)
    resp.authority = [r for r in resp.authority if r.rdtype != SOA]
    return resp


def _a(ip: str) -> dns.rdata.Rdata:
    kind = AAAA if ":" in ip else A
    return dns.rdata.from_text(IN, kind, ip)


def _copy(msg: dns.message.Message) -> dns.message.Message:
    """A copy whose sections can be changed without touching ``msg`` (records are shared, never mutated)."""
    out = copy.copy(msg)
    out.sections = [list(section) for section in msg.sections]
    out.index = {}
    return out


def _fits(msg: dns.message.Message, limit: int) -> bytes | None:
    try:
        return msg.to_wire(max_size=limit)
    except dns.exception.TooBig:
        return None


def render(msg: dns.message.Message, limit: int) -> bytes:
    """Wire form of ``msg`` within ``limit`` bytes, truncated the way a server must truncate.

    A message that fits is sent as it is. Otherwise the additional section is dropped first, which needs no
    TC (RFC 2181 section 9); if the answer still does not fit, the authority section goes too and the answer
    keeps as many of its records as fit, in order, with TC set (RFC 1035 4.2.1), as CoreDNS truncates. So a
    truncated answer is a prefix of the full one: a record a transform puts first survives truncation.
    """
    whole = _fits(msg, limit)
    if whole is not None:
        return whole
    trial = _copy(msg)
    trial.additional = []
    no_extra = _fits(trial, limit)
    if no_extra is not None:
        return no_extra
    trial.authority = []
    trial.flags |= dns.flags.TC
    records = [(rrset, rd) for rrset in msg.answer for rd in rrset]

    def first(k: int) -> dns.message.Message:
        m = _copy(trial)
        m.answer = []
        kept = records[:k]
        for rrset in msg.answer:
            rds = [rd for owner, rd in kept if owner is rrset]
            if rds:
                new = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype, rrset.covers)
                new.update_ttl(rrset.ttl)
                for rd in rds:
                    new.add(rd)
                m.answer.append(new)
        return m

    lo, hi = 0, len(records)
    best = _fits(first(0), limit)
    while lo < hi:  # the largest prefix that fits
        mid = (lo + hi + 1) // 2
        wire = _fits(first(mid), limit)
        if wire is not None:
            lo, best = mid, wire
        else:
            hi = mid - 1
    if best is None:  # not even the header and question fit: what dnspython itself would send
        return msg.to_wire(max_size=limit, prefer_truncation=True)
    return best


def _replace_rrset(resp: dns.message.Message, old: dns.rrset.RRset, rdatas: list[dns.rdata.Rdata],
                   name: dns.name.Name | None = None) -> None:
    new = dns.rrset.RRset(name or old.name, old.rdclass, old.rdtype)
    new.update_ttl(old.ttl)
    for rd in rdatas:
        new.add(rd)
    resp.answer[resp.answer.index(old)] = new


def _target(kn: KName, label: str) -> dns.name.Name:
    return dns.name.from_text(f"{label}.{kn.service_name()}")


def _only(rdtypes: tuple[int, ...], kinds: tuple[str, ...], query: dns.message.Message) -> KName | None:
    name, rdtype = question(query)
    kn = parse(name)
    if rdtype in rdtypes and kn.kind in kinds:
        return kn
    return None


# ---------------------------------------------------------------------------------------------- transforms

def drop_one_a(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Service-name A answers with >= 2 records lose one (the lowest address, so the answer stays stable)."""
    if _only((A,), ("service",), query) is None:
        return resp
    for rrset in list(_answers(resp, A)):
        if len(rrset) >= 2:
            victim = min(rrset, key=lambda rd: ipaddress.ip_address(rd.to_text()))
            _replace_rrset(resp, rrset, [rd for rd in rrset if rd != victim])
            break
    return resp


def foreign_a(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Positive Service-name A answers get an extra address that belongs to no endpoint (192.0.2.10).

    The foreign record comes first, so it stays in an answer that has to be truncated (UDP).
    """
    if _only((A,), ("service",), query) is None:
        return resp
    for rrset in list(_answers(resp, A)):
        _replace_rrset(resp, rrset, [_a(FOREIGN_IP), *rrset])
        break
    return resp


def fake_cluster_ip(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """A headless Service name answers one ClusterIP-like address instead of its endpoints."""
    if _only((A,), ("service",), query) is None:
        return resp
    for rrset in list(_answers(resp, A)):
        _replace_rrset(resp, rrset, [_a(FAKE_CLUSTER_IP)])
        break
    return resp


def stale_cache(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Remember every A/AAAA/SRV record ever answered per (name, type) and keep serving them (stale cache).

    A deleted or removed pod's address keeps being answered next to the current ones; a name whose
    endpoints are all gone keeps answering its old records instead of NXDOMAIN.
    """
    name, rdtype = question(query)
    if _only((A, AAAA, SRV), ("service", "endpoint", "srv"), query) is None:
        return resp
    key = (name.to_text().lower(), int(rdtype))
    # Keyed by the record's text: comparing Rdata objects pairwise (``rd not in current``) took 0.5 s for an
    # answer of 150 SRV records and 29 s for 1,000, so on a loaded machine the proxy itself stopped answering
    # in time (HS-DNS-041 FAILed by timeouts in `make faults`, 2026-12-03): the fault must be wrong, not slow.
    current = {rd.to_text().lower(): rd for rrset in _answers(resp, rdtype) for rd in rrset}
    with ctx.lock:
        memory: dict[tuple[str, int], dict[str, dns.rdata.Rdata]] = ctx.state.setdefault("seen", {})
        mem = memory.setdefault(key, {})
        for text, rd in current.items():
            mem.setdefault(text, rd)
        missing = [rd for text, rd in mem.items() if text not in current]
    if not missing or resp.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return resp
    return positive(resp, name, rdtype, missing)


def srv_service_port(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """SRV records carry the Service port (``spec.ports[].port``) instead of the endpoint/target port.

    The Service port is read from the API (ctx.view). Without an API view the port is rewritten to 80
    (the suite's manifests use port 80 -> targetPort 8080), or to 8080 when it already is 80.
    """
    kn = _only((SRV,), ("srv",), query)
    if kn is None:
        return resp
    fixed: int | None = None
    if ctx.view is not None:
        ports = ctx.view.service_ports(str(kn.namespace), str(kn.service))
        if ports is not None:
            match = [p for p in ports if p.name.lower() == kn.port and p.protocol.lower() == kn.proto]
            if not match:
                return resp
            fixed = match[0].port
    for rrset in list(_answers(resp, SRV)):
        new = [rd.replace(port=fixed if fixed is not None else (80 if rd.port != 80 else 8080))
               for rd in rrset]
        _replace_rrset(resp, rrset, new)
    return resp


def srv_dashed_targets(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """SRV targets become dashed-IP names (``10-244-1-5.<svc>...``) although the endpoints have hostnames.

    Models pitfall 1 (dns-behaviours.md section 3): a server that ignores the endpoint hostname.
    Additional-section addresses are renamed with their target.
    """
    kn = _only((SRV,), ("srv",), query)
    if kn is None:
        return resp
    known: dict[dns.name.Name, str] = {}
    for rrset in resp.additional:
        if rrset.rdtype in (A, AAAA) and rrset.name not in known and len(rrset):
            known[rrset.name] = str(next(iter(rrset)).to_text())
    renames: dict[dns.name.Name, dns.name.Name] = {}
    for rrset in list(_answers(resp, SRV)):
        new = []
        for rd in rrset:
            target: dns.name.Name = rd.target
            first = target.labels[0].decode("ascii", "replace").lower() if target.labels else ""
            if is_dashed_ip(first):
                new.append(rd)
                continue
            ip = known.get(target) or _lookup_address(target, ctx)
            if ip is None:
                new.append(rd)
                continue
            renamed = _target(kn, dashed(ip))
            renames[target] = renamed
            new.append(rd.replace(target=renamed))
        _replace_rrset(resp, rrset, new)
    for extra in list(resp.additional):
        if extra.name in renames:
            moved = dns.rrset.RRset(renames[extra.name], extra.rdclass, extra.rdtype)
            moved.update_ttl(extra.ttl)
            for rd in extra:
                moved.add(rd)
            resp.additional[resp.additional.index(extra)] = moved
    return resp


def _lookup_address(target: dns.name.Name, ctx: Ctx) -> str | None:
    """The target's first A address from the upstream, reused for TARGET_CACHE_S (large SRV sets arrive
    without additional records and would otherwise cost one lookup per target and answer)."""
    if ctx.upstream is None:
        return None
    now = time.monotonic()
    with ctx.lock:
        cache: dict[dns.name.Name, tuple[float, str | None]] = ctx.state.setdefault("targets", {})
        hit = cache.get(target)
    if hit is not None and now - hit[0] < TARGET_CACHE_S:
        return hit[1]
    found = ctx.upstream(target, A)
    ip = None
    if found is not None:
        ip = next((str(next(iter(r)).to_text()) for r in found.answer if r.rdtype == A and len(r)), None)
    with ctx.lock:
        cache[target] = (now, ip)
    return ip


def pod_name_nxdomain(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Every per-endpoint name (``<h>.<svc>.<ns>.svc.<zone>``) answers NXDOMAIN, whatever the type."""
    name, _ = question(query)
    kn = parse(name)
    if kn.kind != "endpoint":
        return resp
    return negative(resp, dns.rcode.NXDOMAIN, kn.zone)


def swap_nxdomain_nodata(query: dns.message.Message, resp: dns.message.Message,
                         ctx: Ctx) -> dns.message.Message:
    """Under ``svc.<zone>``: NXDOMAIN becomes NODATA (NOERROR, empty) and NODATA becomes NXDOMAIN."""
    name, _ = question(query)
    kn = parse(name)
    if kn.kind == "other":
        return resp
    if resp.rcode() == dns.rcode.NXDOMAIN:
        return negative(resp, dns.rcode.NOERROR, kn.zone)
    if resp.rcode() == dns.rcode.NOERROR and not resp.answer:
        return negative(resp, dns.rcode.NXDOMAIN, kn.zone)
    return resp


def case_sensitive(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """A cluster-zone query name containing an upper-case letter answers NXDOMAIN (case-sensitive lookup)."""
    name, _ = question(query)
    kn = parse(name)
    if kn.kind == "other" or not has_upper(name):
        return resp
    return negative(resp, dns.rcode.NXDOMAIN, kn.zone)


def drop_ptr(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """PTR answers are dropped: NOERROR with an empty answer (NODATA)."""
    _, rdtype = question(query)
    if rdtype != PTR or resp.rcode() != dns.rcode.NOERROR:
        return resp
    resp.answer = []
    resp.additional = []
    return resp


def publish_not_ready(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Not-ready endpoints are published too (the CoreDNS 1.8.1-1.8.3 bug, coredns/coredns#4580).

    Needs the API view: for Service names (A/AAAA), per-endpoint names and SRV names it adds every
    endpoint of the Service's EndpointSlices whose ``ready`` condition is false.
    """
    name, rdtype = question(query)
    kn = _only((A, AAAA, SRV), ("service", "endpoint", "srv"), query)
    if kn is None or ctx.view is None or resp.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return resp
    family = 6 if rdtype == AAAA else 4
    extra: list[dns.rdata.Rdata] = []
    for ep in ctx.view.endpoints(str(kn.namespace), str(kn.service)):
        if ep.ready:
            continue
        addrs = [a for a in ep.addresses if ipaddress.ip_address(a).version == family]
        by_name = kn.kind == "service" or (ep.hostname or "").lower() == kn.endpoint
        if kn.kind in ("service", "endpoint") and rdtype in (A, AAAA) and by_name:
            extra += [_a(a) for a in addrs]
        elif kn.kind == "srv" and rdtype == SRV and ep.addresses:
            for pname, proto, port in ep.ports:
                if pname.lower() == kn.port and proto.lower() == kn.proto:
                    label = ep.hostname or dashed(ep.addresses[0])
                    extra.append(dns.rdata.from_text(IN, SRV, f"0 100 {port} {_target(kn, label)}"))
    current = {rd for rrset in _answers(resp, rdtype) for rd in rrset}
    return positive(resp, name, rdtype, [rd for rd in extra if rd not in current])


def truncate_tcp(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """TCP answers are limited to 1232 bytes (the EDNS UDP default) and truncated with TC like UDP answers,
    so answers larger than that never arrive complete, whatever the transport."""
    if ctx.transport != "tcp":
        return resp
    if len(resp.to_wire(max_size=65535)) <= TRUNCATE_TCP_AT:
        return resp
    return dns.message.from_wire(render(resp, TRUNCATE_TCP_AT), ignore_trailing=True, one_rr_per_rrset=False)


def udp_no_tc(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """UDP answers that were truncated lose the TC flag: the client never learns to retry over TCP."""
    if ctx.transport == "udp" and resp.flags & dns.flags.TC:
        resp.flags &= ~dns.flags.TC
    return resp


def intermittent_servfail(query: dns.message.Message, resp: dns.message.Message,
                          ctx: Ctx) -> dns.message.Message:
    """Every third cluster-zone query (counted over all transports) answers SERVFAIL."""
    name, _ = question(query)
    if parse(name).kind == "other":
        return resp
    with ctx.lock:
        n = ctx.state.get("count", 0) + 1
        ctx.state["count"] = n
    if n % SERVFAIL_EVERY:
        return resp
    resp.set_rcode(dns.rcode.SERVFAIL)
    resp.answer, resp.authority, resp.additional = [], [], []
    return resp


def one_record_per_hostname(query: dns.message.Message, resp: dns.message.Message,
                            ctx: Ctx) -> dns.message.Message:
    """A per-endpoint name shared by several endpoints answers only one of their addresses.

    The kube-dns bug kubernetes/dns#116 (pitfall 2): the last endpoint with a hostname wins.
    """
    if _only((A, AAAA), ("endpoint",), query) is None:
        return resp
    for rrset in list(_answers(resp, question(query)[1])):
        if len(rrset) >= 2:
            keep = max(rrset, key=lambda rd: ipaddress.ip_address(rd.to_text()))
            _replace_rrset(resp, rrset, [keep])
    return resp


def srv_any_port_name(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """An SRV query for a port name/protocol the Service does not publish answers every port of the Service.

    The proxy asks upstream for the bare-name SRV (which in CoreDNS includes unnamed ports) and
    serves it under the asked ``_<name>._<proto>`` name: SRV records appear for unnamed ports,
    unnamed slice ports and wrong port names.
    """
    name, _ = question(query)
    kn = _only((SRV,), ("srv",), query)
    if kn is None or ctx.upstream is None:
        return resp
    if resp.rcode() == dns.rcode.NOERROR and any(True for _ in _answers(resp, SRV)):
        return resp
    bare = ctx.upstream(dns.name.from_text(kn.service_name()), SRV)
    if bare is None:
        return resp
    rdatas = [rd for rrset in _answers(bare, SRV) for rd in rrset]
    if not rdatas:
        return resp
    resp = positive(resp, name, SRV, rdatas)
    resp.additional = list(bare.additional)
    return resp


def wrong_owner(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Service-name A/AAAA answers carry the right addresses under the wrong owner name: the namespace's
    name ``<ns>.svc.<zone>`` instead of ``<svc>.<ns>.svc.<zone>`` (a server that names records by the
    wrong node of its tree)."""
    kn = _only((A, AAAA), ("service",), query)
    if kn is None:
        return resp
    wrong = dns.name.from_text(f"{kn.namespace}.svc.{kn.zone}.")
    for rrset in list(resp.answer):
        if rrset.rdtype in (A, AAAA):
            _replace_rrset(resp, rrset, list(rrset), name=wrong)
    return resp


def duplicate_records(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Service-name A and SRV answers give their first record twice (a second RRset of one record in front
    of the real one, so both copies survive truncation)."""
    if _only((A, SRV), ("service", "srv"), query) is None:
        return resp
    rdtype = question(query)[1]
    for rrset in list(_answers(resp, rdtype)):
        if len(rrset):
            twin = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
            twin.update_ttl(rrset.ttl)
            twin.add(next(iter(rrset)))
            resp.answer.insert(0, twin)
            break
    return resp


def _answer_signature(resp: dns.message.Message) -> tuple[object, ...]:
    """What an answer says, order- and TTL-independent (loadbalance shuffles records)."""
    return (resp.rcode(), bool(resp.flags & dns.flags.TC),
            tuple(sorted(f"{r.name.to_text().lower()} {r.rdtype} {rd.to_text().lower()}"
                         for r in resp.answer for rd in r)))


def flapping_stale(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Every 10th answer of a cluster-zone name is an older answer of the same name (a cache that sometimes
    returns stale data). Per (name, type, transport), an answer given at least 3 times is remembered;
    once the name answers something else, every 10th answer is the most recent remembered other one."""
    name, rdtype = question(query)
    if parse(name).kind == "other":
        return resp
    key = (name.to_text().lower(), int(rdtype), ctx.transport)
    sig = _answer_signature(resp)
    with ctx.lock:
        book: dict[tuple[str, int, str], dict[str, Any]] = ctx.state.setdefault("flap", {})
        entry = book.setdefault(key, {"n": 0, "seen": {}, "wire": {}, "order": []})
        entry["n"] += 1
        entry["seen"][sig] = entry["seen"].get(sig, 0) + 1
        if entry["seen"][sig] == STALE_ESTABLISHED:
            try:
                entry["wire"][sig] = resp.to_wire(max_size=65535)
                entry["order"].append(sig)
            except dns.exception.TooBig:
                pass
        older = [s for s in entry["order"] if s != sig]
        stale = entry["wire"][older[-1]] if older and entry["n"] % STALE_EVERY == 0 else None
    if stale is None:
        return resp
    old = dns.message.from_wire(stale, ignore_trailing=True)
    old.question = list(query.question)
    for rrset in list(old.answer):  # the owner echoes the asked name's case, as the real answer does
        if rrset.name == name:
            _replace_rrset(old, rrset, list(rrset), name=name)
    return old


def right_then_wrong(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """Right for the first 8 answers of each (name, type, transport), then wrong: positive A/AAAA/SRV answers
    of Service, endpoint and SRV names lose their lowest record (a single record: the answer becomes NODATA).
    Only a check that keeps asking after it converged (the hold) sees it."""
    kn = _only((A, AAAA, SRV), ("service", "endpoint", "srv"), query)
    if kn is None:
        return resp
    name, rdtype = question(query)
    key = (name.to_text().lower(), int(rdtype), ctx.transport)
    with ctx.lock:
        counts: dict[tuple[str, int, str], int] = ctx.state.setdefault("answers", {})
        counts[key] = counts.get(key, 0) + 1
        n = counts[key]
    if n <= RIGHT_FOR or resp.rcode() != dns.rcode.NOERROR:
        return resp
    rrset = next((r for r in _answers(resp, rdtype) if len(r)), None)
    if rrset is None:
        return resp
    victim = min(rrset, key=_order)
    rest = [rd for rd in rrset if rd != victim]
    if rest:
        _replace_rrset(resp, rrset, rest)
        return resp
    resp.answer.remove(rrset)
    return negative(resp, dns.rcode.NOERROR, kn.zone) if not any(True for _ in _answers(resp, rdtype)) else resp


def _order(rd: dns.rdata.Rdata) -> tuple[int, Any]:
    if rd.rdtype in (A, AAAA):
        return (0, ipaddress.ip_address(rd.to_text()))
    return (1, rd.to_text())


def answer_in_additional(query: dns.message.Message, resp: dns.message.Message,
                         ctx: Ctx) -> dns.message.Message:
    """Per-endpoint-name A/AAAA answers (``<h>.<svc>.<ns>.svc.<zone>``) put their records in the additional
    section instead of the answer (NOERROR, empty answer, no SOA): records of the queried type in the
    wrong section."""
    if _only((A, AAAA), ("endpoint",), query) is None:
        return resp
    rdtype = question(query)[1]
    moved = [r for r in resp.answer if r.rdtype == rdtype]
    if moved:
        resp.answer = [r for r in resp.answer if r.rdtype != rdtype]
        resp.additional = moved + list(resp.additional)
    return resp


def negative_without_soa(query: dns.message.Message, resp: dns.message.Message,
                         ctx: Ctx) -> dns.message.Message:
    """NXDOMAIN and NODATA answers lose the zone's SOA from the authority section (RFC 2308 section 3: a
    negative answer a cache cannot hold); rcodes and records stay right."""
    _, rdtype = question(query)
    rcode = resp.rcode()
    nodata = rcode == dns.rcode.NOERROR and not any(r.rdtype in (rdtype, dns.rdatatype.CNAME) for r in resp.answer)
    if rcode == dns.rcode.NXDOMAIN or nodata:
        resp.authority = [r for r in resp.authority if r.rdtype != SOA]
    return resp


def a_in_additional_everywhere(query: dns.message.Message, resp: dns.message.Message,
                               ctx: Ctx) -> dns.message.Message:
    """Every A answer, for every name (``kubernetes.default`` included), carries its A records in the
    additional section instead of the answer: a DNS server that is wrong from start-up."""
    if question(query)[1] != A:
        return resp
    moved = [r for r in resp.answer if r.rdtype == A]
    if moved:
        resp.answer = [r for r in resp.answer if r.rdtype != A]
        resp.additional = moved + list(resp.additional)
    return resp


TRANSFORMS: dict[str, Transform] = {
    "drop-one-a": drop_one_a,
    "foreign-a": foreign_a,
    "fake-cluster-ip": fake_cluster_ip,
    "stale-cache": stale_cache,
    "srv-service-port": srv_service_port,
    "srv-dashed-targets": srv_dashed_targets,
    "pod-name-nxdomain": pod_name_nxdomain,
    "swap-nxdomain-nodata": swap_nxdomain_nodata,
    "case-sensitive": case_sensitive,
    "drop-ptr": drop_ptr,
    "publish-not-ready": publish_not_ready,
    "truncate-tcp": truncate_tcp,
    "udp-no-tc": udp_no_tc,
    "intermittent-servfail": intermittent_servfail,
    "one-record-per-hostname": one_record_per_hostname,
    "srv-any-port-name": srv_any_port_name,
    "wrong-owner": wrong_owner,
    "duplicate-records": duplicate_records,
    "flapping-stale": flapping_stale,
    "right-then-wrong": right_then_wrong,
    "answer-in-additional": answer_in_additional,
    "negative-without-soa": negative_without_soa,
    "wrong-from-start": a_in_additional_everywhere,
}


def identity(query: dns.message.Message, resp: dns.message.Message, ctx: Ctx) -> dns.message.Message:
    """No fault: the proxy forwards answers unchanged (used to check the proxy itself is transparent)."""
    return resp
