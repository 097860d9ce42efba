"""Real nodes: containerd + CNI + kubelet per node, one kube-proxy, all inside the run's netns.

Everything a real node owns lives under ``<run>/nodes/<name>/`` (configs, containerd root and
state, the kubelet's root and certificates, pod logs, CNI IPAM data) plus:

* the run's network namespace (``localcluster.netns``): node IPs, pod bridges and veths, the
  iptables rules of kube-proxy and the kubelet;
* one cgroup subtree per run, ``/sys/fs/cgroup/<controller>/<netns name>/``, holding containerd,
  its shims and every pod (the kubelet's ``cgroupRoot``), so teardown finds every process by
  reading ``cgroup.procs`` and stops it by PID;
* mounts (the kubelet's bind mount of its root dir, container root filesystems, pod network
  namespaces under containerd's state dir, projected volumes), all under the run directory.

``teardown`` undoes all three, in reverse order of creation, and is safe to run on a half-started
node (after a kill of ``up``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import netns as nn

CGROUP_ROOT = Path("/sys/fs/cgroup")
CNI_BIN_DIR = Path("/usr/lib/cni")
REAL_NODE_LABEL_VALUE = "real"


@dataclass(frozen=True)
class NodeSpec:
    index: int
    name: str
    dir: Path
    kubelet_port: int
    kubelet_healthz_port: int
    dual_stack: bool

    @property
    def ip_v4(self) -> str:
        return nn.node_ip_v4(self.index)

    @property
    def ip_v6(self) -> str:
        return nn.node_ip_v6(self.index)

    @property
    def node_ips(self) -> list[str]:
        return [self.ip_v4, self.ip_v6] if self.dual_stack else [self.ip_v4]

    @property
    def containerd_dir(self) -> Path:
        return self.dir / "containerd"

    @property
    def containerd_sock(self) -> Path:
        return nn.socket_dir(self.dir.parent.parent) / f"containerd-{self.index}.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.dir / "kubelet"

    @property
    def kubelet_root(self) -> Path:
        """Short on purpose: the kubelet puts Unix sockets (pod-resources, plugins) under its root."""
        return nn.socket_dir(self.dir.parent.parent) / f"kubelet-{self.index}"

    @property
    def bridge(self) -> str:
        return f"hsdns-br{self.index}"


def cni_network(node: NodeSpec) -> str:
    """Unique per run (the CNI result cache in /var/lib/cni is shared by every run on the host)."""
    return f"{nn.name_for(node.dir.parent.parent)}-{node.index}"  # <run>/nodes/<name>


def node_index(node_dir: Path) -> int:
    return int(node_dir.name.rsplit("-", 1)[1])


def node_name(index: int) -> str:
    return f"hsdns-real-{index}"


def cgroup_name(run_dir: Path) -> str:
    return nn.name_for(run_dir)


# --- configuration files ---------------------------------------------------------------------------

def containerd_config(node: NodeSpec, registry: str) -> str:
    d = node.containerd_dir
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp",
                    "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{node.containerd_sock}"

[ttrpc]
  address = "{node.containerd_sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{registry}/pause:3.10"
  # This machine has no CAP_SYS_RESOURCE: no process may lower its OOM score, so containers get
  # at least containerd's own (without it: runc "can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  # net.ipv4.ip_unprivileged_port_start=0 in every pod (the containerd 2 default): CoreDNS binds
  # port 53 as a non-root user with no capabilities.
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  # Pod network namespaces are mounted under the state dir, so teardown finds every one.
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false

  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{node.dir / 'cni'}"
    max_conf_num = 1

  [{cri}.registry]
    config_path = "{node.dir / 'certs.d'}"
"""


def registry_hosts_toml(registry: str) -> str:
    return f"""\
server = "http://{registry}"

[host."http://{registry}"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
"""


