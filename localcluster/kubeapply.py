"""Create and delete the objects of deploy/*.yaml through the API (what ``kubectl apply``/``delete`` would do for
the kinds deploy/ uses), for the in-cluster tests."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException


def apply(api: client.ApiClient, doc: dict[str, Any]) -> None:
    """Create ``doc``; an object that already exists is left as it is."""
    core, rbac, batch = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api), client.BatchV1Api(api)
    kind, meta = doc["kind"], doc["metadata"]
    create = {
        "Namespace": lambda: core.create_namespace(doc),
        "ServiceAccount": lambda: core.create_namespaced_service_account(meta["namespace"], doc),
        "ClusterRole": lambda: rbac.create_cluster_role(doc),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(doc),
        "Role": lambda: rbac.create_namespaced_role(meta["namespace"], doc),
        "RoleBinding": lambda: rbac.create_namespaced_role_binding(meta["namespace"], doc),
        "Job": lambda: batch.create_namespaced_job(meta["namespace"], doc),
    }[kind]
    try:
        create()
    except ApiException as exc:
        if exc.status != 409:
            raise


def delete(api: client.ApiClient, doc: dict[str, Any]) -> None:
    """Delete ``doc`` (absent is fine); a Job takes its pods with it."""
    core, rbac, batch = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api), client.BatchV1Api(api)
    kind, meta = doc["kind"], doc["metadata"]
    name, ns = meta["name"], meta.get("namespace")
    remove = {
        "Namespace": lambda: core.delete_namespace(name),
        "ServiceAccount": lambda: core.delete_namespaced_service_account(name, ns),
        "ClusterRole": lambda: rbac.delete_cluster_role(name),
        "ClusterRoleBinding": lambda: rbac.delete_cluster_role_binding(name),
        "Role": lambda: rbac.delete_namespaced_role(name, ns),
        "RoleBinding": lambda: rbac.delete_namespaced_role_binding(name, ns),
        "Job": lambda: batch.delete_namespaced_job(name, ns, propagation_policy="Background",
                                                   grace_period_seconds=0),
    }[kind]
    try:
        remove()
    except ApiException as exc:
        if exc.status != 404:
            raise


def wait_namespace_gone(api: client.ApiClient, name: str, timeout: float = 180) -> bool:
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(1)
    return False


def pod_log(api: client.ApiClient, namespace: str, pod: str) -> str:
    with contextlib.suppress(ApiException):
        return str(client.CoreV1Api(api).read_namespaced_pod_log(pod, namespace, _request_timeout=30))
    return ""
