"""Rules inside individual cases, each with the defect it once had (issue 9, item 6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from fixtures.dns.fingerprint import fingerprint
from fixtures.dns.model import Query, QueryResult, Record
from fixtures.kube.facts import names_cluster_dns
from fixtures.kube.namespace import CaseNamespace
from fixtures.options import resolve_settings
from fixtures.scenarios import address_block
from fixtures.verdict import HarnessError


class _Core:
    def __init__(self, exc: ApiException | None) -> None:
        self.exc = exc
        self.calls: list[dict[str, Any]] = []

    def create_namespaced_service(self, ns: str, body: dict[str, Any], **kw: Any) -> None:
        self.calls.append(kw)
        if self.exc is not None:
            raise self.exc


def _ns(core: _Core, case_id: str = "HS-DNS-016", run_id: str = "run1") -> CaseNamespace:
    ns = CaseNamespace.__new__(CaseNamespace)
    ns.name, ns.core, ns.case_id, ns.run_id = "t", core, case_id, run_id
    return ns


def _api_error(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.body = json.dumps({"message": message})
    return exc


def test_sctp_is_unsupported_only_when_the_api_server_refuses_the_protocol() -> None:
    """Defect: any error text containing "protocol" (or the namespace name "...sctp...") became a SKIP."""
    refused = _Core(_api_error(422, 'Service "x" is invalid: spec.ports[0].protocol: Unsupported value: "SCTP"'))
    assert "SCTP" in (_ns(refused).sctp_rejection() or "")
    assert refused.calls[0]["dry_run"] == "All"  # a probe, nothing created
    assert _ns(_Core(None)).sctp_rejection() is None
    for other in (_api_error(500, "etcdserver: request timed out (protocol buffers)"),
                  _api_error(403, "forbidden: hsdns-x-016-sctp-named-port cannot create services")):
        with pytest.raises(HarnessError):
            _ns(_Core(other)).sctp_rejection()


def test_nodelocal_dnscache_is_the_cluster_dns_of_its_pods() -> None:
    """Defect: only a kube-dns ClusterIP was accepted, so NodeLocal DNSCache clusters failed HS-DNS-029."""
    assert names_cluster_dns(["10.96.0.10"], ["10.96.0.10"], None)
    assert names_cluster_dns(["169.254.20.10"], ["10.96.0.10"], ["169.254.20.10"])
    assert names_cluster_dns(["169.254.20.10"], ["10.96.0.10"], None)  # kubelet config unreadable
    assert not names_cluster_dns(["8.8.8.8"], ["10.96.0.10"], ["10.96.0.10"])
    assert not names_cluster_dns(["169.254.20.10"], ["10.96.0.10"], ["10.96.0.10"])


def test_cases_publishing_hand_made_addresses_never_share_them() -> None:
    """Defect: blocks came from a hash of the namespace, so 023 and 024 could publish the same addresses
    in parallel and each other's PTR answers mixed."""
    blocks = {cid: set(address_block(_ns(_Core(None), cid), 150)) for cid in ("HS-DNS-023", "HS-DNS-024",
                                                                              "HS-DNS-025", "HS-DNS-026")}
    ids = list(blocks)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            assert not blocks[a] & blocks[b], (a, b)
    assert all(ip.startswith("198.1") for ips in blocks.values() for ip in ips)


def test_two_runs_on_one_cluster_rarely_publish_the_same_hand_made_addresses() -> None:
    """Defect: only the second octet (two choices) told runs apart, so a monitor beside a suite run published
    the same addresses half of the time and each PTR answer named both runs' endpoints."""
    def block(run: str, count: int) -> set[str]:
        return set(address_block(_ns(_Core(None), "HS-DNS-063", run), count))

    runs = [f"run-{i}" for i in range(60)]
    pairs = [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:]]
    shared = sum(1 for a, b in pairs if block(a, 3) & block(b, 3))
    assert shared / len(pairs) < 0.05, shared
    assert all(ip.startswith(("198.18.63.", "198.19.63.")) for r in runs for ip in block(r, 3))
    assert all(len(block(r, 254)) == 254 for r in runs[:3])


class _Answers:
    backend = "fake"
    where = "fake"

    def __init__(self, version_bind: str | None) -> None:
        self.version_bind = version_bind

    def run(self, queries: Sequence[Query], targets: Sequence[Any] | None = None) -> list[QueryResult]:
        out = []
        for q in queries:
            recs: tuple[Record, ...] = ()
            if q.klass == "CH" and self.version_bind:
                recs = (Record(q.name, 0, "TXT", f'"{self.version_bind}"'),)
            out.append(QueryResult(q, "x", "NOERROR", ("QR",), recs))
        return out


@pytest.mark.parametrize(("said", "impl", "version"), [
    ("CoreDNS-1.14.7", "coredns", "1.14.7"),
    ("PowerDNS Recursor 5.1.0", "powerdns-recursor", "5.1.0"),
    ("9.18.28-1~deb12u2-Debian", "unknown", "version.bind '9.18.28-1~deb12u2-Debian'"),
    (None, "unknown", "unknown"),
])
def test_the_server_under_test_is_named_by_its_own_answer(said: str | None, impl: str, version: str) -> None:
    """Defect: the report named the cluster's CoreDNS even when --dns-server pointed at another server."""
    got = fingerprint(_Answers(said), "cluster.local")  # type: ignore[arg-type]
    assert got[:2] == (impl, version)


def test_scale_pods_can_be_placed_apart_from_the_rest() -> None:
    s = resolve_settings({"node-selector": "a=b", "scale-node-selector": "type=kwok",
                          "scale-tolerations": "kwok.x-k8s.io/node:NoSchedule"}, {})
    assert s.node_selector == {"a": "b"} and s.scale_node_selector == {"type": "kwok"}
    assert s.scale_tolerations == [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
    assert resolve_settings({"node-selector": "a=b"}, {}).scale_node_selector == {"a": "b"}
