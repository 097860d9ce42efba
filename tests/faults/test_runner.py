"""Verdict reading, evaluation and report rendering of the fault runner (no cluster)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from faults import coredns, registry, runner, transforms
from faults.registry import Fault
from faults.verdicts import Verdict, from_junit, read_run
from fixtures.catalogue import Case, load_catalogue
from tests.signals import keyboard_interrupt_on_sigint

REPO = Path(__file__).resolve().parents[2]
CAT = {f"HS-DNS-{n:03d}": Case(f"HS-DNS-{n:03d}", f"case {n}", level="MUST" if n < 5 else "INFO")
       for n in range(1, 7)}


def result(name: str, statuses: dict[int, str]) -> runner.RunResult:
    res = runner.RunResult(name=name, reports_dir=Path("/nonexistent"))
    res.verdicts = {f"HS-DNS-{n:03d}": Verdict(s, f"msg {n}") for n, s in statuses.items()}
    return res


def fault(name: str, *ids: int, kind: str = "proxy", spares: tuple[int, ...] = ()) -> Fault:
    return Fault(name, kind, name, "test", {f"HS-DNS-{n:03d}": "why" for n in ids},
                 spares={f"HS-DNS-{n:03d}": "why not" for n in spares})


HEALTHY = {1: "passed", 2: "passed", 3: "passed", 4: "skipped", 5: "passed", 6: "passed"}


def test_full_detection() -> None:
    runs = [(fault("drop-one-a", 1, 2), result("drop-one-a", {**HEALTHY, 1: "failed", 2: "failed"}))]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), runs)
    assert doc["ok"] and doc["score"]["percent"] == 100.0
    assert doc["faults"][0]["detected"] == ["HS-DNS-001", "HS-DNS-002"]
    assert doc["coverage"]["not_caught"] == ["HS-DNS-003"]
    assert doc["coverage"]["not_runnable_here"] == ["HS-DNS-004"]


def test_error_is_a_miss_and_extra_failure_is_unexpected() -> None:
    runs = [(fault("f", 1, 2), result("f", {**HEALTHY, 1: "failed", 2: "error", 3: "failed"}))]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), runs)
    f = doc["faults"][0]
    assert f["missed"] == {"HS-DNS-002": "error"} and f["unexpected"] == ["HS-DNS-003"]
    assert not doc["ok"] and doc["score"]["percent"] == 50.0 and doc["score"]["unexpected_failures"] == 1


def test_not_applicable_and_baseline_failures() -> None:
    healthy = result("healthy", {**HEALTHY, 3: "failed"})
    runs = [(fault("f", 1, 4), result("f", {**HEALTHY, 1: "failed", 3: "failed"}))]
    doc = runner.evaluate(CAT, healthy, runs)
    f = doc["faults"][0]
    assert f["not_applicable"] == ["HS-DNS-004"] and f["unexpected"] == [] and f["ok"]
    assert doc["healthy"]["unexpected"] == ["HS-DNS-003"] and not doc["ok"]
    assert doc["coverage"]["baseline_failures"] == ["HS-DNS-003"]


def test_absent_verdicts_are_misses() -> None:
    runs = [(fault("f", 1), result("f", {2: "passed"}))]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), runs)
    assert doc["faults"][0]["missed"] == {"HS-DNS-001": "absent"}


def test_rendering(tmp_path: Path) -> None:
    runs = [(fault("f", 1), result("f", {**HEALTHY, 1: "failed", 6: "error"}))]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), runs)
    lines = runner.table_lines(doc)
    assert any(line.startswith("f ") and "001:F" in line and "006:E" in line for line in lines)
    js, md = runner.write_reports(doc, tmp_path)
    text = md.read_text()
    assert "| `f` | proxy | 001:F | - | 006:E |" in text and "unexpected HS-DNS-006 (error): msg 6" in text
    assert "| HS-DNS-001 | why | F |" in text  # the reasoned list with the observed verdict
    assert json.loads(js.read_text())["faults"][0]["observed"]["HS-DNS-006"] == {"status": "error", "message": "msg 6"}


def test_read_conformance_json_then_junit(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite>'
        '<testcase classname="conformance.test_a" name="test_x"><properties>'
        '<property name="case_id" value="HS-DNS-001"/></properties><failure message="boom"/></testcase>'
        '<testcase classname="conformance.test_a" name="test_hs_dns_002_y"><skipped message="no"/></testcase>'
        '<testcase classname="conformance.test_a" name="test_z"/>'
        '</testsuite></testsuites>')
    verdicts, source = read_run(tmp_path)
    assert source.endswith("junit.xml")
    assert verdicts["HS-DNS-001"] == Verdict("failed", "boom") and verdicts["HS-DNS-002"].status == "skipped"
    assert verdicts == from_junit(tmp_path / "junit.xml")
    (tmp_path / "conformance.json").write_text(json.dumps(
        {"results": [{"id": "HS-DNS-001", "status": "passed"}, {"id": "HS-DNS-002", "status": "error",
                                                               "message": "setup"}]}))
    verdicts, source = read_run(tmp_path)
    assert source.endswith("conformance.json") and verdicts["HS-DNS-002"] == Verdict("error", "setup")


def test_stored_run_roundtrip(tmp_path: Path) -> None:
    res = runner.RunResult(name="f", reports_dir=tmp_path / "f", returncode=1, seconds=12.3, server="127.0.0.1:1")
    res.reports_dir.mkdir()
    (res.reports_dir / "conformance.json").write_text(json.dumps({"results": [{"id": "HS-DNS-001",
                                                                                "status": "failed"}]}))
    runner.save_meta(res)
    loaded = runner.load_result(tmp_path, "f")
    assert loaded is not None and loaded.seconds == 12.3 and loaded.verdicts["HS-DNS-001"].status == "failed"
    assert runner.load_result(tmp_path, "missing") is None


def test_registry_ids_exist_in_catalogue_and_names_resolve() -> None:
    catalogue = load_catalogue(REPO / "conformance" / "catalogue.yaml")
    for f in registry.FAULTS:
        assert f.breaks, f.name
        assert set(f.breaks) <= set(catalogue), f.name
        assert set(f.spares) <= set(catalogue) and set(f.revised) <= set(catalogue), f.name
        assert f.describe(), f.name
    assert len({f.name for f in registry.FAULTS}) == len(registry.FAULTS)
    assert [f.name for f in registry.select("case-sensitive, udp-no-tc")] == ["case-sensitive", "udp-no-tc"]
    assert registry.select(None) == list(registry.FAULTS)  # `--ci` and `make faults`: every fault


def test_registry_lists_are_reasoned() -> None:
    """Every listed id has a reason; must and must-not never overlap; INFO ids are never expected to FAIL; a
    fault that skips the slow cases lists none of them; kinds are known and have their mechanism."""
    catalogue = load_catalogue(REPO / "conformance" / "catalogue.yaml")
    slow = {f"HS-DNS-{n:03d}" for n in registry.SLOW}
    for f in registry.FAULTS:
        assert all(why.strip() for why in (*f.reasons.values(), *f.spares.values(), *f.revised.values())), f.name
        assert not set(f.reasons) & set(f.spares), f.name
        assert not set(f.may) & (set(f.reasons) | set(f.spares)), f.name
        assert all(why for why in f.may.values()), f.name
        assert all(catalogue[i].level != "INFO" for i in f.breaks), f.name
        if not f.slow:
            assert not set(f.breaks) & slow, f.name
        assert f.kind in ("proxy", "coredns", "replica"), f.name
        if f.kind == "proxy":
            assert f.name in transforms.TRANSFORMS, f.name
        elif f.kind == "coredns":
            assert f.name in coredns.MUTATIONS, f.name
        else:
            assert f.mutation in coredns.MUTATIONS, f.name
    assert set(transforms.TRANSFORMS) == {f.name for f in registry.FAULTS if f.kind == "proxy"}


def test_spares_broken_are_flagged() -> None:
    runs = [(fault("f", 1, spares=(3,)), result("f", {**HEALTHY, 1: "failed", 3: "failed"}))]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), runs)
    f = doc["faults"][0]
    assert f["unexpected"] == ["HS-DNS-003"] and f["spared_broken"] == ["HS-DNS-003"] and not f["ok"]
    assert "listed as must-not: why not" in runner.markdown(doc)


def test_replica_faults_use_the_real_pod_baseline_and_must_name_the_replica() -> None:
    real = result("healthy-real", {**HEALTHY, 4: "passed"})  # runnable on real pods only
    res = result("r", {**HEALTHY, 4: "failed", 1: "failed"})
    res.server_stats = {"bad_pod": "coredns-bad-x", "removed": True}
    res.extra["names_bad_replica"] = {"HS-DNS-004": True, "HS-DNS-001": False}
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), [(fault("r", 1, 4, kind="replica"), res)], real)
    f = doc["faults"][0]
    assert f["baseline"] == "healthy-real" and f["not_applicable"] == [] and f["detected"] == ["HS-DNS-001",
                                                                                              "HS-DNS-004"]
    assert f["unnamed_replica"] == ["HS-DNS-001"] and not f["ok"]
    res.extra["names_bad_replica"]["HS-DNS-001"] = True
    res.server_stats["removed"] = False
    f = runner.evaluate(CAT, None, [(fault("r", 1, 4, kind="replica"), res)], real)["faults"][0]
    assert not f["replica_removed"] and not f["ok"]
    assert "NOT removed" in "\n".join(runner.table_lines(runner.evaluate(CAT, None, [(fault(
        "r", 1, 4, kind="replica"), res)], real)))


def test_run_args_and_plan() -> None:
    slow_free = Fault("x", "proxy", "x", "t", {"HS-DNS-001": "why"}, slow=False)
    assert runner.run_args(slow_free, ["-n", "4"])[-2:] == ["-m", "not slow"]
    assert runner.run_args(slow_free, ["-m", "srv"]).count("-m") == 1
    assert "-m" not in runner.run_args(None, ["-n", "4"])
    plan = runner.make_plan([registry.BY_NAME["diverging-replica"], registry.BY_NAME["drop-one-a"]])
    assert [p.name for p in plan] == ["healthy", "healthy-real", "drop-one-a", "diverging-replica"]
    assert [p.exclusive for p in plan] == [False, False, False, True]
    assert [p.name for p in runner.make_plan([registry.BY_NAME["drop-one-a"]], healthy=False)] == ["drop-one-a"]


def test_plan_starts_the_longest_fault_runs_first() -> None:
    """A must-FAIL case waits for its deadline: the run with the most of them starts first, so two runs at
    once do not leave a long one alone at the end; the baselines stay first and a replica fault last."""
    short = Fault("short", "proxy", "s", "t", {"HS-DNS-001": "why"}, spares={"HS-DNS-002": "no", "HS-DNS-003": "no"})
    long = Fault("long", "proxy", "l", "t", {"HS-DNS-001": "why", "HS-DNS-002": "why"})
    assert runner.expected_cost(runner.Planned("long", long, ids=("HS-DNS-001", "HS-DNS-002"))) > \
        runner.expected_cost(runner.Planned("short", short, ids=("HS-DNS-001", "HS-DNS-002", "HS-DNS-003")))
    plan = runner.make_plan([short, registry.BY_NAME["diverging-replica"], long], targeted=True)
    assert [p.name for p in plan] == ["healthy", "healthy-real", "long", "short", "diverging-replica"]
    every = runner.make_plan(list(registry.FAULTS), targeted=True)
    costs = [runner.expected_cost(p) for p in every if p.fault is not None and not p.exclusive]
    assert costs == sorted(costs, reverse=True)


def test_every_planned_run_has_its_own_run_id_and_leaves_the_namespace_check_to_the_runner() -> None:
    """The runs do not wait for their namespaces (--await-cleanup no); the runner checks them all at the end by
    the run ids it gave each run (HSDNS_RUN_ID), so every run needs its own."""
    plan = runner.make_plan(list(registry.FAULTS), targeted=True)
    ids = [p.run_id for p in plan]
    assert all(i and len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert len({i[:6] for i in ids if i}) == len(ids)  # namespace names carry the first 6: no two runs share them
    cmd = runner.child_command(plan[2], Path("/out"), [], None)
    assert cmd[cmd.index("--run-id") + 1] == plan[2].run_id
    args = runner.run_args(plan[2].fault, ["-n", "4"], plan[2].ids)
    assert args[args.index("--await-cleanup") + 1] == "no"
    assert runner.run_args(None, ["--await-cleanup", "yes"]).count("--await-cleanup") == 1  # the user's wins
    assert runner.await_cleanup(runner.Environment(upstream="127.0.0.1:1", kubeconfig=None), []) == []


def test_run_plan_runs_at_most_jobs_at_once_and_exclusive_runs_alone(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "events"
    script = ("import json,sys,time,pathlib;n=sys.argv[1];o=pathlib.Path(sys.argv[2]);"
              "e=open(sys.argv[3],'a');e.write(f'start {n} {time.monotonic()}\\n');e.flush();time.sleep(0.6);"
              "(o/n).mkdir(parents=True,exist_ok=True);"
              "(o/n/'run.json').write_text(json.dumps({'name':n,'returncode':0,'seconds':0.6}));"
              "e.write(f'end {n} {time.monotonic()}\\n')")

    def fake(item: runner.Planned, out_dir: Path, extra: list[str], timeout: float | None) -> list[str]:
        return [sys.executable, "-c", script, item.name, str(out_dir), str(log)]

    monkeypatch.setattr(runner, "child_command", fake)
    plan = runner.make_plan([registry.BY_NAME[n] for n in ("drop-one-a", "foreign-a", "udp-no-tc",
                                                            "diverging-replica")])
    seen: list[str] = []
    results = runner.run_plan(plan, runner.Environment(upstream="127.0.0.1:1", kubeconfig=None), tmp_path, [],
                              jobs=2, say=lambda name, res: seen.append(name))
    assert set(results) == {p.name for p in plan} and sorted(seen) == sorted(results)
    events = [line.split() for line in log.read_text().splitlines()]
    running: set[str] = set()
    peak = 0
    for kind, name, _ in sorted(events, key=lambda e: float(e[2])):
        running = running | {name} if kind == "start" else running - {name}
        peak = max(peak, len(running))
        if kind == "start" and name == "diverging-replica":
            assert running == {"diverging-replica"}  # alone
    assert peak == 2


def test_info_is_a_valid_verdict_and_never_a_detection(tmp_path: Path) -> None:
    (tmp_path / "conformance.json").write_text(json.dumps({"results": [
        {"id": "HS-DNS-005", "level": "INFO", "status": "info"},
        {"id": "HS-DNS-006", "level": "INFO", "status": "passed"},  # a 1.0 file: INFO cases written as passed
    ]}))
    verdicts, _ = read_run(tmp_path)
    assert verdicts["HS-DNS-005"].status == "info" and verdicts["HS-DNS-006"].status == "info"
    (tmp_path / "junit.xml").write_text(
        '<testsuite>'
        '<testcase classname="c" name="test_a"><properties><property name="case_id" value="HS-DNS-005"/>'
        '<property name="level" value="INFO"/></properties></testcase>'
        '<testcase classname="c" name="test_b"><properties><property name="case_id" value="HS-DNS-006"/>'
        '<property name="level" value="INFO"/></properties><failure message="tripped"/></testcase>'
        '<testcase classname="c" name="test_c"><properties><property name="case_id" value="HS-DNS-001"/>'
        '<property name="conformance_status" value="info"/></properties></testcase>'
        '</testsuite>')
    junit = from_junit(tmp_path / "junit.xml")
    assert {i: v.status for i, v in junit.items()} == {"HS-DNS-005": "info", "HS-DNS-006": "error",
                                                        "HS-DNS-001": "info"}
    healthy = result("healthy", {**HEALTHY, 5: "info", 6: "info"})
    runs = [(fault("f", 1, 5), result("f", {**HEALTHY, 1: "failed", 5: "info", 6: "info"}))]
    doc = runner.evaluate(CAT, healthy, runs)
    f = doc["faults"][0]
    assert f["detected"] == ["HS-DNS-001"] and f["missed"] == {"HS-DNS-005": "info"}  # info is never a detection
    assert f["unexpected"] == [] and doc["healthy"]["unexpected"] == []
    assert doc["coverage"]["not_runnable_here"] == ["HS-DNS-004"]  # INFO cases that ran are not "not runnable"
    assert "005:I" in "\n".join(runner.table_lines(doc))


def test_timing_settle_and_span(tmp_path: Path) -> None:
    from faults import timing

    timeline = [  # converge 1: API change at 0.5, streak from 0.7, hold from 0.9 to 3.0
        {"t": 0.1, "phase": "converge", "match": False}, {"t": 0.5, "event": "API state changed"},
        {"t": 0.6, "phase": "converge", "match": False}, {"t": 0.7, "phase": "converge", "match": True},
        {"t": 0.8, "phase": "converge", "match": True}, {"t": 0.9, "phase": "converge", "match": True},
        {"t": 1.0, "phase": "hold", "match": True}, {"t": 3.0, "phase": "hold", "match": True},
        # converge 2 (hold=False): first match at 0.2
        {"t": 0.1, "phase": "converge", "match": False}, {"t": 0.2, "phase": "converge", "match": True},
        {"t": 0.3, "phase": "converge", "match": True}, {"t": 0.4, "phase": "converge", "match": True},
    ]
    (tmp_path / "conformance.json").write_text(json.dumps({"results": [
        {"id": "HS-DNS-001", "status": "passed", "evidence": [{"timeline": timeline}]},
        {"id": "HS-DNS-002", "status": "failed", "evidence": [{"timeline": timeline}]}]}))
    got = timing.run_timings(tmp_path)
    assert [(t.case, t.settle_s, t.span_s, t.hold_s) for t in got] == [("HS-DNS-001", 0.2, 1.0, 2.0),
                                                                       ("HS-DNS-001", 0.2, 0.4, 0.0)]
    s = timing.summary(got)
    assert s["max_settle_s"] == 0.2 and s["max_span_s"] == 1.0 and s["max_hold_s"] == 2.0
    assert s["smallest_safe_dns_timeout_s"] == 0.6  # 3 x settle; span / 3 = 0.33, hold / 5 = 0.4
    long_hold = [timing.CheckTiming("r", "HS-DNS-003", 0.1, 0.5, True, 10.0)]
    assert timing.summary(long_hold)["smallest_safe_dns_timeout_s"] == 2.0  # the hold's cap: 5 timeouts


def test_run_plan_interrupted_stops_every_running_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the runner: every child running at that moment gets SIGTERM (and may clean up)."""
    import os
    import signal
    import threading

    log = tmp_path / "events"
    script = ("import signal,sys,time;n=sys.argv[1];e=open(sys.argv[2],'a');"
              "signal.signal(signal.SIGTERM,lambda *a:(e.write(f'term {n}\\n'),e.flush(),sys.exit(0)));"
              "e.write(f'start {n}\\n');e.flush();time.sleep(30)")

    def fake(item: runner.Planned, out_dir: Path, extra: list[str], timeout: float | None) -> list[str]:
        return [sys.executable, "-c", script, item.name, str(log)]

    monkeypatch.setattr(runner, "child_command", fake)
    plan = runner.make_plan([registry.BY_NAME[n] for n in ("drop-one-a", "foreign-a", "udp-no-tc")])
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with keyboard_interrupt_on_sigint(), pytest.raises(KeyboardInterrupt):
        runner.run_plan(plan, runner.Environment(upstream="127.0.0.1:1", kubeconfig=None), tmp_path, [], jobs=3)
    events = log.read_text().split()
    started = {events[i + 1] for i in range(0, len(events), 2) if events[i] == "start"}
    terminated = {events[i + 1] for i in range(0, len(events), 2) if events[i] == "term"}
    assert len(started) == 3 and terminated == started


