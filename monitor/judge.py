"""Judging one answer against the live API state, with a grace period after every change.

The API state (the reference Service's EndpointSlices) is polled at a short interval and kept as a
history of states, each valid from the moment it was first seen until the next one. An answer sent at
time ``t`` is judged once the history covers ``t + lookahead`` (a DNS server watching the API may
learn of a change before the monitor's next poll does):

* it is **ok** when it matches the state current at ``t`` (records as a multiset, rcode) and breaks no
  rule of answer integrity (``fixtures.dns.integrity``);
* it is **converging** when it does not, but the API changed within the grace period (the states valid
  in ``[t - grace, t + lookahead]`` are more than one) and everything it says was true of one of them:
  it matches one state, or its rcode is one of theirs and its records are a subset of theirs. A record
  no state of the window had (a stale address from before the window, a stranger) is **wrong**;
* it is **missing** when there is no response or a server failure (SERVFAIL, REFUSED, ...);
* a name of the reference workload that does not resolve (NXDOMAIN, NODATA) although the answer is
  ok or converging is **unavailable**: DNS is right, the name is gone (its pod deleted, evicted,
  Pending). Integrity problems are always **wrong**, never converging.

``grace`` is a number of seconds, or ``auto``: 5 s plus the largest TTL seen in any answer so far
(capped at 60 s), since a cache in the DNS server may legitimately hold a record for one TTL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fixtures.dns.integrity import Integrity
from fixtures.dns.model import NOERROR, NXDOMAIN, Expectation, Query, QueryResult
from fixtures.kube.endpoints import EndpointView

from .model import Kind

AUTO_GRACE_BASE = 5.0
AUTO_GRACE_TTL_CAP = 60
SRV_PORT = "http"


@dataclass(frozen=True)
class Question:
    """One query of the monitor and what it stands for."""

    query: Query
    hostname: str | None = None  # the per-pod label (web-0), None for the Service name and SRV
    wanted: bool = True  # a name of the reference workload: NXDOMAIN/NODATA for it is "unavailable"

    @property
    def label(self) -> str:
        return f"{self.query.name} {self.query.rdtype}"


def expectation(view: EndpointView, q: Question) -> Expectation | None:
    """What the API state ``view`` says DNS must answer to ``q`` (None: the state implies nothing definite)."""
    rdtype = q.query.rdtype.upper()
    if rdtype == "SRV":
        try:
            return view.expect_srv(SRV_PORT)
        except ValueError:  # an endpoint without a hostname: its SRV target is implementation-defined
            return None
    return view.expect_address(rdtype, q.hostname)


@dataclass(frozen=True)
class ApiState:
    index: int
    since: float  # unix time it was first seen
    key: tuple[Any, ...]
    view: EndpointView


class StateHistory:
    """The reference Service's API states over time (appended by the API poller, read by the judge)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.states: list[ApiState] = []
        self.covered_until = 0.0  # the start time of the latest successful poll
        self._cache: dict[tuple[int, Question], Expectation | None] = {}

    def observe(self, key: tuple[Any, ...], view: EndpointView, started: float, done: float) -> ApiState | None:
        """Record a poll (begun at ``started``, answered at ``done``); returns the new state if it changed."""
        with self._lock:
            new = None
            if not self.states or self.states[-1].key != key:
                new = ApiState(len(self.states), done, key, view)
                self.states.append(new)
            self.covered_until = max(self.covered_until, started)
            return new

    def at(self, t: float) -> ApiState | None:
        with self._lock:
            found = self.states[0] if self.states else None
            for st in self.states:
                if st.since <= t:
                    found = st
                else:
                    break
            return found

    def window(self, t0: float, t1: float) -> list[ApiState]:
        """States valid at some moment of [t0, t1] (the first state counts as valid since ever)."""
        with self._lock:
            out = []
            for i, st in enumerate(self.states):
                until = self.states[i + 1].since if i + 1 < len(self.states) else float("inf")
                since = st.since if i else float("-inf")
                if since <= t1 and until > t0:
                    out.append(st)
            return out

    def expect(self, state: ApiState, q: Question) -> Expectation | None:
        ck = (state.index, q)
        if ck not in self._cache:
            self._cache[ck] = expectation(state.view, q)
        return self._cache[ck]


