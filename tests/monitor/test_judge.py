"""Judging answers against the API state history: ok, converging in the grace period, wrong, missing, unavailable."""

from __future__ import annotations

from fixtures.dns.integrity import Integrity
from fixtures.dns.model import Query, QueryResult, Record
from fixtures.kube.endpoints import Endpoint, EndpointView, SlicePort
from monitor.judge import Judge, Question, StateHistory, answer_text, consistent, negative

NS, SVC, ZONE = "ns", "my-headless-service", "cluster.local"
FQDN = f"{SVC}.{NS}.svc.{ZONE}."
SOA = Record(f"{ZONE}.", 5, "SOA", f"ns.dns.{ZONE}. hostmaster.{ZONE}. 1 7200 1800 86400 5")
HTTP = (SlicePort("http", "TCP", 8080),)
T = 1_000.0


def view(*pods: tuple[str, str, bool]) -> EndpointView:
    eps = [Endpoint("s1", "IPv4", (ip,), name, ready, None, None, name, HTTP, f"uid-{name}-{ip}")
           for name, ip, ready in pods]
    return EndpointView(NS, SVC, ZONE, eps)


def answer(q: Question, rcode: str | None, *records: str, aa: bool = True, ttl: int = 5,
           error: str | None = None) -> QueryResult:
    rdtype = q.query.rdtype
    recs = tuple(Record(q.query.name, ttl, rdtype, r) for r in records)
    negative_answer = rcode == "NXDOMAIN" or (rcode == "NOERROR" and not records)
    return QueryResult(query=q.query, server="10.96.0.10", rcode=rcode, flags=("QR", "AA") if aa else ("QR",),
                       answer=recs, authority=(SOA,) if negative_answer else (), error=error,
                       question=((q.query.name, rdtype),))


def history(*states: tuple[float, EndpointView]) -> StateHistory:
    h = StateHistory()
    for t, v in states:
        h.observe(v.key(), v, t, t)
    h.covered_until = 10 ** 9
    return h


WEB1_A = Question(Query(f"web-1.{FQDN}", "A"), "web-1")
SVC_A = Question(Query(FQDN, "A"))
SRV = Question(Query(f"_http._tcp.{FQDN}", "SRV"))
BEFORE = view(("web-0", "10.0.0.1", True), ("web-1", "10.0.0.2", True))
GONE = view(("web-0", "10.0.0.1", True), ("web-1", "10.0.0.2", False))
BACK = view(("web-0", "10.0.0.1", True), ("web-1", "10.0.0.9", True))


def judge(h: StateHistory, grace: float | None = 5.0) -> Judge:
    return Judge(h, Integrity(zone=ZONE), grace, lookahead=0.5)


def test_an_answer_matching_the_api_state_is_ok_and_the_srv_record_is_checked_too() -> None:
    j = judge(history((T, BEFORE)))
    assert j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.2"), T + 10)[0] == "ok"
    assert j.classify(SVC_A, answer(SVC_A, "NOERROR", "10.0.0.1", "10.0.0.2"), T + 10)[0] == "ok"
    srv = answer(SRV, "NOERROR", f"0 50 8080 web-0.{FQDN}", f"0 50 8080 web-1.{FQDN}")
    assert j.classify(SRV, srv, T + 10)[0] == "ok"


def test_after_a_change_the_previous_answer_is_converging_then_wrong_after_the_grace_period() -> None:
    h = history((T, BEFORE), (T + 10, GONE))
    j = judge(h, grace=5.0)
    stale = answer(SVC_A, "NOERROR", "10.0.0.1", "10.0.0.2")
    assert j.classify(SVC_A, stale, T + 12) == ("converging", ("1 unexpected record(s)",), True)
    kind, problems, _ = j.classify(SVC_A, stale, T + 16)
    assert kind == "wrong" and any("extra ['10.0.0.2']" in p for p in problems)
    assert j.classify(SVC_A, answer(SVC_A, "NOERROR", "10.0.0.1"), T + 12)[0] == "ok"  # the new state