def test_a_known_deviation_in_the_baseline_is_not_unexpected_and_blames_no_fault() -> None:
    healthy = result("healthy", HEALTHY)
    healthy.verdicts["HS-DNS-003"] = Verdict("failed", "CoreDNS deviation", known_deviation=True)
    runs = [(fault("f", 1), result("f", {**HEALTHY, 1: "failed", 3: "failed"}))]
    doc = runner.evaluate(CAT, healthy, runs)
    assert doc["healthy"]["unexpected"] == [] and doc["healthy"]["known_deviations"] == ["HS-DNS-003"]
    assert doc["faults"][0]["unexpected"] == [] and doc["ok"]
    assert doc["coverage"]["known_deviations"] == ["HS-DNS-003"]
    # an unlisted FAIL in the baseline is still one
    healthy.verdicts["HS-DNS-002"] = Verdict("failed", "new")
    assert runner.evaluate(CAT, healthy, runs)["healthy"]["unexpected"] == ["HS-DNS-002"]


def test_known_deviation_is_read_from_conformance_json(tmp_path: Path) -> None:
    (tmp_path / "conformance.json").write_text(json.dumps({"results": [
        {"id": "HS-DNS-001", "status": "failed", "known_deviation": {"issue": "x"}, "matches_expectation": True},
        {"id": "HS-DNS-002", "status": "failed", "known_deviation": None, "matches_expectation": False}]}))
    verdicts, _ = read_run(tmp_path)
    assert verdicts["HS-DNS-001"].known_deviation and not verdicts["HS-DNS-002"].known_deviation


