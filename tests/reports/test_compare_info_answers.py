"""compare lists INFO cases whose answers changed (issue 12 item 5): observations, never regressions, and what
differs between runs by construction (namespaces, addresses, SOA serials, timings, servers) is no change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixtures.reporting.__main__ import main
from fixtures.reporting.compare import behaviour, compare


def info_result(cid: str, namespace: str, info: dict[str, Any], observed: list[dict[str, Any]],
                status: str = "info") -> dict[str, Any]:
    return {"id": cid, "title": f"title of {cid}", "level": "INFO", "status": status, "message": "",
            "time_to_converge_s": None,
            "evidence": [{"nodeid": f"conformance/test_x.py::test_{cid}", "info": info, "observed": observed}],
            "items": [{"nodeid": f"conformance/test_x.py::test_{cid}", "properties": {"namespace": namespace}}]}


def doc(run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": "1.1.0", "run_info": {"run_id": run_id}, "closing_line": "x", "interrupted": False,
            "results": results}


def ptr_case(ns: str, ip: str, server: str, *, answered: bool, call_s: float) -> dict[str, Any]:
    dashed = ip.replace(".", "-")
    rev = ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    records = [f"{dashed}.hl.{ns}.svc.cluster.local."] if answered else []
    return info_result("HS-DNS-036", ns, {
        "implementation": "coredns 1.14.7", "call_s": call_s, "dns_targets": [f"{server} (DNS Service)"],
        "ptr_rcode": "NOERROR" if answered else "NXDOMAIN", "ptr_records": records,
    }, [{"query": f"hl.{ns}.svc.cluster.local. A udp @{server} DNS Service", "rcode": "NOERROR", "records": [ip],
         "flags": ["AA"]},
        {"query": f"{rev} PTR udp", "rcode": "NOERROR" if answered else "NXDOMAIN", "records": records,
         "flags": ["AA"]}])


def soa_case(ns: str, ip: str, serial: int, server: str) -> dict[str, Any]:
    soa = f"cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. {serial} 7200 1800 86400 5"
    return info_result("HS-DNS-038", ns, {
        "positive_ttls": [5], "nxdomain": {"rcode": "NXDOMAIN", "aa": True, "authority": [soa]}, "converge_s": 0.3,
    }, [{"query": f"my-headless-service.{ns}.svc.cluster.local. A udp @{server} replica coredns-abc",
         "rcode": "NOERROR", "records": [ip], "flags": ["AA"]}])


def test_an_info_answer_that_changed_is_an_observation_and_run_noise_is_not(tmp_path: Path) -> None:
    before = doc("r1", [ptr_case("hsdns-a1b2c3-gw0-036-info-ptr", "10.245.0.7", "10.96.0.10", answered=True,
                                 call_s=0.4),
                        soa_case("hsdns-a1b2c3-gw1-038-info-negative", "10.245.0.9", 1796123300, "10.245.0.2")])
    # after an "upgrade": other namespaces, addresses, serial, timings, replicas; only the PTR answer differs
    after = doc("r2", [ptr_case("dns-conformance", "10.245.3.44", "10.96.0.10:53", answered=False, call_s=1.9),
                       soa_case("hsdns-ffee00-gw2-038-info-negative", "10.245.1.3", 1796999999, "10.245.0.8")])
    result = compare(before, after)
    assert result["verdict"] == "OK" and result["regressions"] == [] and result["info_changes"] == []
    changed = result["info_answer_changes"]
    assert [c["id"] for c in changed] == ["HS-DNS-036"], changed
    text = "\n".join(changed[0]["changes"])
    assert 'ptr_rcode: "NOERROR" -> "NXDOMAIN"' in text
    assert "<ipv4>.in-addr.arpa. PTR udp: NOERROR ['<ipv4-dashed>.hl.<ns>.svc.cluster.local.'] -> NXDOMAIN" in text
    assert (changed[0]["before"], changed[0]["after"]) == ("info", "info")
    # the same case read twice is no change; neither is a case whose status changed (listed as a status change)
    assert behaviour(before["results"][1]) == behaviour(after["results"][1])
    errored = doc("r3", [{**ptr_case("ns-x", "10.0.0.1", "10.96.0.10", answered=False, call_s=1), "status": "error"}])
    assert compare(before, errored)["info_answer_changes"] == []

    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "-o", str(tmp_path / "c.md")]) == 0
    md = (tmp_path / "c.md").read_text()
    assert "## INFO answers changed (observations, never a regression)" in md and "| HS-DNS-036 |" in md
    assert "1 INFO answer change(s)" in md
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--format", "html", "-o",
                 str(tmp_path / "c.html")]) == 0
    assert 'id="info_answer_changes"' in (tmp_path / "c.html").read_text()
