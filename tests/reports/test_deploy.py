"""Checks of deploy/: RBAC is least privilege yet covers every API call the suite makes; Sonobuoy wiring."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reports.helpers import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
# kubernetes-client method suffix -> (API group, resource)
RESOURCES: dict[str, tuple[str, str]] = {
    "namespace": ("", "namespaces"),
    "node": ("", "nodes"),
    "pod": ("", "pods"),
    "pod_status": ("", "pods/status"),
    "pod_exec": ("", "pods/exec"),
    "service": ("", "services"),
    "config_map": ("", "configmaps"),
    "event": ("", "events"),
    "endpoint_slice": ("discovery.k8s.io", "endpointslices"),
    "stateful_set": ("apps", "statefulsets"),
    "stateful_set_scale": ("apps", "statefulsets/scale"),
    "deployment": ("apps", "deployments"),
    "daemon_set": ("apps", "daemonsets"),
}
VERBS = {"create": "create", "delete": "delete", "list": "list", "read": "get", "patch": "patch", "replace": "update"}
CALL = re.compile(r"\b(create|delete|list|read|patch|replace)_(?:namespaced_)?([a-z_]+)\b")


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def allowed(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", [])
        for r in rules
    )


def rbac_rules() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    objs = docs("rbac.yaml")
    cluster = next(o for o in objs if o["kind"] == "ClusterRole")["rules"]
    kube_system = next(o for o in objs if o["kind"] == "Role" and o["metadata"]["namespace"] == "kube-system")["rules"]
    return cluster, kube_system


def test_manifests_parse_and_have_expected_kinds() -> None:
    kinds = [o["kind"] for o in docs("rbac.yaml")]
    assert kinds == ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    assert [o["kind"] for o in docs("job.yaml")] == ["Job"]
    assert {o["kind"] for o in docs("sonobuoy-rbac.yaml")} == {"ServiceAccount", "ClusterRoleBinding", "RoleBinding"}
    assert {o["metadata"]["namespace"] for o in docs("rbac-openshift.yaml")} == {"openshift-dns"}


def test_rbac_is_least_privilege() -> None:
    cluster, kube_system = rbac_rules()
    for rule in [*cluster, *kube_system]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {rule}"
        assert not {"secrets", "roles", "clusterroles", "rolebindings", "clusterrolebindings"} & set(rule["resources"])
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"])
    # what the brief lists as the suite's needs
    for group, resource, verb in [
        ("", "namespaces", "create"),
        ("", "namespaces", "delete"),
        ("", "namespaces", "list"),
        ("", "services", "create"),
        ("discovery.k8s.io", "endpointslices", "list"),
        ("apps", "statefulsets", "create"),
        ("", "pods", "create"),
        ("", "pods/exec", "create"),
        ("", "pods/status", "patch"),
        ("", "nodes", "get"),
        ("", "nodes", "list"),
    ]:
        assert allowed(cluster, group, resource, verb), (group, resource, verb)
    assert allowed(kube_system, "", "configmaps", "get")
    assert not allowed(cluster, "", "configmaps", "get")  # configmaps only in kube-system
    assert not allowed(cluster, "", "nodes", "patch")


def suite_api_calls() -> set[tuple[str, str, str]]:
    calls: set[tuple[str, str, str]] = set()
    for path in sorted((REPO_ROOT / "fixtures").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for verb, suffix in CALL.findall(text):
            suffix = suffix.removesuffix("_with_http_info").removesuffix("_for_all_namespaces")
            if suffix in RESOURCES:
                calls.add((*RESOURCES[suffix], VERBS[verb]))
        if "connect_get_namespaced_pod_exec" in text:
            calls.add(("", "pods/exec", "create"))
        if "connect_get_node_proxy_with_path" in text:
            calls.add(("", "nodes/proxy", "get"))
    return calls


# Calls the suite makes only where the right is granted, falling back without them: the kubelet's
# /configz (cluster domain, the clusterDNS of HS-DNS-029). nodes/proxy would also open the kubelet API
# (logs, stats), so the least-privilege role does not grant it.
OPTIONAL = {("", "nodes/proxy", "get")}


def test_rbac_covers_every_api_call_of_the_suite() -> None:
    calls = suite_api_calls() - OPTIONAL
    if not calls:
        pytest.skip("the suite's fixtures are not present")
    cluster, kube_system = rbac_rules()
    missing = sorted(c for c in calls if not allowed(cluster, *c) and not allowed(kube_system, *c))
    assert missing == [], f"deploy/rbac.yaml lacks rights the suite uses: {missing}"


def test_sonobuoy_plugin_uses_manual_results_and_least_privilege_account() -> None:
    plugin = docs("sonobuoy-plugin.yaml")[0]
    cfg = plugin["sonobuoy-config"]
    assert cfg["driver"] == "Job"
    assert cfg["result-format"] == "manual"
    assert cfg["result-files"] == ["sonobuoy_results.yaml"]
    sa = next(o for o in docs("sonobuoy-rbac.yaml") if o["kind"] == "ServiceAccount")
    assert plugin["podSpec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert sa["metadata"]["namespace"] == "sonobuoy"
    assert plugin["spec"]["securityContext"]["allowPrivilegeEscalation"] is False
    job = docs("job.yaml")[0]
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "hsdns-conformance"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_containerfile_runs_as_numeric_non_root_and_copies_existing_paths() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    user = re.search(r"^USER (\d+)(?::(\d+))?$", text, re.M)
    assert user and int(user.group(1)) > 0
    assert 'ENTRYPOINT ["/app/deploy/run-in-cluster.sh"]' in text
    for src in re.findall(r"^COPY (\S+)", text, re.M):
        assert (REPO_ROOT / src.rstrip("/")).exists() or src in ("README.md",), src
    assert os.access(DEPLOY / "run-in-cluster.sh", os.X_OK)


def test_entrypoint_hands_results_to_sonobuoy(tmp_path: Path) -> None:
    """Run deploy/run-in-cluster.sh with a stub python: reports dir, done file and tarball for Sonobuoy."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "python").write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$HSDNS_REPORTS_DIR/args.txt"\n'
        'echo "# summary" > "$HSDNS_REPORTS_DIR/summary.md"\n'
        'echo "name: x" > "$HSDNS_SONOBUOY_RESULTS_DIR/sonobuoy_results.yaml"\n'
        "exit 1\n"
    )
    (stub / "python").chmod(0o755)
    sonobuoy = tmp_path / "sonobuoy-results"
    sonobuoy.mkdir()
    env = {
        "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}",
        "SONOBUOY_RESULTS_DIR": str(sonobuoy),
        "TMPDIR": str(tmp_path),
        "HSDNS_PYTEST_ARGS": "-n 2",
    }
    proc = subprocess.run(
        ["bash", str(DEPLOY / "run-in-cluster.sh")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr  # pytest rc 1 (failures) is a completed run
    assert "# summary" in proc.stdout
    args = (sonobuoy / "reports" / "args.txt").read_text()
    assert args.startswith("-m pytest conformance") and args.strip().endswith("-n 2")
    tarball = Path((sonobuoy / "done").read_text())
    assert tarball.is_file()
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "./sonobuoy_results.yaml" in names
    assert "./reports/summary.md" in names