def test_scope_selects_and_judges_only_its_ids() -> None:
    every = registry.EVERY
    wide = Fault("wide", "proxy", "w", "t", {"HS-DNS-050": "why"}, spares={"HS-DNS-001": "no"}, scope=every)
    narrow = fault("narrow", 1)
    assert "-k" not in runner.run_args(wide, [])  # the whole catalogue: no selection
    k = runner.run_args(narrow, [])
    assert k[k.index("-k") + 1] == " or ".join(registry.REASONED)
    plan = runner.make_plan([narrow, wide])
    assert plan[0].name == runner.HEALTHY and plan[0].ids == every
    # targeted (the CI subset): each run asks only what its fault lists; the baseline their union
    plan = runner.make_plan([narrow, wide], targeted=True)
    assert [(p.name, p.ids) for p in plan] == [(runner.HEALTHY, ("HS-DNS-001", "HS-DNS-050")),
                                               ("wide", ("HS-DNS-001", "HS-DNS-050")), ("narrow", ("HS-DNS-001",))]
    assert runner.run_args(narrow, [], ("HS-DNS-001",))[-2:] == ["-k", "HS-DNS-001"]
    # an id outside what a run selected is never judged for it
    res = result("narrow", {**HEALTHY, 1: "failed", 2: "failed"})
    res.extra["selected_ids"] = ["HS-DNS-001"]
    doc = runner.evaluate(CAT, result("healthy", HEALTHY), [(narrow, res)])
    assert doc["faults"][0]["unexpected"] == [] and doc["faults"][0]["detected"] == ["HS-DNS-001"]


