"""The monitor's vocabulary: samples (one judged answer), their kinds, spans and incidents.

A **sample** is one answer (or its absence) to one query, asked by one resolver pod at one target (the
DNS Service address or one DNS replica), judged against the live EndpointSlices of that moment
(``monitor.judge``). Its **kind** is one of:

| kind | meaning | an incident? |
|---|---|---|
| ``ok`` | the answer is what the EndpointSlices say, and the name resolves | no |
| ``converging`` | not what the API says now, but what it said within the grace period after a change | no (recorded) |
| ``unavailable`` | a name of the workload does not resolve (NXDOMAIN/NODATA) and the API agrees (pod gone) | yes |
| ``missing`` | no usable answer: timeout, network error, or a server failure (SERVFAIL, REFUSED ...) | yes |
| ``wrong`` | an answer the API contradicts beyond the grace period, or one that breaks answer integrity | yes |

A **span** is a run of bad samples of one stream (resolver, target, query), from its first bad sample
to the stream's next good one (or its last sample). An **incident** is a set of spans that overlap or
follow each other within ``merge_gap`` seconds, whatever their names and targets: it has a start, an
end, the names, targets and resolvers it touched, and what was answered meanwhile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["ok", "converging", "unavailable", "missing", "wrong"]
KINDS: tuple[Kind, ...] = ("ok", "converging", "unavailable", "missing", "wrong")
BAD_KINDS: tuple[Kind, ...] = ("unavailable", "missing", "wrong")
# Severity for "worst kind of a time bucket" (the timeline plot)
SEVERITY: dict[str, int] = {k: i for i, k in enumerate(KINDS)}
MAX_ANSWERS_PER_INCIDENT = 12
MAX_SAMPLES_PER_INCIDENT = 40


@dataclass(frozen=True)
class StreamKey:
    """Who asked what where: one resolver pod, one target, one query."""

    resolver: str
    target: str  # label, e.g. "DNS Service" or "replica coredns-5f9c-abcde"
    name: str
    rdtype: str
    transport: str = "udp"

    @property
    def query(self) -> str:
        return f"{self.name} {self.rdtype}" + ("" if self.transport == "udp" else f" {self.transport}")


@dataclass(frozen=True)
class Sample:
    """One judged answer."""

    t: float  # unix time the query was sent (host clock)
    key: StreamKey
    kind: Kind
    answer: str  # short text of what was answered: "NOERROR 10.245.0.7", "NXDOMAIN", "no response (timeout)"
    problems: tuple[str, ...] = ()
    latency_s: float = 0.0
    converging: bool = False  # the answer matched a state of the grace window, not the current one

    @property
    def bad(self) -> bool:
        return self.kind in BAD_KINDS

    def to_json(self, t0: float) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 3), "t_s": round(self.t - t0, 3), "resolver": self.key.resolver,
                               "target": self.key.target, "query": self.key.query, "kind": self.kind,
                               "answer": self.answer}
        if self.problems:
            out["problems"] = list(self.problems)
        return out


@dataclass
class Span:
    """A run of bad samples in one stream."""

    key: StreamKey
    start: float
    last_bad: float
    end: float | None = None  # the stream's next good sample (None: still bad when the run ended)
    kinds: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    # [kind, from, to]: each bad sample stands for the time until the stream's next sample
    segments: list[list[Any]] = field(default_factory=list)

    def add(self, s: Sample) -> None:
        if self.segments:
            self.segments[-1][2] = s.t
        if not self.segments or self.segments[-1][0] != s.kind:
            self.segments.append([s.kind, s.t, s.t])
        self.last_bad = s.t
        self.kinds[s.kind] += 1
        self.answers[f"{s.kind}: {s.answer}"] += 1
        for p in s.problems:
            self.problems[p] += 1
        if len(self.samples) < MAX_SAMPLES_PER_INCIDENT:
            self.samples.append(s)

    @property
    def stop(self) -> float:
        """Where the span ends on the time axis: the next good answer, else the last bad one."""
        return self.end if self.end is not None else self.last_bad

    @property
    def open(self) -> bool:
        return self.end is None


class SpanTracker:
    """Turns the samples of every stream into spans (fed in time order per stream)."""

    def __init__(self) -> None:
        self.open: dict[StreamKey, Span] = {}
        self.closed: list[Span] = []

    def add(self, s: Sample) -> Span | None:
        """Feed one sample; returns the span it closed, if any."""
        span = self.open.get(s.key)
        if s.bad:
            if span is None:
                span = self.open[s.key] = Span(key=s.key, start=s.t, last_bad=s.t)
            span.add(s)
            return None
        if span is not None:
            span.end = s.t
            span.segments[-1][2] = s.t
            del self.open[s.key]
            self.closed.append(span)
            return span
        return None

    def retire(self, key: StreamKey) -> None:
        """The stream stopped (its target left the DNS Service): an open span ends where its last sample was."""
        span = self.open.pop(key, None)
        if span is not None:
            self.closed.append(span)

    def all_spans(self) -> list[Span]:
        return sorted([*self.closed, *self.open.values()], key=lambda sp: (sp.start, sp.key.query))


@dataclass
class Incident:
    """Spans that overlap or follow each other within the merge gap."""

    id: int
    spans: list[Span]

    @property
    def start(self) -> float:
        return min(sp.start for sp in self.spans)

    @property
    def end(self) -> float:
        return max(sp.stop for sp in self.spans)

    @property
    def open(self) -> bool:
        return any(sp.open for sp in self.spans)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end - self.start)

    def kind_seconds(self) -> dict[str, float]:
        """Seconds of each bad kind in this incident (union over its streams)."""
        return {k: round(union_seconds((a, b) for sp in self.spans for kind, a, b in sp.segments if kind == k), 3)
                for k in BAD_KINDS}

    def names(self) -> list[str]:
        return sorted({sp.key.name for sp in self.spans})

    def kinds(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for sp in self.spans:
            total.update(sp.kinds)
        return total

    def to_json(self, t0: float) -> dict[str, Any]:
        answers: Counter[str] = Counter()
        problems: Counter[str] = Counter()
        for sp in self.spans:
            answers.update(sp.answers)
            problems.update(sp.problems)
        kinds = self.kinds()
        samples = sorted((s for sp in self.spans for s in sp.samples), key=lambda s: s.t)
        per_query: dict[str, dict[str, Any]] = {}
        for sp in self.spans:
            q = per_query.setdefault(sp.key.query, {"query": sp.key.query, "start_s": round(sp.start - t0, 3),
                                                    "end_s": round(sp.stop - t0, 3), "targets": set(),
                                                    "kinds": Counter()})
            q["start_s"] = min(q["start_s"], round(sp.start - t0, 3))
            q["end_s"] = max(q["end_s"], round(sp.stop - t0, 3))
            q["targets"].add(sp.key.target)
            q["kinds"].update(sp.kinds)
        return {
            "id": self.id,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_s": round(self.start - t0, 3),
            "end_s": round(self.end - t0, 3),
            "duration_s": round(self.duration_s, 3),
            "open": self.open,
            "kind": max(kinds, key=lambda k: (SEVERITY[k], kinds[k])) if kinds else "",
            "kinds": dict(sorted(kinds.items())),
            "seconds": self.kind_seconds(),
            "names": self.names(),
            "queries": sorted({sp.key.query for sp in self.spans}),
            "targets": sorted({sp.key.target for sp in self.spans}),
            "resolvers": sorted({sp.key.resolver for sp in self.spans}),
            "bad_answers": sum(kinds.values()),
            "answered": [{"answer": a, "count": n} for a, n in answers.most_common(MAX_ANSWERS_PER_INCIDENT)],
            "problems": [{"problem": p, "count": n} for p, n in problems.most_common(6)],
            "per_query": [{**q, "targets": sorted(q["targets"]), "kinds": dict(q["kinds"])}
                          for q in sorted(per_query.values(), key=lambda q: (q["start_s"], q["query"]))],
            "samples": [s.to_json(t0) for s in samples[:MAX_SAMPLES_PER_INCIDENT]],
        }


def merge_incidents(spans: Sequence[Span], gap: float) -> list[Incident]:
    """Group spans whose time ranges overlap or are at most ``gap`` seconds apart."""
    out: list[Incident] = []
    group: list[Span] = []
    group_end = 0.0
    for sp in sorted(spans, key=lambda sp: sp.start):
        if group and sp.start <= group_end + gap:
            group.append(sp)
            group_end = max(group_end, sp.stop)
            continue
        if group:
            out.append(Incident(len(out) + 1, group))
        group, group_end = [sp], sp.stop
    if group:
        out.append(Incident(len(out) + 1, group))
    return out


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Length of the union of closed intervals."""
    total, cur_start, cur_end = 0.0, None, None
    for a, b in sorted(intervals):
        if cur_end is None or a > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total

