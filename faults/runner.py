"""Run the suite healthy and once per fault, compare per-id verdicts with the faults' lists, report."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faults import coredns, transforms
from faults.kubeview import ClusterView, KubeView
from faults.proxy import FaultProxy, parse_hostport
from faults.registry import Fault
from faults.verdicts import ABSENT, Verdict, read_run
from fixtures.catalogue import Case

REPO = Path(__file__).resolve().parent.parent
HEALTHY = "healthy"
# The fault proxy and the misconfigured CoreDNS listen on the host's loopback, which only pods on the
# KWOK nodes reach (their exec runs on the host); real pods live in the cluster's network namespace.
# So fault runs steer the suite's pods to the KWOK nodes, with the options any user has.
KWOK_PLACEMENT = ["--node-selector", "type=kwok", "--tolerations", "kwok.x-k8s.io/node:NoSchedule"]
SYMBOL = {"passed": "P", "failed": "F", "error": "E", "skipped": "S", "info": "I", ABSENT: "-"}


class RunnerError(RuntimeError):
    """Set-up problem the user can fix (message says how)."""


@dataclass
class RunResult:
    name: str
    reports_dir: Path
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    source: str = ""
    returncode: int | None = None
    seconds: float = 0.0
    server: str = ""
    server_stats: dict[str, Any] | None = None
    setup_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Environment:
    upstream: str  # the real CoreDNS, HOST:PORT
    kubeconfig: str | None
    view: ClusterView | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Environment:
        env = dict(os.environ if environ is None else environ)
        upstream = env.get("HSDNS_DNS_SERVER") or env.get("HSDNS_LOCAL_DNS_SERVER", "")
        if not upstream:
            raise RunnerError("neither HSDNS_DNS_SERVER nor HSDNS_LOCAL_DNS_SERVER is set: one must name the real "
                              "CoreDNS on this host. Fix: eval \"$(python -m localcluster env)\" (local cluster) or "
                              "export HSDNS_DNS_SERVER=HOST:PORT")
        kubeconfig = env.get("HSDNS_KUBECONFIG") or (env.get("KUBECONFIG", "").split(os.pathsep)[0] or None)
        return cls(upstream=upstream, kubeconfig=kubeconfig)

    def cluster_view(self) -> ClusterView | None:
        if self.view is None and self.kubeconfig:
            self.view = KubeView(self.kubeconfig)
        return self.view


@contextlib.contextmanager
def dns_for(fault: Fault | None, env: Environment, workdir: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    """Start what the suite should query for ``fault`` (None = healthy, the transparent proxy).

    Yields the HOST:PORT for --dns-server and a function returning the server's statistics.
    """
    if fault is not None and fault.kind == "coredns":
        server = coredns.MisconfiguredCoreDNS(fault.name, workdir / "coredns")
        server.start()
        try:
            yield server.address, lambda: {"coredns_pid": server.pid, "corefile": str(server.corefile)}
        finally:
            server.stop()
        return
    transform = transforms.identity if fault is None else transforms.TRANSFORMS[fault.name]
    view = env.cluster_view() if fault is not None and fault.needs_api else None
    if fault is not None and fault.needs_api and view is None:
        raise RunnerError(f"fault {fault.name} reads the API: set KUBECONFIG (eval \"$(python -m localcluster env)\")")
    proxy = FaultProxy(parse_hostport(env.upstream), transform, view=view)
    with proxy:
        yield proxy.address, proxy.stats.to_json


def pytest_command(address: str | None, reports_dir: Path, extra: list[str]) -> list[str]:
    """The suite against ``address`` from the KWOK nodes, or (None) as the environment sets it up."""
    target = ["--dns-server", address, *KWOK_PLACEMENT] if address else []
    return [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", *target,
            "--reports-dir", str(reports_dir), *extra]


def run_suite(address: str | None, reports_dir: Path, extra: list[str], *, timeout: float | None = None,
              stream: bool = False) -> tuple[int, float]:
    """Run the suite as a child process (own session, stopped by its PID on timeout); log to pytest.log."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(address, reports_dir, extra)
    env = dict(os.environ, HSDNS_DNS_SERVER=address) if address else dict(os.environ)
    t0 = time.monotonic()
    with open(reports_dir / "pytest.log", "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=None if stream else log,
                                stderr=None if stream else subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = -1
            log.write(f"\nfaults: suite stopped after the --run-timeout of {timeout}s\n")
    return rc, time.monotonic() - t0


def run_one(fault: Fault | None, env: Environment, out_dir: Path, extra: list[str], *,
            timeout: float | None = None, stream: bool = False) -> RunResult:
    name = HEALTHY if fault is None else fault.name
    res = RunResult(name=name, reports_dir=out_dir / name)
    res.reports_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("conformance.json", "junit.xml"):
        (res.reports_dir / stale).unlink(missing_ok=True)
    try:
        with dns_for(fault, env, res.reports_dir) as (address, stats):
            res.server = address
            res.returncode, res.seconds = run_suite(address, res.reports_dir, extra, timeout=timeout, stream=stream)
            res.server_stats = stats()
    except (coredns.CoreDNSError, RunnerError, OSError) as exc:
        res.setup_error = str(exc)
        return res
    res.verdicts, res.source = read_run(res.reports_dir)
    save_meta(res)
    return res


def save_meta(res: RunResult) -> None:
    meta = {"name": res.name, "returncode": res.returncode, "seconds": round(res.seconds, 1), "server": res.server,
            "server_stats": res.server_stats, "setup_error": res.setup_error,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
    (res.reports_dir / "run.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")


def load_result(out_dir: Path, name: str) -> RunResult | None:
    """A stored run (``<out_dir>/<name>/run.json`` + its reports), or None if it never ran."""
    rdir = out_dir / name
    meta_file = rdir / "run.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    res = RunResult(name=name, reports_dir=rdir, returncode=meta.get("returncode"),
                    seconds=float(meta.get("seconds") or 0.0), server=str(meta.get("server") or ""),
                    server_stats=meta.get("server_stats"), setup_error=meta.get("setup_error"))
    res.verdicts, res.source = read_run(rdir)
    return res


# ---------------------------------------------------------------------------------------------- evaluation

def _problem(status: str) -> bool:
    return status in ("failed", "error")


def evaluate(catalogue: dict[str, Case], healthy: RunResult | None,
             runs: list[tuple[Fault, RunResult]]) -> dict[str, Any]:
    """The fault-detection document (see docs/faults.md for the fields)."""
    ids = list(catalogue)
    # Only ids that PASS (or, INFO cases, ran: "info") in the healthy run can show what a fault does; ids
    # failing there are baseline failures (reported under "healthy", never credited or blamed to a fault).
    # Only "failed" is a detection, so an INFO case (never failed) is never counted as one.
    healthy_status = {i: (healthy.verdicts.get(i, Verdict(ABSENT)).status if healthy else "passed") for i in ids}
    runnable = {i for i in ids if healthy_status[i] in ("passed", "info")}
    baseline = [i for i in ids if _problem(healthy_status[i])]
    doc: dict[str, Any] = {"catalogue_ids": ids}
    healthy_unexpected: list[str] = []
    if healthy is not None:
        healthy_unexpected = [i for i in ids if _problem(healthy.verdicts.get(i, Verdict(ABSENT)).status)]
        doc["healthy"] = {
            "server": healthy.server, "seconds": round(healthy.seconds, 1), "returncode": healthy.returncode,
            "source": healthy.source, "setup_error": healthy.setup_error, "server_stats": healthy.server_stats,
            "observed": {i: _verdict_json(healthy.verdicts.get(i)) for i in ids},
            "unexpected": healthy_unexpected,
            "ok": not healthy_unexpected and healthy.setup_error is None and bool(healthy.verdicts),
        }
    faults_out: list[dict[str, Any]] = []
    detected_pairs = expected_pairs = unexpected_total = 0
    caught: set[str] = set()
    for fault, res in runs:
        expected = list(fault.breaks)
        applicable = [i for i in expected if i in runnable]
        not_applicable = [i for i in expected if i not in runnable]
        status = {i: res.verdicts.get(i, Verdict(ABSENT)).status for i in ids}
        detected = [i for i in applicable if status[i] == "failed"]
        missed = [i for i in applicable if status[i] != "failed"]
        unexpected = [i for i in ids if i not in expected and i not in baseline and _problem(status[i])]
        caught.update(detected)
        ok = res.setup_error is None and bool(res.verdicts) and not missed and not unexpected
        detected_pairs += len(detected)
        expected_pairs += len(applicable)
        unexpected_total += len(unexpected)
        faults_out.append({
            "name": fault.name, "kind": fault.kind, "summary": fault.summary, "origin": fault.origin,
            "description": fault.describe(), "expected": expected, "not_applicable": not_applicable,
            "detected": detected, "missed": {i: status[i] for i in missed}, "unexpected": unexpected,
            "observed": {i: _verdict_json(res.verdicts.get(i)) for i in ids},
            "ok": ok, "seconds": round(res.seconds, 1), "returncode": res.returncode, "server": res.server,
            "server_stats": res.server_stats, "setup_error": res.setup_error, "source": res.source,
        })
    doc["faults"] = faults_out
    must = [i for i in ids if catalogue[i].level in ("MUST", "SHOULD") and i in runnable]
    percent = 100.0 * detected_pairs / expected_pairs if expected_pairs else 0.0
    healthy_ok = healthy is None or bool(doc["healthy"]["ok"])
    doc["score"] = {
        "detected": detected_pairs, "expected": expected_pairs, "percent": round(percent, 1),
        "faults_ok": sum(1 for f in faults_out if f["ok"]), "faults": len(faults_out),
        "unexpected_failures": unexpected_total + len(healthy_unexpected),
        "setup_errors": sum(1 for f in faults_out if f["setup_error"]),
    }
    doc["coverage"] = {
        "checked_ids": must,
        "caught_by_some_fault": [i for i in must if i in caught],
        "not_caught": [i for i in must if i not in caught],
        "not_runnable_here": [i for i in ids if i not in runnable],
        "baseline_failures": baseline,
    }
    doc["ok"] = bool(faults_out) and healthy_ok and percent == 100.0 and doc["score"]["unexpected_failures"] == 0 \
        and doc["score"]["setup_errors"] == 0 and all(f["ok"] for f in faults_out)
    return doc


def _verdict_json(v: Verdict | None) -> dict[str, str]:
    if v is None:
        return {"status": ABSENT}
    out = {"status": v.status}
    if v.message and v.status in ("failed", "error"):
        out["message"] = v.message
    return out


# ---------------------------------------------------------------------------------------------- rendering

def _short(i: str) -> str:
    return i.removeprefix("HS-DNS-")


def table_lines(doc: dict[str, Any]) -> list[str]:
    """Plain-text table for the terminal: fault, expected ids with verdicts, unexpected, result."""
    rows = [("fault", "kind", "expected ids -> observed", "unexpected", "result")]
    if "healthy" in doc:
        h = doc["healthy"]
        rows.append((HEALTHY, "proxy", "(none expected)", _list(h["unexpected"], h["observed"]),
                     "ok" if h["ok"] else "FAIL"))
    for f in doc["faults"]:
        exp = " ".join(f"{_short(i)}:{SYMBOL.get(f['observed'][i]['status'], '?')}" for i in f["expected"])
        result = "ok" if f["ok"] else ("SETUP ERROR" if f["setup_error"] else "FAIL")
        rows.append((f["name"], f["kind"], exp, _list(f["unexpected"], f["observed"]), result))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    s = doc["score"]
    lines.append("")
    lines.append(f"detection: {s['detected']}/{s['expected']} expected (fault, id) pairs FAIL = {s['percent']}%; "
                 f"faults fully as listed: {s['faults_ok']}/{s['faults']}; unexpected failures/errors: "
                 f"{s['unexpected_failures']}; set-up errors: {s['setup_errors']}")
    lines.append("verdicts: F failed, P passed, E error, S skipped, I info (INFO case ran), "
                 "- absent (no result for the id)")
    return lines


def _list(ids: list[str], observed: dict[str, dict[str, str]]) -> str:
    return " ".join(f"{_short(i)}:{SYMBOL.get(observed[i]['status'], '?')}" for i in ids) or "-"


def markdown(doc: dict[str, Any]) -> str:
    s = doc["score"]
    out = ["# Fault detection", "",
           f"Generated {doc.get('generated_at', '')} by `{doc.get('command', 'python -m faults run')}`.", "",
           f"**Detection: {s['detected']}/{s['expected']} = {s['percent']} %** of the expected (fault, id) pairs "
           f"ended FAIL; faults exactly as listed: {s['faults_ok']}/{s['faults']}; unexpected failures/errors: "
           f"{s['unexpected_failures']}; set-up errors: {s['setup_errors']}. Overall: "
           f"**{'PASS' if doc['ok'] else 'FAIL'}**.", "",
           "| fault | kind | expected ids -> observed | unexpected | time | result |",
           "|---|---|---|---|---|---|"]
    if "healthy" in doc:
        h = doc["healthy"]
        out.append(f"| {HEALTHY} (transparent proxy) | proxy | none | {_list(h['unexpected'], h['observed'])} | "
                   f"{h['seconds']} s | {'ok' if h['ok'] else 'FAIL'} |")
    for f in doc["faults"]:
        exp = " ".join(f"{i}:{SYMBOL.get(f['observed'][i]['status'], '?')}" for i in f["expected"])
        result = "ok" if f["ok"] else ("set-up error: " + str(f["setup_error"])[:80] if f["setup_error"] else "FAIL")
        out.append(f"| `{f['name']}` | {f['kind']} | {exp} | {_list(f['unexpected'], f['observed'])} | "
                   f"{f['seconds']} s | {result} |")
    out += ["", "Verdicts: F failed, P passed, E error, S skipped, I info (INFO case ran), - absent.", "",
            "## Verdict matrix", ""]
    ids = doc["catalogue_ids"]
    out.append("| run | " + " | ".join(_short(i) for i in ids) + " |")
    out.append("|---|" + "---|" * len(ids))
    runs: list[tuple[str, dict[str, Any], list[str]]] = []
    if "healthy" in doc:
        runs.append((HEALTHY, doc["healthy"]["observed"], []))
    runs += [(f["name"], f["observed"], f["expected"]) for f in doc["faults"]]
    for name, observed, expected in runs:
        cells = []
        for i in ids:
            sym = SYMBOL.get(observed[i]["status"], "?")
            cells.append(f"**{sym}**" if i in expected else sym)
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "Bold = the fault lists the id (must be F).", "", "## Coverage", ""]
    cov = doc["coverage"]
    out.append(f"MUST/SHOULD ids that ran: {len(cov['checked_ids'])}; caught by at least one fault: "
               f"{len(cov['caught_by_some_fault'])}; not caught: {', '.join(cov['not_caught']) or 'none'}; "
               f"not runnable here (skipped/absent in the healthy run): "
               f"{', '.join(cov['not_runnable_here']) or 'none'}.")
    problems = [f for f in doc["faults"] if not f["ok"]]
    if problems or ("healthy" in doc and doc["healthy"]["unexpected"]):
        out += ["", "## Messages of unexpected or missing verdicts", ""]
        if "healthy" in doc:
            for i in doc["healthy"]["unexpected"]:
                out.append(f"- healthy {i}: {doc['healthy']['observed'][i].get('message', '')[:300]}")
        for f in problems:
            for i in f["unexpected"]:
                out.append(f"- `{f['name']}` unexpected {i}: {f['observed'][i].get('message', '')[:300]}")
            for i, st in f["missed"].items():
                out.append(f"- `{f['name']}` missed {i} ({st})")
    return "\n".join(out) + "\n"


def write_reports(doc: dict[str, Any], reports: Path, stem: str = "fault-detection") -> tuple[Path, Path]:
    reports.mkdir(parents=True, exist_ok=True)
    doc.setdefault("generated_at", datetime.now(UTC).isoformat(timespec="seconds"))
    js, md = reports / f"{stem}.json", reports / f"{stem}.md"
    js.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md.write_text(markdown(doc))
    return js, md
