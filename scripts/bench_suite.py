#!/usr/bin/env python3
"""Benchmark of the suite at the cluster's pace (issue 10): wall times, irreducible time, where the time goes.

Usage (against the running local cluster, or any $KUBECONFIG the suite can use):
    eval "$(.venv/bin/python -m localcluster env)"
    .venv/bin/python scripts/bench_suite.py [--modes serial,2,4] [--faults] [--baseline F] [--update-baseline]

For each mode it runs the whole catalogue once (``-n N --dist loadgroup``) and reads the run's
conformance.json and the per-test phase durations. Figures:

* wall time per mode;
* irreducible time of the serial run: per case, object creation -> EndpointSlices ready (rollout),
  DNS convergence and the hold window, summed (a shared workload and its stream counted once);
* overhead ratio = serial wall time / irreducible time;
* a profile: session start, set-up, rollout, convergence, hold, rest of the test body, teardown;
* with ``--faults``: the wall time of ``make faults`` (every fault over its whole scope, healthy runs included).

It prints a table, writes reports/bench-suite.json, and flags every figure more than 25 % worse than
the committed baseline (benchmarks/suite-baseline.json). It never asserts: the machines are shared and
noisy; a flag is a prompt to look, the figures of one run are what the docs quote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "benchmarks" / "suite-baseline.json"
WORSE = 1.25


def run_suite(workers: int, reports: Path, extra: list[str]) -> dict[str, Any]:
    phases = reports / "phases.json"
    reports.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "conformance", "-p", "no:cacheprovider", "-p", "bench_phases",
           "--reports-dir", str(reports), "-q", *extra]
    if workers > 0:
        cmd += ["-n", str(workers), "--dist", "loadgroup"]
    env = dict(os.environ, HSDNS_BENCH_PHASES=str(phases),
               PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")]))
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    (reports / "pytest.log").write_text(proc.stdout + proc.stderr)
    doc = json.loads((reports / "conformance.json").read_text()) if (reports / "conformance.json").exists() else {}
    items = json.loads(phases.read_text())["items"] if phases.exists() else {}
    return {"wall_s": round(wall, 1), "returncode": proc.returncode, "doc": doc, "items": items,
            "closing": next((ln for ln in proc.stdout.splitlines() if ln.startswith("HEADLESS-DNS")), "")}


def profile(run: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase, summed over the cases of one run. A shared workload (the seed, the scale scenario's)
    is rolled out once, in the set-up of its first case: its rollout counts once, and not as set-up. The cases
    of one shared stream (the seed's) converge and hold side by side: the stream counts once, as its longest."""
    out = {"setup": 0.0, "rollout": 0.0, "converge": 0.0, "hold": 0.0, "fail_wait": 0.0, "body_other": 0.0,
           "teardown": 0.0}
    shared_rollout: dict[str, float] = {}
    streams: dict[str, tuple[float, float]] = {}
    for ph in run["items"].values():
        out["setup"] += ph.get("setup", 0.0)
        out["teardown"] += ph.get("teardown", 0.0)
    for res in run["doc"].get("results", []):
        for ev in res.get("evidence") or []:
            info = ev.get("info", {})
            shared = info.get("shared_workload")
            converge, hold = info.get("converge_s", 0.0), info.get("hold_s", 0.0)
            if shared:
                shared_rollout[shared] = max(shared_rollout.get(shared, 0.0), info.get("shared_rollout_s", 0.0))
            else:
                out["rollout"] += info.get("rollout_s", 0.0)
            if shared and info.get("shared_stream"):
                # its converge, hold and any FAIL's wait are the stream's, in the call of the case that asked first
                c, h = streams.get(shared, (0.0, 0.0))
                streams[shared] = (max(c, converge), max(h, hold))
                continue
            out["converge"] += converge
            out["hold"] += hold
            own_rollout = 0.0 if shared else info.get("rollout_s", 0.0)
            rest = max(0.0, info.get("call_s", 0.0) - own_rollout - converge - hold)
            # A FAIL is called at its deadline (--dns-timeout) and not before: a DNS still converging is not broken.
            out["fail_wait" if res.get("status") == "failed" else "body_other"] += rest
    out["rollout"] += sum(shared_rollout.values())
    out["setup"] = max(0.0, out["setup"] - sum(shared_rollout.values()))
    for c, h in streams.values():
        out["converge"] += c
        out["hold"] += h
    total = sum(ph.get("setup", 0.0) + ph.get("call", 0.0) + ph.get("teardown", 0.0) for ph in run["items"].values())
    out["session"] = max(0.0, run["wall_s"] - total)
    return {k: round(v, 1) for k, v in out.items()}