def test_every_id_of_the_extended_faults_is_reasoned_one_way_or_the_other() -> None:
    """The faults reasoned over the whole catalogue list each id as must-FAIL or must-not, except the local
    CoreDNS's known deviations and the cases a KWOK node cannot run (requires real_kubelet)."""
    catalogue = load_catalogue()
    left_out = {f"HS-DNS-{n:03d}" for n in registry.DEVIATIONS} | {
        cid for cid, c in catalogue.items() if "real_kubelet" in c.requires}
    for f in registry.FAULTS:
        if f.scope != registry.EVERY:
            continue
        unlisted = {i for i in catalogue if i not in f.reasons and i not in f.spares and int(i[-3:]) >= 43}
        assert unlisted <= left_out, (f.name, sorted(unlisted - left_out))
        assert not set(f.reasons) & left_out, f.name


def stub_children(monkeypatch: pytest.MonkeyPatch,
                  seconds: Callable[[int], float]) -> list[tuple[str, str, int, float]]:
    """``run_plan``'s children as stubs (subprocess.Popen replaced): each "runs" ``seconds(k)`` for its ``-n k``
    (0 without one) and records ("start"|"end", run name, k, monotonic time) in the list returned."""
    import subprocess
    import time as _time

    events: list[tuple[str, str, int, float]] = []

    class Child:
        def __init__(self, cmd: list[str], **_: object) -> None:
            self.name = cmd[cmd.index("--name") + 1]
            rest = cmd[cmd.index("--") + 1:]
            self.k = runner.numprocesses(rest) or 0
            assert rest.count("-n") <= 1
            self.t0 = _time.monotonic()
            events.append(("start", self.name, self.k, self.t0))
            self.returncode: int | None = None

        def poll(self) -> int | None:
            if self.returncode is None and _time.monotonic() - self.t0 > seconds(self.k):
                self.returncode = 0
                events.append(("end", self.name, self.k, _time.monotonic()))
            return self.returncode

        def send_signal(self, _sig: int) -> None:
            self.returncode = -15

        def wait(self, timeout: float | None = None) -> int:
            return self.returncode or 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    return events


