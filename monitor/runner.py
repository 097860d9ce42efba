"""The monitor run against a cluster: the reference workload, resolver streams, the API poller, the judge loop.

Threads (all stop on one event):

* one **stream** per (resolver pod, target): its own exec session into the resolver pod (the suite's
  ``Resolver``), one batch of every question per round at ``--rate`` rounds per second, so a target that
  stops answering slows only its own stream;
* the **API poller**: the reference Service's EndpointSlices and the StatefulSet's pods every
  ``--api-interval`` seconds (the state history the judge reads, the pod events of time to resolve), and
  the ready endpoints of the DNS Service (the replica targets);
* optionally the **time-to-resolve prober** (``--ttr-probes N``): scales the StatefulSet up by one pod and
  back, with and without asking the new name before the pod exists;
* the main thread judges the answers (once the API history covers them), keeps the streams in line with
  the DNS replicas, prints progress, writes the status file, and on the end (duration, Ctrl-C, SIGTERM)
  stops everything, writes the reports and removes what it created.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from fixtures.dns.fingerprint import preflight
from fixtures.dns.integrity import Integrity
from fixtures.dns.model import Query, QueryResult, Transport
from fixtures.dns.resolver import Resolver, Target
from fixtures.kube import cleanup
from fixtures.kube.api import ClusterAccessError, api_error_text
from fixtures.kube.endpoints import EndpointView
from fixtures.kube.facts import ClusterFacts, dns_replicas
from fixtures.kube.namespace import CaseNamespace, create_namespace, delete_namespace, namespace_name
from fixtures.options import Settings
from fixtures.paths import suite_version
from fixtures.verdict import HarnessError

from .aggregate import Aggregator, Thresholds, gate_results, summary_line
from .console import Console
from .judge import Judge, Question, StateHistory, answer_text, negative
from .model import Sample, StreamKey
from .report import SCHEMA
from .ttr import SERVICE_TARGET, PodInfo, TimeToResolve

SVC = "my-headless-service"
STS = "web"
APP_LABELS = {"app": "web"}
RESOLVER_LABEL = ("hsdns.io/monitor", "resolver")
MAX_NOTES = 200
STALL_JUDGE_AFTER = 20.0  # judge answers with the last known API state when the API poller is stuck this long


@dataclass
class Options:
    duration: float = 0.0  # 0: until stopped
    rate: float = 5.0
    replicas: int = 3
    resolvers: int = 2
    grace: float | None = None  # None: auto
    api_interval: float = 0.2
    query_timeout: float = 2.0
    transports: tuple[str, ...] = ("udp",)
    merge_gap: float = 2.0
    json_path: Path | None = None
    html_path: Path | None = None
    status_path: Path | None = None
    progress: float = 10.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    ttr_probes: int = 0
    ttr_timeout: float = 60.0
    keep: bool = False
    until_file: Path | None = None  # the run ends (normally: gates decide) once this file exists

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_json() if isinstance(v, Thresholds) else (str(v) if isinstance(v, Path) else v)
        out["grace"] = "auto" if self.grace is None else self.grace
        out["transports"] = list(self.transports)
        return out


@dataclass
class Stream:
    """One resolver pod asking every question of one target."""

    resolver: str
    target: Target
    offset: float
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    ready: bool = False
    rounds: int = 0
    stopped_at: float | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        return self.resolver, self.target.host, self.target.port


@dataclass(frozen=True)
class Raw:
    t: float
    resolver: str
    target: Target
    question: Question
    result: QueryResult


class Stopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM) while it was setting up."""


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.timestamp()
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def pod_info(pod: Any) -> PodInfo:
    conds = {c.type: c for c in (pod.status.conditions or [])} if pod.status else {}
    ready = conds.get("Ready")
    ips = tuple(str(ip.ip) for ip in (pod.status.pod_ips or []) if ":" not in str(ip.ip)) if pod.status else ()
    if not ips and pod.status and pod.status.pod_ip and ":" not in pod.status.pod_ip:
        ips = (str(pod.status.pod_ip),)
    deletion = _ts(pod.metadata.deletion_timestamp)
    if deletion is not None:
        deletion -= float(pod.metadata.deletion_grace_period_seconds or 0)
    return PodInfo(name=pod.metadata.name, uid=pod.metadata.uid, ready=bool(ready and ready.status == "True"),
                   ipv4=ips, ready_since=_ts(ready.last_transition_time) if ready is not None else None,
                   deletion_requested=deletion)


