"""Run the suite healthy and once per fault, compare per-id verdicts with the faults' lists, report."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faults import coredns, replica, transforms
from faults.kubeview import ClusterView, KubeView
from faults.proxy import FaultProxy, parse_hostport
from faults.registry import BY_NAME, EVERY, FAULTS, REASONED, SCALE, Fault
from faults.verdicts import ABSENT, Verdict, read_run
from fixtures.catalogue import Case

REPO = Path(__file__).resolve().parent.parent
HEALTHY = "healthy"
# The healthy baseline of the replica faults: the suite on real pods against the cluster's own DNS Service
# (every replica asked directly), as they run.
HEALTHY_REAL = "healthy-real"
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
def dns_for(fault: Fault | None, env: Environment, workdir: Path,
            real: bool = False) -> Iterator[tuple[str | None, Callable[[], dict[str, Any]]]]:
    """Start what the suite should query for ``fault`` (None = healthy, the transparent proxy).

    Yields the HOST:PORT for --dns-server (None: the suite runs on real pods against the cluster's own DNS
    Service, as for the replica faults and the ``healthy-real`` baseline) and a function returning the
    server's statistics.
    """
    if real and fault is None:
        yield None, lambda: {"dns": "the cluster's DNS Service and each replica, from real pods"}
        return
    if fault is not None and fault.kind == "replica":
        if not env.kubeconfig:
            raise RunnerError(f"fault {fault.name} changes the cluster: set KUBECONFIG "
                              "(eval \"$(python -m localcluster env)\")")
        bad = replica.BadReplica(fault.mutation or "no-reverse-zones", env.kubeconfig, workdir / "replica")
        bad.start()
        removed: list[str] = []
        try:
            yield None, lambda: {"bad_pod": bad.pod, "bad_address": bad.address, "mutation": bad.mutation,
                                 "removed": not removed, "left": removed}
        finally:
            try:
                bad.stop()
            except replica.ReplicaError as exc:  # recorded (the run's verdicts stay readable), never hidden
                removed.append(str(exc))
            removed += bad.check_removed()
        return
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


def _has(args: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


# Options every fault run (and its healthy baselines) gets unless the pytest arguments set them: see
# docs/faults.md "Speed" for the measurements behind them.
# --await-cleanup no: a run does not wait for its namespaces to be deleted (about 6 s at the end of every run
# here); `faults run` checks every run's namespaces once, at the end (``await_cleanup``).
FAULT_RUN_DEFAULTS: tuple[tuple[str, str], ...] = (("--scale-replicas", str(SCALE)), ("--await-cleanup", "no"))


def run_args(fault: Fault | None, extra: list[str], select: tuple[str, ...] | None = None) -> list[str]:
    """The pytest arguments of one run: the user's, the fault runs' defaults, the catalogue ids of the run
    (``select``, else the fault's ``scope``, else the first catalogue; ``-k`` unless the user selects or the
    ids are the whole catalogue), and ``-m "not slow"`` for a fault that changes no answer a slow case asks
    (``Fault.slow`` False; its slow cases are then absent)."""
    args = list(extra)
    for option, value in FAULT_RUN_DEFAULTS:
        if not _has(args, option):
            args += [option, value]
    ids = select if select is not None else (fault.scope if fault is not None else REASONED)
    if not _has(args, "-k") and set(ids) != set(EVERY):
        args += ["-k", " or ".join(ids)]
    if fault is not None and not fault.slow and not _has(args, "-m"):
        args += ["-m", "not slow"]
    return args


def run_suite(address: str | None, reports_dir: Path, extra: list[str], *, timeout: float | None = None,
              stream: bool = False, run_id: str | None = None) -> tuple[int, float]:
    """Run the suite as a child process (own session, stopped by its PID on timeout or when this process is
    interrupted); log to pytest.log. ``run_id``: the suite's run id (HSDNS_RUN_ID; its namespaces' label)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    cmd = pytest_command(address, reports_dir, extra)
    env = dict(os.environ, HSDNS_DNS_SERVER=address) if address else dict(os.environ)
    if not address:
        env.pop("HSDNS_DNS_SERVER", None)  # the cluster's own DNS Service, from real pods
    if run_id:
        env["HSDNS_RUN_ID"] = run_id
    t0 = time.monotonic()
    with open(reports_dir / "pytest.log", "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=None if stream else log,
                                stderr=None if stream else subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            rc = -1
            log.write(f"\nfaults: suite stopped after the --run-timeout of {timeout}s\n")
        except BaseException:  # Ctrl-C or SIGTERM of the runner: the suite (own session) goes with it
            _stop_group(proc)
            log.write("\nfaults: suite stopped: the fault runner was interrupted\n")
            raise
    return rc, time.monotonic() - t0


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the suite's process group (its own session, by its PID), SIGKILL after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run_one(fault: Fault | None, env: Environment, out_dir: Path, extra: list[str], *,
            timeout: float | None = None, stream: bool = False, real: bool = False,
            select: tuple[str, ...] | None = None, run_id: str | None = None) -> RunResult:
    """One suite run for ``fault`` (None: a healthy baseline; ``real``: on real pods, the ``healthy-real`` one)."""
    name = (HEALTHY_REAL if real else HEALTHY) if fault is None else fault.name
    res = RunResult(name=name, reports_dir=out_dir / name)
    res.reports_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("conformance.json", "junit.xml", "run.json"):
        (res.reports_dir / stale).unlink(missing_ok=True)
    args = run_args(fault, extra, select)
    res.extra["pytest_args"] = args
    res.extra["selected_ids"] = list(select if select is not None else (fault.scope if fault else REASONED))
    res.extra["run_id"] = run_id
    try:
        with dns_for(fault, env, res.reports_dir, real=real) as (address, stats):
            res.server = address or "the cluster's DNS Service + replicas (real pods)"
            res.returncode, res.seconds = run_suite(address, res.reports_dir, args, timeout=timeout, stream=stream,
                                                    run_id=run_id)
            res.server_stats = stats()
        if res.server_stats is not None and fault is not None and fault.kind == "replica":
            res.server_stats = stats()  # after the removal: "removed" and what was "left"
    except (coredns.CoreDNSError, RunnerError, OSError) as exc:
        res.setup_error = str(exc)
        save_meta(res)
        return res
    res.verdicts, res.source = read_run(res.reports_dir)
    if fault is not None and fault.kind == "replica" and res.server_stats:
        res.extra["names_bad_replica"] = names_pod(res.reports_dir, str(res.server_stats.get("bad_pod") or ""))
    save_meta(res)
    return res


