"""Configuration files the local cluster writes into its run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SERVICE_CIDR_V4 = "10.96.0.0/16"
SERVICE_CIDR_V6 = "fd00:10:96::/112"
POD_CIDR_V4 = "10.244.0.0/16"
POD_CIDR_V6 = "fd00:10:244::/64"
# Fake node address: data in Node/Pod status only, never a connection target.
NODE_IP = "10.255.0.1"
DNS_SERVICE_IP_V4 = "10.96.0.10"
DNS_SERVICE_IP_V6 = "fd00:10:96::a"

# Readiness gate the suite uses to flip pod readiness; documented in docs/local-cluster.md.
LOCAL_NODE_LABEL = "hsdns.io/local-cluster"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    dns: int
    dns_health: int
    dns_ready: int


@dataclass
class Settings:
    nodes: int = 2
    cluster_domain: str = "cluster.local"
    dual_stack: bool = False
    dns_ttl: int = 5
    fixed_dns_port: int | None = None
    # Real kubelet nodes (containerd, CNI, kube-proxy) in the run's network namespace. With one or
    # more, CoreDNS runs as `dns_replicas` pods on them and the KWOK nodes carry kwok's taint.
    real_nodes: int = 1
    dns_replicas: int = 2
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def service_cidr(self) -> str:
        return f"{SERVICE_CIDR_V4},{SERVICE_CIDR_V6}" if self.dual_stack else SERVICE_CIDR_V4


def corefile(settings: Settings, ports: Ports, kubeconfig: Path, version: str) -> str:
    # The kubeadm/kind cluster block (pods insecure, loadbalance, no cache for the cluster zone)
    # with a short TTL so tests converge quickly; no `forward`: this cluster is offline and must
    # never send a query off the machine. The chaos block only answers version.bind/CH, which
    # lets the suite report which DNS server it tested.
    return f"""\
.:{ports.dns} {{
    bind 127.0.0.1
    errors
    log . {{
        class denial error
    }}
    health 127.0.0.1:{ports.dns_health}
    ready 127.0.0.1:{ports.dns_ready}
    chaos CoreDNS-{version}
    kubernetes {settings.cluster_domain} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl {settings.dns_ttl}
        startup_timeout 30s
    }}
    loadbalance
}}
"""


# Pod stages replace kwok's defaults. Differences from the stock "fast" stages, and why:
# * pod IPs come from podsim, not from KWOK: KWOK 0.7 hands a freed address to the next pod at
#   once (ipPool.Get prefers released IPs), so a re-created StatefulSet pod would get its old IP
#   back and "the name follows the pod to its new IP" could never be observed. podsim allocates
#   round-robin like host-local IPAM, and IPv4+IPv6 in dual-stack mode;
# * pod-ready: the pod becomes Running with its containers ready but Ready=False; podsim
#   sets Ready in the same status update that gives the pod its IP (a kubelet never reports a
#   Ready pod without an IP), by the kubelet rule "Ready = containers ready AND every readiness
#   gate True". Gate conditions are left alone (a real kubelet never sets custom gates).
# * no delete stage: KWOK 0.7.0 deletes a pod by name only (pod_controller.go deleteResource), so a
#   delete played late from its queue removes the successor of the same name, which a StatefulSet
#   re-creates at once; under load that became a loop (one run: 12,131 deletes, a pod name scheduled
#   33 times, the scale-up of HS-DNS-042 taking minutes). localcluster.podsim does the kubelet's part
#   instead, the kubelet's way: the final delete at metadata.deletionTimestamp (now + grace period,
#   so a deleted pod stays Terminating for its grace period, as a container that ignores SIGTERM
#   would) with the pod's UID as precondition; finalizers are left alone, so the API server keeps a
#   pod with finalizers until whoever owns them removes them, as on a real cluster.
POD_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: hsdns-pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
"""


def kwok_config(settings: Settings, ports: Ports) -> str:
    return f"""\
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  manageNodesWithLabelSelector: {LOCAL_NODE_LABEL}=true
  cidr: {POD_CIDR_V4}
  nodeIP: {NODE_IP}
  nodeName: localhost
  nodePort: {ports.kwok}
  serverAddress: 127.0.0.1:{ports.kwok}
  nodeLeaseDurationSeconds: 40
  enableCRDs: ["Exec"]
---
{POD_STAGES}"""


def node_manifest(index: int, tainted: bool = False) -> dict[str, object]:
    name = f"hsdns-node-{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": f"zone-{'ab'[index % 2]}",
                "type": "kwok",
                LOCAL_NODE_LABEL: "true",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
        },
        # With real nodes present, the KWOK nodes carry kwokctl's taint: only pods that tolerate it
        # (scale and fault runs, by option) land on them, the way a user would steer them.
        "spec": {"taints": [dict(KWOK_TAINT)]} if tainted else {},
    }


def dns_service_manifest(settings: Settings) -> dict[str, object]:
    spec: dict[str, object] = {
        "clusterIP": DNS_SERVICE_IP_V4,
        "selector": {"k8s-app": "kube-dns"},
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ],
    }
    if settings.dual_stack:
        spec.update(clusterIPs=[DNS_SERVICE_IP_V4, DNS_SERVICE_IP_V6], ipFamilyPolicy="RequireDualStack",
                    ipFamilies=["IPv4", "IPv6"])
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
        },
        "spec": spec,
    }
