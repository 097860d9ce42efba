"""Install it like a tool (issue 14, item 1): the wheel, in a fresh venv, from a directory with no clone.

The wheel is built from a copy of the package sources (``pip wheel``, as CI or a user would), installed
into a new venv (dependencies from the package index; cache in ~/.cache/headless-dns-conformance/pip),
and every check runs from an empty temporary directory:

* ``hsdns --version`` names the suite and catalogue versions; ``hsdns list-cases`` lists the catalogue;
* ``hsdns run --collect-only -q`` collects every case (no cluster, nothing written);
* ``pytest --pyargs conformance -k HS-DNS-002`` (the pytest11 entry point) selects that case, and a run of
  someone else's tests in the same venv gets neither the suite's options nor a reports/ directory;
* with KUBECONFIG (the local cluster): ``hsdns run -k "HS-DNS-001 or HS-DNS-002"`` passes both and writes
  its reports into ./reports of that directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localcluster.paths import cache_dir
from tests.e2e.conftest import kubeconfig as e2e_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
CASES = ("HS-DNS-001", "HS-DNS-002")


class Tool:
    def __init__(self, venv: Path, seconds: dict[str, float]):
        self.venv, self.seconds = venv, seconds

    def run(self, cwd: Path, *argv: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("HSDNS_", "PYTEST_", "VIRTUAL_ENV"))
                and k not in ("KUBECONFIG", "PYTHONPATH")}
        base["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{base.get('PATH', '')}"
        return subprocess.run([str(self.venv / "bin" / argv[0]), *argv[1:]], cwd=cwd, env={**base, **(env or {})},
                              capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Tool:
    from localcluster.suite_image import build_wheel

    base = tmp_path_factory.mktemp("wheel")
    t0 = time.monotonic()
    wheel = build_wheel(base / "dist", ROOT, log=base / "wheel.log")
    t1 = time.monotonic()
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--cache-dir", str(cache_dir() / "pip"), str(wheel)], capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seconds = {"wheel": round(t1 - t0, 1), "install": round(time.monotonic() - t1, 1)}
    print(f"\nwheel {wheel.name}: built in {seconds['wheel']}s, installed into a fresh venv in {seconds['install']}s")
    return Tool(venv, seconds)


def test_version_names_suite_and_catalogue(tool: Tool, tmp_path: Path) -> None:
    proc = tool.run(tmp_path, "hsdns", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("hsdns 0.1.0 (headless-dns-conformance; catalogue version 1, ")
    assert "; installed)" in proc.stdout
    listed = tool.run(tmp_path, "hsdns", "list-cases")
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert listed.returncode == 0 and rows[0][:2] == ["HS-DNS-001", "MUST"] and len(rows) >= 40
    monitor = tool.run(tmp_path, "hsdns", "monitor", "--help")  # the monitor ships in the wheel
    assert monitor.returncode == 0 and monitor.stdout.startswith("usage: python -m monitor"), monitor.stderr


def test_collect_only_from_any_directory_needs_no_cluster(tool: Tool, tmp_path: Path) -> None:
    proc = tool.run(tmp_path, "hsdns", "run", "--collect-only", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = [line for line in proc.stdout.splitlines() if line.startswith("conformance/test_")]
    assert len(ids) >= 40 and all("::test_" in i for i in ids)
    assert not (tmp_path / "reports").exists()
    one = tool.run(tmp_path, "hsdns", "run", "--collect-only", "-q", "-k", "HS-DNS-002 or HS-DNS-013")
    assert "2/" in one.stdout and "tests collected" in one.stdout, one.stdout


def test_pytest11_entry_point_loads_the_suite_only_for_the_suite(tool: Tool, tmp_path: Path) -> None:
    proc = tool.run(tmp_path, "pytest", "--pyargs", "conformance", "--collect-only", "-q", "-k", "HS-DNS-002")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1/" in proc.stdout and "test_headless_service_returns_one_a_record_per_ready_endpoint" in proc.stdout
    other = tmp_path / "other"
    other.mkdir()
    (other / "test_other.py").write_text("def test_other() -> None:\n    assert True\n")
    plain = tool.run(other, "pytest", "-q", "-p", "no:cacheprovider")
    assert plain.returncode == 0 and "1 passed" in plain.stdout, plain.stdout
    assert not (other / "reports").exists(), "the suite's reports plugin ran for someone else's tests"
    helptext = tool.run(other, "pytest", "--help").stdout
    assert "--dns-timeout" not in helptext
    assert "--dns-timeout" in tool.run(other, "pytest", "--pyargs", "conformance", "--help").stdout


def test_real_run_from_a_temp_directory_writes_reports_there(tool: Tool, tmp_path: Path) -> None:
    kubeconfig = e2e_kubeconfig()
    env = {"KUBECONFIG": kubeconfig}
    if os.environ.get("HSDNS_IMAGE_REGISTRY"):
        env["HSDNS_IMAGE_REGISTRY"] = os.environ["HSDNS_IMAGE_REGISTRY"]
    t0 = time.monotonic()
    proc = tool.run(tmp_path, "hsdns", "run", "-k", " or ".join(CASES), env=env, timeout=900)
    seconds = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / "reports" / "conformance.json").read_text())
    assert {r["id"]: r["status"] for r in doc["results"] if r["id"] in CASES} == dict.fromkeys(CASES, "passed")
    assert doc["run_info"]["suite_version"] == "0.1.0" and doc["run_info"]["catalogue_version"] == "1"
    assert doc["expectations"]["path"].endswith("expectations/local.yaml")  # package data found
    for name in ("junit.xml", "conformance.html", "summary.md", "summary.txt"):
        assert (tmp_path / "reports" / name).is_file(), name
    assert any((tmp_path / "reports" / "allure-results").glob("*-result.json"))
    assert proc.stdout.rstrip().splitlines()[-1] == doc["closing_line"]
    print(f"\nhsdns run of {len(CASES)} cases against the local cluster: {seconds:.1f}s "
          f"(wheel {tool.seconds['wheel']}s, install {tool.seconds['install']}s)")
