"""The local cluster's real node (issue 8): real pods, real exec, real images, and nothing left behind.

The first group runs against the cluster scripts/with-local-cluster.sh started (KUBECONFIG,
HSDNS_IMAGE_REGISTRY); the suite is run as a user would, in a child process. The last group starts
clusters of its own (own run directory and network namespace) to prove `down` removes everything,
also after `up` was killed half-way.

Network rule: pod and node addresses are only ever contacted from inside the cluster's network
namespace (by pods, or by the local cluster's own sockets created there), never from the host.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from fixtures.polling import poll_until
from localcluster import netns, realnode
from localcluster.cluster import pid_alive

ROOT = Path(__file__).resolve().parents[2]
A_CASE = "conformance/test_2_4_1_a_records.py::test_headless_service_returns_one_a_record_per_ready_endpoint"


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: run through scripts/with-local-cluster.sh with a real node")
    return value


@pytest.fixture(scope="module")
def registry() -> str:
    return _env("HSDNS_IMAGE_REGISTRY")


@pytest.fixture(scope="module")
def api() -> client.ApiClient:
    return config.new_client_from_config(config_file=_env("KUBECONFIG"))


@pytest.fixture
def restricted_ns(api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"realnode-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {
        "app.kubernetes.io/managed-by": "hsdns-selftest", "pod-security.kubernetes.io/enforce": "restricted"}}})
    poll_until(lambda: _sa_exists(core, name), timeout=30, what="the default ServiceAccount")
    yield name
    core.delete_namespace(name)


def _sa_exists(core: client.CoreV1Api, ns: str) -> bool | None:
    try:
        core.read_namespaced_service_account("default", ns)
        return True
    except ApiException:
        return None


def restricted_pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "c", "image": image,
                        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 3600 & wait $!; done"],
                        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}], **spec}}


def running(core: client.CoreV1Api, ns: str, name: str) -> client.V1Pod | None:
    pod = core.read_namespaced_pod(name, ns)
    return pod if pod.status.phase == "Running" and pod.status.pod_ip else None


PROBE = """
import json, os, socket, struct, subprocess
def query(name, server):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\\0"
    q += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.sendto(q, (server, 53)); r = s.recv(4096)
    return r[-4:] if struct.unpack(">H", r[6:8])[0] else b""
out = {"uid": os.getuid(), "resolv": open("/etc/resolv.conf").read(),
       "a": socket.inet_ntoa(query("kubernetes.default.svc.cluster.local", "10.96.0.10")),
       "getent": subprocess.run(["getent", "ahostsv4", "kubernetes.default"], capture_output=True,
                                text=True).stdout.split()[:1]}
print(json.dumps(out))
"""


def test_a_real_pod_runs_restricted_and_reaches_dns_through_the_service_vip(
        api: client.ApiClient, registry: str, restricted_ns: str) -> None:
    """Pulled from the local registry, run by the real kubelet under PodSecurity restricted with the
    image's own non-root UID; exec feeds a program over stdin; DNS answers through kube-proxy's DNAT."""
    core = client.CoreV1Api(api)
    t0 = time.monotonic()
    core.create_namespaced_pod(restricted_ns, restricted_pod("probe", f"{registry}/ubi9/python-311:latest"))
    pod = poll_until(lambda: running(core, restricted_ns, "probe"), timeout=90, what="the pod to run")
    print(f"\npod create -> Running on {pod.spec.node_name}: {time.monotonic() - t0:.2f}s, IP {pod.status.pod_ip}")
    assert pod.spec.node_name.startswith("hsdns-real-")
    assert pod.status.pod_ip.startswith("10.245."), "real-node pods get the real node's CNI range"
    out = stream(core.connect_get_namespaced_pod_exec, "probe", restricted_ns, command=["python3", "-"],
                 stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    out.write_stdin(PROBE)
    out.close_channel(0)  # end of stdin: python3 runs the program it read
    out.run_forever(timeout=30)
    text = out.read_channel(1)
    out.close()
    result = json.loads(text.strip().splitlines()[-1])
    assert result["uid"] == 1001, "the image's own non-root user (no runAsUser set)"
    assert "nameserver 10.96.0.10" in result["resolv"]
    assert f"search {restricted_ns}.svc.cluster.local svc.cluster.local cluster.local" in result["resolv"]
    assert "ndots:5" in result["resolv"]
    assert result["a"] == "10.96.0.1", "kubernetes.default answered through the kube-dns VIP"
    assert result["getent"] == ["10.96.0.1"], "glibc's resolver uses the search path"


PROBE_V6 = """
import json, socket, struct, sys
def ask(name, rdtype, server, tcp=False):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\\0"
    q += struct.pack(">HH", rdtype, 1)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM); s.settimeout(3)
    if tcp:
        s.connect((server, 53)); s.sendall(struct.pack(">H", len(q)) + q); r = s.recv(4096)[2:]
    else:
        s.sendto(q, (server, 53)); r = s.recv(4096)
    return {"rcode": r[3] & 15, "answers": struct.unpack(">H", r[6:8])[0], "raw": r.hex()}
