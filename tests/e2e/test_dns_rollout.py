"""CoreDNS replaced one pod at a time while the suite runs (a rollout, an upgrade): never a false FAIL.

The suite asks the DNS Service and each of its replicas. A replica deleted while cases run stops
answering; the suite must notice it has left the DNS Service's endpoints and stop asking it, and must
judge the replica that replaced it. A run of the A and SRV groups (19 cases, none a known deviation)
with both CoreDNS pods replaced, one after the other, while its cases run (one worker, so that the
rollout lands between its first and last case): no FAIL, no ERROR.
(Found by an -n 8 run disturbed this way: 1 false FAIL, 2 ERRORs, before the replicas were live.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client

from fixtures.polling import poll_until

ROOT = Path(__file__).resolve().parents[2]
FIRST_RESULT = re.compile(r"workers? \[\d+ items?\]\s*[.FEsx]")
GROUPS = ("conformance/test_2_4_1_a_records.py", "conformance/test_2_4_2_srv_records.py")


def coredns(core: client.CoreV1Api) -> list[Any]:
    return [p for p in core.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
            if p.metadata.deletion_timestamp is None]


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_replacing_coredns_pods_one_at_a_time_during_a_run_gives_no_false_fail(api: client.ApiClient,
                                                                               tmp_path: Path) -> None:
    core = client.CoreV1Api(api)
    before = coredns(core)
    assert len(before) >= 2 and all(ready(p) for p in before), "the local cluster runs 2 Ready CoreDNS pods"
    run_id = f"rollout{uuid.uuid4().hex[:6]}"
    reports = tmp_path / "reports"
    env = {**os.environ, "HSDNS_RUN_ID": run_id}
    with (tmp_path / "out.log").open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--reports-dir",
                                 str(reports), *GROUPS, "-n", "1", "-m", "not slow"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    replaced: list[str] = []
    t0 = time.monotonic()
    log: list[str] = []

    def note(what: str) -> None:
        log.append(f"+{time.monotonic() - t0:.1f}s {what}")
    try:
        # once cases are running (their namespaces exist), replace each CoreDNS pod, the next one only when
        # its predecessor's replacement is Ready (what a Deployment's rolling update does with maxUnavailable 1)
        poll_until(lambda: True if proc.poll() is not None or FIRST_RESULT.search(
            (tmp_path / "out.log").read_text()) else None, timeout=300, what="the run's first case result")
        note("first case result")
        for pod in before:
            if proc.poll() is not None:
                break
            core.delete_namespaced_pod(pod.metadata.name, "kube-system")
            replaced.append(pod.metadata.name)
            note(f"deleted {pod.metadata.name}")
            poll_until(lambda: True if len([p for p in coredns(core) if p.metadata.name not in replaced
                                            and ready(p)]) >= len(before) else None,
                       timeout=180, what="the replacement CoreDNS pod Ready")
            note("its replacement Ready: " + ", ".join(sorted(p.metadata.name for p in coredns(core))))
        rc = proc.wait(timeout=1500)
        note(f"run ended ({rc})")
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "\n".join(log) + "\n" + (tmp_path / "out.log").read_text(errors="replace")[-5000:]
    assert len(replaced) == len(before), f"the run ended before every CoreDNS pod was replaced:\n{text}"
    doc = json.loads((reports / "conformance.json").read_text())
    summary = doc["summary"]
    assert rc == 0 and summary["failed"] == 0 and summary["error"] == 0 and summary["passed"] >= 10, text
    # the rollout happened while cases ran: cases before it asked the old replicas, cases after it the new ones
    # (a case polling at the moment its replica went recorded the change: dns_replica_changes)
    asked = {t for r in doc["results"] for ev in r["evidence"] for t in ev.get("info", {}).get("dns_targets") or []}
    changes = [c for r in doc["results"] for ev in r["evidence"] for c in ev.get("info", {}).get(
        "dns_replica_changes") or []]
    seen = (sorted(asked), changes, text)
    assert any(name in t for name in replaced for t in asked), seen
    assert any(p.metadata.name in t for p in coredns(core) for t in asked), seen