def test_a_record_no_state_of_the_window_had_is_wrong_even_in_the_grace_period() -> None:
    h = history((T, BEFORE), (T + 10, GONE), (T + 20, BACK))
    j = judge(h, grace=5.0)
    # web-1's old address 10.0.0.2 was last true at T+10: at T+22 the window is [T+17, T+22.5]
    kind, _, _ = j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.2"), T + 22)
    assert kind == "wrong"
    assert j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.7"), T + 22)[0] == "wrong"


def test_an_answer_ahead_of_the_monitors_last_poll_is_not_wrong() -> None:
    h = history((T, BEFORE), (T + 10.3, GONE))  # the poll saw the change 0.3 s after DNS had it
    j = judge(h, grace=5.0)
    assert j.classify(SVC_A, answer(SVC_A, "NOERROR", "10.0.0.1"), T + 10.0)[0] == "converging"


def test_a_wanted_name_that_does_not_resolve_is_unavailable_whether_or_not_the_api_agrees() -> None:
    h = history((T, BEFORE), (T + 10, GONE), (T + 20, BACK))
    j = judge(h, grace=5.0)
    nx = answer(WEB1_A, "NXDOMAIN")
    assert j.classify(WEB1_A, nx, T + 15)[0] == "unavailable"  # the API agrees: the pod is gone
    assert j.classify(WEB1_A, nx, T + 21) == ("unavailable", ("web-1." + FQDN + " A does not resolve (NXDOMAIN)",),
                                             True)  # the new pod is Ready, DNS not yet
    assert j.classify(WEB1_A, nx, T + 30)[0] == "wrong"  # and past the grace period it is DNS's fault
    probe = Question(Query(f"web-3.{FQDN}", "A"), "web-3", wanted=False)
    assert j.classify(probe, answer(probe, "NXDOMAIN"), T + 30)[0] == "ok"


def test_no_answer_and_server_failures_are_missing_and_integrity_problems_are_wrong() -> None:
    j = judge(history((T, BEFORE)))
    assert j.classify(WEB1_A, answer(WEB1_A, None, error="timeout after 2s"), T + 1)[0] == "missing"
    assert j.classify(WEB1_A, answer(WEB1_A, "SERVFAIL"), T + 1)[0] == "missing"
    kind, problems, _ = j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.2", aa=False), T + 1)
    assert kind == "wrong" and problems[0].startswith("authoritative")


def test_auto_grace_follows_the_largest_ttl_answered() -> None:
    j = judge(history((T, BEFORE)), grace=None)
    assert j.effective_grace() == 5.0
    j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.2", ttl=30), T + 1)
    assert j.effective_grace() == 35.0
    j.classify(WEB1_A, answer(WEB1_A, "NOERROR", "10.0.0.2", ttl=3000), T + 1)
    assert j.effective_grace() == 65.0  # capped


def test_judging_waits_until_the_api_history_covers_the_lookahead() -> None:
    h = StateHistory()
    h.observe(BEFORE.key(), BEFORE, T, T + 0.05)
    j = judge(h)
    assert j.ready(T - 1) and not j.ready(T)


def test_helpers() -> None:
    assert negative(answer(WEB1_A, "NXDOMAIN")) and negative(answer(WEB1_A, "NOERROR"))
    assert not negative(answer(WEB1_A, "NOERROR", "10.0.0.2"))
    assert answer_text(answer(WEB1_A, "NOERROR")) == "NOERROR (no records: NODATA)"
    assert answer_text(answer(WEB1_A, None, error="timeout after 2s")) == "no response (timeout after 2s)"
    exps = [BEFORE.expect_address("A"), GONE.expect_address("A")]
    assert consistent(answer(SVC_A, "NOERROR", "10.0.0.2"), exps)
    assert not consistent(answer(SVC_A, "NOERROR", "10.0.0.3"), exps)
