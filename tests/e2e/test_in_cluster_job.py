"""The suite image, built here and run in the cluster (issue 14, item 2), exactly as docs/reports.md says.

1. build the suite image (localcluster/suite_image.py: Debian python3.11 + the wheel; deploy/Containerfile's
   equivalent) and push it to the local cluster's registry (inside its network namespace);
2. apply deploy/rbac.yaml (namespace, ServiceAccount, least-privilege roles) and deploy/job.yaml with the
   image set the documented way (``sed 's#REGISTRY/#<registry>/#'``) and the env the Job documents
   (HSDNS_IMAGE_REGISTRY for the resolver/workload images, HSDNS_PYTEST_ARGS for the selection, a short
   HSDNS_HOLD_RESULTS_S);
3. wait for the run to finish (the pod's log says it holds the reports), copy /tmp/results out through the
   API server (exec + tar, as ``kubectl cp``: ``hsdns fetch-reports``), and check conformance.json: the
   selected cases passed, with the pod's ServiceAccount against the cluster's DNS Service.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from localcluster import kubeapply
from tests.e2e.conftest import kubeconfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CASES = ("HS-DNS-001", "HS-DNS-002")
HOLD_LINE = "reports in /tmp/results; holding"


def _state() -> Any:
    from localcluster.cluster import State
    from localcluster.paths import run_dir

    kubeconfig()
    state = State.load(run_dir())
    if state is None or state.netns is None or not state.image_registry:
        pytest.skip("needs the local cluster with a real node and its image registry")
    return state


@pytest.fixture(scope="module")
def api() -> client.ApiClient:
    _state()
    return config.new_client_from_config(config_file=os.environ["KUBECONFIG"])


def job_manifest(registry: str, selection: str, hold_s: int) -> dict[str, Any]:
    """deploy/job.yaml with the image of the documented ``sed`` and the documented env overrides."""
    text = (DEPLOY / "job.yaml").read_text().replace("REGISTRY/", f"{registry}/")
    job: dict[str, Any] = yaml.safe_load(text)
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    env["HSDNS_HOLD_RESULTS_S"] = {"name": "HSDNS_HOLD_RESULTS_S", "value": str(hold_s)}
    env["HSDNS_PYTEST_ARGS"] = {"name": "HSDNS_PYTEST_ARGS", "value": selection}
    env["HSDNS_IMAGE_REGISTRY"] = {"name": "HSDNS_IMAGE_REGISTRY", "value": registry}
    container["env"] = list(env.values())
    return job


@pytest.fixture
def deployed(api: client.ApiClient) -> Iterator[list[dict[str, Any]]]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d]
    kubeapply.delete(api, {"kind": "Namespace", "metadata": {"name": "hsdns-conformance"}})  # a previous run's
    kubeapply.wait_namespace_gone(api, "hsdns-conformance")
    yield docs
    for d in reversed(docs):
        kubeapply.delete(api, d)
    kubeapply.wait_namespace_gone(api, "hsdns-conformance")


def test_suite_image_runs_deploy_job_with_its_rbac_and_hands_back_passing_reports(
        api: client.ApiClient, deployed: list[dict[str, Any]], tmp_path: Path) -> None:
    from hsdns.incluster import copy_from_pod, job_pod
    from localcluster import netns, suite_image

    state = _state()
    t0 = time.monotonic()
    pushed = suite_image.push(state.image_registry, netns.prefix(state.netns))
    t_image = time.monotonic() - t0
    for d in deployed:
        kubeapply.apply(api, d)
    selection = "-n 2 -k " + repr(" or ".join(CASES))  # split like a shell line by `hsdns run`
    job = job_manifest(state.image_registry, selection, hold_s=300)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == pushed.reference
    kubeapply.apply(api, job)
    core = client.CoreV1Api(api)
    ns = job["metadata"]["namespace"]
    t1 = time.monotonic()
    pod, log, phase = "", "", ""
    while time.monotonic() - t1 < 900:
        try:
            pod = job_pod(core, ns, job["metadata"]["name"])
        except Exception:
            time.sleep(2)
            continue
        phase = str(core.read_namespaced_pod(pod, ns).status.phase)
        log = kubeapply.pod_log(api, ns, pod)
        if HOLD_LINE in log or phase in ("Succeeded", "Failed"):
            break
        time.sleep(3)
    t_run = time.monotonic() - t1
    assert HOLD_LINE in log, f"pod {pod} ({phase}) did not finish its run in time; log tail:\n{log[-4000:]}"
    reports = tmp_path / "reports"
    names = copy_from_pod(core, ns, pod, "/tmp/results", reports)
    t_copy = time.monotonic() - t1 - t_run
    assert {"conformance.json", "junit.xml", "conformance.html", "summary.md"} <= set(names), names
    doc = json.loads((reports / "conformance.json").read_text())
    status = {r["id"]: r["status"] for r in doc["results"]}
    assert all(status.get(c) == "passed" for c in CASES), (status, log[-3000:])
    assert doc["summary"]["failed"] == 0 and doc["summary"]["error"] == 0, doc["summary"]
    info = doc["run_info"]
    assert info["platform"] == "local" and info["dns_server"].startswith("10.96.0.10:"), info
    assert doc["closing_line"] in log  # the log carries the verdict even when nobody copies the files
    print(f"\nin-cluster Job: image build+push {t_image:.1f}s ({'pushed' if pushed.pushed else 'already there'}), "
          f"job start to reports held {t_run:.1f}s, copy {t_copy:.1f}s; {doc['closing_line']}")
