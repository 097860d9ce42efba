"""CLI: python -m faults run|report|flaky|serve|list.

  run    [--faults a,b] [--ci | --targeted] [--jobs J [--worker-budget W]] [--list] [--skip-healthy] [-- pytest args]
         the suite once healthy (through the transparent proxy; also on real pods when a replica fault is
         selected) and once per fault, J runs at once; writes reports/fault-detection.{json,md}; exit 0 only
         for 100 % detection, no unexpected failure and clean baselines
  report [--faults a,b]  rebuild the detection report from the stored runs in reports/fault-runs/:
         per fault expected vs observed, unexpected (FAIL/ERROR not listed) and missed (listed, not FAIL)
  flaky  -n N [--via-proxy] [-- pytest args]   the healthy suite N times -> reports/flakiness.{json,md}
         --reread                              judge the stored runs again (no new runs)
  serve  --fault NAME [--port P] [--pid-file F]  one proxy/CoreDNS fault in the foreground (manual debugging)
  list   [--markdown | --reasons]  the faults with their catalogue ids (and the reason for each)
  timing DIR...  convergence times of stored healthy runs -> the smallest safe --dns-timeout

The real CoreDNS is taken from HSDNS_DNS_SERVER and the API from KUBECONFIG:
eval "$(python -m localcluster env)" first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faults import coredns, flaky, runner, timing
from faults.registry import BY_NAME, FAULTS, Fault, select
from faults.runner import REPO, Environment, RunnerError
from fixtures.catalogue import load_catalogue

DEFAULT_JOBS = 1


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _list(faults: list[Fault], markdown: bool = False, reasons: bool = False) -> None:
    if markdown and reasons:
        for f in faults:
            note = "" if f.slow else ', runs -m "not slow"'
            print(f"#### `{f.name}` ({f.kind}{note})\n")
            print("| id | must FAIL because |\n|---|---|")
            for i, why in f.reasons.items():
                print(f"| {i.removeprefix('HS-DNS-')} | {why} |")
            if f.spares:
                print("\n| id | must NOT fail because |\n|---|---|")
                for i, why in f.spares.items():
                    print(f"| {i.removeprefix('HS-DNS-')} | {why} |")
            if f.may:
                print("\n| id | either verdict is right because |\n|---|---|")
                for i, why in f.may.items():
                    print(f"| {i.removeprefix('HS-DNS-')} | {why} |")
            for i, why in f.revised.items():
                print(f"\nRevised after a run, {i}: {why}")
            print()
        return
    if markdown:
        print("| fault | kind | what it does | scope | must FAIL | models |\n|---|---|---|---|---|---|")
        for f in faults:
            ids = ", ".join(i.removeprefix("HS-DNS-") for i in f.breaks)
            scope = f"{f.scope[0].removeprefix('HS-DNS-')}-{f.scope[-1].removeprefix('HS-DNS-')}"
            print(f"| `{f.name}` | {f.kind} | {f.describe()} | {scope} | {ids} | {f.origin} |")
        return
    width = max(len(f.name) for f in faults)
    for f in faults:
        slow = "" if f.slow else "  [runs -m 'not slow': touches no slow case]"
        slow += f"  [scope {f.scope[0].removeprefix('HS-DNS-')}-{f.scope[-1].removeprefix('HS-DNS-')}]"
        print(f"{f.name:<{width}}  {f.kind:<7} {' '.join(i.removeprefix('HS-DNS-') for i in f.breaks)}{slow}\n"
              f"{'':<{width}}  {f.summary}")
        if reasons:
            for i, why in f.reasons.items():
                print(f"{'':<{width}}    must FAIL {i}: {why}")
            for i, why in f.spares.items():
                print(f"{'':<{width}}    must not  {i}: {why}")
            for i, why in f.may.items():
                print(f"{'':<{width}}    may       {i}: {why}")
            for i, why in f.revised.items():
                print(f"{'':<{width}}    revised   {i}: {why}")


def _select(args: argparse.Namespace) -> list[Fault] | None:
    try:
        return select(args.faults)
    except KeyError as exc:
        print(f"unknown fault {exc}; `python -m faults list` shows them", file=sys.stderr)
        return None


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    faults = _select(args)
    if faults is None:
        return 2
    if args.list:
        _list(faults, reasons=True)
        return 0
    catalogue = load_catalogue()
    unknown = sorted({i for f in faults for i in (*f.breaks, *f.spares) if i not in catalogue})
    if unknown:
        print(f"faults list ids missing from conformance/catalogue.yaml: {', '.join(unknown)}", file=sys.stderr)
        return 2
    jobs = max(1, args.jobs)
    budget = args.worker_budget
    if budget is not None and (budget < 1 or jobs < 2 or runner.numprocesses(extra) is None):
        print("faults: --worker-budget needs a budget of 1 or more, --jobs 2 or more and a numeric -n in the pytest "
              "arguments (e.g. --jobs 6 --worker-budget 8 -- -n 4)", file=sys.stderr)
        return 2
    env = Environment.from_env()
    reports = Path(args.reports_dir)
    out_dir = reports / "fault-runs"
    packing = f", at most {budget} xdist workers in all" if budget else ""
    print(f"faults: real CoreDNS {env.upstream}; {len(faults)} fault(s), {jobs} run(s) at once{packing}; per-run "
          f"reports in {out_dir}/")
    print(f"faults: pytest args: {' '.join(extra) or '(none)'}")
    targeted = args.targeted or args.ci
    plan = runner.make_plan(faults, healthy=not args.skip_healthy, targeted=targeted)
    t0 = time.monotonic()
    try:
        results = runner.run_plan(plan, env, out_dir, extra, jobs=jobs, timeout=args.run_timeout,
                                  stream=args.verbose, budget=budget, say=_progress)
    finally:  # also after Ctrl-C: the runs left their namespaces deleting (--await-cleanup no)
        left = runner.await_cleanup(env, plan)
        if left:
            print(f"faults: namespaces of these runs still present after 180 s: {', '.join(left)}", file=sys.stderr)
    wall = time.monotonic() - t0
    healthy = results.get(runner.HEALTHY) or (runner.load_result(out_dir, runner.HEALTHY) if args.skip_healthy
                                               else None)
    if args.skip_healthy and healthy is not None:
        print(f"faults: healthy baseline from the stored run in {healthy.reports_dir}")
    healthy_real = results.get(runner.HEALTHY_REAL) or (runner.load_result(out_dir, runner.HEALTHY_REAL)
                                                         if args.skip_healthy else None)
    runs = [(f, results[f.name]) for f in faults if f.name in results]
    doc = runner.evaluate(catalogue, healthy, runs, healthy_real)
    doc["command"] = "python -m faults " + " ".join(sys.argv[1:])
    doc["pytest_args"] = extra
    doc["upstream"] = env.upstream
    doc["wall_seconds"] = round(wall, 1)
    doc["jobs"] = jobs
    doc["worker_budget"] = budget
    doc["namespaces_left"] = left
    doc["ok"] = doc["ok"] and not left
    print(f"faults: wall time {wall:.0f} s for {len(plan)} run(s)")
    stem = args.report_stem or ("fault-detection" if not args.faults else "fault-detection-subset")
    return _finish(doc, reports, stem)


def cmd_one(args: argparse.Namespace, extra: list[str]) -> int:
    """One planned run in this process (the runner's child; its result is <out-dir>/<name>/run.json)."""
    ids = tuple(i for i in (args.ids or "").split(",") if i) or None
    if args.name in (runner.HEALTHY, runner.HEALTHY_REAL):
        item = runner.Planned(args.name, real=args.name == runner.HEALTHY_REAL, ids=ids, run_id=args.run_id)
    elif args.name in BY_NAME:
        item = runner.Planned(args.name, BY_NAME[args.name], ids=ids, run_id=args.run_id)
    else:
        print(f"unknown run {args.name!r}", file=sys.stderr)
        return 2
    res = runner.run_planned(item, Environment.from_env(), Path(args.out_dir), extra, timeout=args.run_timeout)
    return 0 if res.setup_error is None else 3


def _interrupt(*_: object) -> None:
    """Ctrl-C or SIGTERM: stop once, then let the clean-up (suite, proxy, CoreDNS, bad replica) finish; a
    second signal must not cut it short (it would leave a process or the replica behind)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def cmd_report(args: argparse.Namespace) -> int:
    """Re-evaluate stored runs (reports/fault-runs/<name>/) without running the suite again."""
    faults = _select(args)
    if faults is None:
        return 2
    catalogue = load_catalogue()
    reports = Path(args.reports_dir)
    out_dir = reports / "fault-runs"
    healthy = runner.load_result(out_dir, runner.HEALTHY)
    healthy_real = runner.load_result(out_dir, runner.HEALTHY_REAL)
    runs = []
    for f in faults:
        res = runner.load_result(out_dir, f.name)
        if res is None:
            print(f"faults: no stored run for {f.name} (run: python -m faults run --faults {f.name})")
            res = runner.RunResult(name=f.name, reports_dir=out_dir / f.name, setup_error="not run")
        runs.append((f, res))
    doc = runner.evaluate(catalogue, healthy, runs, healthy_real)
    doc["command"] = "python -m faults " + " ".join(sys.argv[1:])
    doc["pytest_args"] = _stored_args(out_dir)
    stem = args.report_stem or ("fault-detection" if not args.faults else "fault-detection-subset")
    return _finish(doc, reports, stem)


def _stored_args(out_dir: Path) -> list[str]:
    log = out_dir / runner.HEALTHY / "pytest.log"
    if not log.is_file():
        return []
    first = log.read_text(errors="replace").split("\n", 1)[0]
    words = first.removeprefix("$ ").split()
    if "--reports-dir" in words:
        return words[words.index("--reports-dir") + 2:]
    return []


def _finish(doc: dict[str, Any], reports: Path, stem: str) -> int:
    js, md = runner.write_reports(doc, reports, stem)
    print()
    print("\n".join(runner.table_lines(doc)))
    print(f"\nfaults: wrote {js} and {md}")
    return 0 if doc["ok"] else 1


def _progress(name: str, res: runner.RunResult) -> None:
    counts: dict[str, int] = {}
    for v in res.verdicts.values():
        counts[v.status] = counts.get(v.status, 0) + 1
    summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no verdicts"
    extra = f"  SET-UP ERROR: {res.setup_error}" if res.setup_error else ""
    stamp = time.strftime("%H:%M:%S")
    print(f"  {stamp} {name:<24} {res.seconds:6.1f}s  exit {res.returncode}  {summary}{extra}", flush=True)


def cmd_flaky(args: argparse.Namespace, extra: list[str]) -> int:
    reports = Path(args.reports_dir)
    if args.reread:
        doc = flaky.reread(reports / "flaky-runs")
    else:
        doc = flaky.benchmark(Environment.from_env(), args.n, reports / "flaky-runs", extra,
                              via_proxy=args.via_proxy, timeout=args.run_timeout)
    js, md = flaky.write_reports(doc, reports)
    s = doc["summary"]
    print(f"flaky: {s['n']} runs, {s['runs_with_false_failures']} with false failures, "
          f"{s['false_failures']} false failures; wrote {js} and {md}")
    return 0 if s["runs_with_false_failures"] == 0 else 1


def cmd_serve(args: argparse.Namespace) -> int:
    fault = next((f for f in FAULTS if f.name == args.fault), None) if args.fault != "none" else None
    if args.fault != "none" and fault is None:
        print(f"unknown fault {args.fault!r}; `python -m faults list` shows them", file=sys.stderr)
        return 2
    if fault is not None and fault.kind == "replica":
        print(f"{fault.name} changes the cluster's DNS Service and cannot be served on 127.0.0.1: "
              f"python -m faults run --faults {fault.name}", file=sys.stderr)
        return 2
    env = Environment.from_env()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pid_file = Path(args.pid_file) if args.pid_file else None
    workdir = Path(args.workdir)
    if fault is not None and fault.kind == "coredns":
        server = coredns.MisconfiguredCoreDNS(fault.name, workdir).start()
        address = server.address
        close: Callable[[], None] = server.stop
    else:
        from faults.proxy import FaultProxy, parse_hostport
        from faults.transforms import TRANSFORMS, identity

        view = env.cluster_view() if fault is not None and fault.needs_api else None
        proxy = FaultProxy(parse_hostport(env.upstream), TRANSFORMS[fault.name] if fault else identity, view=view,
                           port=args.port).start()
        address, close = proxy.address, proxy.stop
    if pid_file:
        pid_file.write_text(f"{os.getpid()}\n")
    print(f"faults: serving {args.fault} on {address} (pid {os.getpid()}); stop with: kill {os.getpid()}",
          flush=True)
    try:
        while not stop.is_set():
            time.sleep(0.2)
    finally:
        close()
        if pid_file:
            pid_file.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    own, extra = _split(list(sys.argv[1:] if argv is None else argv))
    ap = argparse.ArgumentParser(prog="python -m faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="healthy + one suite run per fault, detection table and reports")
    p_run.add_argument("--faults", default=None, help="comma-separated fault names (default: all)")
    p_run.add_argument("--ci", action="store_true", help="every fault, targeted (what make test runs)")
    p_run.add_argument("--targeted", action="store_true",
                       help="each fault's run asks only the ids it lists (must FAIL, must not, may); the healthy "
                            "baseline their union (quicker; blind to a FAIL of an id a fault does not list)")
    p_run.add_argument("--jobs", "-j", type=int, default=DEFAULT_JOBS,
                       help=f"suite runs at once (default {DEFAULT_JOBS}; 1 = one after the other, in this process)")
    p_run.add_argument("--worker-budget", type=int, default=None, metavar="W",
                       help="pack the runs (with --jobs above 1 and a numeric -n): each gets as many xdist workers "
                            "as its cases need, at most the -n, and runs start while their workers together stay "
                            "within W (docs/faults.md \"CI\")")
    p_run.add_argument("--list", action="store_true", help="list the selected faults and exit")
    p_run.add_argument("--skip-healthy", action="store_true",
                       help="reuse the stored healthy run (reports/fault-runs/healthy) instead of running it")
    p_run.add_argument("--report-stem", default=None,
                       help="file stem of the detection report (default: fault-detection for every fault, "
                            "fault-detection-subset for --faults)")
    p_flaky = sub.add_parser("flaky", help="the healthy suite N times; false failures and causes")
    p_flaky.add_argument("-n", type=int, default=20, help="number of runs (default 20)")
    p_flaky.add_argument("--via-proxy", action="store_true", help="query through the transparent proxy")
    p_flaky.add_argument("--reread", action="store_true",
                         help="no new runs: judge the runs stored in <reports>/flaky-runs again")
    for p in (p_run, p_flaky):
        p.add_argument("--reports-dir", default=str(REPO / "reports"))
        p.add_argument("--run-timeout", type=float, default=None, help="stop a suite run after SECONDS")
        p.add_argument("-v", "--verbose", action="store_true", help="stream pytest output")
    p_serve = sub.add_parser("serve", help="serve one fault in the foreground")
    p_serve.add_argument("--fault", required=True, help="fault name, or `none` for the transparent proxy")
    p_serve.add_argument("--port", type=int, default=0, help="proxy port on 127.0.0.1 (default: free)")
    p_serve.add_argument("--pid-file", default=None)
    p_serve.add_argument("--workdir", default=str(REPO / "reports" / "fault-serve"))
    p_report = sub.add_parser("report", help="rebuild the detection report from stored runs (no suite run)")
    p_report.add_argument("--faults", default=None)
    p_report.add_argument("--ci", action="store_true", help=argparse.SUPPRESS)  # every fault, as without --faults
    p_one = sub.add_parser("one", help=argparse.SUPPRESS)
    p_one.add_argument("--name", required=True)
    p_one.add_argument("--out-dir", required=True)
    p_one.add_argument("--run-timeout", type=float, default=None)
    p_one.add_argument("--ids", default=None, help="comma-separated catalogue ids the run selects")
    p_one.add_argument("--run-id", default=None, help="the suite's run id (HSDNS_RUN_ID)")
    p_report.add_argument("--reports-dir", default=str(REPO / "reports"))
    p_report.add_argument("--report-stem", default=None)
    p_timing = sub.add_parser("timing", help="convergence times of stored runs and the smallest safe --dns-timeout")
    p_timing.add_argument("dirs", nargs="+", help="reports dirs (searched for conformance.json)")
    p_list = sub.add_parser("list", help="list every fault with the catalogue ids it breaks")
    p_list.add_argument("--markdown", action="store_true", help="as the Markdown table of docs/faults.md")
    p_list.add_argument("--reasons", action="store_true", help="with the reason for every id")
    args = ap.parse_args(own)
    if args.cmd in ("run", "one", "flaky"):
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.cmd == "run":
            return cmd_run(args, extra)
        if args.cmd == "flaky":
            return cmd_flaky(args, extra)
        if args.cmd == "report":
            return cmd_report(args)
        if args.cmd == "serve":
            return cmd_serve(args)
        if args.cmd == "one":
            return cmd_one(args, extra)
        if args.cmd == "timing":
            return timing.main(args.dirs)
        _list(list(FAULTS), markdown=args.markdown, reasons=args.reasons)
        return 0
    except (RunnerError, coredns.CoreDNSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("faults: interrupted; the runs in progress were stopped and cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
