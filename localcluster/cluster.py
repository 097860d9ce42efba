"""Start, check and stop the local control plane: real binaries, loopback only, stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from . import config as cfg
from .build import BuildError, binary_paths, build_all, components
from .paths import run_dir
from .pki import PKI, create_pki, write_kubeconfig

# Start order; `down` stops in reverse.
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "coredns", "podsim")


class ClusterError(RuntimeError):
    """Something the user can act on; the message names the component and shows its log tail."""


@dataclass
class State:
    run_dir: str
    kubeconfig: str
    dns_server: str
    ports: dict[str, int]
    pids: dict[str, int]
    settings: dict[str, Any]
    started_at: float
    up_seconds: float = 0.0

    @classmethod
    def load(cls, directory: Path) -> State | None:
        path = directory / "state.json"
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def save(self) -> None:
        path = Path(self.run_dir) / "state.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


# --- processes -----------------------------------------------------------------------------

def pid_alive(pid: int, expect: str) -> bool:
    """True if `pid` runs and its command line contains `expect` (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return expect in cmdline


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def allocate_ports(settings: cfg.Settings) -> cfg.Ports:
    taken: set[int] = set()

    def pick() -> int:
        while True:
            p = free_port()
            if p not in taken and port_is_free(p):
                taken.add(p)
                return p

    dns = settings.fixed_dns_port
    if dns is not None:
        if not port_is_free(dns):
            raise ClusterError(
                f"DNS port 127.0.0.1:{dns} is already in use (UDP or TCP). Stop whatever listens there "
                "(`ss -lunpt | grep :%d`) or choose another port with --dns-port, or omit it to pick a free one." % dns)
        taken.add(dns)
    return cfg.Ports(etcd_client=pick(), etcd_peer=pick(), apiserver=pick(), controller_manager=pick(),
                     scheduler=pick(), kwok=pick(), dns=dns if dns is not None else pick(),
                     dns_health=pick(), dns_ready=pick())


class Launcher:
    def __init__(self, directory: Path, settings: cfg.Settings, say: Callable[[str], None]) -> None:
        self.dir = directory
        self.settings = settings
        self.say = say
        self.logs = directory / "logs"
        self.pids: dict[str, int] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.bins = binary_paths()

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        logf = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
        logf.close()
        self.procs[name] = proc
        self.pids[name] = proc.pid
        (self.dir / "pids").mkdir(exist_ok=True)
        (self.dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")

    def wait_healthy(self, name: str, check: Callable[[], bool], timeout: float = 60.0) -> float:
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                log = self.logs / f"{name}.log"
                raise ClusterError(f"{name} exited during start-up (exit {self.procs[name].returncode}). "
                                   f"Last lines of {log}:\n{log_tail(log)}")
            try:
                if check():
                    return time.monotonic() - t0
            except (OSError, urllib.error.URLError, ssl.SSLError):
                pass
            time.sleep(0.2)
        raise ClusterError(f"{name} did not become healthy within {timeout:.0f}s. Last lines of "
                           f"{self.logs / (name + '.log')}:\n{log_tail(self.logs / f'{name}.log')}")


def expect_of(name: str) -> str:
    return "localcluster.podsim" if name == "podsim" else name


def http_ok(url: str, ctx: ssl.SSLContext | None = None, want: bytes | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
        body: bytes = resp.read()
        return resp.status == 200 and (want is None or want in body)


def insecure_ctx() -> ssl.SSLContext:
    # Controller-manager and scheduler serve self-signed certificates on 127.0.0.1.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --- up / down / status --------------------------------------------------------------------

def up(settings: cfg.Settings, say: Callable[[str], None] = print) -> State:
    directory = run_dir()
    existing = State.load(directory)
    if existing is not None:
        dead = [n for n, pid in existing.pids.items() if not pid_alive(pid, expect_of(n))]
        if not dead and health_report(existing)[0]:
            say(f"local cluster already up (started {time.ctime(existing.started_at)}); nothing to do")
            return existing
        say(f"found a stale run in {directory} (not running: {', '.join(dead) or 'none'}); cleaning it up")
        stop_processes(existing, say)
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)

    try:
        build_all(log=say)
    except BuildError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise ClusterError(str(exc)) from exc

    t0 = time.monotonic()
    ports = allocate_ports(settings)
    pki = create_pki(directory / "pki", settings.cluster_domain, cfg.DNS_SERVICE_IP_V4.rsplit(".", 1)[0] + ".1")
    kubeconfig = directory / "admin.kubeconfig"
    write_kubeconfig(kubeconfig, f"https://127.0.0.1:{ports.apiserver}", pki)
    launcher = Launcher(directory, settings, say)
    dns_server = f"127.0.0.1:{ports.dns}"
    state = State(run_dir=str(directory), kubeconfig=str(kubeconfig), dns_server=dns_server,
                  ports=asdict(ports), pids=launcher.pids, settings=asdict(settings), started_at=time.time())
    state.save()
    try:
        _start_all(launcher, ports, pki, kubeconfig, settings, dns_server)
    except BaseException:
        say("start-up failed; stopping what was started")
        state.save()
        stop_processes(state, say)
        raise
    state.up_seconds = round(time.monotonic() - t0, 1)
    state.save()
    return state


def _start_all(launcher: Launcher, ports: cfg.Ports, pki: PKI, kubeconfig: Path, settings: cfg.Settings,
               dns_server: str) -> None:
    b, d = launcher.bins, launcher.dir
    timings: dict[str, float] = {}

    launcher.start("etcd", [
        str(b["etcd"]), "--name=node0", f"--data-dir={d / 'etcd'}",
        f"--listen-client-urls=http://127.0.0.1:{ports.etcd_client}",
        f"--advertise-client-urls=http://127.0.0.1:{ports.etcd_client}",
        f"--listen-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{ports.etcd_peer}",
        f"--initial-cluster=node0=http://127.0.0.1:{ports.etcd_peer}",
        "--listen-metrics-urls=", "--auto-compaction-retention=1", "--quota-backend-bytes=2147483648",
        "--unsafe-no-fsync=true", "--log-level=warn",
    ])
    checks = health_checks(ports, pki.ca_crt, d)
    timings["etcd"] = launcher.wait_healthy(
        "etcd", checks["etcd"])

    launcher.start("kube-apiserver", [
        str(b["kube-apiserver"]), f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}", "--etcd-prefix=/registry",
        "--bind-address=127.0.0.1", f"--secure-port={ports.apiserver}", "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={pki.admin_crt}", f"--tls-private-key-file={pki.admin_key}",
        f"--client-ca-file={pki.ca_crt}",
        f"--service-account-issuer=https://kubernetes.default.svc.{settings.cluster_domain}",
        f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={settings.service_cidr}", "--authorization-mode=Node,RBAC",
        "--allow-privileged=true", f"--proxy-client-cert-file={pki.admin_crt}",
        f"--proxy-client-key-file={pki.admin_key}", "--profiling=false",
        "--kubelet-preferred-address-types=Hostname,InternalIP",
        "--enable-priority-and-fairness=false", "--max-requests-inflight=0", "--max-mutating-requests-inflight=0",
        "--v=1",
    ])
    timings["kube-apiserver"] = launcher.wait_healthy(
        "kube-apiserver", checks["kube-apiserver"], timeout=120)

    common = [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
              f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", "--leader-elect=false",
              "--kube-api-qps=200", "--kube-api-burst=400", "--v=1"]
    kcm = [str(b["kube-controller-manager"]), *common, f"--secure-port={ports.controller_manager}",
           f"--root-ca-file={pki.ca_crt}", f"--service-account-private-key-file={pki.sa_key}",
           f"--service-cluster-ip-range={settings.service_cidr}", "--use-service-account-credentials=false",
           f"--cluster-cidr={cfg.POD_CIDR_V4}" + (f",{cfg.POD_CIDR_V6}" if settings.dual_stack else ""),
           "--allocate-node-cidrs=false"]
    launcher.start("kube-controller-manager", kcm)
    launcher.start("kube-scheduler", [str(b["kube-scheduler"]), *common, f"--secure-port={ports.scheduler}"])

    bootstrap = _Bootstrap(kubeconfig)
    bootstrap.apply_exec_crd(b["kwok"].with_name("kwok.x-k8s.io_execs.yaml"))
    (d / "kwok.yaml").write_text(cfg.kwok_config(settings, ports))
    launcher.start("kwok", [
        str(b["kwok"]), f"--kubeconfig={kubeconfig}", f"--config={d / 'kwok.yaml'}",
        f"--tls-cert-file={pki.admin_crt}", f"--tls-private-key-file={pki.admin_key}", "-v=INFO",
    ], env=exec_env())
    (d / "Corefile").write_text(cfg.corefile(settings, ports, kubeconfig, str(_pin("coredns"))))
    launcher.start("coredns", [str(b["coredns"]), "-conf", str(d / "Corefile")])
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    launcher.start("podsim", [py, "-m", "localcluster.podsim", "--kubeconfig", str(kubeconfig),
                              "--run-dir", str(d), "--dns-server", dns_server,
                              *(["--dual-stack"] if settings.dual_stack else [])], env=env)

    timings["kube-controller-manager"] = launcher.wait_healthy(
        "kube-controller-manager", checks["kube-controller-manager"])
    timings["kube-scheduler"] = launcher.wait_healthy(
        "kube-scheduler", checks["kube-scheduler"])
    timings["kwok"] = launcher.wait_healthy("kwok", checks["kwok"])

    bootstrap.create_dns_service(settings)
    bootstrap.publish_corefile((d / "Corefile").read_text())
    bootstrap.create_nodes(settings.nodes)
    timings["coredns"] = launcher.wait_healthy(
        "coredns", checks["coredns"], timeout=60)
    timings["podsim"] = launcher.wait_healthy("podsim", checks["podsim"])
    t_nodes = time.monotonic()
    bootstrap.wait_nodes_ready(settings.nodes, timeout=90)
    timings["nodes"] = time.monotonic() - t_nodes
    (d / "timings.json").write_text(json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=2) + "\n")


