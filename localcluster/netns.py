"""The network namespace that holds every address of the real nodes.

Pod, Service and node addresses of a real node never touch the host's network: they live inside
one network namespace per local-cluster run (``ip netns add``), whose only interfaces are its own
loopback and the bridges and veths the CNI plugins create for pods. It has no route off the
machine: no interface in it is connected to the host. Host processes that must cross the boundary
(the API server reaching a kubelet or a pod, the kubelet reaching the API server) do so through
``localcluster.gateway``, which holds sockets on both sides; nothing is routed.

Addresses inside the namespace (all on its loopback, so they exist before any pod does):

* ``10.253.0.1`` / ``fd00:10:253::1``: the gateway's in-namespace side (API server port);
* ``10.253.0.2``: the local image registry;
* ``10.253.0.(10+i)`` / ``fd00:10:253::(10+i)``: real node *i* (its kubelet's node IP).

Pods of real node *i* get ``10.245.i.0/24`` and ``fd00:10:245:i::/64`` (never overlapping podsim's
``10.244.0.0/16``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000

NODE_NET_V4 = "10.253.0.0/24"
NODE_NET_V6 = "fd00:10:253::/64"
GATEWAY_V4 = "10.253.0.1"
GATEWAY_V6 = "fd00:10:253::1"
REGISTRY_V4 = "10.253.0.2"
REGISTRY_PORT = 5000
REAL_POD_CIDR_V4 = "10.245.0.0/16"
REAL_POD_CIDR_V6 = "fd00:10:245::/56"


class NetnsError(RuntimeError):
    """The namespace could not be made or used; the message says what to install or check."""


def node_ip_v4(index: int) -> str:
    return f"10.253.0.{10 + index}"


def node_ip_v6(index: int) -> str:
    return f"fd00:10:253::{10 + index:x}"


def pod_subnet_v4(index: int) -> str:
    return f"10.245.{index}.0/24"


def pod_subnet_v6(index: int) -> str:
    return f"fd00:10:245:{index:x}::/64"


def name_for(run_dir: Path) -> str:
    """A namespace name unique to one run directory (two clusters never share one)."""
    return "hsdns-" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:10]


def socket_dir(run_dir: Path) -> Path:
    """Unix sockets of a run (containerd, the egress proxy): a short path, since a socket path may
    not exceed 107 bytes and run directories (e.g. under pytest's tmp_path) can be long."""
    return Path("/run") / name_for(run_dir)


def path_of(name: str) -> Path:
    return NETNS_DIR / name


def exists(name: str) -> bool:
    return path_of(name).exists()


def prefix(name: str) -> list[str]:
    """Command prefix that runs a program inside the namespace (network only; same mounts)."""
    return ["nsenter", f"--net={path_of(name)}"]


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip()}")


def _sysctl(name: str, key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    proc = subprocess.run([*prefix(name), "sh", "-c", f"echo {value} > {path}"], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise NetnsError(f"setting {key}={value} in netns {name} failed: {proc.stderr.strip()}")


def preflight() -> list[str]:
    """What this machine lacks to host a real node (empty when it can)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root (network namespaces, cgroups and mounts need root)")
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux"), ("containerd", "containerd"),
                          ("runc", "runc"), ("iptables", "iptables"), ("conntrack", "conntrack"),
                          ("docker-registry", "docker-registry"), ("skopeo", "skopeo"),
                          ("mmdebstrap", "mmdebstrap")):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` is missing (apt-get install -y {package})")
    if not Path("/usr/lib/cni/bridge").exists():
        problems.append("the CNI plugins are missing (apt-get install -y containernetworking-plugins)")
    if not Path("/sys/fs/cgroup/memory").is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        problems.append("no usable cgroup hierarchy under /sys/fs/cgroup")
    return problems


def create(name: str, nodes: int, dual_stack: bool, service_cidrs: tuple[str, ...] = ()) -> None:
    """Make the namespace with its loopback addresses and forwarding; idempotent for a fresh name."""
    if exists(name):
        remove(name)
    _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")
    addrs = [f"{GATEWAY_V4}/32", f"{REGISTRY_V4}/32", *(f"{node_ip_v4(i)}/32" for i in range(nodes))]
    for addr in addrs:
        _ip("-n", name, "addr", "add", addr, "dev", "lo")
    _sysctl(name, "net.ipv4.ip_forward", "1")
    # Pods on one bridge reach a Service endpoint on the same bridge: the reply must pass the
    # namespace's iptables so kube-proxy's DNAT is undone (per-namespace since Linux 5.3).
    _sysctl(name, "net.bridge.bridge-nf-call-iptables", "1")
    if dual_stack:
        _sysctl(name, "net.ipv6.conf.all.disable_ipv6", "0")
        _sysctl(name, "net.ipv6.conf.all.forwarding", "1")
        _sysctl(name, "net.bridge.bridge-nf-call-ip6tables", "1")
        for addr in (f"{GATEWAY_V6}/128", *(f"{node_ip_v6(i)}/128" for i in range(nodes))):
            _ip("-n", name, "-6", "addr", "add", addr, "dev", "lo", "nodad")
    # Service VIPs only need a route to exist for locally made connections (the gateway's DNS
    # relay): kube-proxy's OUTPUT DNAT rewrites the destination to an endpoint, then the packet is
    # routed again. Pods have their own default route to their bridge.
    for cidr in service_cidrs:
        if ":" in cidr:
            if dual_stack:
                _ip("-n", name, "-6", "route", "add", cidr, "dev", "lo", "src", GATEWAY_V6)
        else:
            _ip("-n", name, "route", "add", cidr, "dev", "lo", "src", GATEWAY_V4)


def remove(name: str) -> bool:
    """Delete the namespace (its bridges, veths and iptables rules go with it). True if it existed."""
    if not exists(name):
        return False
    _ip("netns", "delete", name)
    return True


def list_names() -> list[str]:
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def links(name: str) -> list[str]:
    """Interface names inside the namespace (for status and leak checks)."""
    proc = subprocess.run(["ip", "-n", name, "-o", "link", "show"], capture_output=True, text=True, check=False)
    return [line.split(":")[1].strip().split("@")[0] for line in proc.stdout.splitlines() if ":" in line]


# --- sockets on the other side -------------------------------------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Namespace:
    """Creates sockets inside a network namespace from a process that stays in the host's.

    ``setns`` switches only the calling thread; a socket keeps the namespace it was created in,
    so the thread switches in, creates the socket and switches straight back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._fd = os.open(path_of(name), os.O_RDONLY | os.O_CLOEXEC)
        self._host_fd = os.open(f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        _setns(self._fd)
        try:
            yield
        finally:
            _setns(self._host_fd)

    def socket(self, family: int, kind: int) -> socket.socket:
        with self.entered():
            return socket.socket(family, kind)

    def close(self) -> None:
        os.close(self._fd)
        os.close(self._host_fd)
