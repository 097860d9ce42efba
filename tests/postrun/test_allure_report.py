"""The Allure results of the run that just happened, through the real Allure command line and headless Chromium
(tests/postrun/allure_report.py): every case with its catalogue labels and the evidence attachment; screenshot
``reports/allure-report.png``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.postrun.allure_report import check, find_allure, find_chromium
from tests.postrun.test_report_of_last_run import REPORTS


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
@pytest.mark.skipif(shutil.which("java") is None, reason="Allure's CLI needs Java (apt-get install default-jre)")
def test_allure_report_of_the_run_shows_cases_labels_and_evidence(tmp_path: Path) -> None:
    if find_allure(install=True) is None:
        pytest.skip("no Allure command line and no npm to install allure-commandline")
    result = check(REPORTS, tmp_path, REPORTS / "allure-report.png")
    assert result["cases"] > 0
    print(f"\nAllure: {result['cases']} cases, {result['pages']} pages checked in Chromium; "
          f"seconds {result['seconds']}")
