"""Counting judged samples: totals, per query, per target, spans, a per-second timeline, and the gate figures.

Nothing here keeps every sample: counts and latencies (a bounded reservoir) per query and target, the
spans of bad samples (with up to a few dozen samples each), and for the plot the worst kind of each
second per query and per target, stored as runs.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fixtures.reporting.stats import percentile

from .model import (
    BAD_KINDS,
    KINDS,
    SEVERITY,
    Incident,
    Sample,
    SpanTracker,
    StreamKey,
    merge_incidents,
    union_seconds,
)

LATENCY_RESERVOIR = 2000


@dataclass(frozen=True)
class Thresholds:
    """CI gates (None: not gated)."""

    max_wrong_seconds: float | None = 0.0
    max_missing_seconds: float | None = None
    max_unavailable_seconds: float | None = None
    max_incident_seconds: float | None = None
    max_names_affected: int | None = None
    max_error_rate: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class _Counts:
    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.latency: deque[float] = deque(maxlen=LATENCY_RESERVOIR)
        self.first: float | None = None
        self.last: float | None = None

    def add(self, s: Sample) -> None:
        self.kinds[s.kind] += 1
        if s.kind != "missing":
            self.latency.append(s.latency_s)
        self.first = s.t if self.first is None else min(self.first, s.t)
        self.last = s.t if self.last is None else max(self.last, s.t)

    def to_json(self, t0: float) -> dict[str, Any]:
        total = sum(self.kinds.values())
        lat = list(self.latency)

        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 2)
        return {"queries": total, **{k: self.kinds.get(k, 0) for k in KINDS},
                "error_rate": round(self.kinds.get("missing", 0) / total, 6) if total else 0.0,
                "latency_ms": {"p50": ms(percentile(lat, 50)), "p95": ms(percentile(lat, 95)),
                               "max": ms(max(lat) if lat else None)},
                "first_s": None if self.first is None else round(self.first - t0, 3),
                "last_s": None if self.last is None else round(self.last - t0, 3)}


class Aggregator:
    """Everything the report says about the samples."""

    def __init__(self, t0: float, bucket_s: float = 1.0) -> None:
        self.t0 = t0
        self.bucket_s = bucket_s
        self.total = _Counts()
        self.per_query: dict[str, _Counts] = {}
        self.per_target: dict[str, _Counts] = {}
        self.per_resolver: dict[str, _Counts] = {}
        self.spans = SpanTracker()
        # row -> bucket index -> worst severity
        self.buckets: dict[str, dict[int, int]] = {}
        self.retired: int = 0  # answers of a replica that was leaving the DNS Service (not judged)

    @property
    def queries(self) -> int:
        return sum(self.total.kinds.values())

    def add(self, s: Sample) -> None:
        self.total.add(s)
        self.per_query.setdefault(s.key.query, _Counts()).add(s)
        self.per_target.setdefault(s.key.target, _Counts()).add(s)
        self.per_resolver.setdefault(s.key.resolver, _Counts()).add(s)
        self.spans.add(s)
        b = int((s.t - self.t0) // self.bucket_s)
        sev = SEVERITY[s.kind]
        for row in (f"q {s.key.query}", f"t {s.key.target}"):
            cells = self.buckets.setdefault(row, {})
            if cells.get(b, -1) < sev:
                cells[b] = sev

    def retire(self, keys: Iterable[StreamKey]) -> None:
        for k in keys:
            self.spans.retire(k)

    def open_spans(self) -> int:
        return len(self.spans.open)

    def incidents(self, merge_gap: float) -> list[Incident]:
        return merge_incidents(self.spans.all_spans(), merge_gap)

    # -- figures ---------------------------------------------------------------------------------
    def kind_seconds(self) -> dict[str, float]:
        spans = self.spans.all_spans()
        out: dict[str, float] = {k: union_seconds((a, b) for sp in spans for kind, a, b in sp.segments if kind == k)
               for k in BAD_KINDS}
        out["any"] = union_seconds((a, b) for sp in spans for _, a, b in sp.segments)
        return {k: round(v, 3) for k, v in out.items()}

    def figures(self, merge_gap: float) -> dict[str, Any]:
        incidents = self.incidents(merge_gap)
        secs = self.kind_seconds()
        total = self.queries
        missing = self.total.kinds.get("missing", 0)
        return {
            "incidents": len(incidents),
            "open_incidents": sum(1 for i in incidents if i.open),
            "wrong_seconds": secs["wrong"],
            "missing_seconds": secs["missing"],
            "unavailable_seconds": secs["unavailable"],
            "incident_seconds": secs["any"],
            "longest_incident_s": round(max((i.duration_s for i in incidents), default=0.0), 3),
            "names_affected": sorted({n for i in incidents for n in i.names()}),
            "queries": total,
            "query_errors": missing,
            "query_error_rate": round(missing / total, 6) if total else 0.0,
        }

    def timeline(self) -> dict[str, Any]:
        """Per row, runs of equal worst kind: [[from_s, to_s, kind], ...] (ok runs included)."""
        rows: dict[str, list[list[Any]]] = {}
        for row, cells in sorted(self.buckets.items()):
            runs: list[list[Any]] = []
            for b in sorted(cells):
                kind = KINDS[cells[b]]
                a = round(b * self.bucket_s, 3)
                if runs and runs[-1][2] == kind and math.isclose(runs[-1][1], a):
                    runs[-1][1] = round(a + self.bucket_s, 3)
                else:
                    runs.append([a, round(a + self.bucket_s, 3), kind])
            rows[row] = runs
        return {"bucket_s": self.bucket_s, "rows": rows}

    def tables(self) -> dict[str, Any]:
        return {"per_query": {k: v.to_json(self.t0) for k, v in sorted(self.per_query.items())},
                "per_target": {k: v.to_json(self.t0) for k, v in sorted(self.per_target.items())},
                "per_resolver": {k: v.to_json(self.t0) for k, v in sorted(self.per_resolver.items())},
                "totals": self.total.to_json(self.t0)}


def gate_results(figures: Mapping[str, Any], th: Thresholds) -> list[dict[str, Any]]:
    """One entry per threshold that is set: its value, the figure, exceeded or not."""
    checks = (
        ("max-wrong-seconds", th.max_wrong_seconds, figures["wrong_seconds"]),
        ("max-missing-seconds", th.max_missing_seconds, figures["missing_seconds"]),
        ("max-unavailable-seconds", th.max_unavailable_seconds, figures["unavailable_seconds"]),
        ("max-incident-seconds", th.max_incident_seconds, figures["longest_incident_s"]),
        ("max-names-affected", th.max_names_affected, len(figures["names_affected"])),
        ("max-error-rate", th.max_error_rate, figures["query_error_rate"]),
    )
    return [{"gate": name, "threshold": limit, "value": value, "exceeded": value > limit}
            for name, limit, value in checks if limit is not None]


def summary_line(figures: Mapping[str, Any], gates: list[dict[str, Any]], elapsed_s: float,
                 interrupted: bool = False) -> str:
    """The fixed, grep-able last line of a monitor run."""
    failed = [g for g in gates if g["exceeded"]]
    gate_text = ("gates ok" if gates else "no gates") if not failed else "gates EXCEEDED: " + ", ".join(
        f"{g['gate']} {g['value']:g} > {g['threshold']:g}" for g in failed)
    return (f"HSDNS MONITOR: {figures['incidents']} incident(s) | wrong {figures['wrong_seconds']:.1f}s | "
            f"missing {figures['missing_seconds']:.1f}s | unavailable {figures['unavailable_seconds']:.1f}s | "
            f"longest {figures['longest_incident_s']:.1f}s | {len(figures['names_affected'])} name(s) affected | "
            f"query errors {100 * figures['query_error_rate']:.2f}% of {figures['queries']} in {elapsed_s:.0f}s | "
            f"{gate_text}" + (" (interrupted)" if interrupted else ""))
