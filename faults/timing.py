"""How long healthy DNS answers take to converge, from the evidence of stored runs (conformance.json).

The smallest safe ``--dns-timeout`` of a fault run follows from two figures of the healthy runs, because
of how the convergence loop sets its deadlines (fixtures/dns/converge.py):

* **settle**: from the last change of the API state a check depends on to the first answer of the
  streak that converged. The deadline is at least ``--dns-timeout`` after the last change, so this must
  stay well below the timeout;
* **span**: from the start of a check to the start of its hold. API churn and convergence must end
  within three times the timeout (the convergence deadline moves with API changes up to that), or the
  check FAILs;
* **hold**: from the start of the hold to its end. The hold ends as an ERROR when it has not gathered
  its answers in ``HOLD_CAP`` (5) timeouts (fixtures/dns/converge.py; its deadline otherwise follows
  its progress).

``python -m faults timing DIR...`` prints the largest of each over the runs' cases, and the smallest
timeout both allow with a safety factor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fixtures.dns.converge import HOLD_CAP

SAFETY = 3.0  # the timeout must be this many times the largest settle time


@dataclass(frozen=True)
class CheckTiming:
    run: str
    case: str
    settle_s: float  # last API change -> first answer of the converging streak
    span_s: float  # start of the converge -> start of its hold (or its end, without a hold)
    converged: bool
    hold_s: float = 0.0  # start of the hold -> its end


def _segments(timeline: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The timeline of a case is the concatenation of its converges; each starts again at t ~ 0."""
    out: list[list[dict[str, Any]]] = []
    last_t = None
    for e in timeline:
        t = float(e.get("t", 0.0))
        if last_t is None or t + 1e-6 < last_t:
            out.append([])
        out[-1].append(e)
        last_t = t
    return out


def segment_timing(seg: list[dict[str, Any]]) -> tuple[float, float, bool, float] | None:
    """(settle, span, converged, hold) of one converge, None when it holds no poll."""
    polls = [e for e in seg if "match" in e]
    if not polls:
        return None
    changes = [float(e["t"]) for e in seg if e.get("event") == "API state changed"]
    span = float(seg[-1]["t"])
    end = next((i for i, e in enumerate(polls) if e.get("phase") == "hold"), None)
    hold = 0.0
    if end is None:  # converged without a hold (hold=False), or never
        if not polls[-1].get("match"):
            return 0.0, span, False, 0.0
        end = len(polls)
    else:
        hold = span - float(polls[end]["t"])
        span = float(polls[end]["t"])
    start = end
    while start > 0 and polls[start - 1].get("match"):
        start -= 1
    first = float(polls[min(start, len(polls) - 1)]["t"])
    before = [c for c in changes if c <= first]
    return round(first - (before[-1] if before else 0.0), 3), round(span, 3), True, round(hold, 3)


def run_timings(reports_dir: Path) -> list[CheckTiming]:
    conf = reports_dir / "conformance.json"
    doc = json.loads(conf.read_text())
    out: list[CheckTiming] = []
    for r in doc.get("results", []):
        if r.get("status") not in ("passed", "info"):
            continue
        for ev in r.get("evidence") or []:
            for seg in _segments(ev.get("timeline") or []):
                got = segment_timing(seg)
                if got is not None:
                    out.append(CheckTiming(str(reports_dir), str(r.get("id")), *got))
    return out


def summary(timings: list[CheckTiming]) -> dict[str, Any]:
    done = [t for t in timings if t.converged]
    if not done:
        return {"checks": 0}
    settle = max(done, key=lambda t: t.settle_s)
    span = max(done, key=lambda t: t.span_s)
    hold = max(done, key=lambda t: t.hold_s)
    need = max(SAFETY * settle.settle_s, span.span_s / 3.0, hold.hold_s / HOLD_CAP)
    return {"checks": len(done), "runs": len({t.run for t in done}),
            "max_settle_s": settle.settle_s, "max_settle_case": f"{settle.case} ({settle.run})",
            "max_span_s": span.span_s, "max_span_case": f"{span.case} ({span.run})",
            "max_hold_s": hold.hold_s, "max_hold_case": f"{hold.case} ({hold.run})",
            "smallest_safe_dns_timeout_s": round(need, 1),
            "rule": f"max({SAFETY:g} x max settle, max span / 3, max hold / {HOLD_CAP})"}


def main(dirs: list[str]) -> int:
    timings: list[CheckTiming] = []
    for d in dirs:
        for conf in sorted(Path(d).rglob("conformance.json")):
            try:
                timings += run_timings(conf.parent)
            except (ValueError, OSError):
                continue
    print(json.dumps(summary(timings), indent=2))
    return 0
