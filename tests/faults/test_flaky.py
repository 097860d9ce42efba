"""The flakiness benchmark's judgement: which FAIL/ERROR of a healthy run is a false failure."""

from __future__ import annotations

import json
from pathlib import Path

from faults import flaky


def _run_dir(root: Path, k: int, results: list[dict[str, object]]) -> None:
    rdir = root / f"run-{k:02d}"
    rdir.mkdir(parents=True)
    (rdir / "pytest.log").write_text(f"$ python -m pytest conformance -p no:cacheprovider --reports-dir {rdir} -n 4\n")
    (rdir / "conformance.json").write_text(json.dumps({
        "started_at": "2026-12-01T19:00:00+00:00", "finished_at": "2026-12-01T19:03:20+00:00", "exit_status": 1,
        "results": results}))


def test_a_listed_deviation_is_not_a_false_failure_and_an_unlisted_fail_or_error_is(tmp_path: Path) -> None:
    deviation = {"id": "HS-DNS-062", "status": "failed", "known_deviation": {"reason": "CoreDNS CNAME"},
                 "matches_expectation": True, "message": "listed"}
    _run_dir(tmp_path, 1, [{"id": "HS-DNS-001", "status": "passed"}, deviation])
    _run_dir(tmp_path, 2, [{"id": "HS-DNS-001", "status": "error", "message": "hold cut short"}, deviation,
                           {"id": "HS-DNS-008", "status": "failed", "message": "NXDOMAIN in the hold"}])
    # A listed id with another status than the one its entry names is no known deviation any more.
    _run_dir(tmp_path, 3, [{"id": "HS-DNS-062", "status": "error", "known_deviation": {"reason": "x"},
                            "matches_expectation": False, "message": "harness"}])
    doc = flaky.reread(tmp_path, say=lambda _line: None)
    runs = {r["run"]: r for r in doc["runs"]}
    assert runs[1]["false_failures"] == [] and runs[1]["known_deviations"] == ["HS-DNS-062"]
    assert runs[2]["false_failures"] == ["HS-DNS-001", "HS-DNS-008"]
    assert runs[3]["false_failures"] == ["HS-DNS-062"]
    s = doc["summary"]
    assert s["n"] == 3 and s["runs_with_false_failures"] == 2 and s["false_failures"] == 3
    assert s["known_deviations"] == ["HS-DNS-062"] and runs[1]["seconds"] == 200.0
    assert doc["pytest_args"] == ["-n", "4"]
    assert "Known deviations of the platform (its expectations file; not counted): HS-DNS-062" in flaky.markdown(doc)
