"""Cluster-free unit tests of the reporting modules: catalogue, expectations, run info, schema, compare, CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from fixtures.catalogue import id_sort_key, read_catalogue, tolerant_catalogue
from fixtures.reporting import RUN_INFO_KEYS
from fixtures.reporting.__main__ import main, validation_errors
from fixtures.reporting.compare import compare
from fixtures.reporting.expectations import ExpectationsError, parse_expectations
from fixtures.reporting.render import allure_environment, render_html, render_markdown, sonobuoy_results
from fixtures.reporting.results import ItemCollector, ItemRecord, build_document, closing_line
from fixtures.reporting.runinfo import complete_run_info
from tests.reports.helpers import DATA, REPO_ROOT, load_json

ENTRY = {"id": "HS-DNS-001", "title": "t", "spec": "k8s-dns/2.4.1", "level": "must", "category": "a"}


@pytest.mark.parametrize(
    "data",
    [[ENTRY], {"cases": [ENTRY]}, {"behaviours": [ENTRY]}, {"version": 3, "behaviors": [ENTRY, {"title": "no id"}]}],
)
def test_catalogue_accepts_list_or_mapping(data: Any) -> None:
    cat = tolerant_catalogue(data)
    assert list(cat.entries) == ["HS-DNS-001"]
    assert cat.entries["HS-DNS-001"].level == "MUST"
    assert cat.entries["HS-DNS-001"].severity == "critical"


def test_catalogue_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_catalogue(tmp_path / "nope.yaml").entries == {}
    assert read_catalogue(DATA / "catalogue.yaml").version == "test-1"


def test_ids_sort_numerically() -> None:
    assert sorted(["HS-DNS-10", "HS-DNS-9", "HS-DNS-100"], key=id_sort_key) == ["HS-DNS-9", "HS-DNS-10", "HS-DNS-100"]


def test_run_info_missing_keys_are_unknown_and_run_id_generated() -> None:
    info = complete_run_info({"platform": "kind", "images": {}})
    assert set(RUN_INFO_KEYS) <= set(info)
    assert info["platform"] == "kind"
    assert info["images"] == "unknown"
    assert info["cluster_version"] == "unknown"
    assert info["run_id"] != "unknown"
    assert "platform=kind" in allure_environment(info)


def test_expectations_need_an_issue_link_and_valid_status() -> None:
    with pytest.raises(ExpectationsError, match="issue"):
        parse_expectations({"deviations": [{"id": "HS-DNS-001", "expected": "failed"}]})
    with pytest.raises(ExpectationsError, match="expected"):
        parse_expectations({"deviations": [{"id": "HS-DNS-001", "expected": "broken", "issue": "u"}]})
    exp = parse_expectations(
        {"deviations": [{"id": "X-1", "expected": ["failed", "passed"], "issue": "u", "when": {"dns_version": "1.1*"}}]}
    )
    dev = exp.deviations[0]
    assert dev.expected_status == "failed"
    assert dev.known_intermittent == ("passed",)
    assert exp.lookup("X-1", {"dns_version": "1.11.3"}) is dev
    assert exp.lookup("X-1", {"dns_version": "1.2.0"}) is None


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "expectations").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_expectation_files_are_valid(path: Path) -> None:
    exp = parse_expectations(yaml.safe_load(path.read_text()), str(path))
    assert exp.platform == path.stem
    catalogue = read_catalogue(REPO_ROOT / "conformance" / "catalogue.yaml")
    if catalogue.entries:
        unknown = [d.id for d in exp.deviations if d.id not in catalogue.entries]
        assert unknown == [], f"{path.name} names ids that are not in the catalogue"


def record(nodeid: str, case_id: str | None, outcome: str, converge: float | None = None) -> ItemRecord:
    rec = ItemRecord(nodeid=nodeid, case_id=case_id, outcome=outcome, duration_s=0.5)
    if outcome in ("passed", "info"):
        rec._call_outcome = "passed"
        rec.outcome = "passed"
        rec.info = outcome == "info"
    elif outcome == "failed":
        rec._call_outcome = "failed"
        rec.message = "AssertionError: mismatch"
    elif outcome == "error":
        rec._errors.append("setup")
        rec.phase = "setup"
    elif outcome == "skipped":
        rec._setup_skipped = True
    evidence = {"requirement": "r", "observations": [{"q": nodeid}], "time_to_converge_s": converge}
    rec.user_properties = [("case_id", case_id or ""), ("evidence", json.dumps(evidence))]
    return rec


def make_doc(statuses: dict[str, str], converge: dict[str, float] | None = None, run_id: str = "r1") -> dict[str, Any]:
    converge = converge or {}
    records = [record(f"t.py::test_{cid}", cid, st, converge.get(cid)) for cid, st in statuses.items()]
    catalogue = read_catalogue(DATA / "catalogue.yaml")
    info = complete_run_info({"platform": "kind", "run_id": run_id, "cluster_version": "v1.34.1"})
    return build_document(records, catalogue, info, started_at="s", finished_at="f", exit_status=1)


def test_document_validates_against_schema() -> None:
    doc = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "failed", "HS-DNS-003": "error", "HS-DNS-004": "skipped"})
    assert validation_errors(doc) == []
    assert doc["closing_line"] == "HEADLESS-DNS CONFORMANCE: 1 passed | 1 failed | 1 skipped | 1 error | 0 info"
    assert closing_line(doc["summary"]) == doc["closing_line"]


def test_schema_rejects_broken_documents() -> None:
    doc = make_doc({"HS-DNS-001": "passed"})
    bad = copy.deepcopy(doc)
    bad["results"][0]["status"] = "PASS"
    del bad["run_info"]["platform"]
    bad["closing_line"] = "HS-DNS CONFORMANCE: 1 passed"
    errors = validation_errors(bad)
    assert any("results/0/status" in err for err in errors)
    assert any("platform" in err for err in errors)
    assert any(err.startswith("closing_line") for err in errors)


def test_schema_file_is_versioned_json_schema() -> None:
    schema = load_json(REPO_ROOT / "fixtures" / "reporting" / "conformance.schema.json")
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["properties"]["schema_version"]["pattern"].startswith("^1")


def test_html_is_self_contained_and_escaped() -> None:
    doc = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "failed"})
    doc["results"][1]["message"] = "<script>alert(1)</script>"
    page = render_html(doc)
    assert "<script" not in page.replace("&lt;script&gt;", "")
    lowered = page.lower()
    for needle in ("<link", "src=", "@import", "url("):
        assert needle not in lowered
    assert 'id="summary-table"' in page
    assert doc["closing_line"] in page
    md = render_markdown(doc)
    assert "| HS-DNS-002 |" in md


def test_sonobuoy_maps_error_to_failed() -> None:
    doc = make_doc({"HS-DNS-001": "passed", "HS-DNS-003": "error"})
    data = sonobuoy_results(doc)
    assert data["status"] == "failed"
    assert [i["status"] for i in data["items"]] == ["passed", "failed"]


def test_compare_reports_regressions_fixes_new_removed_and_convergence() -> None:
    before = make_doc(
        {"HS-DNS-001": "passed", "HS-DNS-002": "failed", "HS-DNS-003": "passed", "HS-DNS-004": "skipped"},
        converge={"HS-DNS-001": 1.0},
    )
    after = make_doc(
        {"HS-DNS-001": "passed", "HS-DNS-002": "passed", "HS-DNS-003": "error", "HS-DNS-005": "failed"},
        converge={"HS-DNS-001": 9.5},
        run_id="r2",
    )
    result = compare(before, after, threshold_s=5)
    assert [r["id"] for r in result["regressions"]] == ["HS-DNS-003"]
    assert [r["id"] for r in result["fixes"]] == ["HS-DNS-002"]
    assert [r["id"] for r in result["new_ids"]] == ["HS-DNS-005"]
    assert [r["id"] for r in result["removed_ids"]] == ["HS-DNS-004"]
    assert [(r["id"], r["delta_s"]) for r in result["convergence_changes"]] == [("HS-DNS-001", 8.5)]
    assert result["verdict"] == "REGRESSION"
    assert compare(before, after, threshold_s=10)["convergence_changes"] == []


def test_compare_cli_exit_codes_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    healthy = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "passed"})
    faulty = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "failed"}, run_id="r2")
    (tmp_path / "a.json").write_text(json.dumps(healthy))
    (tmp_path / "b.json").write_text(json.dumps(faulty))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    out = capsys.readouterr().out
    assert "## Regressions" in out and "| HS-DNS-002 |" in out
    html_path = tmp_path / "cmp.html"
    assert (
        main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "html", "-o", str(html_path)])
        == 1
    )
    assert 'id="regressions"' in html_path.read_text()
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["regressions"][0]["id"] == "HS-DNS-002"
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
    assert main(["validate", str(tmp_path / "a.json")]) == 0
    assert main(["render", str(tmp_path / "b.json"), "--format", "md", "-o", str(tmp_path / "b.md")]) == 0
    assert "HEADLESS-DNS CONFORMANCE" in (tmp_path / "b.md").read_text()


def test_matrix_has_one_column_per_file(tmp_path: Path) -> None:
    kind = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "failed"})
    ocp = make_doc({"HS-DNS-001": "passed", "HS-DNS-003": "skipped"}, run_id="r2")
    ocp["run_info"]["platform"] = "openshift"
    for name, doc in (("kind", kind), ("ocp", ocp)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "conformance.json").write_text(json.dumps(doc))
    out = tmp_path / "matrix.md"
    files = [str(tmp_path / n / "conformance.json") for n in ("kind", "ocp")]
    assert main(["matrix", *files, "--format", "md", "-o", str(out)]) == 0
    text = out.read_text()
    assert "| id | title | kind v1.34.1 | openshift v1.34.1 |" in text
    assert "| HS-DNS-002 | Named port SRV set covers every ready endpoint | failed | - |" in text
    assert main(["matrix", *files, "-o", str(tmp_path / "m.html")]) == 0
    assert 'id="matrix"' in (tmp_path / "m.html").read_text()


def test_verdict_distinguishes_incomplete_and_empty_runs() -> None:
    assert make_doc({"HS-DNS-001": "passed"})["summary"]["verdict"] == "conformant"
    assert make_doc({"HS-DNS-004": "skipped"})["summary"]["verdict"] == "no results"
    records = [record("t.py::a", "HS-DNS-001", "passed")]
    catalogue = read_catalogue(DATA / "catalogue.yaml")
    doc = build_document(records, catalogue, complete_run_info({}), exit_status=2)
    assert doc["summary"]["verdict"] == "incomplete"
    assert validation_errors(doc) == []


def phase_report(nodeid: str, case_id: str, when: str) -> SimpleNamespace:
    """The fields of a passing pytest TestReport that the collector reads."""
    return SimpleNamespace(nodeid=nodeid, when=when, outcome="passed", duration=0.01, longrepr=None,
                           user_properties=[("case_id", case_id)], sections=[])


def test_item_without_a_completed_call_phase_is_never_passed() -> None:
    collector = ItemCollector()
    for nodeid, case_id, phases in (("t.py::done", "HS-DNS-001", ("setup", "call", "teardown")),
                                    ("t.py::cut", "HS-DNS-003", ("setup",)),
                                    ("t.py::late", "HS-DNS-005", ("setup", "call"))):
        collector.start(nodeid)
        for when in phases:
            collector.add_report(phase_report(nodeid, case_id, when))
        if len(phases) == 3:
            collector.finish(nodeid)
    collector.start("t.py::silent")  # interrupted before its set-up report
    collector.expect("t.py::silent", "HS-DNS-002", False)
    assert collector.items["t.py::cut"].status == "error"  # setup passed is not a pass, even before close()
    assert collector.close(exit_status=2) == ["t.py::cut", "t.py::silent"]
    recs = {r.nodeid: r for r in collector.records()}
    assert {n: r.status for n, r in recs.items()} == {
        "t.py::done": "passed", "t.py::cut": "error", "t.py::late": "passed", "t.py::silent": "error"}
    assert (recs["t.py::cut"].message, recs["t.py::cut"].outcome, recs["t.py::cut"].phase) == (
        "interrupted", "interrupted", "call")
    assert recs["t.py::silent"].case_id == "HS-DNS-002" and recs["t.py::silent"].phase == "setup"
    assert "teardown" in recs["t.py::late"].details  # its call phase completed: the verdict stands
    doc = build_document(collector.records(), read_catalogue(DATA / "catalogue.yaml"), complete_run_info({}),
                         exit_status=2)
    assert doc["interrupted"] is True and doc["summary"]["verdict"] == "incomplete"
    assert doc["closing_line"] == (
        "HEADLESS-DNS CONFORMANCE: 2 passed | 0 failed | 0 skipped | 2 error | 0 info (interrupted)")
    assert validation_errors(doc) == []


def test_info_results_count_apart_and_an_info_case_expects_info() -> None:
    doc = make_doc({"HS-DNS-001": "passed", "HS-DNS-006": "info"})
    assert doc["summary"]["passed"] == 1 and doc["summary"]["info"] == 1
    assert doc["closing_line"] == "HEADLESS-DNS CONFORMANCE: 1 passed | 0 failed | 0 skipped | 0 error | 1 info"
    info = {r["id"]: r for r in doc["results"]}["HS-DNS-006"]
    assert (info["status"], info["expected_status"], info["matches_expectation"]) == ("info", "info", True)
    assert doc["summary"]["verdict"] == "conformant" and doc["summary"]["unexpected"] == 0
    assert make_doc({"HS-DNS-006": "info"})["summary"]["verdict"] == "no results"  # observations alone
    exp = parse_expectations({"deviations": [{"id": "HS-DNS-006", "expected": ["error", "info"], "issue": "u"}]})
    assert exp.deviations[0].expected == ("error", "info")
    records = [record("t.py::test_6", "HS-DNS-006", "info")]
    deviating = build_document(records, read_catalogue(DATA / "catalogue.yaml"), complete_run_info({}), exp)
    assert deviating["results"][0]["matches_expectation"] is True
    assert deviating["summary"]["expected"]["info"] == 1
    assert validation_errors(deviating) == []
    assert 'class="badge info"' in render_html(doc) and "| info |" in render_markdown(doc)


def test_compare_reports_info_changes_as_observations_not_regressions(tmp_path: Path) -> None:
    before = make_doc({"HS-DNS-001": "passed", "HS-DNS-006": "info", "HS-DNS-010": "info"})
    old = copy.deepcopy(before)  # a 1.0 file: INFO cases were written as passed
    old["schema_version"] = "1.0.0"
    for r in old["results"]:
        r["status"] = "passed"
    after = make_doc({"HS-DNS-001": "passed", "HS-DNS-006": "error", "HS-DNS-010": "info"}, run_id="r2")
    for reference in (before, old):
        result = compare(reference, after)
        assert result["regressions"] == [] and result["verdict"] == "OK"
        assert [(r["id"], r["before"], r["after"]) for r in result["info_changes"]] == [("HS-DNS-006", "info", "error")]
        assert result["other_changes"] == [] and result["fixes"] == []
    assert compare(old, before)["info_changes"] == []  # passed (1.0) and info (1.1) are the same INFO outcome
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "c.md")]) == 0
    assert "## INFO observations changed (never a regression)" in (tmp_path / "c.md").read_text()


def test_schema_keeps_1_0_files_valid_and_requires_the_1_1_fields() -> None:
    doc = make_doc({"HS-DNS-001": "passed"})
    assert doc["schema_version"] == "1.2.0" and validation_errors(doc) == []
    old = copy.deepcopy(doc)
    old["schema_version"] = "1.0.0"
    old["closing_line"] = "HEADLESS-DNS CONFORMANCE: 1 passed | 0 failed | 0 skipped | 0 error"
    for key in ("info",):
        del old["summary"][key], old["summary"]["expected"][key]
    del old["interrupted"]
    assert validation_errors(old) == []
    new_without = copy.deepcopy(old)
    new_without["schema_version"] = "1.1.0"
    errors = validation_errors(new_without)
    assert any("interrupted" in e for e in errors) and any("'info' is a required" in e for e in errors)
    assert any(e.startswith("closing_line") for e in errors)


def test_the_run_reports_time_to_resolve_from_passed_timed_cases_only() -> None:
    def timed(nodeid: str, case_id: str, outcome: str, ttr: list[dict[str, Any]]) -> ItemRecord:
        rec = record(nodeid, case_id, outcome)
        ev = json.loads(dict(rec.user_properties)["evidence"])
        rec.user_properties = [("case_id", case_id), ("evidence", json.dumps({**ev, "time_to_resolve": ttr}))]
        return rec
    ready = {"kind": "ready", "what": "gate opened", "seconds": 1.25, "at_first_poll": False}
    gone = {"kind": "deleted", "what": "pod deleted", "seconds": 0.5, "at_first_poll": True}
    records = [timed("t.py::a", "HS-DNS-020", "passed", [ready]), timed("t.py::b", "HS-DNS-022", "passed", [gone]),
               timed("t.py::c", "HS-DNS-021", "failed", [{**ready, "seconds": 99.0}])]
    doc = build_document(records, read_catalogue(DATA / "catalogue.yaml"),
                         complete_run_info({"platform": "kind", "run_id": "r1"}), exit_status=1)
    ttr = doc["time_to_resolve"]
    assert ttr["ready_to_answer"] == {"n": 1, "p50": 1.25, "p95": 1.25, "max": 1.25}
    assert ttr["deleted_to_gone"]["n"] == 1 and [e["id"] for e in ttr["events"]] == ["HS-DNS-020", "HS-DNS-022"]
    assert validation_errors(doc) == []
    html, md = render_html(doc), render_markdown(doc)
    assert 'id="time-to-resolve"' in html and "ready → answers" in html and "HS-DNS-022 deleted 0.50s (≤" in html
    assert "## Time to resolve" in md and "| deleted → gone | 1 |" in md
    assert "## Time to resolve" not in render_markdown(make_doc({"HS-DNS-001": "passed"}))
