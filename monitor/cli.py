"""``python -m monitor``: watch a headless Service's DNS answers live (see docs/monitor.md).

Exit status: 0 the gates held; 1 a gate was exceeded; 2 interrupted (Ctrl-C, SIGTERM: the report is still
written and everything created removed); 3 internal error; 4 usage or cluster error (one message).
``python -m monitor render monitor.json [-o monitor.html]`` re-renders the HTML page from a JSON report.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from fixtures.kube.api import ClusterAccessError, access_error, build_api_client
from fixtures.kube.facts import probe_facts
from fixtures.options import OPTIONS, resolve_settings
from fixtures.verdict import HarnessError

from .aggregate import Thresholds
from .console import Console

EXIT_OK, EXIT_GATES, EXIT_INTERRUPTED, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2, 3, 4
# The suite's options the monitor shares (same names, same environment twins, same validation).
SUITE_OPTIONS = ("kubeconfig", "context", "cluster-domain", "dns-server", "query-replicas", "resolver-backend",
                 "resolver-image", "workload-image", "image-registry", "run-as-user", "node-selector", "tolerations",
                 "max-ttl", "rollout-timeout", "stale-after")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _count(lo: int, hi: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {value}")
        return value
    return parse


def _grace(text: str) -> float | None:
    return None if text.strip().lower() == "auto" else _seconds(text)


def _limit(text: str) -> float | None:
    return None if text.strip().lower() in ("off", "none", "-") else _seconds(text)


def _rate_limit(text: str) -> float | None:
    t = text.strip().lower()
    if t in ("off", "none", "-"):
        return None
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction (0.01) or a percentage (1%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (or 0% and 100%), got {text}")
    return value


def _names_limit(text: str) -> int | None:
    if text.strip().lower() in ("off", "none", "-"):
        return None
    return int(_count(0, 10_000)(text))


def _transports(text: str) -> tuple[str, ...]:
    parts = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    if not parts or any(p not in ("udp", "tcp") for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: use udp, tcp or udp,tcp")
    return parts


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m monitor", description=(
        "Deploy a reference headless Service + StatefulSet, ask its names from resolver pods at the DNS Service "
        "and every DNS replica at a fixed rate, compare every answer with the live EndpointSlices, and report "
        "incidents (reports/monitor.json, reports/monitor.html)."),
        epilog="exit status: 0 gates held, 1 a gate exceeded, 2 interrupted, 3 internal error, 4 usage or cluster "
               "error. `python -m monitor render monitor.json -o monitor.html` re-renders a report.")
    run = ap.add_argument_group("the run")
    run.add_argument("--duration", type=_seconds, default=0.0, metavar="S",
                     help="seconds to monitor (default 0: until Ctrl-C / SIGTERM, or with --ttr-probes until the "
                          "probes are done)")
    run.add_argument("--rate", type=_count(1, 50), default=5, metavar="N",
                     help="answers per second per name at each target (the DNS Service, every replica), "
                          "shared by the resolver pods, which take turns (default 5)")
    run.add_argument("--replicas", type=_count(1, 50), default=3, metavar="N",
                     help="pods of the reference StatefulSet (default 3)")
    run.add_argument("--resolvers", type=_count(1, 10), default=2, metavar="N",
                     help="resolver pods, spread over nodes where possible (default 2)")
    run.add_argument("--grace", type=_grace, default=None, metavar="auto|S",
                     help="after a change of the EndpointSlices, answers matching the previous state are "
                          "'converging', not wrong, for this long (default auto: 5 s + the largest TTL answered, "
                          "up to 65 s)")
    run.add_argument("--api-interval", type=_positive, default=0.2, metavar="S",
                     help="how often the EndpointSlices, pods and DNS replicas are read (default 0.2)")
    run.add_argument("--query-timeout", type=_positive, default=2.0, metavar="S",
                     help="timeout of one DNS query; no answer in time is 'missing' (default 2, as the suite's)")
    run.add_argument("--transports", type=_transports, default=("udp",), metavar="udp[,tcp]",
                     help="transports to ask over (default udp)")
    run.add_argument("--merge-gap", type=_seconds, default=2.0, metavar="S",
                     help="bad answers less than S seconds apart belong to one incident (default 2)")
    run.add_argument("--ttr-probes", type=_count(0, 100), default=0, metavar="N",
                     help="time-to-resolve probes: scale the StatefulSet up by one pod and back N times, "
                          "alternately asking the new name before the pod exists (primed) and not (fresh)")
    run.add_argument("--ttr-timeout", type=_positive, default=60.0, metavar="S",
                     help="give up on one time-to-resolve event after S seconds (default 60)")
    run.add_argument("--until-file", default=None, metavar="PATH",
                     help="end the run when PATH exists (e.g. `touch PATH` after an upgrade): a normal end, the "
                          "gates decide the exit status (Ctrl-C is an interruption: exit 2)")
    run.add_argument("--keep", action="store_true", help="leave the namespaces in the cluster at the end")
    out = ap.add_argument_group("output")
    out.add_argument("--reports-dir", default=None, metavar="DIR",
                     help="where monitor.json and monitor.html go (default $HSDNS_REPORTS_DIR, else reports/)")
    out.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="JSON report path")
    out.add_argument("--html", dest="html_path", default=None, metavar="PATH", help="HTML report path")
    out.add_argument("--status-file", default=None, metavar="PATH",
                     help="rewrite a small JSON status (queries, incidents, streams) here every 0.5 s")
    out.add_argument("--progress", type=_seconds, default=10.0, metavar="S",
                     help="progress line every S seconds when stderr is not a terminal (default 10; 0: never)")
    gates = ap.add_argument_group("gates (exit 1 when exceeded; 'off' disables one)")
    gates.add_argument("--max-wrong-seconds", type=_limit, default=0.0, metavar="S|off",
                       help="seconds in which DNS contradicted the EndpointSlices beyond the grace period (default 0)")
    gates.add_argument("--max-missing-seconds", type=_limit, default=None, metavar="S|off",
                       help="seconds without an answer (timeouts, SERVFAIL) (default off)")
    gates.add_argument("--max-unavailable-seconds", type=_limit, default=None, metavar="S|off",
                       help="seconds in which a name of the workload did not resolve (default off)")
    gates.add_argument("--max-incident-seconds", type=_limit, default=None, metavar="S|off",
                       help="the longest incident (default off)")
    gates.add_argument("--max-names-affected", type=_names_limit, default=None, metavar="N|off",
                       help="names touched by any incident (default off)")
    gates.add_argument("--max-error-rate", type=_rate_limit, default=None, metavar="R|off",
                       help="share of queries without an answer, e.g. 0.001 or 0.1%% (default off)")
    suite = ap.add_argument_group("cluster and pods (as the suite's options, with the same environment twins)")
    by_name = {s.name: s for s in OPTIONS}
    for name in SUITE_OPTIONS:
        spec = by_name[name]
        suite.add_argument(f"--{name}", dest="suite_" + name.replace("-", "_"), default=None, metavar=spec.metavar,
                           help=f"{spec.help} [env {spec.env}]".replace("%", "%%"))
    return ap


def options_from(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> Any:
    from .runner import Options

    reports = Path(args.reports_dir or environ.get("HSDNS_REPORTS_DIR") or "reports")
    return Options(
        duration=args.duration, rate=float(args.rate), replicas=args.replicas, resolvers=args.resolvers,
        grace=args.grace, api_interval=args.api_interval, query_timeout=args.query_timeout,
        transports=args.transports, merge_gap=args.merge_gap,
        json_path=Path(args.json_path) if args.json_path else reports / "monitor.json",
        html_path=Path(args.html_path) if args.html_path else reports / "monitor.html",
        status_path=Path(args.status_file) if args.status_file else None, progress=args.progress,
        thresholds=Thresholds(max_wrong_seconds=args.max_wrong_seconds, max_missing_seconds=args.max_missing_seconds,
                              max_unavailable_seconds=args.max_unavailable_seconds,
                              max_incident_seconds=args.max_incident_seconds,
                              max_names_affected=args.max_names_affected, max_error_rate=args.max_error_rate),
        ttr_probes=args.ttr_probes, ttr_timeout=args.ttr_timeout, keep=args.keep,
        until_file=Path(args.until_file) if args.until_file else None)


def _render(argv: Sequence[str]) -> int:
    import json

    from .report import render_html

    ap = _Parser(prog="python -m monitor render", description="re-render monitor.html from monitor.json")
    ap.add_argument("report")
    ap.add_argument("-o", "--output", default=None)
    try:
        args = ap.parse_args(list(argv))
        doc = json.loads(Path(args.report).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("schema") != "hsdns-monitor/1":
            raise UsageError(f"{args.report} is not a monitor report (schema hsdns-monitor/1)")
    except (UsageError, OSError, ValueError) as exc:
        print(f"hsdns monitor render: {exc}", file=sys.stderr)
        return EXIT_USAGE
    page = render_html(doc)
    if args.output:
        Path(args.output).write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The monitor's entry point (``python -m monitor``, and the ``hsdns monitor`` command)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["render"]:
        return _render(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except UsageError as exc:
        print(f"hsdns monitor: {exc}. Fix: see python -m monitor --help", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    raw = {name: getattr(args, "suite_" + name.replace("-", "_")) for name in SUITE_OPTIONS}
    try:
        settings = resolve_settings(raw, os.environ)
    except pytest.UsageError as exc:
        print(f"hsdns monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    opts = options_from(args, os.environ)
    console = Console(opts.progress)
    try:
        return _monitor(settings, opts, console)
    except Exception as exc:  # a defect of the monitor: say so with the traceback, never as a verdict
        console.say(f"hsdns monitor: internal error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        return EXIT_INTERNAL


def _monitor(settings: Any, opts: Any, console: Console) -> int:
    from .runner import Monitor, Stopped, write_document

    state: dict[str, Any] = {"monitor": None, "interrupted": False}

    def on_signal(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        mon = state["monitor"]
        if mon is None or mon.phase == "setup" or mon.stop.is_set():
            state["interrupted"] = True
            raise KeyboardInterrupt(name)
        state["interrupted"] = True
        mon.stop_reason = f"{name} received"
        mon.stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    mon: Monitor | None = None
    code: int | None = None
    try:
        try:
            api = build_api_client(settings.kubeconfig or "", settings.context)
            facts = probe_facts(api, settings, uuid.uuid4().hex[:12])
        except ClusterAccessError as exc:
            console.say(f"hsdns monitor: {exc}")
            return EXIT_USAGE
        mon = Monitor(api, settings, facts, opts, console, run_id=facts.run_id,
                      new_api=lambda: build_api_client(settings.kubeconfig or "", settings.context))
        state["monitor"] = mon
        try:
            mon.setup()
            mon.run()
        except (Stopped, KeyboardInterrupt) as exc:
            state["interrupted"] = True
            mon.stop_reason = mon.stop_reason or f"{exc or 'interrupted'} during {mon.phase}"
            mon.stop.set()
        except (ClusterAccessError, HarnessError) as exc:
            console.say(f"hsdns monitor: {exc}")
            code = EXIT_USAGE
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            console.say(f"hsdns monitor: {access_error(exc, 'setting up the reference workload', facts.server)}")
            code = EXIT_USAGE
        interrupted = bool(state["interrupted"])
        monitored = mon.phase != "setup"
        doc = None
        if code is None:
            doc = mon.document(None, interrupted)
            exceeded = any(g["exceeded"] for g in doc["gates"])
            code = EXIT_INTERRUPTED if interrupted else (EXIT_GATES if exceeded else EXIT_OK)
            doc["exit_status"] = code
            if monitored or interrupted:
                write_document(doc, opts)
        left = mon.cleanup()
        if doc is not None and (monitored or interrupted):
            doc["cleanup"] = {"removed": [] if opts.keep else [n for n in mon.created if n not in left],
                              "left": left, "kept": opts.keep}
            write_document(doc, opts)
            console.say(f"hsdns monitor: reports {opts.json_path} {opts.html_path}")
            print(doc["summary_line"], flush=True)
        return code
    except KeyboardInterrupt:  # a second Ctrl-C while removing what was created
        console.say("hsdns monitor: interrupted again while cleaning up; the namespaces are being deleted by the "
                    f"cluster (check: python -m fixtures.kube.cleanup --run-id {mon.run_id if mon else '?'} "
                    "--dry-run)")
        return EXIT_INTERRUPTED
    finally:
        if mon is not None:
            mon.stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
