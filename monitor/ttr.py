"""Time to resolve: what users of a StatefulSet wait for, measured on the monitor's own stream of answers.

* **ready → answers**: a pod of the reference StatefulSet becomes Ready; how long until its per-pod name
  first answers its address, at each target (the DNS Service address, each replica);
* **deleted → gone**: a pod's deletion is requested; how long until its name stops answering its
  address, at each target;
* **negative answer cached**: a ready → answers measurement is *primed* at a target when that target
  answered the name negatively (NXDOMAIN/NODATA) within ``prime_window`` seconds before the pod became
  Ready (the name was asked before the pod existed, as clients of a new pod do); *fresh* otherwise.
  With a cache in the DNS server (CoreDNS ``cache``) a primed name can stay NXDOMAIN until the cached
  negative answer expires.

Times come from the pods' status as polled (the poll window) intersected with the API server's own
timestamps (Ready's ``lastTransitionTime``, ``deletionTimestamp`` minus the grace period, both whole
seconds): the event time is the middle of that window, and its half-width is kept as the uncertainty.
Only A answers are used (a pod's IPv4 address).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fixtures.reporting.stats import stats

MAX_EVENTS = 500


@dataclass(frozen=True)
class PodInfo:
    """What the poller saw of one pod of the reference StatefulSet."""

    name: str
    uid: str
    ready: bool
    ipv4: tuple[str, ...]
    ready_since: float | None = None  # Ready's lastTransitionTime (unix, whole seconds)
    deletion_requested: float | None = None  # deletionTimestamp - deletionGracePeriodSeconds


@dataclass
class Event:
    kind: str  # "ready" | "deleted"
    pod: str
    uid: str
    ips: tuple[str, ...]
    t: float  # best estimate (middle of the window)
    uncertainty: float
    probe: str = ""  # "primed" / "fresh" when the monitor made the pod for a measurement, "" when observed
    results: dict[str, float] = field(default_factory=dict)  # target -> seconds
    primed: dict[str, bool] = field(default_factory=dict)  # target -> negative answer seen before (ready)
    done: bool = False
    timed_out: list[str] = field(default_factory=list)

    def to_json(self, t0: float) -> dict[str, Any]:
        return {"kind": self.kind, "pod": self.pod, "uid": self.uid, "ips": list(self.ips), "t": round(self.t, 3),
                "t_s": round(self.t - t0, 3), "uncertainty_s": round(self.uncertainty, 3), "probe": self.probe,
                "seconds": {k: round(v, 3) for k, v in sorted(self.results.items())},
                "primed": dict(sorted(self.primed.items())), "timed_out": sorted(self.timed_out)}


def _window(lo: float, hi: float, server: float | None, width: float) -> tuple[float, float]:
    """The poll window [lo, hi] narrowed by a server timestamp known to ``width`` seconds (when they meet)."""
    if server is not None:
        a, b = max(lo, server), min(hi, server + width)
        if a <= b:
            return a, b
    return lo, hi


class TimeToResolve:
    """Events from the pod poller, answers from the judge; results per event and target."""

    def __init__(self, service_fqdn: str, *, timeout: float = 60.0, prime_window: float = 30.0) -> None:
        self.fqdn = service_fqdn
        self.timeout = timeout
        self.prime_window = prime_window
        self.events: list[Event] = []
        self._lock = threading.Lock()
        self._known: dict[str, PodInfo] = {}  # uid -> last seen
        self._ready_seen: set[str] = set()
        self._deleted_seen: set[str] = set()
        self._first_poll = True
        self._last_poll = 0.0
        self._negatives: dict[tuple[str, str], deque[float]] = {}
        self.probe_labels: dict[str, str] = {}  # pod name -> "primed"/"fresh" for the next ready event

    # -- from the pod poller -------------------------------------------------------------------
    def on_pods(self, pods: Iterable[PodInfo], started: float, done: float) -> list[Event]:
        """One poll of the StatefulSet's pods (begun at ``started``, answered at ``done``)."""
        new: list[Event] = []
        lo = self._last_poll or started
        with self._lock:
            seen = {}
            for p in pods:
                seen[p.uid] = p
                if self._first_poll:
                    if p.ready:
                        self._ready_seen.add(p.uid)
                    if p.deletion_requested is not None:
                        self._deleted_seen.add(p.uid)
                    continue
                if p.ready and p.uid not in self._ready_seen and p.ipv4 and p.deletion_requested is None:
                    self._ready_seen.add(p.uid)
                    a, b = _window(lo, done, p.ready_since, 1.0)
                    new.append(Event("ready", p.name, p.uid, p.ipv4, (a + b) / 2, (b - a) / 2,
                                     probe=self.probe_labels.pop(p.name, "")))
                if p.deletion_requested is not None and p.uid not in self._deleted_seen:
                    self._deleted_seen.add(p.uid)
                    if p.uid in self._ready_seen and p.ipv4:
                        a, b = _window(lo, done, p.deletion_requested, 1.0)
                        new.append(Event("deleted", p.name, p.uid, p.ipv4, (a + b) / 2, (b - a) / 2))
            for uid, old in self._known.items():  # gone between two polls without a deletion seen
                if uid not in seen and uid not in self._deleted_seen and uid in self._ready_seen and old.ipv4:
                    self._deleted_seen.add(uid)
                    new.append(Event("deleted", old.name, uid, old.ipv4, (lo + done) / 2, (done - lo) / 2))
            self._known = seen
            self._first_poll = False
            self._last_poll = started
            self.events.extend(new)
            if len(self.events) > MAX_EVENTS:
                self.events = self.events[-MAX_EVENTS:]
        return new

    # -- from the judge ------------------------------------------------------------------------
    def on_answer(self, name: str, rdtype: str, target: str, t: float, records: frozenset[str],
                  negative: bool) -> None:
        if rdtype != "A":
            return
        pod = name.removesuffix("." + self.fqdn) if name.endswith("." + self.fqdn) else None
        if pod is None or "." in pod:
            return
        with self._lock:
            if negative:
                q = self._negatives.setdefault((pod, target), deque(maxlen=64))
                q.append(t)
            for ev in self.events:
                if ev.done or ev.pod != pod or target in ev.results or t < ev.t - ev.uncertainty:
                    continue
                hit = bool(set(ev.ips) & records)
                if ev.kind == "ready" and hit:
                    ev.results[target] = max(0.0, t - ev.t)
                    ev.primed[target] = any(ev.t - self.prime_window <= n < ev.t - ev.uncertainty
                                            for n in self._negatives.get((pod, target), ()))
                elif ev.kind == "deleted" and not hit:
                    ev.results[target] = max(0.0, t - ev.t)

    def close(self, targets: Iterable[str], now: float, *, final: bool = False) -> None:
        """Events answered at every current target, or past the timeout (or at the end of the run), are done."""
        wanted = set(targets)
        with self._lock:
            for ev in self.events:
                if ev.done:
                    continue
                if wanted <= set(ev.results) or now - ev.t > self.timeout or final:
                    ev.done = True
                    ev.timed_out = sorted(wanted - set(ev.results))

    def pending(self, pod: str, kind: str) -> Event | None:
        with self._lock:
            return next((ev for ev in reversed(self.events) if ev.pod == pod and ev.kind == kind), None)

    def recent(self, n: int = 20) -> list[dict[str, Any]]:
        """The newest events, briefly (for the status file): what a caller waits on, never a timing."""
        with self._lock:
            events = self.events[-n:] if n > 0 else []
            return [{"kind": ev.kind, "pod": ev.pod, "uid": ev.uid, "t": round(ev.t, 3), "done": ev.done,
                     "answered": sorted(ev.results)} for ev in events]

    # -- report --------------------------------------------------------------------------------
    def to_json(self, t0: float) -> dict[str, Any]:
        with self._lock:
            events = list(self.events)

        def values(kind: str, *, service: bool | None = None, primed: bool | None = None) -> list[float]:
            out = []
            for ev in events:
                if ev.kind != kind:
                    continue
                for target, secs in ev.results.items():
                    if service is not None and (target == SERVICE_TARGET) != service:
                        continue
                    if primed is not None and ev.primed.get(target, False) != primed:
                        continue
                    out.append(secs)
            return out

        return {
            "method": "event time = middle of (poll window ∩ the API server's timestamp); answers from the "
                      "monitor's A queries; seconds per event and target",
            "ready_to_answer": {
                "all": stats(values("ready")),
                "dns_service": stats(values("ready", service=True)),
                "replicas": stats(values("ready", service=False)),
                "primed": stats(values("ready", primed=True)),
                "primed_dns_service": stats(values("ready", service=True, primed=True)),
                "fresh": stats(values("ready", primed=False)),
                "fresh_dns_service": stats(values("ready", service=True, primed=False)),
            },
            "deleted_to_gone": {
                "all": stats(values("deleted")),
                "dns_service": stats(values("deleted", service=True)),
                "replicas": stats(values("deleted", service=False)),
            },
            "timed_out": sum(1 for ev in events if ev.timed_out),
            "timeout_s": self.timeout,
            "prime_window_s": self.prime_window,
            "events": [ev.to_json(t0) for ev in events],
        }


SERVICE_TARGET = "DNS Service"
