"""Cluster add-ons of a local cluster with real nodes, as kubeadm/kind install them.

* CoreDNS runs as a Deployment of real pods on the real nodes (two replicas by default), behind
  the ``kube-system/kube-dns`` Service: pods reach it through kube-proxy's DNAT of the Service
  VIP, exactly as on kind. Its RBAC is kubeadm's ``system:coredns``.
* The ``default/kubernetes`` Service gets an EndpointSlice naming the gateway's in-namespace side
  (the API server runs with ``--endpoint-reconciler-type=none``, so nobody else writes one), so
  in-cluster clients such as CoreDNS reach the API server through ``10.96.0.1:443``.
"""

from __future__ import annotations

from typing import Any

from .netns import GATEWAY_V4

MANAGED_BY = "hsdns-localcluster"


def corefile_in_cluster(cluster_domain: str, ttl: int, version: str) -> str:
    """The kubeadm/kind cluster block for CoreDNS pods (in-cluster API access, port 53)."""
    return f"""\
.:53 {{
    errors
    log . {{
        class denial error
    }}
    health :8080
    ready :8181
    chaos CoreDNS-{version}
    kubernetes {cluster_domain} in-addr.arpa ip6.arpa {{
        pods insecure
        ttl {ttl}
        startup_timeout 30s
    }}
    loadbalance
}}
"""


def coredns_rbac() -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) pairs: ServiceAccount, ClusterRole and ClusterRoleBinding as kubeadm has them."""
    return [
        ("ServiceAccount", {"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": "coredns", "namespace": "kube-system"}}),
        ("ClusterRole", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:coredns"},
            "rules": [
                {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
                 "verbs": ["list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ]}),
        ("ClusterRoleBinding", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "system:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}]}),
    ]


def coredns_deployment(image: str, replicas: int) -> dict[str, Any]:
    labels = {"k8s-app": "kube-dns"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": "kube-system", "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "priorityClassName": "system-cluster-critical",
                    "serviceAccountName": "coredns",
                    "dnsPolicy": "Default",
                    "nodeSelector": {"hsdns.io/local-cluster": "real"},
                    "terminationGracePeriodSeconds": 5,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "coredns",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["-conf", "/etc/coredns/Corefile"],
                        "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                  {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"}],
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}, "periodSeconds": 2,
                                           "failureThreshold": 3},
                        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}, "periodSeconds": 10,
                                          "failureThreshold": 5},
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "coredns",
                                                                 "items": [{"key": "Corefile", "path": "Corefile"}]}}],
                },
            },
        },
    }


def kubernetes_endpointslice(apiserver_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes-hsdns", "namespace": "default",
                     "labels": {"kubernetes.io/service-name": "kubernetes",
                                "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [GATEWAY_V4], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": apiserver_port, "protocol": "TCP"}],
    }


def egress_selector_config(uds: str) -> str:
    """Every API server connection to a node (exec, logs, proxy) goes through the gateway."""
    return f"""\
apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: {uds}
"""