def cni_conflist(node: NodeSpec) -> str:
    ranges = [[{"subnet": nn.pod_subnet_v4(node.index)}]]
    routes = [{"dst": "0.0.0.0/0"}]
    if node.dual_stack:
        ranges.append([{"subnet": nn.pod_subnet_v6(node.index)}])
        routes.append({"dst": "::/0"})
    conf = {
        "cniVersion": "1.0.0",
        "name": cni_network(node),
        "plugins": [
            {"type": "bridge", "bridge": node.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(node.dir / "cni-ipam"), "ranges": ranges,
                      "routes": routes}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def kubelet_config(node: NodeSpec, ca: Path, cgroup_root: str, cluster_dns: list[str], cluster_domain: str) -> str:
    k = node.kubelet_dir
    dns = "\n".join(f"- {ip}" for ip in cluster_dns)
    return f"""\
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {node.ip_v4}
port: {node.kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {node.kubelet_healthz_port}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {ca}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{node.containerd_sock}
imageServiceEndpoint: unix://{node.containerd_sock}
cgroupDriver: cgroupfs
cgroupRoot: {cgroup_root}
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
# Without CAP_SYS_RESOURCE the kubelet may not lower its own OOM score (its default is -999).
oomScoreAdj: 0
clusterDNS:
{dns}
clusterDomain: {cluster_domain}
resolvConf: {k / 'resolv.conf'}
podLogsDir: {node.dir / 'pod-logs'}
enforceNodeAllocatable: []
evictionHard: {{}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
kernelMemcgNotification: false
syncFrequency: 10s
nodeStatusUpdateFrequency: 5s
maxPods: 110
"""


def kube_proxy_config(kubeconfig: Path, node: NodeSpec, healthz_port: int, metrics_port: int) -> str:
    cidrs = nn.REAL_POD_CIDR_V4 + (f",{nn.REAL_POD_CIDR_V6}" if node.dual_stack else "")
    return f"""\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {node.name}
mode: iptables
clusterCIDR: "{cidrs}"
healthzBindAddress: 127.0.0.1:{healthz_port}
metricsBindAddress: 127.0.0.1:{metrics_port}
# The namespace's conntrack table size is the host's: do not touch host-wide sysctls.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  localhostNodePorts: false
  minSyncPeriod: 0s
  syncPeriod: 30s
oomScoreAdj: 0
"""


def node_resolv_conf() -> str:
    # The kubelet appends this file's search list to every ClusterFirst pod's and hands it to
    # dnsPolicy: Default pods. Never the host's own: nothing in the namespace resolves outside.
    return "# hsdns real node: no upstream resolver (the cluster is offline)\nnameserver 127.0.0.1\n"


def write_node_files(node: NodeSpec, registry: str, ca: Path, cgroup_root: str, cluster_dns: list[str],
                     cluster_domain: str) -> None:
    node.containerd_sock.parent.mkdir(parents=True, exist_ok=True)
    node.kubelet_root.mkdir(parents=True, exist_ok=True)
    for sub in ("cni", "cni-ipam", "pod-logs", "containerd/root", "containerd/state", "kubelet/pki",
                f"certs.d/{registry}"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    (node.containerd_dir / "config.toml").write_text(containerd_config(node, registry))
    (node.dir / "certs.d" / registry / "hosts.toml").write_text(registry_hosts_toml(registry))
    (node.dir / "cni" / "10-hsdns.conflist").write_text(cni_conflist(node))
    (node.kubelet_dir / "config.yaml").write_text(kubelet_config(node, ca, cgroup_root, cluster_dns, cluster_domain))
    (node.kubelet_dir / "resolv.conf").write_text(node_resolv_conf())


def kubelet_argv(kubelet: Path, node: NodeSpec, kubeconfig: Path) -> list[str]:
    labels = ",".join([f"hsdns.io/local-cluster={REAL_NODE_LABEL_VALUE}", "type=real",
                       f"topology.kubernetes.io/zone=zone-{'ab'[node.index % 2]}"])
    return [str(kubelet), f"--config={node.kubelet_dir / 'config.yaml'}", f"--kubeconfig={kubeconfig}",
            f"--hostname-override={node.name}", f"--node-ip={','.join(node.node_ips)}",
            f"--root-dir={node.kubelet_root}", f"--cert-dir={node.kubelet_dir / 'pki'}",
            f"--node-labels={labels}", "--v=1"]


# --- cgroups -----------------------------------------------------------------------------------------

def cgroup_hierarchies() -> list[Path]:
    """Every mounted v1 hierarchy (cgroup v1 hybrid here); the unified one is left to runc."""
    if not CGROUP_ROOT.is_dir():
        return []
    return [p for p in sorted(CGROUP_ROOT.iterdir()) if p.is_dir() and (p / "cgroup.procs").exists()
            and p.name != "unified"]


def create_cgroup(name: str, sub: str) -> list[Path]:
    made = []
    for h in cgroup_hierarchies():
        d = h / name / sub
        d.mkdir(parents=True, exist_ok=True)
        if h.name == "cpuset":  # a v1 cpuset cgroup takes no task until cpus and mems are set
            for f in ("cpuset.cpus", "cpuset.mems"):
                for level in (h / name, d):
                    if (level / f).exists() and not (level / f).read_text().strip():
                        (level / f).write_text((h / f).read_text())
        made.append(d)
    return made


def cgroup_join_script(name: str, sub: str) -> str:
    """Shell that moves itself into the run's cgroup in every hierarchy, then execs its arguments."""
    files = " ".join(str(h / name / sub / "cgroup.procs") for h in cgroup_hierarchies())
    return f'for f in {files}; do echo $$ > "$f"; done; exec "$@"'


def cgroup_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for h in cgroup_hierarchies():
        base = h / name
        if not base.is_dir():
            continue
        for procs in base.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in procs.read_text().split())
    return pids


def remove_cgroup(name: str, say: Callable[[str], None]) -> None:
    """SIGKILL every process left in the run's cgroups (by PID), then remove them leaf-first."""
    for _ in range(50):
        pids = cgroup_pids(name)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    left = cgroup_pids(name)
    if left:
        say(f"processes still in cgroup {name} after SIGKILL: {sorted(left)}")
    for h in cgroup_hierarchies():
        base = h / name
        if not base.is_dir():
            continue
        dirs = sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for d in [*dirs, base]:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


# --- mounts ------------------------------------------------------------------------------------------

def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (from /proc/self/mountinfo)."""
    base = str(root.resolve())
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(root: Path, say: Callable[[str], None]) -> None:
    for _ in range(5):
        points = mounts_under(root)
        if not points:
            return
        for point in points:
            proc = subprocess.run(["umount", point], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True, text=True, check=False)
    left = mounts_under(root)
    if left:
        say(f"mounts left under {root}: {left}")


# --- teardown ----------------------------------------------------------------------------------------

def shim_pids(state_dir: Path) -> set[int]:
    pids: set[int] = set()
    task_root = state_dir / "io.containerd.runtime.v2.task"
    if task_root.is_dir():
        for f in task_root.glob("*/*/shim.pid"):
            with contextlib.suppress(OSError, ValueError):
                pids.add(int(f.read_text().strip()))
    return pids


def kill_tasks(node_dir: Path, say: Callable[[str], None]) -> None:
    """Kill every container task through containerd (while it still runs), so shims exit cleanly."""
    sock = nn.socket_dir(node_dir.parent.parent) / f"containerd-{node_index(node_dir)}.sock"
    if not sock.exists():
        return
    ctr = ["ctr", "--address", str(sock), "--namespace", "k8s.io", "--timeout", "10s"]
    ls = subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True, check=False)
    ids = ls.stdout.split()
    for cid in ids:
        subprocess.run([*ctr, "tasks", "kill", "--signal", "SIGKILL", cid], capture_output=True, check=False)
    for cid in ids:
        subprocess.run([*ctr, "tasks", "delete", "--force", cid], capture_output=True, check=False)
    if ids:
        say(f"killed {len(ids)} container task(s) on {node_dir.name}")


def remove_sandboxes(node_dir: Path, crictl: Path, say: Callable[[str], None]) -> set[str]:
    """Stop and remove every pod sandbox through CRI, as the kubelet would: StopPodSandbox runs the
    CNI DEL (veth, IPAM, result cache), RemovePodSandbox removes its containers; the shims exit.
    Returns the sandbox ids (to sweep what a failed CNI DEL may leave)."""
    sock = nn.socket_dir(node_dir.parent.parent) / f"containerd-{node_index(node_dir)}.sock"
    if not sock.exists() or not crictl.exists():
        return set()
    cri = [str(crictl), "--runtime-endpoint", f"unix://{sock}", "--image-endpoint", f"unix://{sock}",
           "--timeout", "20s"]
    ls = subprocess.run([*cri, "pods", "-q"], capture_output=True, text=True, check=False)
    ids = ls.stdout.split()
    if ids:
        subprocess.run([*cri, "stopp", *ids], capture_output=True, check=False)
        rm = subprocess.run([*cri, "rmp", "--force", *ids], capture_output=True, text=True, check=False)
        if rm.returncode != 0:
            say(f"crictl rmp on {node_dir.name}: {rm.stderr.strip()[-300:]}")
        say(f"removed {len(ids)} pod sandbox(es) on {node_dir.name}")
    return set(ids)


# Paths a kubelet or containerd 1.6 writes whatever their configuration says (upstream constants).
HOST_LOG_LINKS = Path("/var/log/containers")
CNI_CACHE = Path("/var/lib/cni/results")
SHARED_DIRS = (Path("/var/lib/kubelet/device-plugins"), Path("/var/lib/kubelet"), CNI_CACHE, Path("/var/lib/cni"),
               HOST_LOG_LINKS, Path("/run/containerd/runc/k8s.io"), Path("/run/containerd/runc"),
               Path("/run/containerd/s"), Path("/run/containerd"))


def known_ids(node_dir: Path) -> tuple[set[str], set[str]]:
    """(sandbox ids, container ids) containerd has on disk for this node, whether or not it runs."""
    cri = node_dir / "containerd" / "root" / "io.containerd.grpc.v1.cri"
    tasks = node_dir / "containerd" / "state" / "io.containerd.runtime.v2.task" / "k8s.io"

    def names(d: Path) -> set[str]:
        return {p.name for p in d.iterdir()} if d.is_dir() else set()
    return names(cri / "sandboxes"), names(cri / "containers") | names(tasks)


def shim_socket(containerd_sock: Path, sandbox_id: str) -> Path:
    """containerd 1.6 puts each shim's socket at /run/containerd/s/sha256(<address>/<ns>/<id>)."""
    digest = hashlib.sha256(f"{containerd_sock}/k8s.io/{sandbox_id}".encode()).hexdigest()
    return Path("/run/containerd/s") / digest


def sweep_host_paths(run_dir: Path, network_prefix: str, sandbox_ids: set[str], sole_run: bool,
                     say: Callable[[str], None], container_ids: set[str] | None = None,
                     sockets: tuple[Path, ...] = ()) -> None:
    """Remove what this run left in the host paths the node components hard-code: container log
    links into the run dir, CNI result-cache entries of its networks and sandboxes, runc state of its
    sandboxes, then those directories themselves when they are empty. The kubelet's device-plugin
    socket name is shared by every kubelet, so it goes only when no other local cluster runs."""
    base = str(run_dir.resolve())
    removed = 0
    if HOST_LOG_LINKS.is_dir():
        for link in HOST_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(base + "/"):
                    link.unlink()
                    removed += 1
    if CNI_CACHE.is_dir():
        for entry in CNI_CACHE.iterdir():
            if entry.name.startswith(network_prefix + "-") or any(i in entry.name for i in sandbox_ids):
                entry.unlink(missing_ok=True)
                removed += 1
    for cid in sandbox_ids | (container_ids or set()):
        runc_state = Path("/run/containerd/runc/k8s.io") / cid
        if runc_state.is_dir():
            subprocess.run(["rm", "-rf", str(runc_state)], check=False)
            removed += 1
    for sock in sockets:
        for sid in sandbox_ids:
            shim = shim_socket(sock, sid)
            if shim.exists():
                shim.unlink()
                removed += 1
    if sole_run:
        Path("/var/lib/kubelet/device-plugins/kubelet.sock").unlink(missing_ok=True)
    for d in SHARED_DIRS:
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty: another run (or the host) may still use it
    if removed:
        say(f"removed {removed} host file(s) the node components left (log links, CNI cache, runtime state)")
