"""The monitor's command line without a cluster: usage and cluster errors are one message and exit 4, the
progress line respects NO_COLOR, ``main(argv) -> int`` is the entry point the ``hsdns monitor`` command calls."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

import monitor
from monitor.cli import build_parser, options_from
from monitor.console import Console, colour_allowed, progress_text

ROOT = Path(__file__).resolve().parents[2]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("args", [["--rate", "0"], ["--rate", "x"], ["--replicas", "99"], ["--grace", "-1"],
                                  ["--transports", "quic"], ["--max-error-rate", "2"], ["--nosuch"],
                                  ["--node-selector", "not a selector"], ["--resolver-backend", "perl"]])
def test_a_usage_error_is_one_message_and_exit_4(args: list[str], capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    assert monitor.main(args) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith("hsdns monitor: ") and len(err.splitlines()) == 1 and "Traceback" not in err


def test_an_unusable_cluster_is_one_message_and_exit_4(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor", "--kubeconfig", str(tmp_path / "none"), "--duration", "5",
                           "--reports-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.startswith("hsdns monitor: cannot load kubeconfig") and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "monitor.json").exists()


def test_help_exits_0_and_names_the_gates(capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor.main(["--help"]) == 0
    out = capsys.readouterr().out
    for opt in ("--duration", "--rate", "--replicas", "--resolvers", "--grace", "--max-wrong-seconds",
                "--max-incident-seconds", "--max-error-rate", "--ttr-probes", "--json", "--html", "--kubeconfig"):
        assert opt in out


def test_options_and_defaults() -> None:
    args = build_parser().parse_args(["--max-error-rate", "0.5%", "--max-wrong-seconds", "off", "--grace", "auto",
                                      "--transports", "udp,tcp", "--reports-dir", "/tmp/r"])
    opts = options_from(args, {})
    assert opts.thresholds.max_error_rate == pytest.approx(0.005) and opts.thresholds.max_wrong_seconds is None
    assert opts.grace is None and opts.transports == ("udp", "tcp") and opts.rate == 5 and opts.replicas == 3
    assert str(opts.json_path) == "/tmp/r/monitor.json" and str(opts.html_path) == "/tmp/r/monitor.html"
    defaults = options_from(build_parser().parse_args([]), {"HSDNS_REPORTS_DIR": "/tmp/x"})
    assert defaults.thresholds.max_wrong_seconds == 0.0 and defaults.duration == 0 and defaults.resolvers == 2
    assert str(defaults.json_path) == "/tmp/x/monitor.json" and defaults.query_timeout == 2.0


def test_progress_line_has_colour_only_on_a_terminal_without_no_color() -> None:
    status = {"elapsed_s": 65, "queries": 12345, "incidents": 2, "open_spans": 1, "targets": 3, "streams": 6,
              "streams_ready": 6}
    assert progress_text(status) == ("hsdns monitor: 1m05s elapsed | 12,345 queries | 2 incident(s), 1 stream(s) bad "
                                     "now | targets 3 | streams 6/6")
    assert colour_allowed(FakeTTY(), {}) and not colour_allowed(FakeTTY(), {"NO_COLOR": "1"})
    assert not colour_allowed(io.StringIO(), {}) and not colour_allowed(FakeTTY(), {"TERM": "dumb"})
    for env, coloured in (({}, True), ({"NO_COLOR": "1"}, False)):
        out = FakeTTY()
        Console(10, out, env).progress(status, force=True)
        assert ("\033[" in out.getvalue()) is coloured and "12,345 queries" in out.getvalue()
    plain = io.StringIO()
    con = Console(10, plain, {})
    con.progress(status, force=True)
    con.progress(status)  # within the interval: nothing
    assert plain.getvalue().count("\n") == 1 and "\033" not in plain.getvalue() and "\r" not in plain.getvalue()