args = json.loads(sys.argv[1])
print(json.dumps({k: ask(*v) for k, v in args.items()}))
"""


def test_dual_stack_pods_get_both_families_and_reach_dns_over_both_service_ips(
        api: client.ApiClient, registry: str, restricted_ns: str) -> None:
    """--dual-stack: the CNI gives a real pod an IPv4 and an IPv6 address, resolv.conf names both kube-dns
    ClusterIPs, kube-proxy forwards DNS to CoreDNS at the IPv6 VIP over UDP and TCP, and CoreDNS serves
    ip6.arpa (the PTR of a CoreDNS pod's IPv6 address). Queries run inside the pod."""
    core = client.CoreV1Api(api)
    dns_ips = list(core.read_namespaced_service("kube-dns", "kube-system").spec.cluster_ips or [])
    v6_vips = [ip for ip in dns_ips if ":" in ip]
    if not v6_vips:
        pytest.skip(f"the local cluster is single-stack (kube-dns {dns_ips}): start it with --dual-stack")
    core.create_namespaced_pod(restricted_ns, restricted_pod("probe6", f"{registry}/ubi9/python-311:latest"))
    pod = poll_until(lambda: running(core, restricted_ns, "probe6"), timeout=90, what="the pod to run")
    ips = [p.ip for p in pod.status.pod_ips or []]
    assert len(ips) == 2 and ips[0].startswith("10.245.") and ips[1].startswith("fd00:10:245:"), ips
    coredns6 = sorted(ip.ip for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
                      for ip in (p.status.pod_ips or []) if ":" in ip.ip)
    assert coredns6, "CoreDNS pods have IPv6 addresses"
    reverse = ".".join(reversed(ipaddress.ip_address(coredns6[0]).exploded.replace(":", ""))) + ".ip6.arpa."
    kube = "kubernetes.default.svc.cluster.local."
    plan = {"a-v6-udp": [kube, 1, v6_vips[0]], "a-v6-tcp": [kube, 1, v6_vips[0], True],
            "ptr6-v4": [reverse, 12, dns_ips[0]], "ptr6-v6": [reverse, 12, v6_vips[0]]}
    out = stream(core.connect_get_namespaced_pod_exec, "probe6", restricted_ns,
                 command=["python3", "-c", PROBE_V6, json.dumps(plan)], stdout=True, stderr=True, stdin=False,
                 tty=False)
    result = json.loads(out.strip().splitlines()[-1])
    for key in plan:
        assert result[key]["rcode"] == 0 and result[key]["answers"] >= 1, (key, result[key])
    assert bytes.fromhex(result["ptr6-v6"]["raw"]).find(b"kube-dns") > 0, "the PTR names the kube-dns endpoint"
    resolv = stream(core.connect_get_namespaced_pod_exec, "probe6", restricted_ns, command=["cat", "/etc/resolv.conf"],
                    stdout=True, stderr=True, stdin=False, tty=False)
    assert all(f"nameserver {ip}" in resolv for ip in dns_ips), resolv


def test_a_root_image_is_refused_by_the_kubelet_without_run_as_user(
        api: client.ApiClient, registry: str, restricted_ns: str) -> None:
    """runAsNonRoot is enforced by the kubelet itself (the dig image runs as root, like agnhost)."""
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(restricted_ns, restricted_pod("root", f"{registry}/e2e-test-images/agnhost:2.53"))

    def refused() -> str | None:
        for st in core.read_namespaced_pod("root", restricted_ns).status.container_statuses or []:
            if st.state.waiting and st.state.waiting.reason == "CreateContainerConfigError":
                return str(st.state.waiting.message)
        return None

    refusal = poll_until(refused, timeout=60, what="the kubelet to refuse the root image")
    assert "runAsNonRoot and image will run as root" in refusal


def suite(*args: str, timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    reports = ROOT / "reports" / "selftest-realnode" / uuid.uuid4().hex[:8]
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "--reports-dir",
                           str(reports)], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    data = json.loads((reports / "conformance.json").read_text()) if (reports / "conformance.json").exists() else {}
    return proc, data


def statuses(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["status"], r.get("message") or "") for r in data.get("results", [])]


def test_an_image_that_cannot_be_pulled_is_one_error_naming_the_image_and_its_option(registry: str) -> None:
    t0 = time.monotonic()
    proc, data = suite(A_CASE, "--workload-image", f"{registry}/hsdns/missing:1")
    took = time.monotonic() - t0
    got = statuses(data)
    assert [s for s, _ in got] == ["error"], proc.stdout[-3000:]
    message = got[0][1]
    assert f"{registry}/hsdns/missing:1" in message and "--workload-image" in message
    assert "ErrImagePull" in message or "ImagePullBackOff" in message
    assert took < 120, f"an unpullable image must not wait for the rollout timeout (took {took:.0f}s)"


