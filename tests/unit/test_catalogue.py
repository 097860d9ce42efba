"""The catalogue and the tests stay one-to-one (cluster-free)."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.catalogue import CATALOGUE_PATH, CatalogueError, load_catalogue, parse_catalogue

CONFORMANCE = Path(__file__).resolve().parents[2] / "conformance"


def _case_marks() -> list[tuple[str, str]]:
    """(case id, test function) for every test function in conformance/."""
    out: list[tuple[str, str]] = []
    for path in sorted(CONFORMANCE.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_hsdns_unit_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
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
