"""The catalogue and the tests stay one-to-one, and every consumer reads it through one parser (cluster-free)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from faults import runner
from fixtures.catalogue import (
    CATALOGUE_PATH,
    CatalogueError,
    get_case,
    load_catalogue,
    parse_catalogue,
    read_catalogue,
    tolerant_catalogue,
)
from fixtures.reporting.results import ItemRecord, build_document

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = REPO / "conformance"


def _case_marks() -> list[tuple[str, str]]:
    """(case id, test function) for every test function in conformance/."""
    out: list[tuple[str, str]] = []
    for path in sorted(CONFORMANCE.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_hsdns_unit_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses (and others) look their module up while it loads
        try:
            spec.loader.exec_module(module)
        finally:
            del sys.modules[spec.name]
        for name, obj in vars(module).items():
            if name.startswith("test_") and callable(obj):
                marks = [m for m in getattr(obj, "pytestmark", []) if m.name == "case"]
                assert marks, f"{path.name}::{name} has no @case(...)"
                assert len(marks) == 1, f"{path.name}::{name} has several case marks"
                out.append((str(marks[0].args[0]), f"{path.name}::{name}"))
    return out


def test_every_catalogue_id_has_exactly_one_test() -> None:
    catalogue = load_catalogue()
    counts = Counter(cid for cid, _ in _case_marks())
    missing = sorted(set(catalogue) - set(counts))
    duplicated = sorted(cid for cid, n in counts.items() if n > 1)
    assert not missing, f"catalogue ids without a test: {missing}"
    assert not duplicated, f"ids with more than one test: {duplicated}"


def test_every_test_has_a_known_id() -> None:
    catalogue = load_catalogue()
    unknown = sorted({f"{cid} ({where})" for cid, where in _case_marks() if cid not in catalogue})
    assert not unknown, f"tests with ids missing from the catalogue: {unknown}"


def test_ids_are_sequential_and_sorted_in_the_file() -> None:
    ids = list(load_catalogue())
    assert ids == sorted(ids)
    assert ids[0] == "HS-DNS-001"
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    assert numbers == list(range(1, len(numbers) + 1)), "ids are never skipped or reused"


def test_behaviour_rows_exist_in_the_reference() -> None:
    ref = Path("/work/shared/docs/dns-behaviours.md")
    if not ref.exists():
        pytest.skip("behaviour reference not available")
    rows = {int(m.group(1)) for m in re.finditer(r"^\| (\d+) \|", ref.read_text(), re.M)}
    for case in load_catalogue().values():
        assert set(case.behaviour_rows) <= rows, case.id


def test_info_entries_name_an_implementation_and_must_entries_cite_a_spec() -> None:
    for case in load_catalogue().values():
        if case.level == "INFO":
            assert case.implementation
        assert case.spec and case.description


def _raw() -> dict[str, Any]:
    with open(CATALOGUE_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@pytest.mark.parametrize(("field", "value", "message"), [
    ("level", "MAY", "level"),
    ("id", "HS-DNS-1", "id must look like"),
    ("requires", ["gpu"], "unknown requires"),
])
def test_invalid_catalogue_entries_are_rejected(field: str, value: Any, message: str) -> None:
    data = _raw()
    data["cases"][0][field] = value
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(data)


def test_duplicate_ids_are_rejected() -> None:
    data = _raw()
    data["cases"].append(dict(data["cases"][0]))
    with pytest.raises(CatalogueError, match="duplicate"):
        parse_catalogue(data)


def test_suite_reports_and_faults_see_the_same_ids_titles_and_levels() -> None:
    """The three consumers of conformance/catalogue.yaml agree on every id, title and level."""
    suite = {cid: (get_case(cid).title, get_case(cid).level) for cid in load_catalogue()}
    assert suite and len({level for _, level in suite.values()}) == 3
    # The reports: the plugin's tolerant reader, as conformance.json shows it (one passing item per id).
    reports_catalogue = read_catalogue(CATALOGUE_PATH)
    records = [ItemRecord(nodeid=f"t.py::{c}", case_id=c, _call_outcome="passed") for c in reports_catalogue.entries]
    doc = build_document(records, reports_catalogue, {})
    reports = {r["id"]: (r["title"], r["level"]) for r in doc["results"]}
    assert doc["catalogue"]["entries"] == len(suite) and doc["not_run"] == []
    # The fault runner: what `python -m faults run/report` evaluates (ids in file order, MUST/SHOULD coverage).
    faults_catalogue = load_catalogue()  # faults/__main__.py
    evaluated = runner.evaluate(faults_catalogue, None, [])
    faults = {cid: (faults_catalogue[cid].title, faults_catalogue[cid].level) for cid in evaluated["catalogue_ids"]}
    assert reports == suite == faults
    assert list(faults) == list(suite)
    assert evaluated["coverage"]["checked_ids"] == [cid for cid, (_, lv) in suite.items() if lv in ("MUST", "SHOULD")]
    info = [cid for cid, (_, level) in suite.items() if level == "INFO"]
    assert info and all(r["status"] == "info" for r in doc["results"] if r["id"] in info)


def test_the_catalogue_has_one_parser() -> None:
    """Only fixtures/catalogue.py reads the catalogue's YAML; every other module goes through it."""
    offenders = []
    for path in sorted([*REPO.glob("fixtures/**/*.py"), *REPO.glob("faults/**/*.py")]):
        if path == REPO / "fixtures" / "catalogue.py":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"def (load|parse|read)_catalogue\b|catalogue\.ya?ml.*safe_load|safe_load.*catalogue", text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_strict_and_tolerant_readers_build_the_same_entries(tmp_path: Path) -> None:
    strict = load_catalogue()
    tolerant = read_catalogue(CATALOGUE_PATH)
    assert tolerant.entries == strict
    assert tolerant.version == str(_raw()["version"])
    assert read_catalogue(tmp_path / "missing.yaml").entries == {}  # the reports of a run without the file
    (tmp_path / "odd.yaml").write_text("cases: [{id: X-1, level: must}, {title: no id}, 3]\n")
    odd = read_catalogue(tmp_path / "odd.yaml")
    assert list(odd.entries) == ["X-1"] and odd.entries["X-1"].level == "MUST" and odd.entries["X-1"].title == ""
    with pytest.raises(CatalogueError):
        parse_catalogue(yaml.safe_load((tmp_path / "odd.yaml").read_text()))
    assert tolerant_catalogue([{"id": "X-2"}]).ids() == ["X-2"]


def test_catalogue_and_reports_import_without_plugin_side_effects() -> None:
    """Reading the catalogue (reports, faults) loads no pytest plugin, no allure and no cluster client."""
    code = ("import sys, fixtures.catalogue, fixtures.reporting, fixtures.reporting.compare, faults.verdicts\n"
            "print(sorted(m for m in ('fixtures.plugin', 'fixtures.reporting.plugin', 'allure', 'allure_pytest',"
            " 'kubernetes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
