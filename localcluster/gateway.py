"""The only way across between the host's loopback and the real nodes' network namespace.

One host process holds sockets on both sides (``localcluster.netns.Namespace``) and copies bytes;
no route, veth or address joins the two networks, so a pod can never send a packet off the machine
and host processes only ever talk to 127.0.0.0/8. Three kinds of crossing:

* **API server, inward**: listeners inside the namespace (``127.0.0.1:P`` for the kubelets,
  kube-proxy and the registry tooling, and ``10.253.0.1:P`` as the endpoint of the ``kubernetes``
  Service for pods) forward to the host API server on ``127.0.0.1:P``.
* **API server to kubelets, outward** (exec, logs, port-forward, node proxy): the API server's
  egress selector sends every connection to a node through an HTTP CONNECT proxy on a Unix socket
  (the konnectivity model, ``EgressSelectorConfiguration`` with ``HTTPConnect`` over ``uds``).
  Targets inside the node network or the real nodes' pod network (``pods/proxy``,
  ``services/proxy``: the API server dials a pod IP, as on any cluster) are dialled inside the
  namespace; ``localhost`` targets (the KWOK nodes) on the host's loopback; real node names map to
  their node IPs; anything else is refused with 403 and logged, so nothing is dialled off the machine.
* **DNS for host clients**: ``127.0.0.1:D`` (UDP and TCP) forwards to the ``kube-dns`` Service
  address inside the namespace, where kube-proxy's DNAT sends it to a CoreDNS pod, the way any
  pod reaches DNS.

Run as ``python -m localcluster.gateway --netns NAME ...``; it writes ``--ready-file`` once every
listener is up and logs one line per refused or failed connection.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

from .netns import NODE_NET_V4, NODE_NET_V6, REAL_POD_CIDR_V4, REAL_POD_CIDR_V6, Namespace

log = logging.getLogger("gateway")
NODE_NETS = (ipaddress.ip_network(NODE_NET_V4), ipaddress.ip_network(NODE_NET_V6))
# Pods of the real nodes: the API server's pod and service proxy (and webhooks) dial pod IPs.
POD_NETS = (ipaddress.ip_network(REAL_POD_CIDR_V4), ipaddress.ip_network(REAL_POD_CIDR_V6))
BUF = 65536


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(BUF)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def splice(a: socket.socket, b: socket.socket, first: bytes = b"") -> None:
    """Copy both ways until both sides are done, then close both."""
    try:
        if first:
            b.sendall(first)
        t = threading.Thread(target=_pipe, args=(b, a), daemon=True)
        t.start()
        _pipe(a, b)
        t.join()
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class Gateway:
    def __init__(self, ns: Namespace, nodes: dict[str, str]) -> None:
        self.ns = ns
        self.nodes = nodes  # real node name -> node IP

    # -- listeners --------------------------------------------------------------------------------
    def listen_inside(self, host: str, port: int) -> socket.socket:
        s = self.ns.socket(_family(host), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(128)
        return s

    def serve_forever(self, listener: socket.socket, handle: object) -> None:
        def loop() -> None:
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=handle, args=(conn,), daemon=True).start()  # type: ignore[arg-type]
        threading.Thread(target=loop, daemon=True).start()

    # -- API server, inward -------------------------------------------------------------------------
    def to_host(self, port: int) -> object:
        def handle(conn: socket.socket) -> None:
            try:
                up = socket.create_connection(("127.0.0.1", port), timeout=10)
                up.settimeout(None)
            except OSError as exc:
                log.warning("inward connection to 127.0.0.1:%d failed: %s", port, exc)
                conn.close()
                return
            splice(conn, up)
        return handle

    # -- egress: HTTP CONNECT on a Unix socket ------------------------------------------------------
    def dial(self, host: str, port: int) -> socket.socket:
        host = host.strip("[]")
        if host in self.nodes:
            host = self.nodes[host]
        if host == "localhost":
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        ip = ipaddress.ip_address(host)  # ValueError for names we do not know
        if ip.is_loopback:
            return socket.create_connection((str(ip), port), timeout=10)
        if any(ip in net for net in (*NODE_NETS, *POD_NETS)):
            s = self.ns.socket(_family(str(ip)), socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect((str(ip), port))
            return s
        raise PermissionError(f"{host}:{port} is neither loopback nor in the node or pod network")

    def connect_proxy(self, conn: socket.socket) -> None:
        head = b""
        try:
            conn.settimeout(10)
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                head += chunk
            header, _, rest = head.partition(b"\r\n\r\n")
            parts = header.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) < 2 or parts[0] != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                conn.close()
                return
            host, _, port = parts[1].rpartition(":")
            try:
                up = self.dial(host, int(port))
            except (PermissionError, ValueError) as exc:
                log.warning("refused CONNECT %s: %s", parts[1], exc)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\n\r\n")
                conn.close()
                return
            except OSError as exc:
                log.warning("CONNECT %s failed: %s", parts[1], exc)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                conn.close()
                return
            up.settimeout(None)
            conn.settimeout(None)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            splice(conn, up, rest)
        except OSError as exc:
            log.warning("egress connection failed: %s", exc)
            conn.close()

    # -- DNS for host clients -----------------------------------------------------------------------
    def dns_tcp(self, target: tuple[str, int]) -> object:
        def handle(conn: socket.socket) -> None:
            try:
                up = self.ns.socket(_family(target[0]), socket.SOCK_STREAM)
                up.settimeout(10)
                up.connect(target)
                up.settimeout(None)
            except OSError as exc:
                log.warning("DNS over TCP to %s failed: %s", target, exc)
                conn.close()
                return
            splice(conn, up)
        return handle

    def dns_udp(self, listener: socket.socket, target: tuple[str, int]) -> None:
        """One namespace-side socket per client address, so answers find their way back."""
        clients: dict[tuple[str, int], tuple[socket.socket, list[float]]] = {}
        lock = threading.Lock()

        def back(client: tuple[str, int], up: socket.socket, seen: list[float]) -> None:
            up.settimeout(5)
            while True:
                try:
                    data = up.recv(BUF)
                except TimeoutError:
                    if time.monotonic() - seen[0] > 30:
                        break
                    continue
                except OSError:
                    break
                seen[0] = time.monotonic()
                with contextlib.suppress(OSError):
                    listener.sendto(data, client)
            with lock:
                clients.pop(client, None)
            up.close()

        def loop() -> None:
            while True:
                data, client = listener.recvfrom(BUF)
                with lock:
                    entry = clients.get(client)
                    if entry is None:
                        up = self.ns.socket(_family(target[0]), socket.SOCK_DGRAM)
                        up.connect(target)
                        entry = (up, [time.monotonic()])
                        clients[client] = entry
                        threading.Thread(target=back, args=(client, up, entry[1]), daemon=True).start()
                entry[1][0] = time.monotonic()
                with contextlib.suppress(OSError):
                    entry[0].send(data)
        threading.Thread(target=loop, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localcluster.gateway")
    ap.add_argument("--netns", required=True)
    ap.add_argument("--api", action="append", default=[], metavar="HOST:PORT",
                    help="listen inside the namespace on HOST:PORT, forward to host 127.0.0.1:PORT")
    ap.add_argument("--egress-uds", required=True, type=Path)
    ap.add_argument("--node", action="append", default=[], metavar="NAME=IP")
    ap.add_argument("--dns-listen", type=int, default=0, help="host 127.0.0.1 port for DNS (0: none)")
    ap.add_argument("--dns-target", default="10.96.0.10:53")
    ap.add_argument("--ready-file", required=True, type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    ns = Namespace(args.netns)
    gw = Gateway(ns, dict(n.split("=", 1) for n in args.node))
    for spec in args.api:
        host, _, port = spec.rpartition(":")
        gw.serve_forever(gw.listen_inside(host.strip("[]"), int(port)), gw.to_host(int(port)))
    with contextlib.suppress(FileNotFoundError):
        args.egress_uds.unlink()
    uds = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    uds.bind(str(args.egress_uds))
    os.chmod(args.egress_uds, 0o600)
    uds.listen(128)
    gw.serve_forever(uds, gw.connect_proxy)
    if args.dns_listen:
        thost, _, tport = args.dns_target.rpartition(":")
        target = (thost.strip("[]"), int(tport))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", args.dns_listen))
        gw.dns_udp(udp, target)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", args.dns_listen))
        tcp.listen(128)
        gw.serve_forever(tcp, gw.dns_tcp(target))
    args.ready_file.touch()
    log.info("gateway up: netns %s, api %s, egress %s, dns %s", args.netns, args.api, args.egress_uds,
             args.dns_listen or "-")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
