"""Flakiness benchmark: the healthy suite N times in a row; every FAIL/ERROR is a false failure."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faults.proxy import FaultProxy, parse_hostport
from faults.runner import Environment, run_suite
from faults.transforms import identity
from faults.verdicts import read_run


@contextlib.contextmanager
def _server(env: Environment, via_proxy: bool) -> Iterator[str | None]:
    if not via_proxy:
        yield None  # the suite as `make conformance` runs it: real pods where the cluster has them
        return
    with FaultProxy(parse_hostport(env.upstream), identity) as proxy:
        yield proxy.address


def _judge(k: int, rdir: Path, rc: int, seconds: float, runs: list[dict[str, Any]], causes: list[dict[str, Any]],
           per_id: Counter[str]) -> str:
    """One run's entry, appended to ``runs`` (its progress line is returned): a FAIL/ERROR is a false failure
    unless the run's expectations file lists it as a known deviation of the platform with that status
    (``known_deviation``: the local CoreDNS's listed FAILs)."""
    verdicts, source = read_run(rdir)
    counts = Counter(v.status for v in verdicts.values())
    bad = {i: v for i, v in verdicts.items() if v.status in ("failed", "error") and not v.known_deviation}
    known = sorted(i for i, v in verdicts.items() if v.known_deviation)
    if not verdicts:
        bad_note = f"no report written (pytest exit {rc}); see {rdir / 'pytest.log'}"
        causes.append({"run": k, "id": None, "status": "no-report", "message": bad_note})
    for i, v in sorted(bad.items()):
        per_id[i] += 1
        causes.append({"run": k, "id": i, "status": v.status, "message": v.message[:500]})
    runs.append({"run": k, "seconds": round(seconds, 1), "returncode": rc, "counts": dict(counts),
                 "false_failures": sorted(bad), "known_deviations": known, "source": source})
    return (" ".join(f"{s}={c}" for s, c in sorted(counts.items()))
            + (f" (known deviations: {', '.join(known)})" if known else "")
            + (f"  FALSE FAILURES: {', '.join(sorted(bad))}" if bad else "")
            + ("  (no report)" if not verdicts else ""))


def benchmark(env: Environment, n: int, out_dir: Path, extra: list[str], *, via_proxy: bool = False,
              timeout: float | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    causes: list[dict[str, Any]] = []
    per_id: Counter[str] = Counter()
    for k in range(1, n + 1):
        rdir = out_dir / f"run-{k:02d}"
        for stale in ("conformance.json", "junit.xml"):
            (rdir / stale).unlink(missing_ok=True)
        with _server(env, via_proxy) as address:
            rc, seconds = run_suite(address, rdir, extra, timeout=timeout)
        line = _judge(k, rdir, rc, seconds, runs, causes, per_id)
        say(f"run {k}/{n}: {seconds:6.1f}s  {line}")
    return _document(runs, causes, per_id, extra, via_proxy)


def reread(out_dir: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """The report again from the runs stored in ``out_dir`` (``run-NN/``), e.g. after a change of the rules that
    judge them; a run's time and exit status come from its conformance.json."""
    runs: list[dict[str, Any]] = []
    causes: list[dict[str, Any]] = []
    per_id: Counter[str] = Counter()
    extra: list[str] = []
    for rdir in sorted(out_dir.glob("run-[0-9][0-9]")):
        k = int(rdir.name[4:])
        seconds, rc = 0.0, -1
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            doc = json.loads((rdir / "conformance.json").read_text())
            seconds = (datetime.fromisoformat(doc["finished_at"]) - datetime.fromisoformat(doc["started_at"])
                       ).total_seconds()
            rc = int(doc.get("exit_status") or 0)
        with contextlib.suppress(OSError, ValueError, IndexError):
            cmd = shlex.split((rdir / "pytest.log").read_text().splitlines()[0][2:])
            extra = cmd[cmd.index("--reports-dir") + 2:]
        line = _judge(k, rdir, rc, seconds, runs, causes, per_id)
        say(f"run {k}: {seconds:6.1f}s  {line}")
    return _document(runs, causes, per_id, extra, False)


def _document(runs: list[dict[str, Any]], causes: list[dict[str, Any]], per_id: Counter[str], extra: list[str],
              via_proxy: bool) -> dict[str, Any]:
    n = len(runs)
    false_total = sum(len(r["false_failures"]) for r in runs)
    ids_per_run = max((sum(r["counts"].values()) for r in runs), default=0)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": "transparent fault proxy (KWOK nodes)" if via_proxy else "the cluster's DNS Service",
        "pytest_args": extra,
        "runs": runs,
        "summary": {
            "n": n,
            "runs_with_false_failures": sum(1 for r in runs if r["false_failures"] or not r["source"]),
            "false_failures": false_total,
            "verdicts_per_run": ids_per_run,
            "false_failure_rate": round(false_total / (n * ids_per_run), 4) if n and ids_per_run else None,
            "per_id": dict(sorted(per_id.items())),
            "known_deviations": sorted({i for r in runs for i in r.get("known_deviations", [])}),
            "mean_seconds": round(sum(r["seconds"] for r in runs) / n, 1) if n else None,
        },
        "causes": causes,
    }


def markdown(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    out = ["# Flakiness of the healthy suite", "",
           f"Generated {doc['generated_at']}; DNS server: {doc['server']}; "
           f"pytest args: `{' '.join(doc['pytest_args'])}`.",
           "",
           f"**{s['n']} runs, {s['runs_with_false_failures']} with false failures, {s['false_failures']} false "
           f"failures in total** ({s['verdicts_per_run']} ids per run; rate {s['false_failure_rate']}); mean run "
           f"time {s['mean_seconds']} s. Known deviations of the platform (its expectations file; not counted): "
           f"{', '.join(s.get('known_deviations') or []) or 'none'}.", "",
           "| run | time | verdicts | false failures |", "|---|---|---|---|"]
    for r in doc["runs"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items())) or "no report"
        out.append(f"| {r['run']} | {r['seconds']} s | {counts} | {', '.join(r['false_failures']) or '-'} |")
    if doc["causes"]:
        out += ["", "## Causes", ""]
        out += [f"- run {c['run']} {c['id'] or ''} ({c['status']}): {c['message'][:300]}" for c in doc["causes"]]
    return "\n".join(out) + "\n"


def write_reports(doc: dict[str, Any], reports: Path) -> tuple[Path, Path]:
    reports.mkdir(parents=True, exist_ok=True)
    js, md = reports / "flakiness.json", reports / "flakiness.md"
    js.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md.write_text(markdown(doc))
    return js, md