def describe_change(old: EndpointView | None, new: EndpointView) -> str:
    """A short text of what changed between two API states (for the report)."""
    def by_pod(v: EndpointView | None) -> dict[str, tuple[str, bool, tuple[str, ...]]]:
        out: dict[str, tuple[str, bool, tuple[str, ...]]] = {}
        for ep in (v.endpoints if v else []):
            name = ep.hostname or ep.pod or ",".join(ep.addresses)
            prev = out.get(name)
            addrs = tuple(sorted(set((prev[2] if prev else ()) + ep.addresses)))
            out[name] = (ep.pod or "", ep.ready and (prev[1] if prev else True), addrs)
        return out
    a, b = by_pod(old), by_pod(new)
    parts = []
    for name in sorted(set(a) | set(b)):
        if name not in a:
            parts.append(f"{name} added ({'ready' if b[name][1] else 'not ready'} {' '.join(b[name][2])})")
        elif name not in b:
            parts.append(f"{name} removed")
        elif a[name] != b[name]:
            what = []
            if a[name][1] != b[name][1]:
                what.append("ready" if b[name][1] else "not ready")
            if a[name][2] != b[name][2]:
                what.append("addresses " + " ".join(b[name][2]))
            parts.append(f"{name} {', '.join(what) or 'changed'}")
    return "; ".join(parts) or "EndpointSlices rewritten (same endpoints)"


def resolver_pod_body(api: k8s.ApiClient, namespace: str, name: str, settings: Settings) -> dict[str, Any]:
    """The suite's resolver pod (``Resolver.pod_body``), labelled for the monitor and spread over nodes where
    possible (preferred pod anti-affinity on the hostname)."""
    affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {RESOLVER_LABEL[0]: RESOLVER_LABEL[1]}},
                                           "topologyKey": "kubernetes.io/hostname"}}]}}
    body = Resolver(api, settings, namespace, "", 53, name=name, spec={"affinity": affinity}).pod_body()
    body["metadata"]["labels"][RESOLVER_LABEL[0]] = RESOLVER_LABEL[1]
    return body


