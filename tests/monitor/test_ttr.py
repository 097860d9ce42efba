"""Time to resolve without a cluster: pod events from polls, answers from the judge, primed and fresh."""

from __future__ import annotations

import pytest

from monitor.ttr import SERVICE_TARGET, PodInfo, TimeToResolve

FQDN = "my-headless-service.ns.svc.cluster.local."
NAME = f"web-3.{FQDN}"
T = 2_000.0
REPLICA = "replica coredns-a"


def pod(uid: str, ready: bool, ip: str = "10.0.0.3", since: float | None = None,
        deleting: float | None = None) -> PodInfo:
    return PodInfo("web-3", uid, ready, (ip,) if ip else (), ready_since=since, deletion_requested=deleting)


def test_ready_to_first_answer_per_target_primed_by_an_earlier_negative_answer() -> None:
    ttr = TimeToResolve(FQDN, prime_window=10)
    ttr.on_pods([], T - 1.0, T - 0.95)  # first poll: nothing yet
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T - 0.5, frozenset(), negative=True)  # asked before the pod existed
    ttr.on_pods([pod("u1", False)], T - 0.4, T - 0.35)
    (ev,) = ttr.on_pods([pod("u1", True, since=T)], T + 0.2, T + 0.25)  # Ready at T (server, whole second)
    assert ev.kind == "ready" and ev.t == pytest.approx(T + 0.125) and ev.uncertainty == pytest.approx(0.125)
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T + 0.5, frozenset(), negative=True)  # still cached NXDOMAIN
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T + 3.125, frozenset({"10.0.0.3"}), negative=False)
    ttr.on_answer(NAME, "A", REPLICA, T + 0.625, frozenset({"10.0.0.3"}), negative=False)
    ttr.on_answer(NAME, "AAAA", REPLICA, T + 0.1, frozenset({"fd00::3"}), negative=False)  # A only
    ttr.close([SERVICE_TARGET, REPLICA], T + 4)
    assert ev.done and ev.results == {SERVICE_TARGET: pytest.approx(3.0), REPLICA: pytest.approx(0.5)}
    assert ev.primed == {SERVICE_TARGET: True, REPLICA: False}
    doc = ttr.to_json(T)
    assert doc["ready_to_answer"]["primed_dns_service"]["max"] == pytest.approx(3.0)
    assert doc["ready_to_answer"]["fresh"]["n"] == 1 and doc["ready_to_answer"]["all"]["n"] == 2


def test_deleted_to_gone_and_pods_already_ready_at_start_are_no_events() -> None:
    ttr = TimeToResolve(FQDN)
    assert ttr.on_pods([pod("u1", True, since=T - 100)], T, T + 0.05) == []
    ttr.on_pods([pod("u1", True, since=T - 100)], T + 0.2, T + 0.25)
    (ev,) = ttr.on_pods([pod("u1", True, since=T - 100, deleting=T + 0.3)], T + 0.4, T + 0.45)
    assert ev.kind == "deleted" and T + 0.3 <= ev.t <= T + 0.45
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T + 0.5, frozenset({"10.0.0.3"}), negative=False)  # still answered
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T + 1.0, frozenset(), negative=True)
    ttr.close([SERVICE_TARGET, REPLICA], T + 100)  # the replica never answered: timed out
    assert ev.results == {SERVICE_TARGET: pytest.approx(T + 1.0 - ev.t)} and ev.timed_out == [REPLICA]
    assert ttr.to_json(T)["deleted_to_gone"]["dns_service"]["n"] == 1 and ttr.to_json(T)["timed_out"] == 1


def test_a_pod_that_vanished_between_two_polls_is_a_deletion_and_probe_labels_travel() -> None:
    ttr = TimeToResolve(FQDN)
    ttr.on_pods([], T, T)
    ttr.probe_labels["web-3"] = "fresh"
    (up,) = ttr.on_pods([pod("u1", True)], T + 0.2, T + 0.2)
    assert up.probe == "fresh" and "web-3" not in ttr.probe_labels
    (gone,) = ttr.on_pods([], T + 0.4, T + 0.4)
    assert gone.kind == "deleted" and gone.uid == "u1"
    assert ttr.pending("web-3", "deleted") is gone


def test_the_status_file_lists_the_newest_events_and_whether_they_are_measured() -> None:
    ttr = TimeToResolve(FQDN)
    ttr.on_pods([], T, T)
    ttr.on_pods([pod("u1", True)], T + 0.2, T + 0.2)
    assert ttr.recent() == [{"kind": "ready", "pod": "web-3", "uid": "u1", "t": pytest.approx(T + 0.1), "done": False,
                             "answered": []}]
    ttr.on_answer(NAME, "A", SERVICE_TARGET, T + 0.5, frozenset({"10.0.0.3"}), negative=False)
    ttr.close([SERVICE_TARGET], T + 1)
    (ev,) = ttr.recent()
    assert ev["done"] and ev["answered"] == [SERVICE_TARGET]
