"""The fault proxy: UDP+TCP DNS on 127.0.0.1 that forwards to the real CoreDNS and rewrites its answers.

Runs in threads of the calling process (the runner), or in the foreground with
``python -m faults proxy`` (which writes a pid file and stops on SIGTERM/SIGINT).
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from faults.kubeview import ClusterView
from faults.transforms import Ctx, Transform, render

LOOPBACK = "127.0.0.1"


@dataclass
class Stats:
    queries: int = 0
    udp: int = 0
    tcp: int = 0
    changed: int = 0
    upstream_errors: int = 0
    transform_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"queries": self.queries, "udp": self.udp, "tcp": self.tcp, "changed": self.changed,
                "upstream_errors": self.upstream_errors, "transform_errors": self.transform_errors[:20]}


def parse_hostport(text: str, default_port: int = 53) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        return text.strip(), default_port
    return host.strip("[]"), int(port)


class FaultProxy:
    """Forward every query to ``upstream`` and pass the real answer through ``transform``."""

    def __init__(self, upstream: tuple[str, int], transform: Transform, *, view: ClusterView | None = None,
                 port: int = 0, timeout: float = 3.0, log: Callable[[str], None] | None = None) -> None:
        self.upstream = upstream
        self.transform = transform
        self.view = view
        self.timeout = timeout
        self.state: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self._log = log or (lambda msg: print(msg, file=sys.stderr))
        self._want_port = port
        self._udp: socketserver.ThreadingUDPServer | None = None
        self._tcp: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle
    @property
    def port(self) -> int:
        if self._udp is None:
            raise RuntimeError("proxy not started")
        return int(self._udp.server_address[1])

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start(self) -> FaultProxy:
        proxy = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                out = proxy.handle_wire(data, "udp")
                if out is not None:
                    sock.sendto(out, self.client_address)

        class TCPHandler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.connection.settimeout(30)
                while True:
                    try:
                        head = self.rfile.read(2)
                        if len(head) < 2:
                            return
                        body = self.rfile.read(int.from_bytes(head, "big"))
                    except OSError:
                        return
                    out = proxy.handle_wire(body, "tcp")
                    if out is None:
                        return
                    try:
                        self.wfile.write(len(out).to_bytes(2, "big") + out)
                        self.wfile.flush()
                    except OSError:
                        return

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        last: OSError | None = None
        for _ in range(20):
            udp = socketserver.ThreadingUDPServer((LOOPBACK, self._want_port), UDPHandler)
            udp.daemon_threads = True
            try:
                tcp = socketserver.ThreadingTCPServer((LOOPBACK, int(udp.server_address[1])), TCPHandler)
            except OSError as exc:
                udp.server_close()
                last = exc
                if self._want_port:
                    break
                continue
            tcp.daemon_threads = True
            self._udp, self._tcp = udp, tcp
            break
        else:
            raise RuntimeError(f"no free UDP+TCP port on {LOOPBACK}: {last}")
        if self._udp is None or self._tcp is None:
            raise RuntimeError(f"cannot bind {LOOPBACK}:{self._want_port} (UDP+TCP): {last}")
        for server in (self._udp, self._tcp):
            t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                                 name=f"fault-proxy-{type(server).__name__}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            if server is not None:
                server.shutdown()
                server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- forwarding
    def lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message | None:
        """A side query to the upstream over TCP (used by transforms that need other names)."""
        try:
            q = dns.message.make_query(name, rdtype)
            return dns.query.tcp(q, self.upstream[0], port=self.upstream[1], timeout=self.timeout)
        except (dns.exception.DNSException, OSError):
            return None

    def _forward(self, query: dns.message.Message, transport: str) -> dns.message.Message:
        host, port = self.upstream
        if transport == "tcp":
            return dns.query.tcp(query, host, port=port, timeout=self.timeout)
        return dns.query.udp(query, host, port=port, timeout=self.timeout, raise_on_truncation=False,
                             ignore_trailing=True)

    def handle_wire(self, data: bytes, transport: str) -> bytes | None:
        """Answer one wire-format query: forward, transform, render for the client's size limit (truncated the
        way a server must: see ``transforms.render``)."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        with self._stats_lock:
            self.stats.queries += 1
            if transport == "udp":
                self.stats.udp += 1
            else:
                self.stats.tcp += 1
        try:
            resp = self._forward(query, transport)
        except (dns.exception.DNSException, OSError):
            with self._stats_lock:
                self.stats.upstream_errors += 1
            fail = dns.message.make_response(query)
            fail.set_rcode(dns.rcode.SERVFAIL)
            return fail.to_wire()
        before = resp.to_wire(max_size=65535)
        out_msg = resp
        if query.question:
            ctx = Ctx(transport=transport, upstream=self.lookup, view=self.view, state=self.state, lock=self.lock)
            try:
                out_msg = self.transform(query, dns.message.from_wire(before, ignore_trailing=True), ctx)
            except Exception:
                err = traceback.format_exc(limit=3)
                with self._stats_lock:
                    self.stats.transform_errors.append(err)
                self._log(f"fault-proxy: transform error (answer passed through):\n{err}")
                out_msg = resp
        out_msg.id = query.id
        udp_limit = max(512, query.payload) if query.edns >= 0 else 512
        limit = udp_limit if transport == "udp" else 65535
        wire = render(out_msg, limit)
        if signature(dns.message.from_wire(wire, ignore_trailing=True)) != signature(resp):
            with self._stats_lock:
                self.stats.changed += 1
        return wire


def signature(msg: dns.message.Message) -> tuple[object, ...]:
    """Order-independent content of a message (rcode, flags, records per section)."""
    def section(rrsets: list[dns.rrset.RRset]) -> tuple[str, ...]:
        return tuple(sorted(f"{r.name.to_text().lower()} {r.ttl} {r.rdclass} {r.rdtype} {rd.to_text()}"
                            for r in rrsets for rd in r))

    return (msg.rcode(), msg.flags, section(msg.answer), section(msg.authority), section(msg.additional))


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now (a DNS server binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((LOOPBACK, 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((LOOPBACK, port))
                except OSError:
                    continue
            return port
    raise OSError("no loopback port free for both UDP and TCP")
