"""The monitor on the local cluster (issue 12): a quiet run, disturbances while it runs, interruption, the HTML.

Every run is ``python -m monitor`` as a user starts it (a child process with a status file). The disturbance
run is one monitor run through phases, each started only once the monitor has seen a few seconds of right
answers again: pod deletion, CoreDNS restarted one pod at a time and both at once, kube-controller-manager
restarted (``python -m localcluster restart``), the real node cordoned and drained. The assertions are on what
must happen (an incident naming the deleted pod that starts after the deletion and ends after its successor
was Ready; no incident at all where the API state did not change ...), never on exact timings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from fixtures.polling import poll_until
from tests.e2e.conftest import kubeconfig

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
CHROMIUM = ("/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run")
QUIET_S = 3.0  # right answers the monitor must have seen before the next phase starts


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig()))


def _ts(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return dt.datetime.fromisoformat(str(value)).timestamp()


def ready_since(pod: Any) -> float | None:
    """The Ready condition's lastTransitionTime (whole seconds, never later than the real moment)."""
    for c in pod.status.conditions or []:
        if c.type == "Ready" and c.status == "True":
            return _ts(c.last_transition_time)
    return None


def poll(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    """``poll_until`` on a truthy condition."""
    return poll_until(lambda: cond() or None, timeout=timeout, what=what, interval=interval)


@dataclass
class MonitorRun:
    proc: subprocess.Popen[str]
    dir: Path

    @property
    def status_path(self) -> Path:
        return self.dir / "status.json"

    def status(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.status_path.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def logs(self) -> str:
        return ((self.dir / "out.log").read_text(errors="replace")[-3000:] + "\n--- stderr ---\n"
                + (self.dir / "err.log").read_text(errors="replace")[-6000:])

    def alive(self) -> None:
        assert self.proc.poll() is None, f"the monitor exited early ({self.proc.returncode}):\n{self.logs()}"

    def wait_ready(self, targets: int, timeout: float = 300) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            self.alive()
            st = self.status()
            ok = (st.get("phase") == "monitor" and st.get("queries", 0) > 0 and st.get("targets") == targets
                  and st.get("streams") == st.get("streams_ready") and st.get("streams", 0) > 0)
            return st if ok else None
        st: dict[str, Any] = poll(ready, timeout, "the monitor to ask every target")
        return st

    def wait_asking(self, pods: set[str], timeout: float = 120) -> None:
        """Until the monitor's targets are the DNS Service and exactly these CoreDNS pods, and it has judged a
        right answer from each: a count alone can match while a deleted pod is still listed and its replacement
        not yet, and a replica's first answers wait for the API view around them before they are judged."""
        want = {"DNS Service", *(f"replica {p}" for p in pods)}

        def asking() -> bool | None:
            self.alive()
            st = self.status()
            answered = st.get("answered") or {}
            ok = set(st.get("target_labels") or []) == want and all(answered.get(lb, 0) > 0 for lb in want)
            return True if ok else None
        poll(asking, timeout, f"the monitor to ask the DNS Service and the replicas {sorted(pods)} and judge "
                              "a right answer from each")

    def wait_ttr(self, pod: str, kind: str, since: float, timeout: float = 120) -> dict[str, Any]:
        """Until the monitor has seen the event (a pod Ready, a pod deleted) and measured it to the end."""
        def seen() -> dict[str, Any] | None:
            self.alive()
            for ev in reversed(self.status().get("ttr_events") or []):
                if ev["pod"] == pod and ev["kind"] == kind and ev["t"] >= since and ev["done"]:
                    return dict(ev)
            return None
        ev: dict[str, Any] = poll(seen, timeout, f"the monitor's time-to-resolve event '{kind}' of {pod}")
        return ev

    def wait_quiet(self, targets: int, quiet: float = QUIET_S, timeout: float = 180) -> float:
        """Until every stream runs and the monitor judged ``quiet`` seconds of right answers, up to now."""
        def calm() -> float | None:
            self.alive()
            st, now = self.status(), time.time()
            judged, last_bad = st.get("judged_until") or 0.0, st.get("last_bad") or 0.0
            ok = (st.get("targets") == targets and st.get("streams") == st.get("streams_ready")
                  and st.get("open_spans") == 0 and judged >= now - 5 and judged - last_bad >= quiet)
            return now if ok else None
        t: float = poll(calm, timeout, f"{quiet:.0f}s of right answers")
        return t

    def stop(self, sig: int = signal.SIGINT, timeout: float = 300) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the monitor did not stop within {timeout}s of {sig}:\n{self.logs()}") from None

    def report(self) -> dict[str, Any]:
        path = self.dir / "monitor.json"
        assert path.is_file(), f"no report written:\n{self.logs()}"
        doc: dict[str, Any] = json.loads(path.read_text())
        return doc


def start_monitor(directory: Path, *args: str) -> MonitorRun:
    directory.mkdir(parents=True, exist_ok=True)
    cmd = [PY, "-m", "monitor", "--reports-dir", str(directory), "--status-file", str(directory / "status.json"),
           "--progress", "5", *args]
    with (directory / "out.log").open("w") as out, (directory / "err.log").open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, text=True, start_new_session=True)
    return MonitorRun(proc, directory)


def run_namespaces(run_id: str) -> list[str]:
    items = _core().list_namespace(label_selector=f"hsdns.io/run-id={run_id}").items
    return sorted(n.metadata.name for n in items)


def dns_replica_count() -> int:
    return len(coredns_pods())


def coredns_pods() -> list[Any]:
    return [p for p in _core().list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns").items
            if p.metadata.deletion_timestamp is None]


def wait_coredns(count: int, exclude: set[str], timeout: float = 180) -> list[Any]:
    def ready() -> list[Any] | None:
        pods = [p for p in coredns_pods() if p.metadata.name not in exclude and ready_since(p) is not None]
        return pods if len(pods) >= count else None
    pods: list[Any] = poll(ready, timeout, f"{count} new CoreDNS pod(s) Ready")
    return pods


def sts_pods(namespace: str) -> list[Any]:
    items: list[Any] = _core().list_namespaced_pod(namespace, label_selector="app=web").items
    return items


def wait_sts_ready(namespace: str, names: set[str], old_uids: set[str], timeout: float = 180) -> dict[str, float]:
    """Until each named pod is a new pod (uid not in ``old_uids``) and Ready: name -> Ready since."""
    def ready() -> dict[str, float] | None:
        out = {}
        for p in sts_pods(namespace):
            since = ready_since(p)
            if p.metadata.name in names and p.metadata.uid not in old_uids and since is not None \
                    and p.metadata.deletion_timestamp is None:
                out[p.metadata.name] = since
        return out if set(out) == names else None
    result: dict[str, float] = poll(ready, timeout, f"new pods {sorted(names)} Ready")
    return result


# ---------------------------------------------------------------------------------------------------
def test_a_quiet_run_has_no_incidents_and_exits_0(tmp_path: Path) -> None:
    """Ended by --until-file (as after an upgrade): a normal end, the gates decide the exit status."""
    replicas = dns_replica_count()
    done = tmp_path / "done"
    run = start_monitor(tmp_path, "--duration", "120", "--until-file", str(done))
    try:
        run.wait_ready(1 + replicas)
        time.sleep(15)
        done.touch()
        rc = run.proc.wait(timeout=300)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert rc == 0, run.logs()
    doc = run.report()
    out_lines = (tmp_path / "out.log").read_text().strip().splitlines()
    assert out_lines[-1] == doc["summary_line"]
    assert doc["summary_line"].startswith("HSDNS MONITOR: 0 incident(s) | wrong 0.0s | missing 0.0s |")
    assert doc["incidents"] == [] and doc["figures"]["incidents"] == 0, json.dumps(doc["incidents"])[:3000]
    assert doc["exit_status"] == 0 and not doc["interrupted"] and doc["stop_reason"] == f"{done} appeared"
    # every name of the workload was asked at the DNS Service and at each replica, by both resolver pods
    assert set(doc["tables"]["per_query"]) == set(doc["workload"]["questions"])
    assert all(v["queries"] > 10 and v["ok"] == v["queries"] for v in doc["tables"]["per_query"].values())
    labels = set(doc["tables"]["per_target"])
    assert "DNS Service" in labels and sum(1 for lb in labels if lb.startswith("replica ")) == replicas
    assert len(doc["resolvers"]) == 2 and set(doc["tables"]["per_resolver"]) == {r["name"] for r in doc["resolvers"]}
    assert doc["counts"]["queries"] >= 1000  # 5 answers/s per name at each target for > 15 s
    assert doc["cleanup"]["left"] == [] and run_namespaces(doc["run_id"]) == []
    assert (tmp_path / "monitor.html").is_file()


def test_sigterm_during_set_up_still_reports_and_removes_everything(tmp_path: Path) -> None:
    core = _core()
    run = start_monitor(tmp_path, "--duration", "300")
    try:
        def namespace() -> str | None:
            run.alive()
            for line in (tmp_path / "err.log").read_text().splitlines():
                if line.startswith("hsdns monitor: namespace "):
                    return line.split()[3].rstrip(":")
            return None
        ns = poll(namespace, 240, "the monitor's namespace")
        run_id = core.read_namespace(ns).metadata.labels["hsdns.io/run-id"]
        rc = run.stop(signal.SIGTERM)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert rc == 2, run.logs()
    doc = run.report()
    assert doc["interrupted"] and "SIGTERM" in doc["stop_reason"] and doc["summary_line"].endswith("(interrupted)")
    assert doc["cleanup"]["left"] == []
    assert poll(lambda: run_namespaces(run_id) == [], 120, "the run's namespaces to go")
    assert "Traceback" not in (tmp_path / "err.log").read_text()


# ---------------------------------------------------------------------------------------------------
@dataclass
class Phase:
    name: str
    start: float
    end: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Disturbed:
    doc: dict[str, Any]
    rc: int
    phases: dict[str, Phase]
    dir: Path

    def incidents(self, phase: str) -> list[dict[str, Any]]:
        p = self.phases[phase]
        return [i for i in self.doc["incidents"] if p.start <= i["start"] <= p.end]

    def describe(self, phase: str) -> str:
        p = self.phases[phase]
        t0 = self.doc["started_at"]
        return (f"phase {phase} +{p.start - t0:.2f}..+{p.end - t0:.2f}s {p.info}; incidents: " + json.dumps(
            [{k: i[k] for k in ("id", "start_s", "end_s", "kind", "names", "targets")} for i in self.doc["incidents"]]))


@pytest.fixture(scope="module")
def disturbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Disturbed]:
    """One monitor run through every disturbance, ended with Ctrl-C (SIGINT)."""
    core = _core()
    replicas = dns_replica_count()
    assert replicas >= 2, "the local cluster runs CoreDNS as 2 pods"
    targets = 1 + replicas
    directory = tmp_path_factory.mktemp("monitor-disturbed")
    run = start_monitor(directory, "--duration", "900")
    phases: dict[str, Phase] = {}
    cordoned: str | None = None
    try:
        run.wait_ready(targets)
        ns = run.status()["namespace"]
        # quiet: nothing happens
        p = phases["quiet"] = Phase("quiet", time.time())
        time.sleep(8)
        p.end = run.wait_quiet(targets)

        # a StatefulSet pod is deleted; the StatefulSet makes a new web-1
        old = {q.metadata.uid for q in sts_pods(ns)}
        p = phases["delete-pod"] = Phase("delete-pod", time.time())
        core.delete_namespaced_pod("web-1", ns)
        p.info["ready"] = wait_sts_ready(ns, {"web-1"}, old)
        # the phase ends once the monitor itself saw the successor Ready and answering (its API poll and the
        # judging of answers run behind the test's own view of the API)
        run.wait_ttr("web-1", "ready", p.start - 1)
        p.end = run.wait_quiet(targets)

        # CoreDNS restarted one pod at a time (each replacement Ready before the next deletion)
        p = phases["coredns-one-by-one"] = Phase("coredns-one-by-one", time.time())
        deleted: list[str] = []
        for pod in sorted(q.metadata.name for q in coredns_pods()):
            core.delete_namespaced_pod(pod, "kube-system")
            deleted.append(pod)
            wait_coredns(replicas, set(deleted))
            run.wait_asking({q.metadata.name for q in coredns_pods()})
            run.wait_quiet(targets)
        p.info["deleted"] = deleted
        p.info["new"] = sorted(q.metadata.name for q in coredns_pods())
        p.end = run.wait_quiet(targets)

        # CoreDNS restarted: both pods at once
        pods = sorted(q.metadata.name for q in coredns_pods())
        p = phases["coredns-both"] = Phase("coredns-both", time.time())
        for pod in pods:
            core.delete_namespaced_pod(pod, "kube-system")
        new = wait_coredns(replicas, set(pods))
        p.info["deleted"] = pods
        p.info["first_ready"] = min(float(ready_since(q) or math.inf) for q in new)
        p.end = run.wait_quiet(targets)

        # kube-controller-manager restarted (stopped by PID, started with the same argv)
        p = phases["restart-kcm"] = Phase("restart-kcm", time.time())
        proc = subprocess.run([PY, "-m", "localcluster", "restart", "kube-controller-manager"], cwd=ROOT,
                              capture_output=True, text=True, timeout=240, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        p.info["restart"] = proc.stdout.strip()
        time.sleep(5)
        p.end = run.wait_quiet(targets)

        # the StatefulSet's node is cordoned and drained (its pods evicted): they stay Pending until uncordon
        pods_now = sts_pods(ns)
        node = pods_now[0].spec.node_name
        old = {q.metadata.uid for q in pods_now}
        names = {q.metadata.name for q in pods_now}
        p = phases["drain"] = Phase("drain", time.time(), info={"node": node})
        core.patch_node(node, {"spec": {"unschedulable": True}})
        cordoned = node
        for q in pods_now:
            core.create_namespaced_pod_eviction(q.metadata.name, ns, client.V1Eviction(
                metadata=client.V1ObjectMeta(name=q.metadata.name, namespace=ns)))
        poll(lambda: all(q.metadata.uid not in old and q.status.phase == "Pending" for q in sts_pods(ns))
             and len(sts_pods(ns)) == len(names), 120, "the evicted pods' successors to be Pending")
        time.sleep(4)
        p.info["uncordon"] = time.time()
        core.patch_node(node, {"spec": {"unschedulable": False}})
        cordoned = None
        p.info["ready"] = wait_sts_ready(ns, names, old)
        p.end = run.wait_quiet(targets)

        rc = run.stop(signal.SIGINT)
        yield Disturbed(run.report(), rc, phases, directory)
    finally:
        if cordoned is not None:
            core.patch_node(cordoned, {"spec": {"unschedulable": False}})
        if run.proc.poll() is None:
            run.stop(signal.SIGINT)


def test_disturbed_run_ends_on_sigint_with_its_report_and_nothing_left(disturbed: Disturbed) -> None:
    doc = disturbed.doc
    assert disturbed.rc == 2 and doc["interrupted"] and "SIGINT" in doc["stop_reason"]
    assert doc["summary_line"].endswith("(interrupted)")
    assert doc["cleanup"]["left"] == [] and run_namespaces(doc["run_id"]) == []
    # whatever happened, DNS never contradicted the EndpointSlices beyond the grace period
    assert doc["figures"]["wrong_seconds"] == 0.0, disturbed.describe("quiet")
    assert all(i["kinds"].get("wrong", 0) == 0 for i in doc["incidents"])


def test_nothing_happening_gives_no_incident(disturbed: Disturbed) -> None:
    assert disturbed.incidents("quiet") == [], disturbed.describe("quiet")


def test_deleting_a_statefulset_pod_makes_its_name_unavailable_until_its_successor_answers(
        disturbed: Disturbed) -> None:
    phase = disturbed.phases["delete-pod"]
    found = disturbed.incidents("delete-pod")
    web1 = [i for i in found if any(n.startswith("web-1.") for n in i["names"])]
    assert web1, disturbed.describe("delete-pod")
    inc = web1[0]
    # the name is unavailable while the API agrees the pod is gone; where the control plane lags (a loaded
    # machine), part of the same incident is "missing" (the successor Ready, DNS not yet past the grace):
    # never "wrong"
    assert "unavailable" in inc["kinds"] and set(inc["kinds"]) <= {"unavailable", "missing"}, \
        disturbed.describe("delete-pod")
    assert inc["start"] >= phase.start
    assert inc["end"] >= phase.info["ready"]["web-1"], disturbed.describe("delete-pod")  # after the new pod's Ready
    # only web-1 was gone: the Service name, the SRV record and the other pods answered throughout
    assert all(n.startswith("web-1.") for i in found for n in i["names"]), disturbed.describe("delete-pod")
    events = [e for e in disturbed.doc["time_to_resolve"]["events"] if e["pod"] == "web-1" and
              phase.start - 1 <= e["t"] <= phase.end]
    kinds = {e["kind"] for e in events}
    assert kinds == {"deleted", "ready"}, events
    assert all(0 <= s < 30 for e in events for s in e["seconds"].values()) and all(
        "DNS Service" in e["seconds"] for e in events), events


def test_restarting_coredns_one_pod_at_a_time_never_loses_a_name(disturbed: Disturbed) -> None:
    phase = disturbed.phases["coredns-one-by-one"]
    for inc in disturbed.incidents("coredns-one-by-one"):
        # at most the DNS Service address routed a few queries to a pod that was going (no lameduck in the
        # Corefile): no answer, briefly; never a wrong one, never a name that does not resolve
        assert inc["kind"] == "missing" and set(inc["kinds"]) == {"missing"}, disturbed.describe("coredns-one-by-one")
        assert inc["targets"] == ["DNS Service"] and inc["duration_s"] < 15, disturbed.describe("coredns-one-by-one")
    # the monitor followed the replicas: each deleted pod left the targets, each new one was asked and answered
    changes = [c for c in disturbed.doc["dns_replica_changes"] if phase.start <= c["t"] <= phase.end]
    removed = {r.split()[0] for c in changes for r in c["removed"]}
    added = {a.split()[0] for c in changes for a in c["added"]}
    assert set(phase.info["deleted"]) <= removed and set(phase.info["new"]) <= added, changes
    per_target = disturbed.doc["tables"]["per_target"]
    for pod in phase.info["new"]:
        assert per_target[f"replica {pod}"]["ok"] > 0


def test_restarting_both_coredns_pods_is_an_outage_of_every_name_until_a_new_pod_is_ready(
        disturbed: Disturbed) -> None:
    phase = disturbed.phases["coredns-both"]
    found = disturbed.incidents("coredns-both")
    outage = [i for i in found if "DNS Service" in i["targets"] and i["kinds"].get("missing", 0) > 0]
    assert outage, disturbed.describe("coredns-both")
    inc = outage[0]
    assert inc["start"] >= phase.start and inc["end"] >= math.floor(phase.info["first_ready"]), \
        disturbed.describe("coredns-both")
    assert all(set(i["kinds"]) == {"missing"} for i in found), disturbed.describe("coredns-both")


def test_restarting_kube_controller_manager_changes_nothing_dns_answers(disturbed: Disturbed) -> None:
    phase = disturbed.phases["restart-kcm"]
    assert "restarted kube-controller-manager (pid " in phase.info["restart"]
    assert disturbed.incidents("restart-kcm") == [], disturbed.describe("restart-kcm")


def test_a_drained_node_makes_every_name_disappear_until_uncordon(disturbed: Disturbed) -> None:
    phase = disturbed.phases["drain"]
    found = disturbed.incidents("drain")
    assert found, disturbed.describe("drain")
    names = {n.split(".")[0] for i in found for n in i["names"]}
    # every pod was evicted and its successor stayed Pending: the per-pod names, the Service name and its SRV
    # record stopped resolving, and none resolved again before the node was uncordoned
    assert {"web-0", "web-1", "web-2", "my-headless-service", "_http"} <= names, disturbed.describe("drain")
    assert all(i["kind"] == "unavailable" for i in found), disturbed.describe("drain")
    assert min(i["start"] for i in found) >= phase.start
    assert max(i["end"] for i in found) >= phase.info["uncordon"], disturbed.describe("drain")
    assert max(i["end"] for i in found) >= max(phase.info["ready"].values()), disturbed.describe("drain")


@pytest.mark.skipif(shutil.which(CHROMIUM[0]) is None, reason="chromium is not installed")
def test_the_html_timeline_of_the_disturbed_run_renders_in_headless_chromium(disturbed: Disturbed,
                                                                              tmp_path: Path) -> None:
    page = disturbed.dir / "monitor.html"
    text = page.read_text()
    for needle in ("<script", "<link", "src=", "url(", "@import"):
        assert needle not in text.lower()
    shot = ROOT / "reports" / "monitor-timeline.png"
    shot.parent.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    base = [*CHROMIUM, "--window-size=1200,900"]
    subprocess.run([*base, f"--user-data-dir={tmp_path / 'p1'}", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, text=True, timeout=120, env=env, check=False)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    dom = subprocess.run([*base, f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, env=env, check=False).stdout
    incidents = disturbed.doc["incidents"]
    assert incidents and f'<td id="count-incidents">{len(incidents)}</td>' in dom
    for inc in incidents:
        assert f'id="incident-{inc["id"]}"' in dom and f'id="band-{inc["id"]}"' in dom
    assert '<svg id="timeline"' in dom and disturbed.doc["summary_line"] in dom.replace("&amp;", "&")
