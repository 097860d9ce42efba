"""An interrupted run: the case it stopped in is never counted as passed, and the reports are still written.

The fake suite (data/fake_interrupted.py) runs in a child pytest; KeyboardInterrupt is what Ctrl-C raises.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from fixtures.reporting.__main__ import validation_errors
from tests.reports.helpers import DATA, last_line, load_json
from tests.signals import terminal_sigint

MODULE = "test_interrupted_suite.py"


def _suite(fake_suite: pytest.Pytester) -> pytest.Pytester:
    (fake_suite.path / "test_fake_suite.py").unlink()
    fake_suite.makepyfile(**{MODULE.removesuffix(".py"): (DATA / "fake_interrupted.py").read_text()})
    return fake_suite


def pytest_passed(output: str) -> int:
    """pytest's own count of passed tests, from its summary line."""
    found = re.findall(r"=+ .*?(\d+) passed.* in [\d.]+s", output)
    return int(found[-1]) if found else 0


def check_interrupted(fake_suite: pytest.Pytester, output: str, returncode: int,
                      serial: bool = True) -> dict[str, Any] | None:
    """The reports of a run interrupted in HS-DNS-002 (HS-DNS-001 passed before it); returns its result.

    Under xdist the SIGINT reaches the controller at any point, even between two plugins handling one report,
    so pytest's own count may differ by one; then the rule checked is that no pass lacks a completed call.
    """
    assert returncode == 2  # pytest's "interrupted"
    reports = fake_suite.path / "reports"
    doc: dict[str, Any] = load_json(reports / "conformance.json")
    assert validation_errors(doc) == []
    assert doc["interrupted"] is True
    assert doc["exit_status"] == 2
    assert doc["summary"]["verdict"] == "incomplete"
    if serial:
        assert doc["summary"]["passed"] == pytest_passed(output)  # never more passes than pytest saw
    line = doc["closing_line"]
    assert line.endswith(" (interrupted)")
    assert last_line(output) == line
    assert (reports / "summary.txt").read_text().strip() == line
    assert line in (reports / "summary.md").read_text()
    page = (reports / "conformance.html").read_text()
    assert line in page and 'id="interrupted"' in page
    by_id = {r["id"]: r for r in doc["results"]}
    for other in ("HS-DNS-001", "HS-DNS-003"):  # serial: 001 ran, 003 did not; xdist: either, on another worker
        assert other in doc["not_run"] or by_id[other]["status"] in ("passed", "error")
    for result in doc["results"]:
        if result["status"] == "passed":
            assert all(item["outcome"] == "passed" for item in result["items"])  # its call phase passed
        else:
            assert result["status"] == "error" and result["message"] == "interrupted"
    if not serial and "HS-DNS-002" not in by_id:
        # under load the controller may be interrupted before the worker's "started" event for 002 reached
        # it: then 002 is "not run", never a pass
        assert "HS-DNS-002" in doc["not_run"]
        return None
    return by_id["HS-DNS-002"]


@pytest.mark.parametrize("phase", ["setup", "call"])
def test_keyboard_interrupt_before_the_call_completed_is_an_error(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    monkeypatch.setenv("FAKE_INTERRUPT_PHASE", phase)
    result = _suite(fake_suite).runpytest_subprocess("-p", "no:cacheprovider", MODULE)
    output = result.stdout.str()
    assert "KeyboardInterrupt" in output
    interrupted = check_interrupted(fake_suite, output, result.ret)
    assert interrupted is not None
    assert interrupted["status"] == "error"
    assert interrupted["message"] == "interrupted"
    assert interrupted["items"][0]["outcome"] == "interrupted"
    assert interrupted["items"][0]["phase"] == phase
    assert f"during the {phase} phase" in interrupted["items"][0]["details"]
    assert last_line(output) == (
        "HEADLESS-DNS CONFORMANCE: 1 passed | 0 failed | 0 skipped | 1 error | 0 info (interrupted)")


def test_keyboard_interrupt_in_teardown_keeps_the_completed_call_verdict(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_INTERRUPT_PHASE", "teardown")
    result = _suite(fake_suite).runpytest_subprocess("-p", "no:cacheprovider", MODULE)
    output = result.stdout.str()
    interrupted = check_interrupted(fake_suite, output, result.ret)
    assert interrupted is not None
    assert interrupted["status"] == "passed"  # the call phase had passed, as pytest counts it too
    assert "stopped during the teardown phase" in interrupted["items"][0]["details"]
    assert last_line(output) == (
        "HEADLESS-DNS CONFORMANCE: 2 passed | 0 failed | 0 skipped | 0 error | 0 info (interrupted)")


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_sigint_mid_test_is_an_error_not_a_pass(fake_suite: pytest.Pytester, xdist: list[str]) -> None:
    suite = _suite(fake_suite)
    started = suite.path / "started"
    env = dict(os.environ, FAKE_INTERRUPT_PHASE="sigint", FAKE_STARTED_FILE=str(started))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist, MODULE]
    # its own process group, which receives the SIGINT as a terminal's Ctrl-C would send it (xdist workers too)
    proc = subprocess.Popen(cmd, cwd=suite.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=terminal_sigint)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the fake test never started"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    interrupted = check_interrupted(fake_suite, output, proc.returncode, serial=not xdist)
    if interrupted is not None or not xdist:
        assert interrupted is not None
        assert interrupted["status"] == "error" and interrupted["message"] == "interrupted"
        assert interrupted["items"][0]["phase"] == "call"
    expected = (
        r"HEADLESS-DNS CONFORMANCE: 1 passed \| 0 failed \| 0 skipped \| 1 error \| 0 info \(interrupted\)"
        if not xdist
        else r"HEADLESS-DNS CONFORMANCE: [0-2] passed \| 0 failed \| 0 skipped \| [12] error \| 0 info \(interrupted\)"
    )
    assert re.fullmatch(expected, last_line(output))