def test_coredns_faults_never_run_two_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two CoreDNS faults choosing loopback ports at the same moment can collide: one runs after the other,
    while proxy faults still run next to them."""
    events = stub_children(monkeypatch, seconds=lambda k: 0.6)
    a, b = (Fault(n, "coredns", n, "t", {"HS-DNS-027": "why"}) for n in ("no-reverse-zones", "wrong-dns-version"))
    p = fault("drop-ptr", 19)
    plan = [runner.Planned(f.name, f) for f in (a, b, p)]
    runner.run_plan(plan, None, tmp_path, [], jobs=3)  # type: ignore[arg-type]  # children are stubs: no env
    running: set[str] = set()
    for kind, name, _, _ in sorted(events, key=lambda e: e[3]):
        if kind == "start":
            running.add(name)
            assert not {"no-reverse-zones", "wrong-dns-version"} <= running
        else:
            running.discard(name)
    starts = [n for k, n, _, _ in events if k == "start"]
    assert starts[:2] == ["no-reverse-zones", "drop-ptr"]  # the proxy fault did not wait


def test_the_workers_of_a_run_are_read_and_set_in_every_spelling_of_dash_n() -> None:
    for args in (["-n", "4"], ["-n4"], ["--numprocesses", "4"], ["--numprocesses=4"]):
        assert runner.numprocesses(["-m", "not slow", *args, "-v"]) == 4
        assert runner.with_workers(["-m", "not slow", *args, "-v"], 2) == ["-m", "not slow", "-v", "-n", "2"]
    assert runner.numprocesses(["-n", "auto"]) is None and runner.numprocesses(["-v"]) is None
    assert runner.with_workers(["-v"], 1) == ["-v", "-n", "1"]


def test_a_packed_run_gets_the_workers_its_cases_need_and_a_baseline_all_of_them() -> None:
    """One worker per UNITS_PER_WORKER of expected cost, from 1 to the -n: the one must-FAIL case of
    case-sensitive needs one worker, fake-cluster-ip's 33 all four, a baseline (every id) all four."""
    plan = {p.name: p for p in runner.make_plan(list(registry.FAULTS), targeted=True)}
    assert runner.workers_for(plan["case-sensitive"], 4) == 1
    assert runner.workers_for(plan["fake-cluster-ip"], 4) == 4
    assert runner.workers_for(plan["healthy"], 4) == 4 and runner.workers_for(plan["healthy-real"], 3) == 3
    costs = {n: runner.expected_cost(p) for n, p in plan.items()}
    assert all(runner.workers_for(p, 4) == min(4, -(-costs[n] // runner.UNITS_PER_WORKER)) or p.fault is None
               for n, p in plan.items())


def test_pick_next_keeps_the_workers_within_the_budget_and_lets_a_smaller_run_fill_the_room() -> None:
    big, small, other = (runner.Planned(n, fault(n, 1)) for n in ("big", "small", "other"))
    size = {"big": 4, "small": 1, "other": 4}.__getitem__

    def pick(pending: list[runner.Planned], running: list[tuple[runner.Planned, int]], *, jobs: int = 6,
             budget: int | None = 8) -> str | None:
        got = runner.pick_next(pending, running, jobs=jobs, budget=budget, workers=lambda p: size(p.name))
        return got.name if got else None

    assert pick([big, small], []) == "big"
    assert pick([other, small], [(big, 4), (small, 1)]) == "small"  # 4 + 1 + 4 > 8: the small one goes first
    assert pick([other], [(big, 4), (small, 1)]) is None
    assert pick([other], [(big, 4)]) == "other"  # exactly the budget
    assert pick([other], [], budget=2) == "other"  # a run alone always fits, even above the budget
    assert pick([small], [(big, 4), (small, 1)], jobs=2) is None  # never more than --jobs runs
    assert pick([other, small], [(big, 4)], budget=None) == "other"  # no budget: the plan order, --jobs only
    a, b = (runner.Planned(n, fault(n, 27, kind="coredns")) for n in ("no-reverse-zones", "wrong-dns-version"))
    assert pick([b, small], [(a, 1)]) == "small"  # never two CoreDNS faults at once


def test_a_packed_plan_starts_runs_with_their_workers_and_never_exceeds_the_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = stub_children(monkeypatch, seconds=lambda k: 0.3 * k)
    plan = runner.make_plan([registry.BY_NAME[n] for n in ("fake-cluster-ip", "pod-name-nxdomain", "case-sensitive",
                                                            "drop-ptr", "diverging-replica")], targeted=True)
    runner.run_plan(plan, None, tmp_path, ["-n", "4", "-m", "not slow"], jobs=6, budget=9)  # type: ignore[arg-type]
    workers = {n: k for kind, n, k, _ in events if kind == "start"}
    assert workers == {"healthy": 4, "healthy-real": 4, "fake-cluster-ip": 4, "pod-name-nxdomain": 4,
                       "case-sensitive": 1, "drop-ptr": 1, "diverging-replica": 1}
    used = peak = 0
    for kind, n, k, _ in sorted(events, key=lambda e: e[3]):
        used += k if kind == "start" else -k
        peak = max(peak, used)
        assert used <= 9, n
        if kind == "start" and n == "diverging-replica":
            assert used == k  # the replica fault still runs alone
    assert peak == 9
    starts = [n for kind, n, _, _ in events if kind == "start"]
    # the two baselines hold 8 of the 9: drop-ptr (1 worker) fills the room before the longer runs of 4
    assert starts.index("drop-ptr") < starts.index("fake-cluster-ip")


def test_a_timing_dependent_id_is_neither_detected_nor_unexpected() -> None:
    f = Fault("f", "proxy", "f", "t", {"HS-DNS-001": "why"}, may={"HS-DNS-002": "a window of the cluster's timing"})
    for seen in ("failed", "passed"):
        doc = runner.evaluate(CAT, result("healthy", HEALTHY), [(f, result("f", {**HEALTHY, 1: "failed", 2: seen}))])
        assert doc["faults"][0]["unexpected"] == [] and doc["ok"] and doc["score"]["expected"] == 1


@pytest.mark.parametrize("args", [["--jobs", "1", "--worker-budget", "8", "--", "-n", "4"],
                                  ["--jobs", "6", "--worker-budget", "8"],
                                  ["--jobs", "6", "--worker-budget", "0", "--", "-n", "4"]])
def test_a_worker_budget_that_cannot_be_honoured_is_refused_with_the_fix(
        args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Packing needs runs in parallel and a number of workers to share: otherwise exit 2 and say what to give,
    before anything starts (no run, no proxy, nothing in the cluster)."""
    from faults import __main__ as cli

    monkeypatch.setattr(runner, "run_plan", lambda *a, **k: pytest.fail("a run started"))
    assert cli.main(["run", "--ci", *args]) == 2
    err = capsys.readouterr().err
    assert "--worker-budget needs" in err and "--jobs 6 --worker-budget 8 -- -n 4" in err
