"""Open the generated HTML page in headless Chromium and take a screenshot (no network: file:// only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.reports.helpers import last_line, load_json

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def find_chromium() -> str | None:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium(page: Path, profile: Path, action: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a file:// page with ``action`` (``--screenshot=PNG`` or ``--dump-dom``)."""
    browser = find_chromium()
    assert browser is not None
    cmd = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", action, page.as_uri()]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_report_renders_in_headless_chromium(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider")
    reports = fake_suite.path / "reports"
    doc = load_json(reports / "conformance.json")
    assert last_line(result.stdout.str()) == doc["closing_line"]
    page = reports / "conformance.html"
    png = reports / "conformance.png"
    proc = chromium(page, fake_suite.path / "chromium-profile", f"--screenshot={png}")
    assert png.is_file(), f"no screenshot written: rc={proc.returncode} stderr={proc.stderr[-2000:]}"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # a rendered page, not a blank image
    # The DOM as the browser built it holds the summary table with the run's real counts.
    dom = chromium(page, fake_suite.path / "chromium-profile-dom", "--dump-dom").stdout
    summary = doc["summary"]
    for status in ("passed", "failed", "skipped", "error"):
        assert f'<td id="count-{status}">{summary[status]}</td>' in dom
    assert doc["closing_line"] in dom
    keep = os.environ.get("REPORTS_KEEP_SCREENSHOT")
    if keep:  # lets a developer look at the page: REPORTS_KEEP_SCREENSHOT=/tmp/report.png
        shutil.copyfile(png, keep)
