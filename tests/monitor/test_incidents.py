"""The monitor's incident model without a cluster: spans, incidents, seconds, gates, the summary line."""

from __future__ import annotations

import pytest

from fixtures.reporting.stats import percentile, stats
from monitor.aggregate import Aggregator, Thresholds, gate_results, summary_line
from monitor.model import Sample, SpanTracker, StreamKey, merge_incidents, union_seconds

T0 = 1_000_000.0
WEB1 = "web-1.svc.ns.svc.cluster.local."
SVC = "svc.ns.svc.cluster.local."


def key(name: str = WEB1, target: str = "DNS Service", resolver: str = "r0", rdtype: str = "A") -> StreamKey:
    return StreamKey(resolver, target, name, rdtype)


def feed(agg: Aggregator, k: StreamKey, kinds: str, start: float = 0.0, step: float = 0.2) -> None:
    """One sample per character: . ok, c converging, u unavailable, m missing, w wrong."""
    names = {".": "ok", "c": "converging", "u": "unavailable", "m": "missing", "w": "wrong"}
    for i, ch in enumerate(kinds):
        agg.add(Sample(T0 + start + i * step, k, names[ch], "NXDOMAIN" if ch == "u" else "NOERROR 10.0.0.1"))  # type: ignore[arg-type]


def test_union_and_percentiles() -> None:
    assert union_seconds([(0, 1), (0.5, 2), (3, 4)]) == pytest.approx(3.0)
    assert union_seconds([]) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3], 95) == 3 and percentile([], 50) is None
    assert stats([0.5, 0.1, 0.3]) == {"n": 3, "p50": 0.3, "p95": 0.5, "max": 0.5}


def test_a_span_runs_from_the_first_bad_answer_to_the_next_good_one() -> None:
    tr = SpanTracker()
    k = key()
    for i, kind in enumerate(["ok", "unavailable", "unavailable", "ok", "ok"]):
        tr.add(Sample(T0 + i, k, kind, ""))  # type: ignore[arg-type]
    (span,) = tr.all_spans()
    assert (span.start, span.last_bad, span.end) == (T0 + 1, T0 + 2, T0 + 3)
    assert span.segments == [["unavailable", T0 + 1, T0 + 3]] and not span.open


def test_converging_answers_are_counted_but_are_no_incident() -> None:
    agg = Aggregator(T0)
    feed(agg, key(SVC), "..ccc...")
    assert agg.incidents(2.0) == [] and agg.total.kinds["converging"] == 3
    fig = agg.figures(2.0)
    assert fig["incidents"] == 0 and fig["incident_seconds"] == 0 and fig["names_affected"] == []


def test_bad_answers_of_several_names_and_targets_close_in_time_are_one_incident() -> None:
    agg = Aggregator(T0)
    feed(agg, key(WEB1, "DNS Service"), "..uuuuu..")  # 0.4 .. 1.4
    feed(agg, key(WEB1, "replica coredns-a", "r1"), "...uuu...")  # 0.6 .. 1.2
    feed(agg, key(SVC, "DNS Service"), "......mm.", start=1.5)  # 2.7 .. 3.1: 1.3 s after: merged (gap 2 s)
    feed(agg, key(SVC, "DNS Service"), ".w.", start=10.0)  # far later: a second incident
    first, second = agg.incidents(2.0)
    j = first.to_json(T0)
    assert (j["start_s"], j["end_s"]) == (pytest.approx(0.4), pytest.approx(3.1))
    assert j["names"] == [SVC, WEB1] and j["targets"] == ["DNS Service", "replica coredns-a"]
    assert j["resolvers"] == ["r0", "r1"] and j["kinds"] == {"missing": 2, "unavailable": 8}
    assert j["kind"] == "missing"  # the most severe kind present
    assert j["answered"][0] == {"answer": "unavailable: NXDOMAIN", "count": 8}
    assert second.to_json(T0)["kind"] == "wrong" and not second.open
    fig = agg.figures(2.0)
    assert fig["unavailable_seconds"] == pytest.approx(1.0) and fig["missing_seconds"] == pytest.approx(0.4)
    assert fig["wrong_seconds"] == pytest.approx(0.2) and fig["longest_incident_s"] == pytest.approx(2.7)
    assert fig["incidents"] == 2 and fig["query_errors"] == 2
    assert fig["query_error_rate"] == pytest.approx(2 / agg.queries, abs=1e-5)


def test_an_incident_still_bad_at_the_end_is_open_and_a_retired_stream_ends_its_span() -> None:
    agg = Aggregator(T0)
    feed(agg, key(WEB1), "..mmm")
    feed(agg, key(WEB1, "replica coredns-gone"), "..mm")
    agg.retire([key(WEB1, "replica coredns-gone")])
    (inc,) = agg.incidents(2.0)
    j = inc.to_json(T0)
    assert j["open"] and j["end_s"] == pytest.approx(0.8)
    assert agg.open_spans() == 1


def test_merge_gap_splits_incidents() -> None:
    agg = Aggregator(T0)
    feed(agg, key(), "u.", start=0)
    feed(agg, key(), "u.", start=3)
    assert len(merge_incidents(agg.spans.all_spans(), 2.0)) == 2
    assert len(merge_incidents(agg.spans.all_spans(), 5.0)) == 1


def test_gates_and_the_summary_line() -> None:
    agg = Aggregator(T0)
    feed(agg, key(), "..uuuuu..www.")
    fig = agg.figures(2.0)
    gates = gate_results(fig, Thresholds(max_wrong_seconds=0.0, max_unavailable_seconds=5.0,
                                         max_names_affected=0, max_error_rate=0.5))
    assert [(g["gate"], g["exceeded"]) for g in gates] == [
        ("max-wrong-seconds", True), ("max-unavailable-seconds", False), ("max-names-affected", True),
        ("max-error-rate", False)]
    line = summary_line(fig, gates, 30.0)
    assert line.startswith("HSDNS MONITOR: 1 incident(s) | wrong 0.6s | missing 0.0s | unavailable 1.0s | ")
    assert "1 name(s) affected" in line and "of 13 in 30s" in line
    assert line.endswith("gates EXCEEDED: max-wrong-seconds 0.6 > 0, max-names-affected 1 > 0")
    quiet = Aggregator(T0)
    feed(quiet, key(), "....")
    qf = quiet.figures(2.0)
    assert summary_line(qf, gate_results(qf, Thresholds()), 5, interrupted=True).endswith("gates ok (interrupted)")
    assert gate_results(qf, Thresholds(max_wrong_seconds=None)) == []


def test_timeline_rows_are_runs_of_the_worst_kind_per_second() -> None:
    agg = Aggregator(T0)
    feed(agg, key(), "....." + "uuuuu" + ".....", step=0.2)  # 0-1 s ok, 1-2 s unavailable, 2-3 s ok
    rows = agg.timeline()["rows"]
    assert rows[f"q {WEB1} A"] == [[0.0, 1.0, "ok"], [1.0, 2.0, "unavailable"], [2.0, 3.0, "ok"]]
    assert rows["t DNS Service"] == rows[f"q {WEB1} A"]