def names_pod(reports_dir: Path, pod: str) -> dict[str, bool]:
    """For each FAILed id of a run: does its (full) failure message name ``pod``?"""
    conf = reports_dir / "conformance.json"
    if not pod or not conf.is_file():
        return {}
    try:
        doc = json.loads(conf.read_text())
    except ValueError:
        return {}
    out: dict[str, bool] = {}
    for r in doc.get("results", []):
        if r.get("status") == "failed" and isinstance(r.get("id"), str):
            text = json.dumps([r.get("message"), r.get("items")], default=str)
            out[r["id"]] = pod in text
    return out


def save_meta(res: RunResult) -> None:
    meta = {"name": res.name, "returncode": res.returncode, "seconds": round(res.seconds, 1), "server": res.server,
            "server_stats": res.server_stats, "setup_error": res.setup_error,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "extra": res.extra}
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
                    server_stats=meta.get("server_stats"), setup_error=meta.get("setup_error"),
                    extra=dict(meta.get("extra") or {}))
    res.verdicts, res.source = read_run(rdir)
    return res


# ---------------------------------------------------------------------------------------------- many runs

@dataclass(frozen=True)
class Planned:
    """One suite run of a plan: a fault or a healthy baseline; ``exclusive`` runs alone (it changes the
    cluster's own DNS, which every other run's upstream goes through)."""

    name: str
    fault: Fault | None = None
    real: bool = False
    ids: tuple[str, ...] | None = None  # the catalogue ids the run selects (None: the fault's scope)
    run_id: str | None = None  # the suite's run id (its namespaces' label; new_run_ids gives one per run)

    @property
    def exclusive(self) -> bool:
        return self.fault is not None and self.fault.kind == "replica"

    @property
    def one_at_a_time(self) -> bool:
        """CoreDNS faults never run two at once: each starts a CoreDNS on free loopback ports, and two
        choosing ports at the same moment can collide (seen: one exited with "address already in use",
        the other never became ready)."""
        return self.fault is not None and self.fault.kind == "coredns"


# A case that must FAIL polls until its deadline; one that passes needs its set-up, convergence and hold: about
# a quarter of that (the 2026-12-01 runs at --dns-timeout 15: a FAIL about 20 s, a PASS about 5 s).
FAIL_WEIGHT = 4


