"""Verdict reading, evaluation and report rendering of the fault runner (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

from faults import registry, runner
from faults.registry import Fault
from faults.verdicts import Verdict, from_junit, read_run
from fixtures.catalogue import Case, load_catalogue

REPO = Path(__file__).resolve().parents[2]
CAT = {f"HS-DNS-{n:03d}": Case(f"HS-DNS-{n:03d}", f"case {n}", level="MUST" if n < 5 else "INFO")
       for n in range(1, 7)}


def result(name: str, statuses: dict[int, str]) -> runner.RunResult:
    res = runner.RunResult(name=name, reports_dir=Path("/nonexistent"))
    res.verdicts = {f"HS-DNS-{n:03d}": Verdict(s, f"msg {n}") for n, s in statuses.items()}
    return res


def fault(name: str, *ids: int) -> Fault:
    return Fault(name, "proxy", name, tuple(f"HS-DNS-{n:03d}" for n in ids), "test")


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
    assert "| `f` | proxy | HS-DNS-001:F | 006:E |" in text and "unexpected HS-DNS-006: msg 6" in text
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
        assert f.describe(), f.name
    assert len({f.name for f in registry.FAULTS}) == len(registry.FAULTS)
    assert registry.CI_SUBSET and all(n in registry.BY_NAME for n in registry.CI_SUBSET)
    assert [f.name for f in registry.select("case-sensitive, udp-no-tc")] == ["case-sensitive", "udp-no-tc"]


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
