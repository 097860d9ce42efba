"""Checks on the reports of the conformance run that just happened (scripts/selftest.sh runs this
after the suite): the HTML page renders in headless Chromium and shows that run's real counts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reports.test_html_chromium import chromium, find_chromium

REPORTS = Path(os.environ.get("HSDNS_CHECK_REPORTS_DIR", Path(__file__).resolve().parents[2] / "reports"))


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_real_run_html_renders_with_its_counts(tmp_path: Path) -> None:
    doc = json.loads((REPORTS / "conformance.json").read_text())
    page, png = REPORTS / "conformance.html", REPORTS / "conformance.png"
    png.unlink(missing_ok=True)
    proc = chromium(page, tmp_path / "profile", f"--screenshot={png}")
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", proc.stderr[-2000:]
    dom = chromium(page, tmp_path / "profile-dom", "--dump-dom").stdout
    assert doc["closing_line"] in dom
    summary = doc["summary"]
    assert summary["passed"] > 0, "a healthy local-cluster run must have passing cases"
    for result in doc["results"]:
        assert result["id"] in dom