def expected_cost(item: Planned) -> int:
    """How long a fault's run is expected to take, in units of a passing case: its must-FAIL ids wait for
    their deadline. ``make_plan`` starts the longest runs first, so the last run to finish is a short one
    and the runs at once end close together (longest-first scheduling)."""
    if item.fault is None:
        return 0
    ids = item.fault.scope if item.ids is None else item.ids
    fails = sum(1 for i in ids if i in item.fault.reasons)
    return FAIL_WEIGHT * fails + (len(ids) - fails)


# Worker packing (``run_plan(budget=...)``): a run gets one xdist worker per this many units of expected cost
# (``expected_cost``; about 2.5 s of case time each), at most the ``-n`` of the pytest arguments. A worker costs
# its start (an interpreter, the suite's imports, a resolver pod: about 10 s of one core here) whatever it then
# runs, so a run of two or three cases on four workers left most of them idle (the 2026-12-01 run of every
# fault: 4,169 s of case time in 1,187 s on 2 x 4 workers, 44 % of the worker time).
UNITS_PER_WORKER = 12


def _dash_n(extra: list[str], i: int) -> tuple[str, int] | None:
    """At ``extra[i]``, pytest-xdist's ``-n`` in any spelling (``-n 4``, ``-n4``, ``--numprocesses 4``,
    ``--numprocesses=4``): its value and how many arguments it takes; None for any other argument."""
    a = extra[i]
    if a in ("-n", "--numprocesses") and i + 1 < len(extra):
        return extra[i + 1], 2
    if a.startswith("--numprocesses="):
        return a.split("=", 1)[1], 1
    if a.startswith("-n") and a[2:].isdigit():
        return a[2:], 1
    return None


def numprocesses(extra: list[str]) -> int | None:
    """The ``-n`` of pytest arguments as a number (None: absent, or ``auto``/``logical``)."""
    for i in range(len(extra)):
        found = _dash_n(extra, i)
        if found is not None:
            return int(found[0]) if found[0].isdigit() else None
    return None


def with_workers(extra: list[str], k: int) -> list[str]:
    """The pytest arguments with their ``-n`` set to ``k`` (every spelling of it replaced)."""
    out: list[str] = []
    i = 0
    while i < len(extra):
        found = _dash_n(extra, i)
        if found is None:
            out.append(extra[i])
        i += found[1] if found else 1
    return [*out, "-n", str(k)]


