"""Cluster-free unit tests of the reporting modules: catalogue, expectations, run info, schema, compare, CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.reporting import RUN_INFO_KEYS
from fixtures.reporting.__main__ import main, validation_errors
from fixtures.reporting.catalogue import id_sort_key, load_catalogue, parse_catalogue
from fixtures.reporting.compare import compare
from fixtures.reporting.expectations import ExpectationsError, parse_expectations
from fixtures.reporting.render import allure_environment, render_html, render_markdown, sonobuoy_results
from fixtures.reporting.results import ItemRecord, build_document, closing_line
from fixtures.reporting.runinfo import complete_run_info
from tests.reports.helpers import DATA, REPO_ROOT, load_json

ENTRY = {"id": "HS-DNS-001", "title": "t", "spec": "k8s-dns/2.4.1", "level": "must", "category": "a"}


@pytest.mark.parametrize(
    "data",
    [[ENTRY], {"cases": [ENTRY]}, {"behaviours": [ENTRY]}, {"version": 3, "behaviors": [ENTRY, {"title": "no id"}]}],
)
def test_catalogue_accepts_list_or_mapping(data: Any) -> None:
    cat = parse_catalogue(data)
    assert list(cat.entries) == ["HS-DNS-001"]
    assert cat.entries["HS-DNS-001"].level == "MUST"
    assert cat.entries["HS-DNS-001"].severity == "critical"


def test_catalogue_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_catalogue(tmp_path / "nope.yaml").entries == {}
    assert load_catalogue(DATA / "catalogue.yaml").version == "test-1"


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
    catalogue = load_catalogue(REPO_ROOT / "conformance" / "catalogue.yaml")
    if catalogue.entries:
        unknown = [d.id for d in exp.deviations if d.id not in catalogue.entries]
        assert unknown == [], f"{path.name} names ids that are not in the catalogue"


def record(nodeid: str, case_id: str | None, outcome: str, converge: float | None = None) -> ItemRecord:
    rec = ItemRecord(nodeid=nodeid, case_id=case_id, outcome=outcome, duration_s=0.5)
    if outcome == "failed":
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
    catalogue = load_catalogue(DATA / "catalogue.yaml")
    info = complete_run_info({"platform": "kind", "run_id": run_id, "cluster_version": "v1.34.1"})
    return build_document(records, catalogue, info, started_at="s", finished_at="f", exit_status=1)


def test_document_validates_against_schema() -> None:
    doc = make_doc({"HS-DNS-001": "passed", "HS-DNS-002": "failed", "HS-DNS-003": "error", "HS-DNS-004": "skipped"})
    assert validation_errors(doc) == []
    assert doc["closing_line"] == "HEADLESS-DNS CONFORMANCE: 1 passed | 1 failed | 1 skipped | 1 error"
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
    catalogue = load_catalogue(DATA / "catalogue.yaml")
    doc = build_document(records, catalogue, complete_run_info({}), exit_status=2)
    assert doc["summary"]["verdict"] == "incomplete"
    assert validation_errors(doc) == []
