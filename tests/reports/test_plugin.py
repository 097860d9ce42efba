"""Run the fake suite through the reporting plugin (serial and with -n 2) and check every report file."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.reporting.__main__ import validation_errors
from tests.reports.helpers import DATA, last_line, load_json

CLOSING = re.compile(
    r"^HEADLESS-DNS CONFORMANCE: (\d+) passed \| (\d+) failed \| (\d+) skipped \| (\d+) error \| (\d+) info$"
)
# Per id: 001 passed, 002 failed, 003 error, 004 skipped, 005 passed (2 items), 006 info (INFO case);
# plus 1 test without id (passed).
EXPECTED_LINE = "HEADLESS-DNS CONFORMANCE: 3 passed | 1 failed | 1 skipped | 1 error | 1 info"
# What pytest itself counts (an INFO case that ran is a pytest pass).
PYTEST_OUTCOMES = {"passed": 5, "failed": 1, "skipped": 1, "errors": 1}


def results_by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["results"]}


def check_reports(reports: Path, stdout: str) -> dict[str, Any]:
    """Assertions shared by the serial and the xdist run."""
    assert last_line(stdout) == EXPECTED_LINE
    assert CLOSING.match(last_line(stdout))
    assert (reports / "summary.txt").read_text().strip() == EXPECTED_LINE

    doc: dict[str, Any] = load_json(reports / "conformance.json")
    assert validation_errors(doc) == []
    assert doc["closing_line"] == EXPECTED_LINE
    by_id = results_by_id(doc)
    assert {k: v["status"] for k, v in by_id.items()} == {
        "HS-DNS-001": "passed",
        "HS-DNS-002": "failed",
        "HS-DNS-003": "error",
        "HS-DNS-004": "skipped",
        "HS-DNS-005": "passed",
        "HS-DNS-006": "info",
    }
    assert doc["interrupted"] is False
    assert doc["summary"]["info"] == 1 and doc["summary"]["passed"] == 3
    assert by_id["HS-DNS-006"]["level"] == "INFO"
    assert by_id["HS-DNS-006"]["expected_status"] == "info"
    assert by_id["HS-DNS-006"]["matches_expectation"] is True
    assert by_id["HS-DNS-006"]["items"][0]["outcome"] == "passed"  # pytest's outcome, kept as it was
    assert by_id["HS-DNS-001"]["title"] == "Service name returns one A record per ready endpoint"
    assert by_id["HS-DNS-001"]["spec"] == "k8s-dns/2.4.1"
    assert by_id["HS-DNS-001"]["level"] == "MUST"
    assert by_id["HS-DNS-001"]["time_to_converge_s"] == 1.25
    assert by_id["HS-DNS-001"]["observations"][0]["rcode"] == "NOERROR"
    assert by_id["HS-DNS-002"]["message"].startswith("AssertionError: SRV answer is missing an endpoint")
    assert by_id["HS-DNS-002"]["evidence"][0]["missing"] == ["10.244.0.6"]
    sections = by_id["HS-DNS-002"]["items"][0]["sections"]
    assert sections == {"hsdns objects (Service, EndpointSlices, pods)": "kind: Service\nmetadata: {name: web}\n"}
    assert "no exec found" in by_id["HS-DNS-003"]["message"]
    assert by_id["HS-DNS-003"]["items"][0]["phase"] == "setup"
    assert by_id["HS-DNS-004"]["message"] == "cluster has no IPv6 (ip_families=IPv4)"
    assert len(by_id["HS-DNS-005"]["items"]) == 2
    assert by_id["HS-DNS-005"]["time_to_converge_s"] == 2.5
    assert [u["nodeid"] for u in doc["uncatalogued"]] == ["test_fake_suite.py::test_without_case_id"]
    assert doc["not_run"] == ["HS-DNS-010"]
    info = doc["run_info"]
    assert info["platform"] == "kind"
    assert info["ip_families"] == ["IPv4"]
    assert info["images"] == "unknown"
    assert info["suite_version"] == "9.9.9"
    assert info["catalogue_version"] == "test-1"
    assert info["run_id"]

    # JUnit: xunit1, every catalogued testcase named with its id, case properties, run info on the suite.
    root = ET.parse(reports / "junit.xml").getroot()
    cases = list(root.iter("testcase"))
    assert len(cases) == 8
    names = sorted(c.get("name", "") for c in cases)
    assert names == [
        "HS-DNS-001 test_a_records_pass",
        "HS-DNS-002 test_srv_fail",
        "HS-DNS-003 test_ptr_harness_error",
        "HS-DNS-004 test_aaaa_skipped",
        "HS-DNS-005 test_transports[tcp]",
        "HS-DNS-005 test_transports[udp]",
        "HS-DNS-006 test_info_observation",
        "test_without_case_id",
    ]
    srv = next(c for c in cases if "HS-DNS-002" in c.get("name", ""))
    props = {p.get("name"): p.get("value") for p in srv.iter("property")}
    assert props["case_id"] == "HS-DNS-002"
    assert props["spec"] == "k8s-dns/2.4.2"
    assert props["conformance_status"] == "failed"
    assert srv.find("failure") is not None
    assert srv.get("file") == "test_fake_suite.py"  # attribute kept only by junit_family xunit1
    info_case = next(c for c in cases if "HS-DNS-006" in c.get("name", ""))
    info_props = {p.get("name"): p.get("value") for p in info_case.iter("property")}
    assert info_props["conformance_status"] == "info" and info_props["level"] == "INFO"
    assert list(info_case) == [info_case.find("properties")]  # pytest's own verdict (a pass) left as it is
    suite_props = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}  # type: ignore[union-attr]
    assert suite_props["hsdns.platform"] == "kind"

    # Allure: labels from the catalogue, evidence attached, environment and categories written.
    allure = reports / "allure-results"
    env = (allure / "environment.properties").read_text()
    assert "platform=kind" in env
    assert "dns_implementation=coredns" in env
    assert "cluster_domain=unknown" not in env
    assert "cluster_domain=cluster.local" in env
    categories = load_json(allure / "categories.json")
    assert next(c["name"] for c in categories).startswith("Harness")
    results = [load_json(p) for p in allure.glob("*-result.json")]
    assert len(results) == 8
    a_result = next(r for r in results if r["fullName"].endswith("test_a_records_pass"))
    assert [lb["value"] for lb in a_result["labels"] if lb["name"] == "story"] == ["suite-chosen story"]
    srv_result = next(r for r in results if r["fullName"].endswith("test_srv_fail"))
    labels = {(lb["name"], lb["value"]) for lb in srv_result["labels"]}
    assert {("as_id", "HS-DNS-002"), ("severity", "critical"), ("feature", "srv"), ("spec", "k8s-dns/2.4.2")} <= labels
    assert srv_result["name"] == "HS-DNS-002 Named port SRV set covers every ready endpoint"
    assert srv_result["status"] == "failed"
    attachment = srv_result["attachments"][0]
    assert attachment["name"] == "evidence"
    assert load_json(allure / attachment["source"])["missing"] == ["10.244.0.6"]
    error_result = next(r for r in results if r["fullName"].endswith("test_ptr_harness_error"))
    assert error_result["status"] == "broken"
    info_result = next(r for r in results if r["fullName"].endswith("test_info_observation"))
    assert info_result["status"] == "passed"  # Allure has no info status; the tag says what it is
    assert ("tag", "info") in {(lb["name"], lb["value"]) for lb in info_result["labels"]}
    assert ("tag", "info") not in {(lb["name"], lb["value"]) for lb in a_result["labels"]}

    md = (reports / "summary.md").read_text()
    assert "| HS-DNS-002 |" in md
    assert EXPECTED_LINE in md
    assert "| passed | failed | skipped | error | info | total |" in md
    assert "| HS-DNS-006 | Names of endpoints without a hostname | k8s-dns/2.4.1 | INFO | info |" in md
    page = (reports / "conformance.html").read_text()
    assert EXPECTED_LINE in page
    assert 'id="summary-table"' in page
    assert "hsdns objects (Service, EndpointSlices, pods)" in page
    assert '<td id="count-info">1</td>' in page and '<td id="count-passed">3</td>' in page
    assert '<span class="badge info">info</span>' in page and ".info { background: var(--info); }" in page
    return doc


def test_serial_run_writes_every_report(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(**PYTEST_OUTCOMES)
    check_reports(fake_suite.path / "reports", result.stdout.str())


def test_xdist_controller_alone_writes_reports(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(**PYTEST_OUTCOMES)
    doc = check_reports(fake_suite.path / "reports", result.stdout.str())
    workers = {item["worker"] for r in doc["results"] for item in r["items"]}
    assert workers <= {"gw0", "gw1"} and workers
    assert result.stdout.str().count("HEADLESS-DNS CONFORMANCE:") == 1


def test_no_reports_option_writes_nothing(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider", "--no-reports")
    result.assert_outcomes(**PYTEST_OUTCOMES)
    assert not (fake_suite.path / "reports").exists()
    assert "HEADLESS-DNS CONFORMANCE" not in result.stdout.str()


def test_reports_dir_from_environment_and_explicit_junitxml(
    fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSDNS_REPORTS_DIR", "out/run1")
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=ci/junit-custom.xml")
    assert last_line(result.stdout.str()) == EXPECTED_LINE
    out = fake_suite.path / "out" / "run1"
    assert (out / "conformance.json").is_file()
    assert not (out / "junit.xml").exists()
    root = ET.parse(fake_suite.path / "ci" / "junit-custom.xml").getroot()
    assert any(c.get("name") == "HS-DNS-001 test_a_records_pass" for c in root.iter("testcase"))


def test_known_deviations_are_reported_as_expected_never_hidden(fake_suite: pytest.Pytester) -> None:
    expectations = {
        "platform": "kind",
        "deviations": [
            {"id": "HS-DNS-002", "expected": "failed", "issue": "https://example.invalid/issue/1", "reason": "r"},
            {"id": "HS-DNS-001", "expected": ["failed"], "issue": "https://example.invalid/issue/2"},
            {"id": "HS-DNS-005", "expected": "failed", "issue": "x", "when": {"platform": "openshift"}},
        ],
    }
    (fake_suite.path / "expectations").mkdir()
    (fake_suite.path / "expectations" / "kind.yaml").write_text(yaml.safe_dump(expectations))
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider")
    out = result.stdout.str()
    assert last_line(out) == EXPECTED_LINE  # the failure still counts as failed
    assert "1 expected failed" in out
    assert "1 listed deviation(s) did not happen" in out
    doc = load_json(fake_suite.path / "reports" / "conformance.json")
    assert validation_errors(doc) == []
    by_id = results_by_id(doc)
    assert by_id["HS-DNS-002"]["status"] == "failed"
    assert by_id["HS-DNS-002"]["expected_status"] == "failed"
    assert by_id["HS-DNS-002"]["matches_expectation"] is True
    assert by_id["HS-DNS-001"]["matches_expectation"] is False  # listed as failing but passed: flagged
    assert by_id["HS-DNS-005"]["known_deviation"] is None  # condition on run info did not match
    assert doc["summary"]["expected"]["failed"] == 1
    assert doc["expectations"]["path"].endswith("kind.yaml")
    page = (fake_suite.path / "reports" / "conformance.html").read_text()
    assert "expected failed" in page and "unexpected passed" in page
    assert "https://example.invalid/issue/1" in page
    assert "expected failed" in (fake_suite.path / "reports" / "summary.md").read_text()


def test_sonobuoy_results_in_manual_format(fake_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    sonobuoy_dir = fake_suite.path / "sonobuoy-results"
    monkeypatch.setenv("HSDNS_SONOBUOY_RESULTS_DIR", str(sonobuoy_dir))
    fake_suite.runpytest_subprocess("-p", "no:cacheprovider", "--sonobuoy")
    for path in (sonobuoy_dir / "sonobuoy_results.yaml", fake_suite.path / "reports" / "sonobuoy_results.yaml"):
        data = yaml.safe_load(path.read_text())
        assert data["name"] == "headless-dns-conformance"
        assert data["status"] == "failed"
        assert data["meta"] == {"type": "summary"}
        statuses = {i["name"].split(" ")[0]: i["status"] for i in data["items"]}
        assert statuses["HS-DNS-002"] == "failed"
        assert statuses["HS-DNS-003"] == "failed"  # harness error: Sonobuoy has no error status
        assert statuses["HS-DNS-004"] == "skipped"
        error_item = next(i for i in data["items"] if i["name"].startswith("HS-DNS-003"))
        assert error_item["details"]["error"] is True
        info_item = next(i for i in data["items"] if i["name"].startswith("HS-DNS-006"))
        assert info_item["status"] == "passed" and info_item["details"]["info"] is True  # no info status there
        assert info_item["details"]["status"] == "info"
        assert data["details"]["summary"] == EXPECTED_LINE


def test_run_info_file_and_collection_error(fake_suite: pytest.Pytester) -> None:
    (fake_suite.path / "facts.json").write_text(
        '{"images": {"resolver": "registry.local/resolver:1"}, "platform": "x"}'
    )
    fake_suite.makepyfile(test_broken="import no_such_module_hsdns\n")
    result = fake_suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "--run-info-file", "facts.json", "--continue-on-collection-errors"
    )
    doc = load_json(fake_suite.path / "reports" / "conformance.json")
    assert validation_errors(doc) == []
    assert doc["run_info"]["images"] == {"resolver": "registry.local/resolver:1"}
    assert doc["run_info"]["platform"] == "kind"  # set_run_info from the suite wins over the file
    errors = [u for u in doc["uncatalogued"] if u["phase"] == "collect"]
    assert errors and errors[0]["status"] == "error"
    line = "HEADLESS-DNS CONFORMANCE: 3 passed | 1 failed | 1 skipped | 2 error | 1 info"
    assert last_line(result.stdout.str()) == line


def test_case_marker_registered_for_strict_markers(fake_suite: pytest.Pytester) -> None:
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", "--markers")
    assert "@pytest.mark.case(id)" in result.stdout.str()


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_info_cases_are_info_never_passed_and_never_failed(fake_suite: pytest.Pytester, xdist: list[str]) -> None:
    (fake_suite.path / "test_fake_suite.py").unlink()
    fake_suite.makepyfile(test_info_cases=(DATA / "fake_info_cases.py").read_text())
    result = fake_suite.runpytest_subprocess("-p", "no:cacheprovider", *xdist)
    result.assert_outcomes(passed=2, failed=1, errors=1)  # pytest's own view is left as it is
    line = "HEADLESS-DNS CONFORMANCE: 0 passed | 0 failed | 0 skipped | 2 error | 2 info"
    assert last_line(result.stdout.str()) == line
    reports = fake_suite.path / "reports"
    doc = load_json(reports / "conformance.json")
    assert validation_errors(doc) == []
    by_id = results_by_id(doc)
    assert {k: (v["status"], v["level"]) for k, v in by_id.items()} == {
        "HS-DNS-006": ("info", "INFO"),  # by the catalogue level
        "HS-DNS-007": ("info", "INFO"),  # by the marker alone (the id is not in the catalogue)
        "HS-DNS-008": ("error", "INFO"),
        "HS-DNS-010": ("error", "INFO"),
    }
    relabelled = by_id["HS-DNS-008"]["items"][0]  # the suite reports it as a set-up error; it ran in the call
    assert relabelled["phase"] == "call" and by_id["HS-DNS-008"]["message"].startswith("call error: RuntimeError")
    assert by_id["HS-DNS-007"]["in_catalogue"] is False
    message = by_id["HS-DNS-010"]["message"]
    assert message.startswith("harness error: an INFO case never fails") and "an INFO check tripped" in message
    assert by_id["HS-DNS-010"]["matches_expectation"] is False
    assert doc["summary"]["verdict"] == "not conformant" and doc["summary"]["unexpected"] == 2
    root = ET.parse(reports / "junit.xml").getroot()
    failing = next(c for c in root.iter("testcase") if "HS-DNS-010" in c.get("name", ""))
    assert failing.find("failure") is not None  # pytest's JUnit verdict untouched ...
    props = {p.get("name"): p.get("value") for p in failing.iter("property")}
    assert props["conformance_status"] == "error"  # ... the hsdns property says what it is
    allure_results = map(load_json, (reports / "allure-results").glob("*-result.json"))
    allure = {r["fullName"].rsplit("#", 1)[-1]: r for r in allure_results}
    tags = {name: [lb["value"] for lb in r["labels"] if lb["name"] == "tag"] for name, r in allure.items()}
    assert tags["test_info_by_catalogue"].count("info") == 1
    assert tags["test_info_by_marker"].count("info") == 1
    assert allure["test_info_by_catalogue"]["status"] == "passed"
    assert allure["test_info_that_reports_a_failure"]["status"] == "broken"  # a harness error, as in the reports