def machine() -> str:
    """The machine a baseline was measured on: CPUs and memory (a baseline compares only on a like machine)."""
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f", {round(int(line.split()[1]) / 1024 / 1024)} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores{mem}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="serial,2,4", help="comma list: serial or a worker count (default serial,2,4)")
    ap.add_argument("--faults", action="store_true", help="also time `python -m faults run` (all faults)")
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--update-baseline", action="store_true", help="write this run's figures as the baseline")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    out_dir = Path(tempfile.mkdtemp(prefix="hsdns-bench-"))
    figures: dict[str, float] = {}
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "modes": {}}
    for mode in args.modes.split(","):
        workers = 0 if mode == "serial" else int(mode)
        run = run_suite(workers, out_dir / f"run-{mode}", args.pytest_args)
        prof = profile(run)
        result["modes"][mode] = {"wall_s": run["wall_s"], "closing": run["closing"], "profile": prof,
                                 "returncode": run["returncode"]}
        figures[f"wall_{mode}_s"] = run["wall_s"]
        if "cases" not in result:  # the set of cases the run chose (the same in every mode)
            ids = sorted({str(r.get("id")) for r in run["doc"].get("results", [])})
            result["cases"] = {"count": len(ids), "ids_sha": hashlib.sha256(",".join(ids).encode()).hexdigest()[:12]}
        print(f"{mode:>6}: {run['wall_s']:6.1f} s   {run['closing']}", flush=True)
        if mode == "serial":
            irreducible = prof["rollout"] + prof["converge"] + prof["hold"] + prof["fail_wait"]
            figures["irreducible_s"] = round(irreducible, 1)
            figures["overhead_ratio"] = round(run["wall_s"] / irreducible, 2) if irreducible else 0.0
    if args.faults:
        t0 = time.monotonic()
        # `make faults` itself (its runner arguments live in the Makefile only), on the cluster already up
        proc = subprocess.run(["make", "-s", "faults", "PYTEST_ARGS=" + shlex.join(args.pytest_args)], cwd=ROOT,
                              capture_output=True, text=True, check=False)
        figures["faults_wall_s"] = round(time.monotonic() - t0, 1)
        result["faults"] = {"returncode": proc.returncode, "tail": proc.stdout[-1500:]}
    result["figures"] = figures

    print("\n| figure | value |\n|---|---|")
    for k, v in figures.items():
        print(f"| {k} | {v} |")
    if "serial" in result["modes"]:
        print("\nprofile of the serial run (s): " + ", ".join(f"{k} {v}" for k, v in
                                                          result["modes"]["serial"]["profile"].items()))
    flags = []
    base_doc = json.loads(args.baseline.read_text()) if args.baseline.exists() else {}
    base = base_doc.get("figures", {})
    if base and base_doc.get("cases") != result.get("cases"):
        # Another set of cases (the catalogue grew, or -k/-m chose others): its wall times are not comparable.
        print(f"\nthe baseline ran other cases ({base_doc.get('cases') or 'not recorded'}; this run "
              f"{result.get('cases')}): not compared; --update-baseline records this run as the baseline")
        base = {}
    if base:
        for k, v in figures.items():
            b = base.get(k)
            if isinstance(b, int | float) and b > 0 and v > b * WORSE:
                flags.append(f"{k}: {v} vs baseline {b} (+{(v / b - 1) * 100:.0f} %)")
    result["flags"] = flags
    if base:
        print("\n" + ("\n".join(f"FLAG (>25 % worse than the baseline): {f}" for f in flags) if flags
                      else f"no figure more than 25 % worse than {args.baseline.relative_to(ROOT)}"))
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports" / "bench-suite.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.update_baseline:
        args.baseline.parent.mkdir(parents=True, exist_ok=True)
        command = " ".join(a for a in sys.argv[1:] if a != "--update-baseline")
        args.baseline.write_text(json.dumps({"date": result["date"], "figures": figures, "cases": result.get("cases"),
                                             "command": f"scripts/bench_suite.py {command}".strip(),
                                             "machine": machine()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