def workers_for(item: Planned, most: int) -> int:
    """xdist workers for one run when runs are packed: a baseline gets ``most`` (it asks every id any fault
    run asks); a fault run one per ``UNITS_PER_WORKER`` of its expected cost, from 1 to ``most``."""
    if item.fault is None:
        return most
    return max(1, min(most, -(-expected_cost(item) // UNITS_PER_WORKER)))


def pick_next(pending: list[Planned], running: list[tuple[Planned, int]], *, jobs: int, budget: int | None,
              workers: Callable[[Planned], int]) -> Planned | None:
    """The next run to start, or None (wait for one to end). In plan order (the longest first), the first that
    fits: fewer than ``jobs`` runs at once; with a ``budget``, its workers beside the running runs' workers
    within it (a run alone always fits); never two CoreDNS faults at once (``Planned.one_at_a_time``)."""
    if len(running) >= jobs:
        return None
    used = sum(k for _, k in running)
    for item in pending:
        if item.one_at_a_time and any(r.one_at_a_time for r, _ in running):
            continue
        if budget is not None and running and used + workers(item) > budget:
            continue
        return item
    return None


def make_plan(faults: list[Fault], *, healthy: bool = True, healthy_real: bool | None = None,
              targeted: bool = False) -> list[Planned]:
    """The baselines first (``healthy-real`` only when a replica fault is selected, unless told), then the
    faults, the longest expected first (``expected_cost``); exclusive runs last. Each fault run selects its
    ``scope``, or with ``targeted`` (what CI runs) only the ids it lists (must FAIL and must not): a quicker
    check of the same lists, blind to a FAIL of an id it does not list (the full run sees those). The
    baselines select every id a fault run selects."""
    def ids_of(f: Fault) -> tuple[str, ...]:
        if not targeted:
            return f.scope
        listed = set(f.reasons) | set(f.spares) | set(f.may)
        return tuple(i for i in f.scope if i in listed)

    items = sorted((Planned(f.name, f, ids=ids_of(f)) for f in faults if f.kind != "replica"),
                   key=expected_cost, reverse=True)
    items += [Planned(f.name, f, ids=ids_of(f)) for f in faults if f.kind == "replica"]
    chosen = {i for item in items for i in item.ids or ()}
    union = tuple(i for i in EVERY if i in chosen) or REASONED
    plan: list[Planned] = [Planned(HEALTHY, ids=union)] if healthy else []
    want_real = any(f.kind == "replica" for f in faults) if healthy_real is None else healthy_real
    if want_real:
        real_ids = {i for item in items if item.fault is not None and item.fault.kind == "replica"
                    for i in item.ids or ()}
        plan.append(Planned(HEALTHY_REAL, real=True, ids=tuple(i for i in EVERY if i in real_ids) or union))
    return [dataclasses.replace(p, run_id=rid) for p, rid in zip(plan + items, new_run_ids(len(plan) + len(items)),
                                                                 strict=True)]


def new_run_ids(n: int) -> list[str]:
    """``n`` run ids (12 hex digits, as the suite's own) that differ in their first 6: namespace names carry only
    those (``hsdns-<run6>-...``), and two runs at once with the same 6 shared their namespaces, each deleting
    the other's resolver pods (seen: 36 ERRORs of a broken exec stream and HTTP 409 in one run)."""
    ids: list[str] = []
    while len(ids) < n:
        rid = uuid.uuid4().hex[:12]
        if all(rid[:6] != other[:6] for other in ids):
            ids.append(rid)
    return ids


def await_cleanup(env: Environment, plan: list[Planned], timeout: float = 180.0) -> list[str]:
    """The runs do not wait for their namespaces to be deleted (``--await-cleanup no``); this waits once for
    all of them, deleting any that is not yet terminating (a run stopped hard). Returns the names still
    present after ``timeout`` (the runner then fails), or of every run's namespaces when the API cannot
    be read."""
    ids = [p.run_id for p in plan if p.run_id]
    if not ids:
        return []
    from kubernetes import client

    from fixtures.kube.api import build_api_client
    from fixtures.kube.namespace import await_namespaces_gone

    try:
        core = client.CoreV1Api(build_api_client(env.kubeconfig or "", None))
        return await_namespaces_gone(core, ids, None, timeout=timeout, sweep=True)
    except Exception as exc:  # an API error must not hide the runs' verdicts: say it, and fail
        return [f"(could not check the runs' namespaces: {exc})"]


def child_command(item: Planned, out_dir: Path, extra: list[str], timeout: float | None) -> list[str]:
    cmd = [sys.executable, "-m", "faults", "one", "--name", item.name, "--out-dir", str(out_dir)]
    if item.run_id:
        cmd += ["--run-id", item.run_id]
    if item.ids is not None:
        cmd += ["--ids", ",".join(item.ids)]
    if timeout:
        cmd += ["--run-timeout", str(timeout)]
    return [*cmd, "--", *extra]


def run_planned(item: Planned, env: Environment, out_dir: Path, extra: list[str], *, timeout: float | None = None,
                stream: bool = False) -> RunResult:
    """In this process (the body of ``python -m faults one``)."""
    if item.fault is None:
        return run_one(None, env, out_dir, extra, timeout=timeout, stream=stream, real=item.real, select=item.ids,
                       run_id=item.run_id)
    return run_one(BY_NAME[item.name], env, out_dir, extra, timeout=timeout, stream=stream, select=item.ids,
                   run_id=item.run_id)


def run_plan(plan: list[Planned], env: Environment, out_dir: Path, extra: list[str], *, jobs: int = 1,
             timeout: float | None = None, stream: bool = False, budget: int | None = None,
             say: Callable[[str, RunResult], None] | None = None) -> dict[str, RunResult]:
    """Run a plan: up to ``jobs`` runs at once, each in a child process (``python -m faults one``: its own
    proxy threads and suite; its own reports dir ``<out_dir>/<name>/``), exclusive runs alone at the end.
    With a worker ``budget`` and a numeric ``-n`` in ``extra``, each run gets ``workers_for`` workers and runs
    start while their workers together stay within the budget (``pick_next``): small runs fill the room a long
    run leaves, instead of holding four mostly idle workers each.
    With ``jobs`` 1 every run happens in this process, one after the other (``stream`` shows pytest's output).
    On Ctrl-C/SIGTERM every child gets SIGTERM (by its PID) and stops its suite and fault first."""
    results: dict[str, RunResult] = {}
    if jobs <= 1:
        for item in plan:
            res = run_planned(item, env, out_dir, extra, timeout=timeout, stream=stream)
            results[item.name] = res
            if say:
                say(item.name, res)
        return results
    most = numprocesses(extra) if budget is not None else None  # packed when both are given

    def workers(item: Planned) -> int:
        return workers_for(item, most) if most is not None else 1

    queue = [i for i in plan if not i.exclusive]
    tail = [i for i in plan if i.exclusive]
    running: dict[str, tuple[subprocess.Popen[bytes], Any, Planned, int]] = {}

    def start(item: Planned) -> None:
        rdir = out_dir / item.name
        rdir.mkdir(parents=True, exist_ok=True)
        (rdir / "run.json").unlink(missing_ok=True)
        k = workers(item)
        args = with_workers(extra, k) if most is not None else extra
        log = open(rdir / "runner.log", "wb")  # noqa: SIM115 - closed when the child ends
        running[item.name] = (subprocess.Popen(child_command(item, out_dir, args, timeout), cwd=REPO,
                                               stdout=log, stderr=subprocess.STDOUT), log, item, k)

    def reap() -> None:
        for name, (proc, log, _, _) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[name]
            res = load_result(out_dir, name) or RunResult(
                name=name, reports_dir=out_dir / name,
                setup_error=f"the run's process exited {proc.returncode} without a result "
                            f"(see {out_dir / name / 'runner.log'})")
            results[name] = res
            if say:
                say(name, res)

    def wait_below(limit: int) -> None:
        reap()
        while len(running) > limit:
            time.sleep(0.5)
            reap()

    try:
        pending = list(queue)
        while pending:  # in plan order, except that a run that does not fit yet lets a later one go first
            reap()
            ready = pick_next(pending, [(item, k) for _, _, item, k in running.values()], jobs=jobs,
                              budget=budget if most is not None else None, workers=workers)
            if ready is None:
                time.sleep(0.5)
                continue
            pending.remove(ready)
            start(ready)
        wait_below(0)
        for item in tail:
            start(item)
            wait_below(0)
    except BaseException:
        for proc, _, _, _ in running.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 240  # a replica fault removes its Deployment and waits for it
        for proc, log, _, _ in running.values():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
        raise
    return results


# ---------------------------------------------------------------------------------------------- evaluation

def _problem(status: str) -> bool:
    return status in ("failed", "error")


def evaluate(catalogue: dict[str, Case], healthy: RunResult | None,
             runs: list[tuple[Fault, RunResult]], healthy_real: RunResult | None = None) -> dict[str, Any]:
    """The fault-detection document (see docs/faults.md for the fields).

    Each fault is judged against the baseline it runs like: the proxy/CoreDNS faults against ``healthy``
    (KWOK nodes, transparent proxy), the replica faults against ``healthy-real`` (real pods, the cluster's
    DNS Service and every replica). Per fault: ``detected`` (listed and FAIL), ``missed`` (listed, not FAIL),
    ``unexpected`` (FAIL or ERROR, not listed), ``spared_broken`` (unexpected ids the fault lists as must-not).
    """
    ran = {i for r in (healthy, healthy_real, *(res for _, res in runs)) if r is not None for i in r.verdicts}
    scoped = {i for f in ([f for f, _ in runs] or list(FAULTS)) for i in f.scope}
    ids = [i for i in catalogue if i in scoped or i in ran]
    doc: dict[str, Any] = {"catalogue_ids": ids}

    def judged(res: RunResult, fault: Fault | None) -> set[str]:
        """The ids the run selected (stored with it), else the fault's scope: only these are judged."""
        chosen = res.extra.get("selected_ids")
        return set(chosen) if chosen else set(fault.scope if fault is not None else REASONED)

    def status_of(res: RunResult | None, i: str, default: str = "passed") -> str:
        if res is None:
            return default
        return res.verdicts.get(i, Verdict(ABSENT)).status

    def baseline_doc(res: RunResult) -> dict[str, Any]:
        # a FAIL the run's expectations file names (a known deviation of this platform) is not unexpected
        known = [i for i in ids if res.verdicts.get(i, Verdict(ABSENT)).known_deviation]
        unexpected = [i for i in ids if _problem(status_of(res, i)) and i not in known]
        return {
            "server": res.server, "seconds": round(res.seconds, 1), "returncode": res.returncode,
            "source": res.source, "setup_error": res.setup_error, "server_stats": res.server_stats,
            "pytest_args": res.extra.get("pytest_args"),
            "observed": {i: _verdict_json(res.verdicts.get(i)) for i in ids},
            "unexpected": unexpected, "known_deviations": known,
            "ok": not unexpected and res.setup_error is None and bool(res.verdicts),
        }

    baseline_unexpected = 0
    if healthy is not None:
        doc["healthy"] = baseline_doc(healthy)
        baseline_unexpected += len(doc["healthy"]["unexpected"])
    if healthy_real is not None:
        doc["healthy_real"] = baseline_doc(healthy_real)
        baseline_unexpected += len(doc["healthy_real"]["unexpected"])
    faults_out: list[dict[str, Any]] = []
    detected_pairs = expected_pairs = unexpected_total = 0
    caught: set[str] = set()
    runnable_any: set[str] = set()
    for fault, res in runs:
        base = healthy_real if fault.kind == "replica" and healthy_real is not None else healthy
        base_status = {i: status_of(base, i) for i in ids}
        # Only ids that PASS (INFO cases: ran, "info") in the baseline can show what a fault does; ids failing
        # there are baseline failures (reported with the baseline, never credited or blamed to a fault).
        runnable = {i for i in ids if base_status[i] in ("passed", "info")}
        runnable_any |= {i for i in runnable if catalogue[i].level in ("MUST", "SHOULD")}
        baseline = {i for i in ids if _problem(base_status[i])}
        expected = list(fault.breaks)
        applicable = [i for i in expected if i in runnable and i in judged(res, fault)]
        not_applicable = [i for i in expected if i not in applicable]
        status = {i: status_of(res, i, ABSENT) for i in ids}
        detected = [i for i in applicable if status[i] == "failed"]
        missed = [i for i in applicable if status[i] != "failed"]
        scope = judged(res, fault)
        unexpected = [i for i in ids if i in scope and i not in expected and i not in baseline and i not in fault.may
                      and _problem(status[i])]
        spared_broken = [i for i in unexpected if i in fault.spares]
        named = dict(res.extra.get("names_bad_replica") or {})
        unnamed = [i for i in detected if fault.kind == "replica" and not named.get(i)]
        removal_ok = True
        if fault.kind == "replica":
            removal_ok = bool((res.server_stats or {}).get("removed"))
        caught.update(detected)
        ok = (res.setup_error is None and bool(res.verdicts) and not missed and not unexpected and not unnamed
              and removal_ok)
        detected_pairs += len(detected)
        expected_pairs += len(applicable)
        unexpected_total += len(unexpected)
        faults_out.append({
            "name": fault.name, "kind": fault.kind, "summary": fault.summary, "origin": fault.origin,
            "description": fault.describe(), "expected": expected, "reasons": dict(fault.reasons),
            "spares": dict(fault.spares), "revised": dict(fault.revised), "may": dict(fault.may),
            "not_applicable": not_applicable,
            "detected": detected, "missed": {i: status[i] for i in missed}, "unexpected": unexpected,
            "spared_broken": spared_broken, "unnamed_replica": unnamed, "replica_removed": removal_ok,
            "observed": {i: _verdict_json(res.verdicts.get(i)) for i in ids},
            "ok": ok, "seconds": round(res.seconds, 1), "returncode": res.returncode, "server": res.server,
            "server_stats": res.server_stats, "setup_error": res.setup_error, "source": res.source,
            "pytest_args": res.extra.get("pytest_args"), "baseline": HEALTHY_REAL if base is healthy_real
            and healthy_real is not None else HEALTHY,
        })
    doc["faults"] = faults_out
    if not runs:
        base_res = healthy
        runnable_any = {i for i in ids if catalogue[i].level in ("MUST", "SHOULD")
                        and status_of(base_res, i) in ("passed", "info")}
    must = [i for i in ids if i in runnable_any]
    percent = 100.0 * detected_pairs / expected_pairs if expected_pairs else 0.0
    baselines_ok = all(doc[k]["ok"] for k in ("healthy", "healthy_real") if k in doc)
    doc["score"] = {
        "detected": detected_pairs, "expected": expected_pairs, "percent": round(percent, 1),
        "missed": expected_pairs - detected_pairs,
        "faults_ok": sum(1 for f in faults_out if f["ok"]), "faults": len(faults_out),
        "unexpected_failures": unexpected_total + baseline_unexpected,
        "setup_errors": sum(1 for f in faults_out if f["setup_error"]),
    }
    doc["coverage"] = {
        "checked_ids": must,
        "caught_by_some_fault": [i for i in must if i in caught],
        "not_caught": [i for i in must if i not in caught],
        "not_runnable_here": [i for i in ids if i not in runnable_any and catalogue[i].level != "INFO"],
        "baseline_failures": [i for i in ids if "healthy" in doc and i in doc["healthy"]["unexpected"]],
        "known_deviations": sorted({i for k in ("healthy", "healthy_real") if k in doc
                                    for i in doc[k]["known_deviations"]}),
    }
    doc["ok"] = bool(faults_out) and baselines_ok and percent == 100.0 and doc["score"]["unexpected_failures"] == 0 \
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


def _baselines(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    if "healthy" in doc:
        out.append((HEALTHY, "transparent proxy, KWOK nodes", doc["healthy"]))
    if "healthy_real" in doc:
        out.append((HEALTHY_REAL, "real pods, DNS Service + replicas", doc["healthy_real"]))
    return out


def _result(f: dict[str, Any]) -> str:
    if f["setup_error"]:
        return "SET-UP ERROR"
    if f["ok"]:
        return "ok"
    why = []
    if f["missed"]:
        why.append(f"{len(f['missed'])} missed")
    if f["unexpected"]:
        why.append(f"{len(f['unexpected'])} unexpected")
    if f.get("unnamed_replica"):
        why.append("bad replica not named")
    if not f.get("replica_removed", True):
        why.append("replica NOT removed")
    return "FAIL (" + ", ".join(why or ["no verdicts"]) + ")"


def table_lines(doc: dict[str, Any]) -> list[str]:
    """Plain-text table for the terminal: fault, expected ids with verdicts, missed, unexpected, result."""
    rows = [("fault", "kind", "expected ids -> observed", "missed", "unexpected", "time", "result")]
    for name, _, b in _baselines(doc):
        rows.append((name, "baseline", "(none expected)", "-", _list(b["unexpected"], b["observed"]),
                     f"{b['seconds']:.0f}s", "ok" if b["ok"] else "FAIL"))
    for f in doc["faults"]:
        exp = " ".join(f"{_short(i)}:{SYMBOL.get(f['observed'][i]['status'], '?')}" for i in f["expected"])
        rows.append((f["name"], f["kind"], exp, _list(list(f["missed"]), f["observed"]),
                     _list(f["unexpected"], f["observed"]), f"{f['seconds']:.0f}s", _result(f)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[c]) for c, cell in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    s = doc["score"]
    lines.append("")
    lines.append(f"detection: {s['detected']}/{s['expected']} expected (fault, id) pairs FAIL = {s['percent']}%; "
                 f"missed: {s['missed']}; unexpected failures/errors: {s['unexpected_failures']}; faults fully as "
                 f"listed: {s['faults_ok']}/{s['faults']}; set-up errors: {s['setup_errors']}")
    lines.append("verdicts: F failed, P passed, E error, S skipped, I info (INFO case ran), "
                 "- absent (not run, e.g. a slow case of a fault that cannot touch them)")
    return lines


def _list(ids: list[str], observed: dict[str, dict[str, str]]) -> str:
    return " ".join(f"{_short(i)}:{SYMBOL.get(observed[i]['status'], '?')}" for i in ids) or "-"


def markdown(doc: dict[str, Any]) -> str:
    s = doc["score"]
    out = ["# Fault detection", "",
           f"Generated {doc.get('generated_at', '')} by `{doc.get('command', 'python -m faults run')}`"
           + (f" (wall time {doc['wall_seconds']:.0f} s, {doc.get('jobs', 1)} run(s) at once)"
              if doc.get("wall_seconds") else "") + ".", "",
           f"**Detection: {s['detected']}/{s['expected']} = {s['percent']} %** of the expected (fault, id) pairs "
           f"ended FAIL; missed: {s['missed']}; unexpected failures/errors: {s['unexpected_failures']}; faults "
           f"exactly as listed: {s['faults_ok']}/{s['faults']}; set-up errors: {s['setup_errors']}. Overall: "
           f"**{'PASS' if doc['ok'] else 'FAIL'}**.", "",
           "| run | kind | expected ids -> observed | missed | unexpected | time | result |",
           "|---|---|---|---|---|---|---|"]
    for name, what, b in _baselines(doc):
        out.append(f"| {name} ({what}) | baseline | none | - | {_list(b['unexpected'], b['observed'])} | "
                   f"{b['seconds']} s | {'ok' if b['ok'] else 'FAIL'} |")
    for f in doc["faults"]:
        exp = " ".join(f"{_short(i)}:{SYMBOL.get(f['observed'][i]['status'], '?')}" for i in f["expected"])
        out.append(f"| `{f['name']}` | {f['kind']} | {exp} | {_list(list(f['missed']), f['observed'])} | "
                   f"{_list(f['unexpected'], f['observed'])} | {f['seconds']} s | {_result(f)} |")
    out += ["", "Verdicts: F failed, P passed, E error, S skipped, I info (INFO case ran), - absent (not run).", "",
            "## Verdict matrix", ""]
    ids = doc["catalogue_ids"]
    out.append("| run | " + " | ".join(_short(i) for i in ids) + " |")
    out.append("|---|" + "---|" * len(ids))
    runs: list[tuple[str, dict[str, Any], list[str]]] = [(n, b["observed"], []) for n, _, b in _baselines(doc)]
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
               f"not runnable here (skipped/absent in the baselines): "
               f"{', '.join(cov['not_runnable_here']) or 'none'}.")
    problems = [f for f in doc["faults"] if not f["ok"]]
    baseline_bad = [(n, b) for n, _, b in _baselines(doc) if b["unexpected"]]
    if problems or baseline_bad:
        out += ["", "## Unexpected, missed and other problems", ""]
        for n, b in baseline_bad:
            for i in b["unexpected"]:
                out.append(f"- {n} {i} ({b['observed'][i]['status']}): {_msg(b['observed'][i])}")
        for f in problems:
            for i in f["unexpected"]:
                must_not = " (listed as must-not: " + f["spares"][i] + ")" if i in f["spares"] else ""
                out.append(f"- `{f['name']}` unexpected {i} ({f['observed'][i]['status']}){must_not}: "
                           f"{_msg(f['observed'][i])}")
            for i, st in f["missed"].items():
                out.append(f"- `{f['name']}` missed {i} ({st}); reason it must FAIL: {f['reasons'].get(i, '')}")
            for i in f.get("unnamed_replica") or []:
                out.append(f"- `{f['name']}` {i} FAILed without naming the bad replica")
            if not f.get("replica_removed", True):
                out.append(f"- `{f['name']}` the bad replica was NOT removed: {f['server_stats']}")
            if f["setup_error"]:
                out.append(f"- `{f['name']}` set-up error: {f['setup_error'][:300]}")
    out += ["", "## The reasoned lists", "",
            "Per fault: every id it must turn into FAIL with the reason (from the catalogue, the tests' checks and "
            "the answer-integrity rules), the observed verdict, and the ids it must not break although it comes "
            "close. Every id not listed must not FAIL either.", ""]
    for f in doc["faults"]:
        out += [f"### `{f['name']}` ({f['kind']})", "", f["description"], ""]
        out += ["| id | must FAIL because | observed |", "|---|---|---|"]
        for i in f["expected"]:
            out.append(f"| {i} | {f['reasons'].get(i, '')} | {SYMBOL.get(f['observed'][i]['status'], '?')} |")
        if f["spares"]:
            out += ["", "| id | must NOT fail because | observed |", "|---|---|---|"]
            for i, why in f["spares"].items():
                out.append(f"| {i} | {why} | {SYMBOL.get(f['observed'].get(i, {}).get('status', ABSENT), '?')} |")
        if f.get("may"):
            out += ["", "| id | either verdict is right because | observed |", "|---|---|---|"]
            for i, why in f["may"].items():
                out.append(f"| {i} | {why} | {SYMBOL.get(f['observed'].get(i, {}).get('status', ABSENT), '?')} |")
        if f["revised"]:
            out += ["", "Revised after a run:", ""] + [f"- {i}: {why}" for i, why in f["revised"].items()]
        out.append("")
    return "\n".join(out) + "\n"


def _msg(observed: dict[str, str]) -> str:
    return " ".join(observed.get("message", "").split())[:300]


def write_reports(doc: dict[str, Any], reports: Path, stem: str = "fault-detection") -> tuple[Path, Path]:
    reports.mkdir(parents=True, exist_ok=True)
    doc.setdefault("generated_at", datetime.now(UTC).isoformat(timespec="seconds"))
    js, md = reports / f"{stem}.json", reports / f"{stem}.md"
    js.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    md.write_text(markdown(doc))
    return js, md
