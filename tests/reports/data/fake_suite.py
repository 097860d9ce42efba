"""A tiny fake conformance suite run through the reporting plugin by the tests (via pytester)."""

import json
from collections.abc import Callable

import pytest

EVIDENCE = {
    "requirement": "<svc>.<ns>.svc.<zone> A MUST list each ready endpoint",
    "expected": ["10.244.0.5", "10.244.0.6"],
    "observed": ["10.244.0.5", "10.244.0.6"],
    "missing": [],
    "extra": [],
    "observations": [
        {"qname": "web.ns.svc.cluster.local.", "rdtype": "A", "transport": "udp", "rcode": "NOERROR", "t": 0.4},
    ],
    "time_to_converge_s": 1.25,
}


@pytest.mark.case("HS-DNS-001")
@pytest.mark.allure_label("suite-chosen story", label_type="story")  # what @allure.story(...) applies
def test_a_records_pass(record_property: Callable[[str, object], None]) -> None:
    record_property("evidence", json.dumps(EVIDENCE))


@pytest.mark.case("HS-DNS-002")
def test_srv_fail(record_property: Callable[[str, object], None]) -> None:
    evidence: dict[str, object] = {
        **EVIDENCE,
        "observed": ["10.244.0.5"],
        "missing": ["10.244.0.6"],
        "time_to_converge_s": None,
    }
    record_property("evidence", json.dumps(evidence))
    assert evidence["observed"] == evidence["expected"], "SRV answer is missing an endpoint"


@pytest.mark.case("HS-DNS-003")
def test_ptr_harness_error(broken_cluster: None) -> None:
    pass


@pytest.mark.case("HS-DNS-004")
def test_aaaa_skipped() -> None:
    pytest.skip("cluster has no IPv6 (ip_families=IPv4)")


@pytest.mark.case("HS-DNS-005")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_transports(transport: str, record_property: Callable[[str, object], None]) -> None:
    record_property("evidence", {**EVIDENCE, "time_to_converge_s": 2.5 if transport == "tcp" else 0.5})


@pytest.mark.case("HS-DNS-006")
@pytest.mark.info  # what @case applies to a catalogue INFO entry
def test_info_observation(record_property: Callable[[str, object], None]) -> None:
    record_property("evidence", {"requirement": "observe the fallback names", "observed": ["10-244-0-5"]})


def test_without_case_id() -> None:
    pass
