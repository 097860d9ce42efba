"""Allure for real (issue 14, item 4): the HTML report from ``allure-results/`` by the real Allure command line,
opened in headless Chromium.

* Allure: ``allure`` on PATH, else npm's ``allure-commandline`` (:data:`ALLURE_VERSION`, the Allure 2 command
  line with its jars; Java 17) installed on demand under ``~/.cache/headless-dns-conformance/allure/``;
* ``allure generate --clean -o <dir> <allure-results>``; Allure's own model of the run
  (``data/test-cases/*.json``, ``data/behaviors.json``) must hold every case of conformance.json with its
  catalogue labels (``as_id``, ``spec``, ``feature`` = category, severity) and the ``evidence`` attachment;
* the report is served on 127.0.0.1 (the single page fetches its data, which file:// forbids) and opened in
  headless Chromium: the Behaviors page lists every category and case title, a case's page shows its id and
  title, severity, spec link and the ``evidence`` attachment; screenshot ``<reports>/allure-report.png``.

    python -m tests.postrun.allure_report [REPORTS_DIR]      # = make allure
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reports.test_html_chromium import find_chromium

ROOT = Path(__file__).resolve().parents[2]
ALLURE_VERSION = "2.46.1"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                  "--window-size=1400,1000", "--virtual-time-budget=20000")


def _cache() -> Path:
    from localcluster.paths import cache_dir

    return cache_dir() / "allure" / ALLURE_VERSION


def find_allure(install: bool = True) -> Path | None:
    """The Allure CLI: PATH, the cache, or (``install``) ``npm install allure-commandline@<pin>`` into the cache."""
    on_path = shutil.which("allure")
    if on_path:
        return Path(on_path)
    cli = _cache() / "node_modules" / "allure-commandline" / "dist" / "bin" / "allure"
    if cli.is_file():
        return cli
    if not install or shutil.which("npm") is None:
        return None
    _cache().mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(_cache()),
                    f"allure-commandline@{ALLURE_VERSION}"], check=True, capture_output=True, timeout=600)
    return cli if cli.is_file() else None


@dataclass
class Report:
    out: Path
    seconds: dict[str, float] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # catalogue id -> Allure test case
    story_of: dict[str, str] = field(default_factory=dict)  # test case uid -> parent (story) uid


def generate(allure: Path, results: Path, out: Path) -> Report:
    t0 = time.monotonic()
    proc = subprocess.run([str(allure), "generate", "--clean", "-o", str(out), str(results)], capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"allure generate failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    report = Report(out, {"generate": round(time.monotonic() - t0, 1)})
    for path in sorted((out / "data" / "test-cases").glob("*.json")):
        tc = json.loads(path.read_text())
        ids = [lab["value"] for lab in tc.get("labels", []) if lab["name"] == "as_id"]
        if ids:
            report.cases.setdefault(ids[0], tc)

    def walk(node: dict[str, Any], parent: str) -> None:
        for child in node.get("children", []):
            if "children" in child:
                walk(child, child["uid"])
            else:
                report.story_of[child["uid"]] = parent

    walk(json.loads((out / "data" / "behaviors.json").read_text()), "")
    return report


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """The report over HTTP on 127.0.0.1 (a free port), for as long as the block runs."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:  # broken pipes of a closing browser
            pass

    server = Quiet(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def chromium(url: str, profile: Path, action: str) -> str:
    browser = find_chromium()
    assert browser is not None
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", action, url], capture_output=True,
                          text=True, timeout=180, env=env, check=False)
    return proc.stdout


def case_url(base: str, report: Report, case_id: str) -> str:
    uid = report.cases[case_id]["uid"]
    return f"{base}#behaviors/{report.story_of[uid]}/{uid}/"


def check(reports: Path, work: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Generate the report of ``reports/allure-results`` and check it against ``reports/conformance.json``;
    returns what was checked (raises AssertionError naming the first miss)."""
    doc = json.loads((reports / "conformance.json").read_text())
    ran = [r for r in doc["results"] if r.get("items")]
    allure = find_allure()
    assert allure is not None, "no Allure command line (npm install allure-commandline) and no npm to get it"
    report = generate(allure, reports / "allure-results", work / "allure-report")
    for r in ran:
        tc = report.cases.get(r["id"])
        assert tc is not None, f"{r['id']} is missing from Allure's report"
        labels = {(lab["name"], lab["value"]) for lab in tc["labels"]}
        assert ("spec", r["spec"]) in labels and ("feature", r["category"]) in labels, (r["id"], labels)
        assert any(n == "severity" for n, _ in labels), (r["id"], labels)
        attachments = [a["name"] for a in tc.get("testStage", {}).get("attachments", [])]
        assert "evidence" in attachments, (r["id"], attachments)
        assert tc["name"].startswith(r["id"]), tc["name"]
    shown = ran[:1] + [r for r in ran if r["status"] != "passed"][:2]
    t0 = time.monotonic()
    with serve(report.out) as base:
        tree = chromium(f"{base}#behaviors", work / "chromium-tree", "--dump-dom")
        for category in sorted({r["category"] for r in ran}):
            assert f">{category}<" in tree, f"category {category} not on the Behaviors page"
        for r in shown:
            dom = chromium(case_url(base, report, r["id"]), work / f"chromium-{r['id']}", "--dump-dom")
            severity = next(v for n, v in ((lab["name"], lab["value"]) for lab in report.cases[r["id"]]["labels"])
                            if n == "severity")
            for text in (r["id"], r["title"][:40], "evidence", r["spec"], severity):
                assert text in dom, f"{text!r} not on the Allure page of {r['id']}"
        if screenshot is not None:
            screenshot.unlink(missing_ok=True)
            chromium(case_url(base, report, ran[0]["id"]), work / "chromium-shot", f"--screenshot={screenshot}")
            assert screenshot.is_file() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report.seconds["chromium"] = round(time.monotonic() - t0, 1)
    return {"cases": len(ran), "pages": len(shown) + 1, "seconds": report.seconds, "allure": str(allure),
            "report": str(report.out)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    reports = Path(args[0] if args else ROOT / "reports").resolve()
    if find_chromium() is None:
        print("chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    result = check(reports, reports / "allure", reports / "allure-report.png")
    print(json.dumps(result, indent=2))
    print(f"Allure report: {reports / 'allure' / 'allure-report'}/index.html (serve it over HTTP, e.g. allure open); "
          f"screenshot {reports / 'allure-report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
