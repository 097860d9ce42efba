"""Start, check and stop the local control plane: real binaries, loopback only, stopped by PID."""

from __future__ import annotations

import functools
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import addons, realnode
from . import config as cfg
from . import netns as nn
from .build import BuildError, binary_paths, build_all, components
from .paths import run_dir
from .pki import PKI, create_pki, issue_client_cert, write_client_kubeconfig, write_kubeconfig

# The control plane's start order (real-node components are named per node: containerd-0,
# kubelet-0, ...). `down` stops every recorded process in the reverse of its start order.
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "coredns", "podsim")
# Control-plane host processes `python -m localcluster restart` may stop and start again; `up` records the
# argv and working directory of each in state.json (their environment is not set by `up`: it is inherited).
RESTARTABLE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Ports inside the network namespace (it is the run's own, so fixed numbers never collide).
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10350
KUBE_PROXY_HEALTHZ_PORT = 10256
KUBE_PROXY_METRICS_PORT = 10249


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
    # what each process's command line must contain (guards against PID reuse)
    expects: dict[str, str] = field(default_factory=dict)
    netns: str | None = None
    real_nodes: list[str] = field(default_factory=list)
    image_registry: str | None = None
    # how the RESTARTABLE components were started: {"argv": [...], "cwd": "..."} (for `restart`)
    launches: dict[str, dict[str, Any]] = field(default_factory=dict)

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
    def __init__(self, directory: Path, settings: cfg.Settings, say: Callable[[str], None],
                 on_start: Callable[[], None] | None = None) -> None:
        self.dir = directory
        self.settings = settings
        self.say = say
        self.logs = directory / "logs"
        self.pids: dict[str, int] = {}
        self.expects: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.launches: dict[str, dict[str, Any]] = {}
        self.bins = binary_paths()
        self.on_start = on_start

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None, *, expect: str | None = None,
              netns: str | None = None, cgroup: tuple[str, str] | None = None) -> None:
        """Start one component by its argv; `netns` runs it inside the run's network namespace and
        `cgroup` (run cgroup, sub-group) moves it into the run's cgroups before it execs."""
        self.logs.mkdir(parents=True, exist_ok=True)
        if netns is not None:
            argv = [*nn.prefix(netns), *argv]
        if cgroup is not None:
            argv = ["sh", "-c", realnode.cgroup_join_script(*cgroup), "sh", *argv]
        logf = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
        logf.close()
        self.procs[name] = proc
        self.pids[name] = proc.pid
        self.expects[name] = expect or default_expect(name)
        if name in RESTARTABLE and env is None:
            self.launches[name] = {"argv": list(argv), "cwd": str(self.dir)}
        (self.dir / "pids").mkdir(exist_ok=True)
        (self.dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
        if self.on_start is not None:
            self.on_start()  # a kill of `up` half-way still leaves every PID on record

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


def default_expect(name: str) -> str:
    if name in ("podsim", "gateway"):
        return f"localcluster.{name}"
    return name.rsplit("-", 1)[0] if name.rsplit("-", 1)[-1].isdigit() else name


def expect_of(name: str, state: State | None = None) -> str:
    if state is not None and name in state.expects:
        return state.expects[name]
    return default_expect(name)


def http_ok(url: str, ctx: ssl.SSLContext | None = None, want: bytes | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
        body: bytes = resp.read()
        return resp.status == 200 and (want is None or want in body)


def http_ok_inside(netns: str, host: str, port: int, path: str) -> bool:
    """Plain-HTTP GET from a socket created inside the namespace (the traffic never leaves it)."""
    ns = nn.Namespace(netns)
    try:
        s = ns.socket(socket.AF_INET, socket.SOCK_STREAM)
    finally:
        ns.close()
    with s:
        s.settimeout(2)
        s.connect((host, port))
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = s.recv(64).split()
        return len(head) >= 2 and head[1] == b"200"


def dns_answers(server: str, name: str) -> bool:
    """True when ``server`` (HOST:PORT) answers ``name`` A with NOERROR and at least one record."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode

    host, port = server.rsplit(":", 1)
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), host, port=int(port), timeout=1)
    except (dns.exception.DNSException, OSError):
        return False
    return r.rcode() == dns.rcode.NOERROR and bool(r.answer)


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
        dead = [n for n, pid in existing.pids.items() if not pid_alive(pid, expect_of(n, existing))]
        if not dead and health_report(existing)[0]:
            say(f"local cluster already up (started {time.ctime(existing.started_at)}); nothing to do")
            return existing
        say(f"found a stale run in {directory} (not running: {', '.join(dead) or 'none'}); cleaning it up")
    if existing is not None or directory.exists():
        stop_everything(existing, directory, say)
    if directory.exists():
        shutil.rmtree(directory)
    if settings.real_nodes > 0:
        problems = nn.preflight()
        if problems:
            raise ClusterError("this machine cannot host a real node: " + "; ".join(problems) + ". Fix: install "
                               "what is named (scripts/setup-system.sh does, as root), or run with --real-nodes 0 "
                               "for KWOK-simulated nodes only")
    directory.mkdir(parents=True)

    try:
        build_all(log=say)
        images = build_local_images(say) if settings.real_nodes > 0 else {}
    except BuildError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise ClusterError(str(exc)) from exc

    t0 = time.monotonic()
    ports = allocate_ports(settings)
    pki = create_pki(directory / "pki", settings.cluster_domain, cfg.DNS_SERVICE_IP_V4.rsplit(".", 1)[0] + ".1")
    kubeconfig = directory / "admin.kubeconfig"
    write_kubeconfig(kubeconfig, f"https://127.0.0.1:{ports.apiserver}", pki)
    dns_server = f"127.0.0.1:{ports.dns}"
    state = State(run_dir=str(directory), kubeconfig=str(kubeconfig), dns_server=dns_server,
                  ports=asdict(ports), pids={}, settings=asdict(settings), started_at=time.time())
    launcher = Launcher(directory, settings, say, on_start=state.save)
    state.pids, state.expects, state.launches = launcher.pids, launcher.expects, launcher.launches
    state.save()
    try:
        _start_all(launcher, state, ports, pki, kubeconfig, settings, images)
    except BaseException:
        say("start-up failed; stopping what was started")
        state.save()
        stop_everything(state, directory, say)
        raise
    state.up_seconds = round(time.monotonic() - t0, 1)
    state.save()
    return state


def build_local_images(say: Callable[[str], None]) -> dict[str, Path]:
    from . import images

    return images.build_all_images(log=say)


def push_local_images(say: Callable[[str], None]) -> list[tuple[str, bool]]:
    """Build what is missing of ``images.RECIPES`` and push it into the running cluster's registry (inside
    its network namespace), as ``up`` does: for images added after the cluster started. Returns
    ``[(reference, pushed)]`` (False: the registry already had it)."""
    from .images import push_all

    state = State.load(run_dir())
    if state is None:
        raise ClusterError("local cluster is not running (start it with: python -m localcluster up)")
    if state.netns is None or not state.image_registry:
        raise ClusterError("the local cluster has no real node, hence no image registry (up --real-nodes 1)")
    results = push_all(build_local_images(say), state.image_registry, nn.prefix(state.netns), log=say)
    return [(r.reference, r.pushed) for r in results]


def _start_all(launcher: Launcher, state: State, ports: cfg.Ports, pki: PKI, kubeconfig: Path,
               settings: cfg.Settings, images: dict[str, Path]) -> None:
    b, d = launcher.bins, launcher.dir
    timings: dict[str, float] = {}
    real = settings.real_nodes > 0
    ns_name = nn.name_for(d)
    nodes = [realnode.NodeSpec(index=i, name=realnode.node_name(i), dir=d / "nodes" / realnode.node_name(i),
                               kubelet_port=KUBELET_PORT + i, kubelet_healthz_port=KUBELET_HEALTHZ_PORT + i,
                               dual_stack=settings.dual_stack) for i in range(settings.real_nodes)]
    if real:
        t = time.monotonic()
        state.netns = ns_name
        state.real_nodes = [n.name for n in nodes]
        state.image_registry = f"{nn.REGISTRY_V4}:{nn.REGISTRY_PORT}"
        state.save()
        nn.create(ns_name, settings.real_nodes, settings.dual_stack, tuple(settings.service_cidr.split(",")))
        nn.socket_dir(d).mkdir(mode=0o700, parents=True, exist_ok=True)
        for n in nodes:
            realnode.create_cgroup(ns_name, f"containerd-{n.index}")
            realnode.create_cgroup(ns_name, f"pods-{n.index}")
        timings["netns"] = time.monotonic() - t
    checks = health_checks(state)

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
    if real:
        launcher.start("gateway", [
            sys.executable, "-m", "localcluster.gateway", "--netns", ns_name,
            "--api", f"127.0.0.1:{ports.apiserver}", "--api", f"{nn.GATEWAY_V4}:{ports.apiserver}",
            "--egress-uds", str(nn.socket_dir(d) / "egress.sock"), *(f"--node={n.name}={n.ip_v4}" for n in nodes),
            "--dns-listen", str(ports.dns), "--dns-target", f"{cfg.DNS_SERVICE_IP_V4}:53",
            "--ready-file", str(d / "gateway.ready"),
        ], env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
        (d / "egress-selector.yaml").write_text(addons.egress_selector_config(str(nn.socket_dir(d) / "egress.sock")))
    timings["etcd"] = launcher.wait_healthy("etcd", checks["etcd"])

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
        # The API server authenticates to kubelets (a real kubelet authorizes it by webhook).
        f"--kubelet-client-certificate={pki.admin_crt}", f"--kubelet-client-key={pki.admin_key}",
        "--kubelet-preferred-address-types=Hostname,InternalIP",
        *([f"--egress-selector-config-file={d / 'egress-selector.yaml'}"] if real else []),
        "--enable-priority-and-fairness=false", "--max-requests-inflight=0", "--max-mutating-requests-inflight=0",
        "--v=1",
    ])
    timings["kube-apiserver"] = launcher.wait_healthy(
        "kube-apiserver", checks["kube-apiserver"], timeout=120)
    if real:
        timings["gateway"] = launcher.wait_healthy("gateway", checks["gateway"])

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
    # The host-side Corefile is always written: the seeded-fault tooling runs misconfigured
    # copies of it next to the cluster's CoreDNS.
    (d / "Corefile").write_text(cfg.corefile(settings, ports, kubeconfig, str(_pin("coredns"))))
    if not real:
        launcher.start("coredns", [str(b["coredns"]), "-conf", str(d / "Corefile")])
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    launcher.start("podsim", [py, "-m", "localcluster.podsim", "--kubeconfig", str(kubeconfig),
                              "--run-dir", str(d), "--dns-server", state.dns_server,
                              *(["--dual-stack"] if settings.dual_stack else [])], env=env)

    timings["kube-controller-manager"] = launcher.wait_healthy(
        "kube-controller-manager", checks["kube-controller-manager"])
    timings["kube-scheduler"] = launcher.wait_healthy(
        "kube-scheduler", checks["kube-scheduler"])
    timings["kwok"] = launcher.wait_healthy("kwok", checks["kwok"])

    bootstrap.create_dns_service(settings)
    if real:
        bootstrap.publish_corefile(addons.corefile_in_cluster(settings.cluster_domain, settings.dns_ttl,
                                                              str(_pin("coredns"))))
    else:
        bootstrap.publish_corefile((d / "Corefile").read_text())
    bootstrap.create_nodes(settings.nodes, tainted=real)
    if real:
        _start_real_nodes(launcher, state, ports, pki, settings, nodes, images, bootstrap, timings, checks)
    else:
        timings["coredns"] = launcher.wait_healthy("coredns", checks["coredns"], timeout=60)
    timings["podsim"] = launcher.wait_healthy("podsim", checks["podsim"])
    t_nodes = time.monotonic()
    bootstrap.wait_nodes_ready(settings.nodes, timeout=90)
    timings["nodes"] = time.monotonic() - t_nodes
    (d / "timings.json").write_text(json.dumps({k: round(v, 2) for k, v in timings.items()}, indent=2) + "\n")


def _start_real_nodes(launcher: Launcher, state: State, ports: cfg.Ports, pki: PKI, settings: cfg.Settings,
                      nodes: list[realnode.NodeSpec], images: dict[str, Path], bootstrap: _Bootstrap,
                      timings: dict[str, float], checks: dict[str, Callable[[], bool]]) -> None:
    from .images import push_all

    b, d = launcher.bins, launcher.dir
    ns_name = nn.name_for(d)
    registry = f"{nn.REGISTRY_V4}:{nn.REGISTRY_PORT}"
    inside_api = f"https://127.0.0.1:{ports.apiserver}"  # the gateway's side in the namespace

    from .images import registry_config
    (d / "registry").mkdir(exist_ok=True)
    (d / "registry" / "config.yml").write_text(registry_config(d / "registry" / "storage", registry))
    launcher.start("registry", ["docker-registry", "serve", str(d / "registry" / "config.yml")], netns=ns_name,
                   expect=str(d / "registry" / "config.yml"))
    timings["registry"] = launcher.wait_healthy("registry", checks["registry"])
    t = time.monotonic()
    push_all(images, registry, nn.prefix(ns_name), log=launcher.say)
    timings["image push"] = time.monotonic() - t

    cluster_dns = [cfg.DNS_SERVICE_IP_V4] + ([cfg.DNS_SERVICE_IP_V6] if settings.dual_stack else [])
    for n in nodes:
        crt, key = issue_client_cert(pki, f"kubelet-{n.index}", f"system:node:{n.name}", "system:nodes")
        node_kubeconfig = n.dir / "kubelet.kubeconfig"
        realnode.write_node_files(n, registry, pki.ca_crt, f"/{ns_name}/pods-{n.index}", cluster_dns,
                                  settings.cluster_domain)
        write_client_kubeconfig(node_kubeconfig, inside_api, pki.ca_crt, crt, key, f"system:node:{n.name}")
        config_toml = n.containerd_dir / "config.toml"
        launcher.start(f"containerd-{n.index}", ["containerd", "--config", str(config_toml)], netns=ns_name,
                       cgroup=(ns_name, f"containerd-{n.index}"), expect=str(config_toml))
    for n in nodes:
        timings[f"containerd-{n.index}"] = launcher.wait_healthy(f"containerd-{n.index}",
                                                                 checks[f"containerd-{n.index}"])
        launcher.start(f"kubelet-{n.index}", realnode.kubelet_argv(b["kubelet"], n, n.dir / "kubelet.kubeconfig"),
                       netns=ns_name, expect=str(n.kubelet_dir / "config.yaml"))
    crt, key = issue_client_cert(pki, "kube-proxy", "system:kube-proxy")
    (d / "kube-proxy").mkdir(exist_ok=True)
    kp_kubeconfig = d / "kube-proxy" / "kubeconfig"
    write_client_kubeconfig(kp_kubeconfig, inside_api, pki.ca_crt, crt, key, "system:kube-proxy")
    kp_config = d / "kube-proxy" / "config.yaml"
    kp_config.write_text(realnode.kube_proxy_config(kp_kubeconfig, nodes[0], KUBE_PROXY_HEALTHZ_PORT,
                                                    KUBE_PROXY_METRICS_PORT))
    launcher.start("kube-proxy", [str(b["kube-proxy"]), f"--config={kp_config}", "--v=1"], netns=ns_name,
                   expect=str(kp_config))

    bootstrap.create_kubernetes_endpoints(ports.apiserver)
    bootstrap.apply_coredns(f"{registry}/coredns:{_pin('coredns')}", settings.dns_replicas)
    for n in nodes:
        timings[f"kubelet-{n.index}"] = launcher.wait_healthy(f"kubelet-{n.index}", checks[f"kubelet-{n.index}"],
                                                              timeout=90)
    timings["kube-proxy"] = launcher.wait_healthy("kube-proxy", checks["kube-proxy"], timeout=60)
    t = time.monotonic()
    bootstrap.wait_real_nodes_ready([n.name for n in nodes], timeout=90)
    timings["real nodes Ready"] = time.monotonic() - t
    t = time.monotonic()
    bootstrap.wait_coredns(settings.dns_replicas, checks["coredns"], timeout=120)
    timings["coredns"] = time.monotonic() - t


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
        self.apps = client.AppsV1Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)
        self.discovery = client.DiscoveryV1Api(self.api_client)

    @staticmethod
    def _create(fn: Callable[..., Any], *args: Any) -> None:
        from kubernetes.client.rest import ApiException

        try:
            fn(*args)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def apply_exec_crd(self, crd_file: Path) -> None:
        body = yaml.safe_load(crd_file.read_text())
        self._create(self.ext.create_custom_resource_definition, body)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crd = self.ext.read_custom_resource_definition(body["metadata"]["name"])
            if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
                return
            time.sleep(0.2)
        raise ClusterError("the kwok Exec CRD did not become Established within 30s")

    def create_dns_service(self, settings: cfg.Settings) -> None:
        self._create(self.core.create_namespaced_service, "kube-system", cfg.dns_service_manifest(settings))

    def publish_corefile(self, corefile: str) -> None:
        """kube-system/coredns ConfigMap, as kubeadm has it: CoreDNS pods mount it, clients read it."""
        body = {"metadata": {"name": "coredns", "namespace": "kube-system"}, "data": {"Corefile": corefile}}
        self._create(self.core.create_namespaced_config_map, "kube-system", body)

    def create_nodes(self, count: int, tainted: bool = False) -> None:
        for i in range(count):
            self._create(self.core.create_node, cfg.node_manifest(i, tainted=tainted))

    def create_kubernetes_endpoints(self, apiserver_port: int) -> None:
        self._create(self.discovery.create_namespaced_endpoint_slice, "default",
                     addons.kubernetes_endpointslice(apiserver_port))

    def apply_coredns(self, image: str, replicas: int) -> None:
        creators: dict[str, Callable[[dict[str, Any]], None]] = {
            "ServiceAccount": lambda body: self._create(self.core.create_namespaced_service_account, "kube-system",
                                                        body),
            "ClusterRole": lambda body: self._create(self.rbac.create_cluster_role, body),
            "ClusterRoleBinding": lambda body: self._create(self.rbac.create_cluster_role_binding, body),
        }
        for kind, body in addons.coredns_rbac():
            creators[kind](body)
        self._create(self.apps.create_namespaced_deployment, "kube-system", addons.coredns_deployment(image, replicas))

    def wait_nodes_ready(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            nodes = self.core.list_node(label_selector=f"{cfg.LOCAL_NODE_LABEL}=true").items
            ready = [n for n in nodes
                     if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
                     and all(t.key == cfg.KWOK_TAINT["key"] for t in (n.spec.taints or []))]
            last = f"{len(ready)}/{count} KWOK nodes Ready"
            if len(ready) >= count:
                return
            time.sleep(0.3)
        raise ClusterError(f"fake nodes not ready within {timeout:.0f}s ({last}); see the kwok and "
                           "kube-controller-manager logs")

    def wait_real_nodes_ready(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            ready = []
            selector = f"{cfg.LOCAL_NODE_LABEL}={realnode.REAL_NODE_LABEL_VALUE}"
            for n in self.core.list_node(label_selector=selector).items:
                conds = {c.type: c for c in (n.status.conditions or [])}
                if conds.get("Ready") is not None and conds["Ready"].status == "True":
                    ready.append(n.metadata.name)
                else:
                    last = f"{n.metadata.name}: {conds['Ready'].message if 'Ready' in conds else 'not reported'}"
            if set(names) <= set(ready):
                return
            time.sleep(0.5)
        raise ClusterError(f"real node(s) {names} not Ready within {timeout:.0f}s ({last or 'not registered'}); see "
                           "logs/kubelet-*.log and logs/containerd-*.log in the run directory")

    def wait_coredns(self, replicas: int, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no pods yet"
        while time.monotonic() < deadline:
            pods = self.core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
            ready = [p for p in pods if any(c.type == "Ready" and c.status == "True"
                                            for c in (p.status.conditions or []))]
            waiting = [f"{p.metadata.name}: {s.state.waiting.reason}" for p in pods
                       for s in (p.status.container_statuses or []) if s.state and s.state.waiting]
            last = f"{len(ready)}/{replicas} Ready" + (f" ({'; '.join(waiting)})" if waiting else "")
            if len(ready) >= replicas and check():
                return
            time.sleep(0.5)
        raise ClusterError(f"CoreDNS pods not serving within {timeout:.0f}s: {last}. See `kubectl -n kube-system "
                           "describe pods -l k8s-app=kube-dns` and logs/kubelet-0.log")


def stop_processes(state: State, say: Callable[[str], None] = print, grace: float = 10.0,
                   only: list[str] | None = None) -> list[str]:
    """SIGTERM each recorded PID in reverse start order, SIGKILL after `grace`; never by name."""
    stopped = []
    for name in reversed(list(state.pids)):
        if only is not None and name not in only:
            continue
        pid = state.pids[name]
        expect = expect_of(name, state)
        if not pid_alive(pid, expect):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and pid_alive(pid, expect):
            time.sleep(0.1)
        if pid_alive(pid, expect):
            say(f"{name} (pid {pid}) ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
            os.kill(pid, signal.SIGKILL)
        stopped.append(name)
    return stopped


def stop_everything(state: State | None, directory: Path, say: Callable[[str], None] = print) -> list[str]:
    """Stop a run, complete or half-started, and remove what it made outside its run directory.

    Order: kubelets and kube-proxy (nothing restarts containers any more), every container task
    through containerd, containerd, any shim or pod process left in the run's cgroups (by PID),
    the rest of the processes in reverse start order, mounts under the run directory, then the
    network namespace (its bridges, veths and iptables rules go with it).
    """
    stopped: list[str] = []
    sandboxes: set[str] = set()
    containers: set[str] = set()
    node_dirs = sorted((directory / "nodes").glob("*")) if (directory / "nodes").is_dir() else []
    if state is not None:
        node_procs = [n for n in state.pids if n.startswith(("kubelet-", "kube-proxy"))]
        stopped += stop_processes(state, say, only=node_procs)
        shims: set[int] = set()
        crictl = binary_paths()["crictl"]
        for node_dir in node_dirs:
            sb, ct = realnode.known_ids(node_dir)
            sandboxes |= sb
            containers |= ct
            sandboxes |= realnode.remove_sandboxes(node_dir, crictl, say)
            shims |= realnode.shim_pids(node_dir / "containerd" / "state")
            realnode.kill_tasks(node_dir, say)  # whatever CRI did not stop
        stopped += stop_processes(state, say, only=[n for n in state.pids if n.startswith("containerd-")])
        for pid in shims:
            if pid_alive(pid, "containerd-shim"):
                os.kill(pid, signal.SIGKILL)
    name = nn.name_for(directory)
    realnode.remove_cgroup(name, say)
    if state is not None:
        stopped += stop_processes(state, say)
    realnode.unmount_all(directory, say)
    realnode.unmount_all(nn.socket_dir(directory), say)
    if nn.remove(name):
        say(f"removed network namespace {name}")
    shutil.rmtree(nn.socket_dir(directory), ignore_errors=True)
    if node_dirs:
        others = [n for n in nn.list_names() if n.startswith("hsdns-") and n != name]
        sockets = tuple(nn.socket_dir(directory) / f"containerd-{realnode.node_index(d)}.sock" for d in node_dirs)
        realnode.sweep_host_paths(directory, name, sandboxes, sole_run=not others, say=say, container_ids=containers,
                                  sockets=sockets)
    return stopped


def restart(name: str, say: Callable[[str], None] = print, timeout: float = 120.0) -> tuple[int, int, float]:
    """Stop one control-plane host process by its recorded PID and start it again with the argv and working
    directory `up` recorded (the environment is inherited, as at `up`); wait until it is healthy.
    Returns (old pid, new pid, seconds from the stop until healthy)."""
    directory = run_dir()
    state = State.load(directory)
    if state is None:
        raise ClusterError("local cluster is not running (start it with: python -m localcluster up)")
    if name not in RESTARTABLE:
        raise ClusterError(f"restart supports the control-plane host processes {', '.join(RESTARTABLE)}, "
                           f"not {name!r}")
    launch = state.launches.get(name)
    if launch is None:
        raise ClusterError(f"state.json of {directory} records no command line for {name} (the cluster was started "
                           "by an older localcluster). Fix: python -m localcluster down, then up")
    old = state.pids.get(name, 0)
    t0 = time.monotonic()
    stop_processes(state, say, only=[name])
    log = directory / "logs" / f"{name}.log"
    with log.open("ab") as logf:
        logf.write(f"\n--- restarted by `python -m localcluster restart {name}` at {time.ctime()} ---\n".encode())
        logf.flush()
        proc = subprocess.Popen(launch["argv"], cwd=launch["cwd"], stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    state.pids[name] = proc.pid
    (directory / "pids").mkdir(exist_ok=True)
    (directory / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")
    state.save()
    check = health_checks(state)[name]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"{name} exited after the restart (exit {proc.returncode}). Last lines of {log}:\n"
                               f"{log_tail(log)}")
        try:
            if check():
                return old, proc.pid, round(time.monotonic() - t0, 2)
        except (OSError, urllib.error.URLError, ssl.SSLError):
            pass
        time.sleep(0.2)
    raise ClusterError(f"{name} did not become healthy within {timeout:.0f}s of the restart. Last lines of {log}:\n"
                       f"{log_tail(log)}")


def down(say: Callable[[str], None] = print) -> None:
    directory = run_dir()
    state = State.load(directory)
    if state is None and not directory.exists() and not nn.exists(nn.name_for(directory)):
        say("local cluster is not running; nothing to do")
        return
    stopped = stop_everything(state, directory, say)
    if state is not None:
        say(f"stopped {', '.join(stopped) or 'nothing (no process was running)'}")
    shutil.rmtree(directory, ignore_errors=True)
    say(f"removed {directory}")


def health_checks(state: State) -> dict[str, Callable[[], bool]]:
    """One health probe per component, used while starting (`up`) and by `status`."""
    ports = cfg.Ports(**state.ports)
    directory = Path(state.run_dir)
    ca_ctx = ssl.create_default_context(cafile=str(directory / "pki" / "ca.crt"))
    insecure = insecure_ctx()
    zone = str(state.settings.get("cluster_domain", "cluster.local"))
    checks: dict[str, Callable[[], bool]] = {
        "etcd": lambda: http_ok(f"http://127.0.0.1:{ports.etcd_client}/health", want=b'"health":"true"'),
        "kube-apiserver": lambda: http_ok(f"https://127.0.0.1:{ports.apiserver}/readyz", ca_ctx),
        "kube-controller-manager": lambda: http_ok(f"https://127.0.0.1:{ports.controller_manager}/healthz", insecure),
        "kube-scheduler": lambda: http_ok(f"https://127.0.0.1:{ports.scheduler}/healthz", insecure),
        "kwok": lambda: http_ok(f"http://127.0.0.1:{ports.kwok}/healthz"),
        "coredns": lambda: http_ok(f"http://127.0.0.1:{ports.dns_ready}/ready"),
        "podsim": lambda: (directory / "podsim.ready").exists(),
    }
    ns_name = state.netns
    if ns_name is not None:
        # CoreDNS pods answer the host through the gateway and the kube-dns Service VIP.
        checks["coredns"] = lambda: dns_answers(state.dns_server, f"kubernetes.default.svc.{zone}.")
        checks["gateway"] = lambda: (directory / "gateway.ready").exists()
        checks["registry"] = lambda: http_ok_inside(ns_name, nn.REGISTRY_V4, nn.REGISTRY_PORT, "/v2/")
        checks["kube-proxy"] = lambda: http_ok_inside(ns_name, "127.0.0.1", KUBE_PROXY_HEALTHZ_PORT, "/healthz")
        for i, _ in enumerate(state.real_nodes):
            sock = nn.socket_dir(directory) / f"containerd-{i}.sock"
            checks[f"containerd-{i}"] = functools.partial(_containerd_ok, sock)
            checks[f"kubelet-{i}"] = functools.partial(http_ok_inside, ns_name, "127.0.0.1",
                                                       KUBELET_HEALTHZ_PORT + i, "/healthz")
    return checks


def _containerd_ok(sock: Path) -> bool:
    if not sock.exists():
        return False
    proc = subprocess.run(["ctr", "--address", str(sock), "--timeout", "2s", "version"], capture_output=True,
                          check=False)
    return proc.returncode == 0


def health_report(state: State) -> tuple[bool, list[str]]:
    checks = health_checks(state)
    lines, ok = [], True
    names = list(state.pids) + [n for n in checks if n not in state.pids and n in ORDER and n != "coredns"]
    if state.netns is not None and "coredns" not in names:
        names.append("coredns")
    for name in names:
        pid = state.pids.get(name)
        alive = pid is not None and pid_alive(pid, expect_of(name, state))
        try:
            healthy = (alive or (name == "coredns" and state.netns is not None)) and checks[name]()
        except (OSError, urllib.error.URLError, ssl.SSLError):
            healthy = False
        ok = ok and healthy
        where = "pods on the real node(s)" if pid is None else f"pid {pid!s:<8}"
        lines.append(f"{name:<24} {where:<13} {'healthy' if healthy else ('unhealthy' if alive else 'not running')}")
    return ok, lines


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def env_lines(state: State) -> list[str]:
    """What a suite run needs: the kubeconfig, and either the DNS address (KWOK-only nodes: the
    resolver runs on the host) or the image registry (real nodes: the suite's pods pull from the
    local registry and reach DNS through the kube-dns Service, as on any cluster)."""
    lines = [f"export KUBECONFIG={state.kubeconfig}", f"export HSDNS_KUBECONFIG={state.kubeconfig}",
             f"export HSDNS_LOCAL_DNS_SERVER={state.dns_server}"]
    if state.netns is not None and state.image_registry:
        lines.append(f"export HSDNS_IMAGE_REGISTRY={state.image_registry}")
        # The scale scenario's 1,000 pods go to the KWOK nodes (a real node holds 110 pods).
        lines.append("export HSDNS_SCALE_NODE_SELECTOR=type=kwok")
        lines.append(f"export HSDNS_SCALE_TOLERATIONS={cfg.KWOK_TAINT['key']}:{cfg.KWOK_TAINT['effect']}")
    else:
        lines.append(f"export HSDNS_DNS_SERVER={state.dns_server}")
    return lines


def node_lines(state: State) -> list[str]:
    """One line per Node: real or KWOK, Ready, taints, IPs (what `status` shows)."""
    try:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=state.kubeconfig)
        nodes = client.CoreV1Api(api).list_node(_request_timeout=5).items
    except Exception as exc:  # status must still print the process table
        return [f"nodes: could not list ({type(exc).__name__})"]
    lines = []
    for n in nodes:
        kind = "real kubelet" if (n.metadata.labels or {}).get(cfg.LOCAL_NODE_LABEL) == "real" else "KWOK"
        ready = next((c.status for c in (n.status.conditions or []) if c.type == "Ready"), "Unknown")
        ips = ",".join(a.address for a in (n.status.addresses or []) if a.type == "InternalIP")
        taints = ",".join(f"{t.key}={t.value}:{t.effect}" for t in (n.spec.taints or [])) or "none"
        lines.append(f"node {n.metadata.name:<16} {kind:<13} Ready={ready:<7} ip {ips:<28} taints {taints}")
    return lines
