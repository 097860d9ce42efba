"""The proxy end to end against a tiny in-process DNS responder (UDP + TCP on 127.0.0.1)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset
import pytest

from faults import transforms
from faults.proxy import FaultProxy

SVC = "big.ns1.svc.cluster.local."
IPS = [f"10.244.{i // 200}.{i % 200 + 1}" for i in range(150)]


def answer(wire: bytes, max_size: int) -> bytes:
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    name = q.question[0].name
    if name == dns.name.from_text(SVC):
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", IPS))
    else:
        r.set_rcode(dns.rcode.NXDOMAIN)
    return r.to_wire(max_size=max_size, prefer_truncation=True)


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    class UDP(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            q = dns.message.from_wire(data)
            sock.sendto(answer(data, max(512, q.payload) if q.edns >= 0 else 512), self.client_address)

    class TCP(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            n = int.from_bytes(self.rfile.read(2), "big")
            out = answer(self.rfile.read(n), 65535)
            self.wfile.write(len(out).to_bytes(2, "big") + out)

    # The UDP port is picked by the kernel; the same TCP port may be taken (e.g. by another
    # test's ephemeral client port), so try a few times before giving up.
    for attempt in range(20):
        udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), UDP)
        try:
            tcp = socketserver.ThreadingTCPServer(("127.0.0.1", udp.server_address[1]), TCP)
            break
        except OSError:
            udp.server_close()
            if attempt == 19:
                raise
    for s in (udp, tcp):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield "127.0.0.1", int(udp.server_address[1])
    for s in (udp, tcp):
        s.shutdown()
        s.server_close()


def ask(proxy: FaultProxy, name: str, tcp: bool, edns: bool = True) -> dns.message.Message:
    q = dns.message.make_query(name, "A", use_edns=0 if edns else False, payload=1232)
    if tcp:
        return dns.query.tcp(q, "127.0.0.1", port=proxy.port, timeout=3)
    return dns.query.udp(q, "127.0.0.1", port=proxy.port, timeout=3, raise_on_truncation=False)


def n_records(r: dns.message.Message) -> int:
    return sum(len(rrset) for rrset in r.answer)


def test_transparent_proxy(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream, transforms.identity) as proxy:
        full = ask(proxy, SVC, tcp=True)
        assert n_records(full) == len(IPS) and not full.flags & dns.flags.TC
        small = ask(proxy, SVC, tcp=False, edns=False)
        assert small.flags & dns.flags.TC and len(small.to_wire()) <= 512
        assert ask(proxy, "nosuch.ns1.svc.cluster.local.", tcp=False).rcode() == dns.rcode.NXDOMAIN
        assert proxy.stats.queries == 3 and proxy.stats.tcp == 1 and proxy.stats.changed == 0


def test_proxy_applies_fault_per_transport(upstream: tuple[str, int]) -> None:
    with FaultProxy(upstream, transforms.truncate_tcp) as proxy:
        r = ask(proxy, SVC, tcp=True)
        assert r.flags & dns.flags.TC and n_records(r) < len(IPS)
    with FaultProxy(upstream, transforms.udp_no_tc) as proxy:
        r = ask(proxy, SVC, tcp=False, edns=False)
        assert not r.flags & dns.flags.TC and n_records(r) < len(IPS)


def test_transform_error_passes_answer_through(upstream: tuple[str, int]) -> None:
    def broken(q: dns.message.Message, r: dns.message.Message, ctx: transforms.Ctx) -> dns.message.Message:
        raise ValueError("bug")

    with FaultProxy(upstream, broken, log=lambda _: None) as proxy:
        assert n_records(ask(proxy, SVC, tcp=True)) == len(IPS)
        assert proxy.stats.transform_errors


def test_upstream_down_gives_servfail() -> None:
    with FaultProxy(("127.0.0.1", 9), transforms.identity, timeout=0.5) as proxy:
        assert ask(proxy, SVC, tcp=False).rcode() == dns.rcode.SERVFAIL
        assert proxy.stats.upstream_errors == 1
