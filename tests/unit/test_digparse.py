"""dig output parsing and command construction (cluster-free)."""

from __future__ import annotations

from fixtures.dns.digparse import SEPARATOR, batch_shell, dig_command, parse_dig_output, split_batch
from fixtures.dns.model import Expectation, Query

ANSWER = """
; <<>> DiG 9.18.30 <<>> @10.96.0.10 -p 53 +notcp web.ns.svc.cluster.local A
; (1 server found)
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4242
;; flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1
;; WARNING: recursion requested but not available

;; OPT PSEUDOSECTION:
; EDNS: version: 0, flags:; udp: 1232
;; QUESTION SECTION:
;web.ns.svc.cluster.local.\tIN\tA

;; ANSWER SECTION:
web.ns.svc.cluster.local. 5\tIN\tA\t10.244.0.7
web.ns.svc.cluster.local. 5\tIN\tA\t10.244.1.3

;; Query time: 3 msec
;; SERVER: 10.96.0.10#53(10.96.0.10) (UDP)
;; MSG SIZE  rcvd: 150
"""

NXDOMAIN = """
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1
;; flags: qr aa rd; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 0

;; AUTHORITY SECTION:
cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. hostmaster.cluster.local. 1700000000 7200 1800 86400 5
"""

SRV_TC = """
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2
;; flags: qr aa tc rd; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0

;; ANSWER SECTION:
_http._tcp.svc.ns.svc.cluster.local. 5 IN SRV 0 33 8080 web-0.svc.ns.svc.cluster.local.
"""

TIMEOUT = """
; <<>> DiG 9.9.5 <<>> @10.96.0.10 x A
;; connection timed out; no servers could be reached
"""


def test_answer_section_and_flags() -> None:
    q = Query("web.ns.svc.cluster.local.", "A", "udp")
    r = parse_dig_output(ANSWER, q, "10.96.0.10")
    assert r.rcode == "NOERROR" and r.aa and not r.tc
    assert r.rdata_keys() == {"10.244.0.7", "10.244.1.3"}
    assert r.answer[0].ttl == 5 and r.duration_s == 0.003
    assert r.size == 150  # ";; MSG SIZE  rcvd: 150": what a size limit (HS-DNS-074) is judged on
    assert Expectation.exactly(["10.244.1.3", "10.244.0.7"], "A").matches(r)


def test_nxdomain_with_soa_in_authority() -> None:
    r = parse_dig_output(NXDOMAIN, Query("x.cluster.local.", "A"), "s")
    assert r.rcode == "NXDOMAIN" and not r.answer
    assert r.authority[0].rdtype == "SOA"
    assert Expectation.nxdomain().matches(r)


def test_truncated_srv() -> None:
    r = parse_dig_output(SRV_TC, Query("_http._tcp.svc.ns.svc.cluster.local.", "SRV"), "s")
    assert r.tc
    assert r.rdata_keys() == {"8080 web-0.svc.ns.svc.cluster.local."}


def test_timeout_is_no_response_not_a_verdict() -> None:
    r = parse_dig_output(TIMEOUT, Query("x.", "A"), "s")
    assert r.rcode is None and r.error and "timed out" in r.error
    assert not Expectation.nxdomain().matches(r)


def test_command_flags() -> None:
    udp = dig_command(Query("a.", "A", "udp", payload=0), "10.0.0.10", 53, 2)
    assert "+notcp" in udp and "+ignore" in udp and "+noedns" in udp and udp[-2:] == ["a.", "A"]
    tcp = dig_command(Query("a.", "SRV", "tcp"), "127.0.0.1", 1053, 2)
    assert "+tcp" in tcp and "-p" in tcp and "1053" in tcp and "+bufsize=1232" in tcp


def test_batch_round_trip() -> None:
    cmd = batch_shell([Query("a.", "A"), Query("b.", "A", "tcp")], "s", 53, 2)
    assert cmd[:2] == ["sh", "-c"] and cmd[2].count(SEPARATOR) == 2
    chunks = split_batch(f"{ANSWER}\n{SEPARATOR}\n{NXDOMAIN}\n{SEPARATOR}\n")
    assert len(chunks) == 2 and "NXDOMAIN" in chunks[1]
