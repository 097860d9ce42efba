"""The in-pod probe (run locally against a fake DNS server on 127.0.0.1) and the polling loop."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from fixtures.catalogue import get_case
from fixtures.dns.converge import Dns, HoldPolicy, Live, Subject, Timed
from fixtures.dns.model import Check, Expectation, Query, QueryResult, Record
from fixtures.dns.resolver import Target, _last_json, build_probe_zip, result_from_probe
from fixtures.verdict import DnsViolation, Evidence, HarnessError

BIG = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(150)]


def _answer(wire: bytes, udp: bool) -> bytes:
    q = dns.message.from_wire(wire)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    name = q.question[0].name.to_text()
    if name == "big.test.":
        addrs = BIG
        if udp and q.edns < 0:
            addrs = BIG[:20]
            r.flags |= dns.flags.TC
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", addrs))
    elif name == "web.test.":
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", ["10.0.0.1", "10.0.0.2"]))
    elif name == "dup.test.":  # one record twice on the wire (two RRsets: a set would merge them)
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", ["10.0.0.1"]))
        r.answer.append(dns.rrset.from_text_list(name, 5, "IN", "A", ["10.0.0.1", "10.0.0.2"]))
    else:
        r.set_rcode(dns.rcode.NXDOMAIN)
    return r.to_wire(max_size=65535)


class _Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(_answer(data, True), self.client_address)


class _Tcp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        n = struct.unpack("!H", self.request.recv(2))[0]
        data = b""
        while len(data) < n:
            data += self.request.recv(n - len(data))
        out = _answer(data, False)
        self.request.sendall(struct.pack("!H", len(out)) + out)


@pytest.fixture(scope="module")
def fake_dns() -> Iterator[int]:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    for _ in range(20):  # a free UDP port whose TCP twin is taken (by another process) is tried again
        udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), _Udp)
        port = udp.server_address[1]
        try:
            tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Tcp)
            break
        except OSError:
            udp.server_close()
    else:
        raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")
    for srv in (udp, tcp):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield port
    for srv in (udp, tcp):
        srv.shutdown()
        srv.server_close()


def _run_probe(tmp_path: Path, request: dict[str, object]) -> dict[str, object]:
    data, digest = build_probe_zip()
    path = tmp_path / f"hsdns-probe-{digest[:12]}.zip"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-I", str(path), json.dumps(request)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, check=False)
    parsed = _last_json(out.stdout)
    assert parsed is not None, out.stderr
    return parsed


def test_probe_zip_is_self_contained_and_answers_over_udp_and_tcp(tmp_path: Path, fake_dns: int) -> None:
    ops = [{"op": "query", "name": "big.test.", "type": "A", "transport": "udp", "payload": 0},
           {"op": "query", "name": "big.test.", "type": "A", "transport": "tcp", "payload": None},
           {"op": "query", "name": "nosuch.test.", "type": "A", "transport": "udp", "payload": None}]
    out = _run_probe(tmp_path, {"server": "127.0.0.1", "port": fake_dns, "timeout": 2, "ops": ops})
    assert out["ok"], out
    results = out["results"]
    assert isinstance(results, list)
    queries = [Query("big.test.", "A", "udp", 0), Query("big.test.", "A", "tcp"), Query("nosuch.test.", "A")]
    parsed = [result_from_probe(q, "127.0.0.1", r) for q, r in zip(queries, results, strict=True)]
    assert parsed[0].tc and Expectation.truncated_subset(BIG, "A").matches(parsed[0])
    assert Expectation.exactly(BIG, "A").matches(parsed[1]) and not parsed[1].tc
    assert parsed[2].rcode == "NXDOMAIN"
    # the size as received: a truncated UDP answer within 512 bytes, the whole message over TCP
    assert parsed[0].size is not None and parsed[0].size <= 512
    assert parsed[1].size is not None and parsed[1].size > 512


def test_probe_reports_timeouts_as_no_response(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # bound, never answers
    try:
        out = _run_probe(tmp_path, {"server": "127.0.0.1", "port": sock.getsockname()[1], "timeout": 0.3,
                                    "ops": [{"op": "query", "name": "x.", "type": "A", "transport": "udp"}]})
    finally:
        sock.close()
    res = out["results"][0]  # type: ignore[index]
    assert res["rcode"] is None and "timeout" in res["error"]


def test_probe_never_exits_non_zero_on_bad_input(tmp_path: Path) -> None:
    out = _run_probe(tmp_path, {"ops": "nonsense"})
    assert out["ok"] is False


class _Scripted:
    """Fake runner returning scripted answers (one list of record sets per poll; per target if a dict)."""

    backend = "fake"
    where = "fake"

    def __init__(self, answers: Sequence[Any]) -> None:
        self.answers = answers
        self.calls = 0

    def run(self, queries: Sequence[Query], targets: Sequence[Any] | None = None) -> list[QueryResult]:
        data = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        out = []
        for t in targets or [Target("fake")]:
            recs = data.get(t.host) if isinstance(data, dict) else data
            for q in queries:
                if recs is None:  # no answer at all (a timeout)
                    out.append(QueryResult(q, t.host, None, error="timeout after 1s", server_label=t.label))
                    continue
                out.append(QueryResult(q, t.host, "NOERROR" if recs else "NXDOMAIN", ("QR", "AA"),
                                       tuple(Record(q.name, 5, "A", d) for d in recs), server_label=t.label))
        return out


def _dns(runner: _Scripted, ev: Evidence, **kw: Any) -> Dns:
    hold = kw.pop("hold", HoldPolicy(stable=3, answers=3, seconds=0.0))
    return Dns(runner, ev, timeout=kw.pop("timeout", 10), hold=hold, interval=0.01, **kw)


AB = ["10.0.0.1", "10.0.0.2"]


def test_converge_needs_n_identical_matching_answers_then_holds() -> None:
    runner = _Scripted([[], ["10.0.0.1"], AB, AB, AB, AB, AB, AB])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    _dns(runner, ev).expect("web.test.", "A", Expectation.exactly(["10.0.0.2", "10.0.0.1"], "A"),
                            transports=("udp",))
    assert runner.calls == 5 + 3  # 2 wrong, 3 identical right (converged), 3 more held
    assert ev.time_to_converge_s is not None and ev.observations[0]["converged"]
    assert ev.info["hold"][0]["answers"] == 3


def test_an_answer_that_goes_wrong_after_convergence_fails_the_hold() -> None:
    """A flapping cache: right three times, then one older answer (no settle window: ``--settle-seconds 0``)."""
    runner = _Scripted([AB, AB, AB, AB, ["10.0.0.1"], AB, AB])
    ev = Evidence(get_case("HS-DNS-002"), "one A per ready endpoint")
    with pytest.raises(DnsViolation) as err:
        _dns(runner, ev, hold=HoldPolicy(stable=3, answers=3, seconds=0.0, settle=0)).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    text = str(err.value)
    assert "during the hold" in text and 'Missing records: ["10.0.0.2"]' in text
    assert any(not e["match"] and e["phase"] == "hold" for e in ev.timeline)


def test_behind_one_address_a_wrong_answer_in_the_settle_window_converges_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One address (--dns-server) in front of replicas: one of them still answers the older state 1.5 s
    after the API state was reached (seen under load: web-0's new name NXDOMAIN). Not a FAIL: the case
    converges again and holds after the window (5 s), and the evidence says so."""
    clock = _SlowClock(per_poll=0.5)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted([AB, AB, AB, ["10.0.0.1"]] + [AB] * 60, clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    _dns(runner, ev, timeout=15, targets=[Target("127.0.0.1", 5353, "--dns-server")]).expect(
        "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert [s["after_api_state_s"] for s in ev.info["settling"]] == [2.0]
    assert any(e.get("event", "").startswith("a wrong answer within the settle window") for e in ev.timeline)
    assert ev.info["converge_s"] >= 5.0  # the hold began after the window


def test_behind_one_address_a_server_that_keeps_flapping_fails_after_the_settle_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The flapping cache again, behind one address: forgiven inside the window, a FAIL after it."""
    clock = _SlowClock(per_poll=0.5)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted(([AB] * 5 + [["10.0.0.1"]]) * 20, clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(DnsViolation) as err:
        _dns(runner, ev, timeout=15).expect("web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "during the hold" in str(err.value) and "settle window were given another convergence" in str(err.value)
    assert ev.info["settling"] and all(s["after_api_state_s"] < 5.0 for s in ev.info["settling"])


def test_behind_one_address_a_server_that_goes_wrong_for_good_fails_at_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Right, then one record short for good (the right-then-wrong fault): inside the window the case gets
    another convergence, which never comes: a FAIL at the deadline that says so."""
    clock = _SlowClock(per_poll=0.5)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted([AB, AB, AB, ["10.0.0.1"]], clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(DnsViolation) as err:
        _dns(runner, ev, timeout=15).expect("web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "no stable matching answer within 15s" in str(err.value)
    assert "a wrong answer 2.00s after the API state, inside the 5s settle window" in str(err.value)


def test_asked_replica_by_replica_a_wrong_answer_in_the_hold_fails_at_once() -> None:
    """Every replica was right before the hold began: a replica wrong now has gone back, no window."""
    right = {"10.96.0.10": AB, "10.0.9.1": AB, "10.0.9.2": AB}
    wrong = {**right, "10.0.9.2": ["10.0.0.1"]}
    targets = [Target("10.96.0.10", 53, "DNS Service"), Target("10.0.9.1", 53, "replica dns-a"),
               Target("10.0.9.2", 53, "replica dns-b")]
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(DnsViolation) as err:
        _dns(_Scripted([right, right, right, right, wrong, right]), ev, targets=targets).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "during the hold" in str(err.value) and "replica dns-b" in str(err.value) and "settling" not in ev.info


def test_no_answer_during_the_hold_is_asked_again_never_judged() -> None:
    runner = _Scripted([AB, AB, AB, None, None, AB, AB, AB])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    _dns(runner, ev).expect("web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert runner.calls == 8


class _SlowClock:
    """The loop's clock, moved on by the fake runner: every poll takes ``per_poll`` seconds."""

    def __init__(self, per_poll: float) -> None:
        self.t, self.per_poll = 1000.0, per_poll

    def monotonic(self) -> float:
        return self.t


class _SlowScripted(_Scripted):
    def __init__(self, answers: Sequence[Any], clock: _SlowClock) -> None:
        super().__init__(answers)
        self.clock = clock

    def run(self, queries: Sequence[Query], targets: Sequence[Any] | None = None) -> list[QueryResult]:
        self.clock.t += self.clock.per_poll
        return super().run(queries, targets)


def test_a_hold_of_slow_right_answers_is_never_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load every poll took 2-3 s: 3 to converge and 20 to hold are up to 69 s, past three 15 s timeouts
    from the start (the old deadline, which turned such holds into ERRORs). The hold's deadline follows its
    progress: the case passes."""
    clock = _SlowClock(per_poll=3.0)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted([AB], clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    _dns(runner, ev, timeout=15, hold=HoldPolicy(stable=3, answers=20, seconds=2.0)).expect(
        "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert ev.info["hold"][0]["answers"] == 20 and clock.t - 1000.0 > 3 * 15


class _SteppedClock:
    """The loop's clock and the pacer's sleep: time moves only when the loop sleeps; the sleeps are kept."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.t += seconds


def test_a_dns_that_stays_wrong_is_asked_less_often_and_at_the_full_rate_again_once_it_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same wrong answer for QUIET_AFTER (2 s) at 0.1 s: then every QUIET_INTERVAL (0.5 s), every answer still
    judged; the first right answer starts the streak at the full rate again, and the case converges and holds."""
    clock = _SteppedClock()
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    monkeypatch.setattr("fixtures.polling.time", clock)
    runner = _Scripted([[]] * 30 + [AB])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    Dns(runner, ev, timeout=30, hold=HoldPolicy(stable=3, answers=3, seconds=0.0), interval=0.1).expect(
        "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert runner.calls == 30 + 3 + 3
    quiet = clock.sleeps.index(0.5)
    assert all(s == 0.1 for s in clock.sleeps[:quiet]) and 19 <= quiet <= 21  # 2 s of the same wrong answer
    assert clock.sleeps[quiet:30] == [0.5] * (30 - quiet)  # every later poll of it judged, two a second
    assert all(s == 0.1 for s in clock.sleeps[30:])  # the right answers: full rate


def test_a_dns_that_stays_wrong_still_fails_at_its_deadline_when_asked_less_often(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _SteppedClock()
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    monkeypatch.setattr("fixtures.polling.time", clock)
    runner = _Scripted([[]])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(DnsViolation):
        Dns(runner, ev, timeout=10, hold=HoldPolicy(stable=3, answers=3, seconds=0.0), interval=0.1).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert 10.0 <= clock.t - 1000.0 <= 10.6 and runner.calls <= 20 + 16 + 1  # 20 at 0.1 s, then 0.5 s


def test_a_hold_with_no_right_answer_for_a_whole_timeout_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS server stopped answering during the hold: no wrong answer was seen (no FAIL), and after one
    timeout without a right answer the case is an ERROR that says so."""
    clock = _SlowClock(per_poll=1.0)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted([AB, AB, AB, AB, None], clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(HarnessError) as err:
        _dns(runner, ev, timeout=5, hold=HoldPolicy(stable=3, answers=20, seconds=2.0)).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "got only 1 answered polls" in str(err.value) and "no poll answered right for 5.0s" in str(err.value)
    assert runner.calls == 3 + 1 + 5


def test_a_hold_that_never_gathers_its_answers_ends_at_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Right answers, but one in every few polls only: progress, never enough. The hold ends after
    HOLD_CAP (5) timeouts as an ERROR, never a pass."""
    clock = _SlowClock(per_poll=1.0)
    monkeypatch.setattr("fixtures.dns.converge.time", clock)
    runner = _SlowScripted([AB, AB, AB] + ([None, None, AB] * 40), clock)
    ev = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(HarnessError) as err:
        _dns(runner, ev, timeout=5, hold=HoldPolicy(stable=3, answers=20, seconds=2.0)).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "still short of 20 after 5 timeouts" in str(err.value)


def test_every_replica_is_asked_and_the_one_that_disagrees_is_named() -> None:
    good = {"10.96.0.10": AB, "10.0.9.1": AB, "10.0.9.2": ["10.0.0.1"]}
    ev = Evidence(get_case("HS-DNS-002"), "req")
    targets = [Target("10.96.0.10", 53, "DNS Service"), Target("10.0.9.1", 53, "replica dns-a"),
               Target("10.0.9.2", 53, "replica dns-b")]
    with pytest.raises(DnsViolation) as err:
        _dns(_Scripted([good]), ev, timeout=0.2, targets=targets).expect(
            "web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert "@10.0.9.2 replica dns-b" in str(err.value) and "@10.0.9.1" not in str(err.value)


def test_a_live_expectation_follows_the_api_state_and_a_change_is_never_a_failure() -> None:
    """The slices change while polling: DNS follows one poll later. Judged against a frozen expectation
    this would fail; judged live it converges, and the change is in the timeline."""
    states = [["10.0.0.1"]] * 4 + [AB] * 20
    answers = [["10.0.0.1"]] * 5 + [AB] * 19
    runner = _Scripted(answers)
    calls = {"n": 0}

    def read() -> tuple[Any, Any, dict[str, Any]]:
        state = states[min(calls["n"], len(states) - 1)]
        calls["n"] += 1
        return tuple(state), state, {"addresses": state}

    live = Live(read=read, build=lambda st: [Check(Query("web.test.", "A", "udp"), Expectation.exactly(st, "A"))])
    ev = Evidence(get_case("HS-DNS-002"), "req")
    _dns(runner, ev, hold=HoldPolicy(stable=3, answers=5, seconds=0.0)).converge(live)
    assert any(e.get("event") == "API state changed" for e in ev.timeline)
    assert len(ev.api_state) == 2


def test_deadline_fails_with_the_last_answers() -> None:
    ev = Evidence(get_case("HS-DNS-002"), "one A per ready endpoint")
    dns_ = _dns(_Scripted([["10.0.0.9"]]), ev, timeout=0.2)
    with pytest.raises(DnsViolation) as err:
        dns_.expect("web.test.", "A", Expectation.exactly(["10.0.0.1"], "A"), transports=("tcp",))
    text = str(err.value)
    assert text.startswith("-> HS-DNS-002 [MUST k8s-dns/2.4.1]: one A per ready endpoint")
    assert 'Missing records: ["10.0.0.1"]' in text and 'Extra records: ["10.0.0.9"]' in text
    assert ev.missing and ev.extra
    assert isinstance(err.value, AssertionError)
    assert not issubclass(HarnessError, AssertionError)
    json.loads(ev.dumps())


def test_the_probe_serves_json_lines_in_one_process(tmp_path: Path, fake_dns: int) -> None:
    data, digest = build_probe_zip()
    z = tmp_path / f"hsdns-probe-{digest[:12]}.zip"
    z.write_bytes(data)
    req = {"server": "127.0.0.1", "port": fake_dns, "timeout": 2,
           "ops": [{"op": "query", "name": "web.test.", "type": "A", "transport": "udp"}]}
    lines = "".join(json.dumps(dict(req, id=i)) + "\n" for i in (1, 2))
    out = subprocess.run([sys.executable, str(z), "--serve"], input=lines, capture_output=True, text=True,
                         timeout=30, check=False).stdout.splitlines()
    assert json.loads(out[0])["ready"] is True
    answers = [json.loads(x) for x in out[1:]]
    assert [a["id"] for a in answers] == [1, 2]
    res = result_from_probe(Query("web.test.", "A"), "127.0.0.1", answers[1]["results"][0])
    assert res.question == (("web.test.", "A"),) and res.rdata_keys() == {"10.0.0.1", "10.0.0.2"}


def test_time_to_resolve_runs_from_the_change_to_the_first_poll_of_the_converged_streak() -> None:
    """Two wrong polls, then right: the figure ends at the first right poll (not at the third identical one),
    starts at the change (before polling began), and is no upper bound; a failed convergence records none."""
    runner = _Scripted([[], ["10.0.0.1"], AB, AB, AB, AB, AB, AB])
    ev = Evidence(get_case("HS-DNS-020"), "req")
    change = Timed("ready", time.monotonic() - 1.0, "web-2's readiness gate opened")
    dns_ = _dns(runner, ev)
    dns_.converge(dns_.checks("web.test.", "A", Expectation.exactly(AB, "A"), ("udp",)), timed=change)
    (ttr,) = ev.time_to_resolve
    assert ttr["kind"] == "ready" and ttr["what"] == change.what and not ttr["at_first_poll"]
    assert ev.time_to_converge_s is not None and 1.0 <= ttr["seconds"] < ev.time_to_converge_s + 1.5
    right_away = Evidence(get_case("HS-DNS-022"), "req")
    dns_ = _dns(_Scripted([AB]), right_away)
    dns_.converge(dns_.checks("web.test.", "A", Expectation.exactly(AB, "A"), ("udp",)),
                  timed=Timed.now("deleted", "x"))
    assert right_away.time_to_resolve[0]["at_first_poll"] and right_away.to_json()["time_to_resolve"]
    failed = Evidence(get_case("HS-DNS-020"), "req")
    dns_ = _dns(_Scripted([["10.0.0.9"]]), failed, timeout=0.1)
    with pytest.raises(DnsViolation):
        dns_.converge(dns_.checks("web.test.", "A", Expectation.exactly(AB, "A"), ("udp",)), timed=change)
    assert failed.time_to_resolve == []


def test_a_replica_that_left_the_dns_service_is_no_longer_asked_and_one_still_listed_is_judged() -> None:
    """CoreDNS pods replaced while a case runs: the replica that went gives no answer; the DNS Service's
    endpoints read again no longer list it, so it is dropped (in the timeline), never a FAIL. A replica
    that is still listed and does not answer is a server that does not answer: judged."""
    svc, a, b = (Target("10.96.0.10", 53, "DNS Service"), Target("10.0.9.1", 53, "replica dns-a"),
                 Target("10.0.9.2", 53, "replica dns-b"))
    answers = {"10.96.0.10": AB, "10.0.9.1": AB, "10.0.9.2": None}
    ev = Evidence(get_case("HS-DNS-002"), "req")
    reads: list[int] = []

    def now_listed() -> list[Target]:
        reads.append(1)
        return [svc, a]
    dns_ = _dns(_Scripted([answers]), ev, targets=[svc, a, b], refresh_targets=now_listed)
    dns_.expect("web.test.", "A", Expectation.exactly(AB, "A"), transports=("udp",))
    assert dns_.targets == [svc, a] and len(reads) == 1
    (change,) = ev.info["dns_replica_changes"]
    assert change["left"] == ["10.0.9.2 (replica dns-b)"] and change["joined"] == []
    assert any(e.get("event") == "DNS replicas changed" for e in ev.timeline)
    still = Evidence(get_case("HS-DNS-002"), "req")
    with pytest.raises(DnsViolation) as err:
        _dns(_Scripted([answers]), still, timeout=0.3, targets=[svc, a, b],
             refresh_targets=lambda: [svc, a, b]).expect("web.test.", "A", Expectation.exactly(AB, "A"),
                                                         transports=("udp",))
    assert "@10.0.9.2 replica dns-b" in str(err.value) and "no response" in str(err.value)


def test_the_probe_keeps_a_record_given_twice_so_the_multiset_check_sees_it(tmp_path: Path, fake_dns: int) -> None:
    """dnspython merges the RRs of one name and type into a set when it parses a message: a duplicate on the
    wire would vanish before any check could see it (the duplicate-records fault passed every case)."""
    ops = [{"op": "query", "name": "dup.test.", "type": "A", "transport": t, "payload": None} for t in ("udp", "tcp")]
    out = _run_probe(tmp_path, {"server": "127.0.0.1", "port": fake_dns, "timeout": 2, "ops": ops})
    assert out["ok"], out
    results = out["results"]
    assert isinstance(results, list)
    for q, raw in zip((Query("dup.test.", "A", "udp"), Query("dup.test.", "A", "tcp")), results, strict=True):
        r = result_from_probe(q, "127.0.0.1", raw)
        assert sorted(rec.rdata for rec in r.answer) == ["10.0.0.1", "10.0.0.1", "10.0.0.2"], r.answer
        assert not Expectation.exactly(["10.0.0.1", "10.0.0.2"], "A").matches(r)


def test_poll_until_with_progress_waits_while_it_moves_and_stops_when_it_stalls() -> None:
    """The deadline follows progress (the scale case's rollout): a count that keeps rising gets more than
    ``stall``; one that stops is an ERROR after ``stall``, not after the whole ``timeout``."""
    from fixtures.polling import poll_until

    t0 = time.monotonic()

    def rising() -> int:  # one more ready replica every 0.05 s, all 10 after 0.5 s
        return min(10, int((time.monotonic() - t0) / 0.05))

    assert poll_until(lambda: True if rising() == 10 else None, timeout=5, stall=0.2, progress=rising,
                      what="10 ready", interval=0.01)
    assert time.monotonic() - t0 >= 0.45  # longer than the stall allowance: it moved all the time

    t1 = time.monotonic()
    with pytest.raises(HarnessError, match=r"no progress for 0s .* waiting for 10 ready"):
        poll_until(lambda: None, timeout=5, stall=0.3, progress=lambda: 3, what="10 ready", interval=0.01)
    assert 0.3 <= time.monotonic() - t1 < 2
    with pytest.raises(HarnessError, match="timed out after 0s waiting for 10 ready"):  # the cap in all
        poll_until(lambda: None, timeout=0.3, stall=5, progress=lambda: time.monotonic(), what="10 ready",
                   interval=0.01)


class _BrokenOnce:
    """An exec stream that breaks as the API server's did (SSL EOF under the websocket) for the first
    ``breaks`` requests, then answers the probe's requests."""

    def __init__(self, breaks: int) -> None:
        self.breaks = breaks
        self.pending: list[str] = []

    def send(self, line: str) -> None:
        self.pending.append(line)

    def readline(self, timeout: float) -> str:
        from websocket import WebSocketConnectionClosedException

        from fixtures.dns.resolver import ExecSession

        if self.breaks > 0:  # the real wrapper turns the websocket error into SessionLost
            self.breaks -= 1
            ExecSession.readline(self._raising(WebSocketConnectionClosedException("socket is already closed.")),
                                 timeout)
        req = json.loads(self.pending.pop(0))
        return json.dumps({"id": req["id"], "ok": True, "results": []})

    @staticmethod
    def _raising(exc: BaseException) -> Any:
        class _Resp:
            def readline_stdout(self, timeout: float) -> str:
                raise exc

        obj = type("S", (), {})()
        obj._resp = _Resp()
        obj.where = "ns/pod"
        return obj

    def close(self) -> None:
        pass


def test_a_broken_exec_stream_is_opened_again_and_the_request_sent_again() -> None:
    """An exec stream closed under the suite (seen: SSL EOF, then an INTERNALERROR at session start) is no
    verdict: the resolver opens a new stream and asks again, a few times; a stream that keeps breaking is an
    ERROR (SessionLost is a HarnessError), never an INTERNALERROR."""
    from fixtures.dns.resolver import MAX_REOPEN, Resolver, SessionLost

    def resolver(breaks: int) -> Resolver:
        res = Resolver.__new__(Resolver)
        res.probe_path, res.namespace, res.name, res._seq, res.reopened = "/p", "ns", "pod", 0, 0
        res.settings = type("S", (), {"query_timeout": 1})()
        res.session_note = "persistent exec session"
        stream = _BrokenOnce(breaks)
        res.session = stream  # type: ignore[assignment]

        def reopen() -> None:
            stream.pending.clear()  # a new stream: the old request is gone with the old one
            res.session = stream  # type: ignore[assignment]

        res._open_session = reopen  # type: ignore[method-assign]
        return res

    res = resolver(1)
    assert res._probe({"ops": []})["ok"] and res.reopened == 1 and "reopened 1x" in res.session_note
    res = resolver(MAX_REOPEN + 1)
    with pytest.raises(SessionLost, match="broke: WebSocketConnectionClosedException"):
        res._probe({"ops": []})
    assert isinstance(SessionLost("x"), HarnessError) and res.reopened == MAX_REOPEN


class _ByName(_Scripted):
    """Scripted answers per queried name: ``{name: [records of poll 0, poll 1, ...]}`` (the last one repeats)."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        super().__init__([])
        self.by_name = answers

    def run(self, queries: Sequence[Query], targets: Sequence[Any] | None = None) -> list[QueryResult]:
        n, self.calls = self.calls, self.calls + 1
        out = []
        for q in queries:
            script = self.by_name[q.name]
            recs = script[min(n, len(script) - 1)]
            out.append(QueryResult(q, "fake", "NOERROR", ("QR", "AA"),
                                   tuple(Record(q.name, 5, "A", d) for d in recs), server_label="fake"))
        return out


def _subject(name: str, expect: list[str]) -> Subject:
    ev = Evidence(get_case("HS-DNS-002"), f"{name} answers {expect}")
    return Subject(name, ev, ev.requirement,
                   lambda _state: [Check(Query(f"{name}.test.", "A", "udp"), Expectation.exactly(expect, "A"))])


def test_a_shared_stream_gives_each_verdict_when_it_is_earned_not_after_the_slowest() -> None:
    """The seed's stream: ``right`` converges and holds at once, ``wrong`` never does (a known deviation);
    ``right``'s verdict must not wait for ``wrong``'s deadline, and ``wrong`` still FAILs at its own."""
    runner = _ByName({"right.test.": [AB], "wrong.test.": [["10.0.0.1"]]})
    stream = _dns(runner, Evidence(get_case("HS-DNS-002"), ""), timeout=0.5).stream(
        [_subject("right", AB), _subject("wrong", AB)], None)
    stream.run(until=["right"])
    assert isinstance(stream.outcome("right"), list) and stream.outcome("wrong") is None
    assert runner.calls == 3 + 3  # converged (3 identical) and held (3): nothing more
    stream.run(until=["wrong"])
    assert isinstance(stream.outcome("wrong"), DnsViolation)


def test_a_shared_stream_never_pauses_inside_another_subjects_streak_or_hold() -> None:
    """``late`` starts matching while ``early`` holds: the stream goes on until ``late`` has held too, so no
    streak or hold of a subject ever spans the pause before the next case asks."""
    runner = _ByName({"early.test.": [AB], "late.test.": [[], [], AB]})
    stream = _dns(runner, Evidence(get_case("HS-DNS-002"), "")).stream(
        [_subject("early", AB), _subject("late", AB)], None)
    stream.run(until=["early"])
    assert isinstance(stream.outcome("late"), list)
    assert runner.calls == 2 + 3 + 3  # late: two wrong polls, three to converge, three held