class Monitor:
    def __init__(self, api: k8s.ApiClient, settings: Settings, facts: ClusterFacts, opts: Options,
                 console: Console, *, run_id: str | None = None,
                 new_api: Callable[[], k8s.ApiClient] | None = None) -> None:
        self.api = api
        # The client's exec (kubernetes.stream) swaps the request method of the ApiClient it runs on while
        # the stream is open, so every thread that runs an exec, or runs beside one, has a client of its own.
        self.new_api = new_api or (lambda: api)
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.settings = dataclasses.replace(settings, query_timeout=opts.query_timeout)
        self.facts = facts
        self.opts = opts
        self.console = console
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.stop = threading.Event()
        self.stop_reason = ""
        self.phase = "setup"
        self.ns_name = namespace_name(self.run_id, "mon", "monitor")
        self.anchor = namespace_name(self.run_id, "mon", "anchor")
        self.ns: CaseNamespace | None = None
        self.heartbeat: cleanup.Heartbeat | None = None
        self.created: list[str] = []
        self.resolver_pods: dict[str, str] = {}  # name -> node
        self.service_target = Target(facts.dns_server, facts.dns_port, SERVICE_TARGET)
        self.query_replicas = (not settings.dns_server and settings.query_replicas != "never"
                               and facts.real_kubelet and bool(facts.dns_service))
        self.family = 6 if ":" in facts.dns_server else 4
        self.questions: tuple[Question, ...] = ()
        self.families: list[str] = []
        self.fqdn = ""
        self.history = StateHistory()
        self.judge = Judge(self.history, Integrity(zone=facts.cluster_domain, max_ttl=settings.max_ttl),
                           opts.grace, lookahead=2 * opts.api_interval + 0.5)
        self.replica_history: list[tuple[float, frozenset[tuple[str, int, str]]]] = []
        self.replica_covered = 0.0
        self._replica_lock = threading.Lock()
        self.streams: dict[tuple[str, str, int], Stream] = {}
        self.retiring: list[tuple[float, list[StreamKey]]] = []
        self.raw: queue.Queue[Raw] = queue.Queue()
        self.pending: list[Raw] = []
        self.t0 = time.time()
        self.agg = Aggregator(self.t0)
        self.ttr: TimeToResolve | None = None
        self.api_changes: list[dict[str, Any]] = []
        self.replica_changes: list[dict[str, Any]] = []
        self.targets_seen: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.last_bad = 0.0
        self.judged_until = 0.0
        self.api_errors = 0
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._threads: list[threading.Thread] = []
        self.setup_s = 0.0
        self.preflight_notes: dict[str, Any] = {}
        self._ttr_ns: CaseNamespace | None = None

    # ---------------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(f"+{time.time() - self.t0:.1f}s {text}")

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped(self.stop_reason)

    # -- setup -------------------------------------------------------------------------------------
    def setup(self) -> None:
        t = time.monotonic()
        try:
            dead = cleanup.dead_runs(self.core, stale_after=self.settings.stale_after, except_run=self.run_id)
            names = [m.name for members in dead.values() for m in members if not m.terminating]
            if names:
                cleanup.delete(self.core, names)
                self.console.say(f"hsdns monitor: removed {len(names)} namespace(s) of {len(dead)} run(s) with no "
                                 f"heartbeat for {self.settings.stale_after:.0f}s")
        except Exception as exc:  # bookkeeping never stops a run that can otherwise work
            self.console.say(f"hsdns monitor: stale-run sweep failed: {exc}")
        create_namespace(self.core, self.anchor, self.run_id, "monitor", "anchor")
        self.created.append(self.anchor)
        self.heartbeat = cleanup.Heartbeat(k8s.CoreV1Api(self.new_api()), self.anchor).start()
        create_namespace(self.core, self.ns_name, self.run_id, "monitor", "monitor")
        self.created.append(self.ns_name)
        ns = self.ns = CaseNamespace(self.api, self.settings, self.ns_name, self.facts.cluster_domain,
                                     case_id="monitor", run_id=self.run_id)
        self.console.say(f"hsdns monitor: namespace {self.ns_name}: headless Service {SVC}, StatefulSet {STS} "
                         f"({self.opts.replicas} pods), {self.opts.resolvers} resolver pod(s)")
        ns.headless_service(SVC, selector=dict(APP_LABELS), ip_family_policy="PreferDualStack")
        ns.statefulset(STS, service_name=SVC, replicas=self.opts.replicas, labels=dict(APP_LABELS))
        for i in range(self.opts.resolvers):
            name = f"hsdns-resolver-{i}"
            try:
                self.core.create_namespaced_pod(self.ns_name, resolver_pod_body(self.api, self.ns_name, name,
                                                                                self.settings), _request_timeout=30)
            except ApiException as exc:
                raise HarnessError(f"creating resolver pod {name}: {api_error_text(exc)}") from None
        self._check_stop()
        pods = ns.wait_pods_running(f"{RESOLVER_LABEL[0]}={RESOLVER_LABEL[1]}", self.opts.resolvers,
                                    what="resolver pods")
        self.resolver_pods = {p.metadata.name: p.spec.node_name for p in pods}
        self._check_stop()
        ns.wait_statefulset(STS, self.opts.replicas)
        view = ns.wait_endpoints(SVC, lambda v: {e.hostname for e in v.ready()} >= {
            f"{STS}-{i}" for i in range(self.opts.replicas)}, what=f"{self.opts.replicas} ready endpoints")
        self._check_stop()
        svc = self.core.read_namespaced_service(SVC, self.ns_name, _request_timeout=30)
        self.families = list(svc.spec.ip_families or ["IPv4"])
        self.fqdn = view.fqdn
        self.questions = self.base_questions()
        self.ttr = TimeToResolve(self.fqdn, timeout=self.opts.ttr_timeout)
        # the DNS server must answer from a resolver pod (as the suite's preflight); it is named by its answers
        first = sorted(self.resolver_pods)[0]
        res = Resolver(self.new_api(), self.settings, self.ns_name, self.facts.dns_server, self.facts.dns_port,
                       name=first).start()
        try:
            pf = preflight(res, self.facts.cluster_domain, self.facts.kubernetes_service_ips)
        finally:
            res.close()
        if not pf.reachable:
            raise ClusterAccessError(f"the DNS server {res.where} does not answer from a resolver pod ({pf.error}). "
                                     "Fix: pass --dns-server HOST[:PORT], or check the cluster DNS Service and its "
                                     "pods")
        self.facts.dns_implementation, self.facts.dns_version = pf.implementation, pf.version
        self.preflight_notes = {"notes": pf.notes, "fingerprint": pf.evidence, "session": res.session_note}
        self.setup_s = round(time.monotonic() - t, 1)

    def base_questions(self) -> tuple[Question, ...]:
        v6 = "IPv6" in self.families
        v4 = "IPv4" in self.families
        types = [t for t, on in (("A", v4), ("AAAA", v6)) if on]
        out: list[Question] = []
        for tr in self.opts.transports:
            transport = cast(Transport, tr)
            out += [Question(Query(self.fqdn, t, transport)) for t in types]
            out.append(Question(Query(f"_http._tcp.{self.fqdn}", "SRV", transport)))
            for i in range(self.opts.replicas):
                host = f"{STS}-{i}"
                out += [Question(Query(f"{host}.{self.fqdn}", t, transport), host) for t in types]
        return tuple(out)

    # -- targets -----------------------------------------------------------------------------------
    def replica_targets(self) -> list[Target]:
        with self._replica_lock:
            current = self.replica_history[-1][1] if self.replica_history else frozenset()
        return [Target.replica(a, p, pod) for a, p, pod in sorted(current)]

    def targets(self) -> list[Target]:
        return [self.service_target, *self.replica_targets()]

    def replica_ok(self, target: Target, t: float) -> bool:
        """A replica's answer is judged only while the replica is a ready endpoint of the DNS Service around
        ``t`` (before it leaves, the monitor may still ask a pod that is shutting down)."""
        if target.label == SERVICE_TARGET:
            return True
        lo, hi = t - self.opts.api_interval, t + self.judge.lookahead
        with self._replica_lock:
            states = self.replica_history
            for i, (since, members) in enumerate(states):
                until = states[i + 1][0] if i + 1 < len(states) else float("inf")
                if since <= hi and until > lo and (target.host, target.port) not in {(a, p) for a, p, _ in members}:
                    return False
        return True

    # -- threads -----------------------------------------------------------------------------------
    def _api_loop(self) -> None:
        assert self.ttr is not None
        api = self.new_api()
        ns = CaseNamespace(api, self.settings, self.ns_name, self.facts.cluster_domain)
        prev_view: EndpointView | None = None
        while not self.stop.is_set():
            t0 = time.time()
            try:
                view = ns.endpoints(SVC)
                pods = ns.list_pods(",".join(f"{k}={v}" for k, v in APP_LABELS.items()))
                replicas = frozenset(dns_replicas(api, self.facts, self.family)) if self.query_replicas \
                    else frozenset()
                t1 = time.time()
                self.ttr.on_pods([pod_info(p) for p in pods], t0, t1)
                with self._replica_lock:
                    if not self.replica_history or self.replica_history[-1][1] != replicas:
                        before = self.replica_history[-1][1] if self.replica_history else frozenset()
                        self.replica_history.append((t1, replicas))
                        if self.replica_history[:-1]:
                            self.replica_changes.append({
                                "t": round(t1, 3), "t_s": round(t1 - self.t0, 3),
                                "added": sorted(f"{pod} {a}" for a, _, pod in replicas - before),
                                "removed": sorted(f"{pod} {a}" for a, _, pod in before - replicas)})
                    self.replica_covered = t0
                new = self.history.observe(view.key(), view, t0, t1)
                if new is not None:
                    if prev_view is not None:
                        self.api_changes.append({"t": round(t1, 3), "t_s": round(t1 - self.t0, 3),
                                                 "state": new.index, "what": describe_change(prev_view, view)})
                    prev_view = view
                self.api_errors = 0
            except Exception as exc:  # the API may be unavailable for a while (an upgrade): keep asking
                self.api_errors += 1
                if self.api_errors in (1, 10, 100) or self.api_errors % 1000 == 0:
                    self.note(f"API poll failed ({self.api_errors}x): {type(exc).__name__}: {str(exc)[:200]}")
            self.stop.wait(max(0.0, t0 + self.opts.api_interval - time.time()))

    def _stream_loop(self, st: Stream) -> None:
        # --rate answers per second per name at each target, shared by the resolver pods (staggered)
        interval = max(1, len(self.resolver_pods)) / self.opts.rate
        if self.stop.wait(st.offset):
            return
        res: Resolver | None = None
        api = self.new_api()
        next_t = time.monotonic()
        failures = 0
        while not (self.stop.is_set() or st.stop.is_set()):
            if res is None:
                try:
                    res = Resolver(api, self.settings, self.ns_name, st.target.host, st.target.port,
                                   name=st.resolver).start()
                    if res.session is None:
                        self.note(f"{st.resolver} -> {st.target.label}: {res.session_note}")
                    st.ready = True
                    failures = 0
                except Exception as exc:
                    failures += 1
                    self.note(f"{st.resolver} -> {st.target.label}: session start failed: {str(exc)[:200]}")
                    res = None
                    if self.stop.wait(min(10.0, 1.0 * failures)):
                        break
                    continue
            questions = self.questions
            t_send = time.time()
            try:
                results = res.run([q.query for q in questions])
            except Exception as exc:
                st.ready = False
                self.note(f"{st.resolver} -> {st.target.label}: session failed, restarting: {str(exc)[:200]}")
                res.close()
                res = None
                continue
            t_recv = time.time()
            starts = [r.started_at for r in results if r.started_at]
            base = min(starts) if starts else 0.0
            for q, r in zip(questions, results, strict=True):
                offset = min(max(r.started_at - base, 0.0), t_recv - t_send) if r.started_at and base else 0.0
                self.raw.put(Raw(t_send + offset, st.resolver, st.target, q, r))
            st.rounds += 1
            next_t += interval
            now = time.monotonic()
            if next_t < now:  # a slow round (a target timing out): keep the rate from here, never catch up
                next_t = now
            if self.stop.wait(next_t - now):
                break
        st.ready = False
        if res is not None:
            res.close()

    def reconcile_streams(self) -> None:
        want = {(r, t.host, t.port): t for r in sorted(self.resolver_pods) for t in self.targets()}
        for i, (key, target) in enumerate(sorted(want.items())):
            if key in self.streams:
                continue
            r_index = sorted(self.resolver_pods).index(key[0])
            st = Stream(key[0], target, offset=r_index / self.opts.rate + 0.01 * (i % 10))
            st.thread = threading.Thread(target=self._stream_loop, args=(st,), daemon=True,
                                         name=f"stream-{key[0]}-{target.host}")
            self.streams[key] = st
            st.thread.start()
            self.targets_seen.setdefault(target.label, {"label": target.label, "address": target.where,
                                                        "first_s": round(time.time() - self.t0, 3)})
        for key in [k for k in self.streams if k not in want]:
            st = self.streams.pop(key)
            st.stop.set()
            st.stopped_at = time.time()
            self.targets_seen.setdefault(st.target.label, {})["last_s"] = round(st.stopped_at - self.t0, 3)
            self.retiring.append((st.stopped_at, [StreamKey(st.resolver, st.target.label, q.query.name,
                                                            q.query.rdtype, q.query.transport)
                                                  for q in self.questions]))

    def set_questions(self, questions: tuple[Question, ...]) -> None:
        removed = [q for q in self.questions if q not in questions]
        self.questions = questions
        if removed:
            keys = [StreamKey(st.resolver, st.target.label, q.query.name, q.query.rdtype, q.query.transport)
                    for st in self.streams.values() for q in removed]
            self.retiring.append((time.time(), keys))

    # -- time to resolve probes ----------------------------------------------------------------------
    def _wait(self, cond: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.stop.is_set() and time.monotonic() < deadline:
            if cond():
                return True
            self.stop.wait(0.1)
        return cond()

    def _ttr_loop(self) -> None:
        self._wait(lambda: self.agg.queries > 0 and self.agg.open_spans() == 0, 30)
        for k in range(self.opts.ttr_probes):
            if self.stop.is_set() or not self._ttr_cycle(k):
                return
            # until no cache can still hold an answer about the name (before the next, perhaps fresh, cycle)
            self.stop.wait(self.judge.effective_grace() + 2)

    def _ttr_cycle(self, k: int) -> bool:
        """One probe: web-<replicas> is created (its name asked before: primed; or only once Ready: fresh),
        measured until every target answers it, then removed and measured until no target answers it."""
        assert self.ttr is not None
        ttr = self.ttr
        if self._ttr_ns is None:
            self._ttr_ns = CaseNamespace(self.new_api(), self.settings, self.ns_name, self.facts.cluster_domain)
        ns = self._ttr_ns
        base = self.opts.replicas
        pod = f"{STS}-{base}"
        probe_q = tuple(Question(Query(f"{pod}.{self.fqdn}", "A", cast(Transport, tr)), pod, wanted=False)
                        for tr in self.opts.transports)
        label = "primed" if k % 2 == 0 else "fresh"
        ttr.prime_window = self.judge.effective_grace()
        if label == "primed":
            self.set_questions(self.questions + probe_q)
            if self.stop.wait(3.0):
                return False
        ttr.probe_labels[pod] = label
        t_scale = time.time()
        try:
            ns.scale_statefulset(STS, base + 1)
        except HarnessError as exc:
            self.note(f"time-to-resolve probe: {exc}")
            return False

        def ready_event() -> bool:
            ev = ttr.pending(pod, "ready")
            return ev is not None and ev.t >= t_scale - 1
        if not self._wait(ready_event, self.settings.rollout_timeout):
            self.note(f"time-to-resolve probe {k + 1}: {pod} did not become Ready")
        if label == "fresh":
            self.set_questions(self.questions + probe_q)
        up = ttr.pending(pod, "ready")
        self._wait(lambda: up is None or up.done, self.opts.ttr_timeout + 5)
        self.stop.wait(1.0)
        t_down = time.time()
        try:
            ns.scale_statefulset(STS, base)
        except HarnessError as exc:
            self.note(f"time-to-resolve probe: {exc}")
            return False

        def deleted_event() -> bool:
            d = ttr.pending(pod, "deleted")
            return d is not None and d.t >= t_down - 1 and d.done
        self._wait(deleted_event, self.opts.ttr_timeout + 10)
        self.set_questions(tuple(q for q in self.questions if q not in probe_q))
        return not self.stop.is_set()

    # -- the main loop -------------------------------------------------------------------------------
    def judge_pending(self, *, final: bool = False) -> None:
        while True:
            try:
                self.pending.append(self.raw.get_nowait())
            except queue.Empty:
                break
        if not self.pending:
            return
        stalled = time.time() - self.history.covered_until > STALL_JUDGE_AFTER
        keep: list[Raw] = []
        for raw in self.pending:
            covered = self.judge.ready(raw.t) and self.replica_covered >= raw.t + self.judge.lookahead
            if not (final or stalled or covered):
                keep.append(raw)
                continue
            self._judge_one(raw)
        self.pending = keep

    def _judge_one(self, raw: Raw) -> None:
        if not self.replica_ok(raw.target, raw.t):
            self.agg.retired += 1
            return
        q, r = raw.question, raw.result
        kind, problems, converging = self.judge.classify(q, r, raw.t)
        key = StreamKey(raw.resolver, raw.target.label, q.query.name, q.query.rdtype, q.query.transport)
        s = Sample(raw.t, key, kind, answer_text(r), problems, r.duration_s, converging)
        self.agg.add(s)
        self.judged_until = max(self.judged_until, raw.t)
        if s.bad:
            self.last_bad = max(self.last_bad, raw.t)
        if self.ttr is not None and r.rcode is not None:
            self.ttr.on_answer(q.query.name, q.query.rdtype, raw.target.label, raw.t, r.rdata_keys(), negative(r))

    def status(self) -> dict[str, Any]:
        now = time.time()
        targets = self.targets()
        return {"t": round(now, 3), "elapsed_s": round(now - self.t0, 3), "phase": self.phase,
                "queries": self.agg.queries, "incidents": len(self.agg.incidents(self.opts.merge_gap)),
                "open_spans": self.agg.open_spans(), "last_bad": round(self.last_bad, 3) if self.last_bad else None,
                "judged_until": round(self.judged_until, 3), "pending": len(self.pending),
                "targets": len(targets), "target_labels": [t.label for t in targets],
                "streams": len(self.streams), "streams_ready": sum(1 for s in self.streams.values() if s.ready),
                "answered": {t.label: self.agg.per_target[t.label].kinds.get("ok", 0)
                             for t in targets if t.label in self.agg.per_target},
                "ttr_events": self.ttr.recent() if self.ttr is not None else [],
                "namespace": self.ns_name, "run_id": self.run_id}

    def write_status(self) -> None:
        if self.opts.status_path is None:
            return
        path = self.opts.status_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.status()) + "\n")
        tmp.replace(path)

    def run(self) -> None:
        """Monitor until the duration is over or ``stop`` is set."""
        assert self.ttr is not None
        self.phase = "monitor"
        self.t0 = time.time()
        self.agg = Aggregator(self.t0)
        api_thread = threading.Thread(target=self._api_loop, daemon=True, name="api-poller")
        api_thread.start()
        self._threads.append(api_thread)
        self._wait(lambda: bool(self.history.states) and (bool(self.replica_history) or not self.query_replicas), 30)
        self.reconcile_streams()
        if self.opts.ttr_probes:
            probe = threading.Thread(target=self._ttr_loop, daemon=True, name="ttr-prober")
            probe.start()
            self._threads.append(probe)
        end = self.t0 + self.opts.duration if self.opts.duration > 0 else None
        probes = self._threads[-1] if self.opts.ttr_probes else None
        last_tick = 0.0
        while not self.stop.is_set():
            now = time.time()
            if end is not None and now >= end:
                self.stop_reason = "duration reached"
                break
            if end is None and probes is not None and not probes.is_alive():
                self.stop_reason = "time-to-resolve probes done"
                break
            if self.opts.until_file is not None and self.opts.until_file.exists():
                self.stop_reason = f"{self.opts.until_file} appeared"
                break
            self.judge_pending()
            if now - last_tick >= 0.5:
                last_tick = now
                self.reconcile_streams()
                self._retire_due()
                self.ttr.prime_window = self.judge.effective_grace()
                self.ttr.close([t.label for t in self.targets()], now)
                self.write_status()
                self.console.progress(self.status())
            self.stop.wait(0.1)
        self.phase = "stopping"
        self.stop.set()
        self.finished_at = time.time()
        for st in list(self.streams.values()):
            st.stop.set()
        for st in list(self.streams.values()):
            if st.thread is not None:
                st.thread.join(timeout=5 + 2 * self.opts.query_timeout * len(self.questions))
        for th in self._threads:
            th.join(timeout=10)
        self.judge_pending(final=True)
        self.ttr.close([t.label for t in self.targets()], time.time(), final=True)
        self.write_status()
        self.console.progress(self.status(), force=True)
        self.console.done()

    def _retire_due(self) -> None:
        due = [item for item in self.retiring if item[0] + self.judge.lookahead + 5 < self.history.covered_until]
        for item in due:
            self.agg.retire(item[1])
            self.retiring.remove(item)

    # -- the end -------------------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Remove what the run created (unless --keep); returns the namespaces still there."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.opts.keep:
            if self.created:
                self.console.say(f"hsdns monitor: keeping namespace(s) {', '.join(self.created)} (--keep); remove "
                                 f"them with: python -m fixtures.kube.cleanup --run-id {self.run_id}")
            return []
        left = []
        for name in reversed(self.created):
            try:
                delete_namespace(self.core, name, self.settings.rollout_timeout, wait=False)
            except Exception as exc:
                self.console.say(f"hsdns monitor: could not delete namespace {name}: {exc}")
        for name in reversed(self.created):
            try:
                delete_namespace(self.core, name, self.settings.rollout_timeout, wait=True)
            except Exception as exc:
                left.append(name)
                self.console.say(f"hsdns monitor: namespace {name} not gone: {exc}")
        return left

    def document(self, exit_status: int | None, interrupted: bool) -> dict[str, Any]:
        end = self.finished_at or time.time()
        figures = self.agg.figures(self.opts.merge_gap)
        gates = gate_results(figures, self.opts.thresholds)
        elapsed = max(0.0, end - self.t0)
        line = summary_line(figures, gates, elapsed, interrupted)
        incidents = [i.to_json(self.t0) for i in self.agg.incidents(self.opts.merge_gap)]
        for label, info in self.targets_seen.items():
            if label in {t.label for t in self.targets()} and "last_s" not in info:
                info["last_s"] = round(elapsed, 3)
        f = self.facts
        return {
            "schema": SCHEMA,
            "generator": {"name": "headless-dns-conformance monitor", "version": suite_version()},
            "run_id": self.run_id,
            "started_at": round(self.t0, 3),
            "finished_at": round(end, 3),
            "started_at_iso": dt.datetime.fromtimestamp(self.t0, dt.UTC).isoformat(timespec="seconds"),
            "finished_at_iso": dt.datetime.fromtimestamp(end, dt.UTC).isoformat(timespec="seconds"),
            "elapsed_s": round(elapsed, 3),
            "setup_s": self.setup_s,
            "interrupted": interrupted,
            "stop_reason": self.stop_reason,
            "exit_status": exit_status,
            "summary_line": line,
            "figures": figures,
            "gates": gates,
            "incidents": incidents,
            "parameters": {**self.opts.to_json(), "lookahead_s": self.judge.lookahead,
                           "grace_effective_s": self.judge.effective_grace(), "max_ttl_seen": self.judge.max_ttl_seen,
                           "resolver_backend": self.settings.resolver_backend,
                           "resolver_image": self.settings.resolver_image,
                           "workload_image": self.settings.workload_image},
            "cluster": {"server": f.server, "server_version": f.server_version, "platform": f.platform,
                        "zone": f.cluster_domain, "dns_service": f.dns_service, "dns_service_ips": f.dns_service_ips,
                        "dns_server": f"{f.dns_server}:{f.dns_port}", "dns_implementation": f.dns_implementation,
                        "dns_version": f.dns_version, "ip_families": f.ip_families, "real_kubelet": f.real_kubelet,
                        "query_replicas": self.query_replicas, "preflight": self.preflight_notes},
            "workload": {"namespace": self.ns_name, "anchor": self.anchor, "service": SVC, "statefulset": STS,
                         "replicas": self.opts.replicas, "zone": f.cluster_domain, "service_fqdn": self.fqdn,
                         "ip_families": self.families, "questions": [q.label for q in self.base_questions()]
                         if self.fqdn else []},
            "resolvers": [{"name": n, "node": node} for n, node in sorted(self.resolver_pods.items())],
            "targets": sorted(self.targets_seen.values(), key=lambda t: str(t.get("first_s"))),
            "counts": {**self.agg.total.to_json(self.t0), "retired": self.agg.retired,
                       "not_judged": len(self.pending)},
            "tables": self.agg.tables(),
            "time_to_resolve": self.ttr.to_json(self.t0) if self.ttr else {},
            "api_changes": self.api_changes,
            "dns_replica_changes": self.replica_changes,
            "timeline": self.agg.timeline(),
            "notes": self.notes,
        }


def write_document(doc: dict[str, Any], opts: Options) -> None:
    from .report import write_reports

    write_reports(doc, opts.json_path, opts.html_path)


__all__ = ["Monitor", "Options", "Stopped", "write_document"]