def test_a_resolver_image_without_python3_is_one_message_that_says_so(registry: str) -> None:
    """No case can run without a resolver: the run stops before the first one (exit 4, one message)."""
    proc, _ = suite(A_CASE, "--resolver-image", f"{registry}/hsdns/python-nosh:1")
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text[-3000:]
    assert "cannot run 'python3'" in text and "--resolver-image" in text and "Traceback" not in text


@pytest.mark.parametrize("extra", [[], ["--run-as-user", "65534"]], ids=["image-uid", "run-as-user"])
def test_restricted_pods_start_with_the_image_uid_and_with_run_as_user(extra: list[str]) -> None:
    proc, data = suite(A_CASE, "conformance/test_search_path.py", *extra)
    assert [s for s, _ in statuses(data)] == ["passed"] * 3, proc.stdout[-3000:]


# --- clusters of their own: nothing left behind ------------------------------------------------

def cli(run_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HSDNS_RUN_DIR=str(run_dir))
    return subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def host_snapshot() -> dict[str, set[str]]:
    """Entries of the host paths the node components write to whatever their configuration says."""
    def ls(path: str) -> set[str]:
        p = Path(path)
        return {e.name for e in p.iterdir()} if p.is_dir() else set()
    return {p: ls(p) for p in ("/run/netns", "/run/containerd/s", "/run/containerd/runc/k8s.io",
                               "/var/lib/cni/results", "/var/log/containers")}


def leftovers(run_dir: Path, pids: list[int], before: dict[str, set[str]]) -> list[str]:
    name = netns.name_for(run_dir)
    found = []
    if netns.exists(name):
        found.append(f"network namespace {name} (links {netns.links(name)})")
    for root in (run_dir, netns.socket_dir(run_dir)):
        if realnode.mounts_under(root):
            found.append(f"mounts {realnode.mounts_under(root)}")
    alive = [p for p in pids if pid_alive(p, "")]
    if alive:
        found.append(f"processes {alive}")
    if realnode.cgroup_pids(name):
        found.append(f"processes in cgroup {name}: {realnode.cgroup_pids(name)}")
    cgroups = [str(h / name) for h in realnode.cgroup_hierarchies() if (h / name).exists()]
    if cgroups:
        found.append(f"cgroups {cgroups}")
    for path, entries in host_snapshot().items():
        new = entries - before.get(path, set())
        if new:
            found.append(f"new entries in {path}: {sorted(new)}")
    if run_dir.exists():
        found.append(f"run dir {run_dir}")
    if netns.socket_dir(run_dir).exists():
        found.append(f"socket dir {netns.socket_dir(run_dir)}")
    return found


def all_pids(run_dir: Path) -> list[int]:
    state = json.loads((run_dir / "state.json").read_text())
    pids = [int(p) for p in state["pids"].values()]
    return pids + sorted(realnode.cgroup_pids(netns.name_for(run_dir)))


@pytest.fixture
def own_run(tmp_path: Path) -> Iterator[Path]:
    run_dir = tmp_path / "run"
    yield run_dir
    cli(run_dir, "down")


def test_down_removes_namespace_mounts_processes_and_cgroups(own_run: Path) -> None:
    before = host_snapshot()
    res = cli(own_run, "up", "--nodes", "1", "--real-nodes", "1", "--dns-replicas", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    name = netns.name_for(own_run)
    assert netns.exists(name) and any(link.startswith("hsdns-br") for link in netns.links(name)), \
        "a running CoreDNS pod means a CNI bridge and veths in the namespace"
    assert realnode.mounts_under(own_run) and realnode.mounts_under(netns.socket_dir(own_run)), \
        "running containers mount their root filesystems, the kubelet its root dir and volumes"
    pids = all_pids(own_run)
    assert len(pids) > 12, pids  # control plane, node components, shims, pod processes
    down = cli(own_run, "down")
    assert down.returncode == 0, down.stderr
    assert leftovers(own_run, pids, before) == []


def test_a_killed_up_is_cleaned_up_by_down(own_run: Path) -> None:
    before = host_snapshot()
    env = dict(os.environ, HSDNS_RUN_DIR=str(own_run))
    proc = subprocess.Popen([sys.executable, "-m", "localcluster", "up", "--nodes", "1", "--dns-replicas", "1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    state = own_run / "state.json"

    def kubelet_started() -> bool | None:
        try:
            return True if "kubelet-0" in json.loads(state.read_text())["pids"] else None
        except (OSError, ValueError):
            return None

    try:
        poll_until(kubelet_started, timeout=300, what="up to start the kubelet", interval=0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # `up` only: the components it started live on
        proc.wait()
    pids = all_pids(own_run)
    assert any(pid_alive(p, "") for p in pids), "the components outlive the killed `up`"
    down = cli(own_run, "down")
    assert down.returncode == 0, down.stderr
    assert leftovers(own_run, pids, before) == []
