"""The in-pod probe (run locally against a fake DNS server on 127.0.0.1) and the polling loop."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from fixtures.catalogue import get_case
from fixtures.dns.converge import Dns, Evidence
from fixtures.dns.model import Expectation, Query, QueryResult, Record
from fixtures.dns.resolver import _last_json, build_probe_zip, result_from_probe
from fixtures.verdict import DnsMismatch, InfrastructureError

BIG = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(150)]


def _answer(wire: bytes, udp: bool) -> bytes:
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    name = q.question[0].name.to_text()
    if name == "big.test.":
        addrs = BIG
        if udp and q.edns < 0:
            addrs = BIG[:20]
            r.flags |= dns.flags.TC
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", addrs))
    elif name == "web.test.":
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", ["10.0.0.1", "10.0.0.2"]))
    else:
        r.set_rcode(dns.rcode.NXDOMAIN)
    return r.to_wire(max_size=65535)


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(_answer(data, True), self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        n = struct.unpack("!H", self.request.recv(2))[0]
        data = b""
        while len(data) < n:
            data += self.request.recv(n - len(data))
        out = _answer(data, False)
        self.request.sendall(struct.pack("!H", len(out)) + out)


@pytest.fixture(scope="module")
def fake_dns() -> Iterator[int]:
    udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Udp)
    port = udp.server_address[1]
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Tcp)
    for srv in (udp, tcp):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield port
    for srv in (udp, tcp):
        srv.shutdown()
        srv.server_close()


def _run_probe(tmp_path: Path, request: dict[str, object]) -> dict[str, object]:
    data, digest = build_probe_zip()
    path = tmp_path / f"hsdns-probe-{digest[:12]}.zip"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-I", str(path), json.dumps(request)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, check=False)
    parsed = _last_json(out.stdout)
    assert parsed is not None, out.stderr
    return parsed


def test_probe_zip_is_self_contained_and_answers_over_udp_and_tcp(tmp_path: Path, fake_dns: int) -> None:
    ops = [{"op": "query", "name": "big.test.", "type": "A", "transport": "udp", "payload": 0},
           {"op": "query", "name": "big.test.", "type": "A", "transport": "tcp", "payload": None},
           {"op": "query", "name": "nosuch.test.", "type": "A", "transport": "udp", "payload": None}]
    out = _run_probe(tmp_path, {"server": "127.0.0.1", "port": fake_dns, "timeout": 2, "ops": ops})
    assert out["ok"], out
    results = out["results"]
    assert isinstance(results, list)
    queries = [Query("big.test.", "A", "udp", 0), Query("big.test.", "A", "tcp"), Query("nosuch.test.", "A")]
    parsed = [result_from_probe(q, "127.0.0.1", r) for q, r in zip(queries, results, strict=True)]
    assert parsed[0].tc and Expectation.truncated_subset(BIG, "A").matches(parsed[0])
    assert Expectation.exactly(BIG, "A").matches(parsed[1]) and not parsed[1].tc
    assert parsed[2].rcode == "NXDOMAIN"


def test_probe_reports_timeouts_as_no_response(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # bound, never answers
    try:
        out = _run_probe(tmp_path, {"server": "127.0.0.1", "port": sock.getsockname()[1], "timeout": 0.3,
                                    "ops": [{"op": "query", "name": "x.", "type": "A", "transport": "udp"}]})
    finally:
        sock.close()
    res = out["results"][0]  # type: ignore[index]
    assert res["rcode"] is None and "timeout" in res["error"]


def test_probe_never_exits_non_zero_on_bad_input(tmp_path: Path) -> None:
    out = _run_probe(tmp_path, {"ops": "nonsense"})
    assert out["ok"] is False


class _Scripted:
    """Fake runner returning scripted answers (one list of record sets per attempt)."""

    backend = "fake"
    where = "fake"

    def __init__(self, answers: list[list[str]]) -> None:
        self.answers = answers
        self.calls = 0

    def run(self, queries: Sequence[Query]) -> list[QueryResult]:
        data = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [QueryResult(q, "fake", "NOERROR" if data else "NXDOMAIN", ("QR", "AA"),
                            tuple(Record(q.name, 5, "A", d) for d in data)) for q in queries]


def test_converge_needs_n_identical_matching_answers() -> None:
    runner = _Scripted([[], ["10.0.0.1"], ["10.0.0.1", "10.0.0.2"], ["10.0.0.1", "10.0.0.2"],
                        ["10.0.0.1", "10.0.0.2"]])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    dns_ = Dns(runner, ev, timeout=10, stable=3, interval=0.01)
    dns_.expect("web.test.", "A", Expectation.exactly(["10.0.0.2", "10.0.0.1"], "A"), transports=("udp",))
    assert runner.calls == 5
    assert ev.time_to_converge_s is not None and ev.observations[0]["converged"]
    assert len(ev.observations[0]["attempts"]) == 5


def test_deadline_fails_with_the_last_answers() -> None:
    ev = Evidence(get_case("HS-DNS-002"), "one A per ready endpoint")
    dns_ = Dns(_Scripted([["10.0.0.9"]]), ev, timeout=0.2, stable=3, interval=0.05)
    with pytest.raises(DnsMismatch) as err:
        dns_.expect("web.test.", "A", Expectation.exactly(["10.0.0.1"], "A"), transports=("tcp",))
    text = str(err.value)
    assert text.startswith("-> HS-DNS-002 [MUST k8s-dns/2.4.1]: one A per ready endpoint")
    assert 'Missing records: ["10.0.0.1"]' in text and 'Extra records: ["10.0.0.9"]' in text
    assert ev.missing and ev.extra
    assert isinstance(err.value, AssertionError)
    assert not issubclass(InfrastructureError, AssertionError)
    json.loads(ev.dumps())
