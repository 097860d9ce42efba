"""Real CoreDNS misconfigurations: a second CoreDNS process with a modified copy of the local Corefile.

The local cluster's Corefile (``<run dir>/Corefile``) is copied, moved to free loopback ports and
changed by one mutation (a ``template``, ``rewrite`` or ``cache`` block, or a changed ``kubernetes``
line); the process uses the same binary and kubeconfig, is started with a pid file and stopped by
that PID only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faults.proxy import LOOPBACK, free_port

Mutation = Callable[[str, str], str]  # (corefile, zone) -> corefile


class CoreDNSError(RuntimeError):
    """The second CoreDNS could not be configured or did not become ready (message has the log tail)."""


@dataclass(frozen=True)
class LocalCluster:
    run_dir: Path
    kubeconfig: str
    dns_server: str
    corefile: Path
    coredns_binary: Path


def local_cluster() -> LocalCluster:
    """Where the running local cluster keeps its Corefile and which CoreDNS binary it runs."""
    from localcluster.build import binary_paths
    from localcluster.paths import run_dir

    directory = run_dir()
    state_file = directory / "state.json"
    if not state_file.is_file():
        raise CoreDNSError(f"local cluster is not running ({state_file} missing): start it with "
                           "`python -m localcluster up`")
    state = json.loads(state_file.read_text())
    return LocalCluster(run_dir=directory, kubeconfig=str(state["kubeconfig"]), dns_server=str(state["dns_server"]),
                        corefile=directory / "Corefile", coredns_binary=binary_paths()["coredns"])


# ---------------------------------------------------------------------------------------------- mutations

def _insert_in_server_block(corefile: str, block: str) -> str:
    """Insert ``block`` (already indented) just before the closing brace of the first server block."""
    lines = corefile.rstrip("\n").split("\n")
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip() == "}" and not lines[i].startswith((" ", "\t")):
            return "\n".join([*lines[:i], block.rstrip("\n"), *lines[i:]]) + "\n"
    raise CoreDNSError("no server block found in the Corefile")


def wrong_dns_version(corefile: str, zone: str) -> str:
    """A ``template`` block answers ``dns-version.<zone>`` TXT with a string that is not the schema version."""
    zre = re.escape(zone)
    block = (f"    template IN TXT {zone} {{\n"
             f"        match ^dns-version\\.{zre}\\.$\n"
             '        answer "{{ .Name }} 28800 IN TXT \\"schema-unknown\\""\n'
             "        fallthrough\n"
             "    }\n")
    return _insert_in_server_block(corefile, block)


def long_cache(corefile: str, zone: str) -> str:
    """A ``cache`` block that keeps positive answers 300 s (``success 9984 300 300``: min TTL 300)."""
    block = ("    cache 300 {\n"
             "        success 9984 300 300\n"
             "        disable denial\n"
             "    }\n")
    return _insert_in_server_block(corefile, block)


def no_reverse_zones(corefile: str, zone: str) -> str:
    """The ``kubernetes`` plugin serves only the cluster zone: reverse zones are missing (coredns/coredns#1241)."""
    out, n = re.subn(r"^(\s*kubernetes\s+\S+)((?:\s+\S+\.arpa)+)(\s*\{)", r"\1\3", corefile, flags=re.M)
    if not n:
        raise CoreDNSError("no `kubernetes <zone> ...arpa {` line found in the Corefile")
    return out


def alias_pod_names(corefile: str, zone: str) -> str:
    """An over-broad ``rewrite`` maps every ``<h>.<svc>.<ns>.svc.<zone>`` onto ``<svc>.<ns>.svc.<zone>``."""
    zre = re.escape(zone)
    block = (f"    rewrite stop {{\n"
             f"        name regex ^[^._][^.]*\\.([^.]+)\\.([^.]+)\\.svc\\.{zre}\\.$ {{1}}.{{2}}.svc.{zone}.\n"
             f"        answer auto\n"
             f"    }}\n")
    return _insert_in_server_block(corefile, block)


MUTATIONS: dict[str, Mutation] = {
    "wrong-dns-version": wrong_dns_version,
    "long-cache": long_cache,
    "no-reverse-zones": no_reverse_zones,
    "alias-pod-names": alias_pod_names,
}


def relocate(corefile: str, dns_port: int, ready_port: int) -> str:
    """Move the copy to other loopback ports (server block, ``ready``) and drop ``health``."""
    out, n = re.subn(r"^\.:(\d+)\s*\{", f".:{dns_port} {{", corefile, count=1, flags=re.M)
    if not n:
        raise CoreDNSError("the Corefile has no `.:<port> {` server block")
    out = re.sub(r"^\s*health\b.*\n", "", out, flags=re.M)
    out = re.sub(r"^(\s*)ready\b.*$", rf"\g<1>ready {LOOPBACK}:{ready_port}", out, flags=re.M)
    return out


def zone_of(corefile: str) -> str:
    m = re.search(r"^\s*kubernetes\s+(\S+)", corefile, flags=re.M)
    return m.group(1).rstrip(".") if m else "cluster.local"


# ---------------------------------------------------------------------------------------------- process

class MisconfiguredCoreDNS:
    """A second CoreDNS process with one mutation; ``address`` is what the suite's --dns-server gets."""

    def __init__(self, mutation: str, workdir: Path, cluster: LocalCluster | None = None) -> None:
        if mutation not in MUTATIONS:
            raise CoreDNSError(f"unknown CoreDNS mutation {mutation!r}")
        self.mutation = mutation
        self.workdir = workdir
        self.cluster = cluster or local_cluster()
        self.port = 0
        self.ready_port = 0
        self.pid: int | None = None
        self.pid_file = workdir / "coredns.pid"
        self.log_file = workdir / "coredns.log"
        self.corefile = workdir / "Corefile"

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def render(self) -> str:
        base = self.cluster.corefile.read_text()
        self.port, self.ready_port = free_port(), free_port()
        return relocate(MUTATIONS[self.mutation](base, zone_of(base)), self.port, self.ready_port)

    def start(self, timeout: float = 40.0, attempts: int = 3) -> MisconfiguredCoreDNS:
        """Start it on free loopback ports; a port taken between choosing and binding it (by another fault
        run's process, or any outgoing connection's ephemeral port) means new ports and another try."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except CoreDNSError as exc:
                if "address already in use" not in str(exc) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> MisconfiguredCoreDNS:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.corefile.write_text(self.render())
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen([str(self.cluster.coredns_binary), "-conf", str(self.corefile)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid = proc.pid
        self._proc = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise CoreDNSError(f"CoreDNS ({self.mutation}) exited with {proc.returncode}:\n{self.log_tail()}")
                try:
                    with urllib.request.urlopen(f"http://{LOOPBACK}:{self.ready_port}/ready", timeout=1) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    pass
                time.sleep(0.3)
            raise CoreDNSError(f"CoreDNS ({self.mutation}) not ready within {timeout:.0f}s:\n{self.log_tail()}")
        except BaseException:  # not ready, or interrupted while waiting: never leave the process behind
            self.stop()
            raise

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the recorded PID (only that PID), SIGKILL after ``grace``; remove the pid file."""
        if self.pid is None:
            return
        proc = self._proc
        if proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                proc.wait(timeout=grace)
        self.pid_file.unlink(missing_ok=True)
        self.pid = None

    def __enter__(self) -> MisconfiguredCoreDNS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