def negative(r: QueryResult) -> bool:
    """NXDOMAIN, or NOERROR without a record of the queried type (NODATA)."""
    return r.rcode == NXDOMAIN or (r.rcode == NOERROR and not r.rdata_keys())


def answer_text(r: QueryResult, limit: int = 4) -> str:
    if r.rcode is None:
        return f"no response ({(r.error or 'error')[:80]})"
    keys = sorted(r.rdata_keys())
    if r.rcode == NOERROR and not keys:
        return "NOERROR (no records: NODATA)"
    shown = " ".join(keys[:limit]) + (f" +{len(keys) - limit} more" if len(keys) > limit else "")
    return f"{r.rcode} {shown}".strip()


def consistent(r: QueryResult, exps: Sequence[Expectation]) -> bool:
    """Everything the answer says was true of one of the states: it matches one, or its rcode is one of
    theirs and its records are a subset of their records (no duplicates)."""
    if any(e.matches(r) for e in exps):
        return True
    if r.rcode not in {rc for e in exps for rc in e.rcodes} or r.duplicates():
        return False
    allowed = {k for e in exps for k in e.records}
    return r.rdata_keys() <= allowed


@dataclass
class Judge:
    """Classifies answers; remembers the largest TTL seen (for ``grace auto``)."""

    history: StateHistory
    integrity: Integrity
    grace: float | None  # None: auto
    lookahead: float
    max_ttl_seen: int = 0
    grace_used: float = field(default=0.0)

    def effective_grace(self) -> float:
        if self.grace is not None:
            return self.grace
        return AUTO_GRACE_BASE + min(self.max_ttl_seen, AUTO_GRACE_TTL_CAP)

    def ready(self, t: float) -> bool:
        """Can an answer sent at ``t`` be judged (the API history covers t + lookahead)?"""
        return self.history.covered_until >= t + self.lookahead

    def classify(self, q: Question, r: QueryResult, t: float) -> tuple[Kind, tuple[str, ...], bool]:
        """(kind, problems, converging) of one answer sent at ``t``."""
        if r.rcode is None:
            return "missing", (f"no response: {r.error}",), False
        ttls = [rec.ttl for rec in (*r.answer, *r.authority)]
        if ttls:
            self.max_ttl_seen = max(self.max_ttl_seen, max(ttls))
        if r.rcode not in (NOERROR, NXDOMAIN):
            return "missing", (f"server failure: rcode {r.rcode}",), False
        integrity = tuple(self.integrity.problems(r))
        if integrity:
            return "wrong", integrity, False
        now = self.history.at(t)
        if now is None:
            return "ok", (), False  # no API state yet (cannot happen once the run started)
        exp = self.history.expect(now, q)
        if exp is None:
            return "ok", (), False
        problems = tuple(exp.problems(r))
        kind: Kind = "ok"
        converging = False
        if problems:
            grace = self.effective_grace()
            self.grace_used = max(self.grace_used, grace)
            window = self.history.window(t - grace, t + self.lookahead)
            exps = [e for e in (self.history.expect(st, q) for st in window) if e is not None]
            if len(window) > 1 and consistent(r, exps):
                kind, converging = "converging", True
            else:
                missing, extra = exp.diff(r)
                detail = [f"API state #{now.index} expects {'/'.join(sorted(exp.rcodes))} "
                          f"{sorted(exp.records)[:6]}"]
                if missing:
                    detail.append(f"missing {missing[:6]}")
                if extra:
                    detail.append(f"extra {extra[:6]}")
                return "wrong", (*problems, "; ".join(detail)), False
        if q.wanted and negative(r):
            return "unavailable", (f"{q.label} does not resolve ({r.rcode})",), converging
        return kind, problems if converging else (), converging