def exec_env() -> dict[str, str]:
    """Environment for kwok, whose PATH resolves argv[0] of every `exec` into a pod.

    The directory of the real interpreter goes first, so `python3` in a pod is the host's
    Python itself rather than a version-manager shim that costs about a second per exec.
    """
    real_python_dir = str(Path(getattr(sys, "_base_executable", sys.executable)).resolve().parent)
    return dict(os.environ, PATH=os.pathsep.join([real_python_dir, os.environ.get("PATH", "")]))


def _pin(name: str) -> str:
    return next(c.version for c in components() if c.name == name)


class _Bootstrap:
    """The few API objects a kubeadm cluster would have and KWOK needs (via the real API)."""

    def __init__(self, kubeconfig: Path) -> None:
        from kubernetes import client, config

        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.ext = client.ApiextensionsV1Api(self.api_client)

    def apply_exec_crd(self, crd_file: Path) -> None:
        from kubernetes.client.rest import ApiException

        body = yaml.safe_load(crd_file.read_text())
        try:
            self.ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crd = self.ext.read_custom_resource_definition(body["metadata"]["name"])
            if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                return
            time.sleep(0.2)
        raise ClusterError("the kwok Exec CRD did not become Established within 30s")

    def create_dns_service(self, settings: cfg.Settings) -> None:
        from kubernetes.client.rest import ApiException

        try:
            self.core.create_namespaced_service("kube-system", cfg.dns_service_manifest(settings))
        except ApiException as exc:
            if exc.status != 409:
                raise

    def publish_corefile(self, corefile: str) -> None:
        """kube-system/coredns ConfigMap, as kubeadm has it: lets clients read the DNS config."""
        from kubernetes.client.rest import ApiException

        body = {"metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": corefile}}
        try:
            self.core.create_namespaced_config_map("kube-system", body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def create_nodes(self, count: int) -> None:
        from kubernetes.client.rest import ApiException

        for i in range(count):
            try:
                self.core.create_node(cfg.node_manifest(i))
            except ApiException as exc:
                if exc.status != 409:
                    raise

    def wait_nodes_ready(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            nodes = self.core.list_node(label_selector=f"{cfg.LOCAL_NODE_LABEL}=true").items
            ready = [n for n in nodes
                     if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
                     and not n.spec.taints]
            last = f"{len(ready)}/{count} nodes Ready and untainted"
            if len(ready) >= count:
                return
            time.sleep(0.3)
        raise ClusterError(f"fake nodes not ready within {timeout:.0f}s ({last}); see the kwok and "
                           "kube-controller-manager logs")


def stop_processes(state: State, say: Callable[[str], None] = print, grace: float = 10.0) -> list[str]:
    """SIGTERM each recorded PID in reverse start order, SIGKILL after `grace`; never by name."""
    stopped = []
    for name in reversed(ORDER):
        pid = state.pids.get(name)
        if pid is None or not pid_alive(pid, expect_of(name)):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pid_alive(pid, expect_of(name)):
            time.sleep(0.1)
        if pid_alive(pid, expect_of(name)):
            say(f"{name} (pid {pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
            os.kill(pid, signal.SIGKILL)
        stopped.append(name)
    return stopped


def down(say: Callable[[str], None] = print) -> None:
    directory = run_dir()
    state = State.load(directory)
    if state is None and not directory.exists():
        say("local cluster is not running; nothing to do")
        return
    if state is not None:
        stopped = stop_processes(state, say)
        say(f"stopped {', '.join(stopped) or 'nothing (no process was running)'}")
    shutil.rmtree(directory, ignore_errors=True)
    say(f"removed {directory}")


def health_checks(ports: cfg.Ports, ca: Path, directory: Path) -> dict[str, Callable[[], bool]]:
    """One health probe per component, used while starting (`up`) and by `status`."""
    ca_ctx = ssl.create_default_context(cafile=str(ca))
    insecure = insecure_ctx()
    return {
        "etcd": lambda: http_ok(f"http://127.0.0.1:{ports.etcd_client}/health", want=b'"health":"true"'),
        "kube-apiserver": lambda: http_ok(f"https://127.0.0.1:{ports.apiserver}/readyz", ca_ctx),
        "kube-controller-manager": lambda: http_ok(f"https://127.0.0.1:{ports.controller_manager}/healthz", insecure),
        "kube-scheduler": lambda: http_ok(f"https://127.0.0.1:{ports.scheduler}/healthz", insecure),
        "kwok": lambda: http_ok(f"http://127.0.0.1:{ports.kwok}/healthz"),
        "coredns": lambda: http_ok(f"http://127.0.0.1:{ports.dns_ready}/ready"),
        "podsim": lambda: (directory / "podsim.ready").exists(),
    }


def health_report(state: State) -> tuple[bool, list[str]]:
    checks = health_checks(cfg.Ports(**state.ports), Path(state.kubeconfig).parent / "pki" / "ca.crt",
                           Path(state.run_dir))
    lines, ok = [], True
    for name in ORDER:
        pid = state.pids.get(name)
        alive = pid is not None and pid_alive(pid, expect_of(name))
        try:
            healthy = alive and checks[name]()
        except (OSError, urllib.error.URLError, ssl.SSLError):
            healthy = False
        ok = ok and healthy
        lines.append(f"{name:<24} pid {pid!s:<8} {'healthy' if healthy else ('unhealthy' if alive else 'not running')}")
    return ok, lines


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def env_lines(state: State) -> list[str]:
    return [f"export KUBECONFIG={state.kubeconfig}", f"export HSDNS_KUBECONFIG={state.kubeconfig}",
            f"export HSDNS_DNS_SERVER={state.dns_server}"]
