"""The upstream-e2e outside check without a cluster: test selection and verdicts from a JUnit file,
the KUBE_TEST_REPO_LIST layout the stand-in images are pushed under, and the gateway's dial rule
that lets the API server's pod proxy reach the real nodes' pods (and nothing off the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster import build, gateway, images, upstream_e2e
from localcluster.upstream_e2e import DEFAULT_FOCUS, DEFAULT_SKIP, KNOWN_GAPS

GAP = next(iter(KNOWN_GAPS))

JUNIT = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="6" failures="2">
  <testsuite name="Kubernetes e2e suite" tests="6">
    <testcase name="[SynchronizedBeforeSuite]" status="passed" time="0.01"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for services [Conformance]" status="passed"
              time="7.2"></testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for the cluster [Provider:GCE]" status="skipped"
              time="0.1"><skipped message="skipped - Only supported for providers [gce] (not local)"/></testcase>
    <testcase name="[It] {GAP}" status="failed" time="0.1"><failure message="[FAILED] invalid name">x</failure>
    </testcase>
    <testcase name="[It] [sig-network] DNS configMap nameserver Change stubDomain [Slow] [Serial]" status="skipped"
              time="0"><skipped message="skipped"/></testcase>
    <testcase name="[It] [sig-apps] Deployment should work" status="skipped" time="0"><skipped message="skipped"/>
    </testcase>
  </testsuite>
</testsuites>
"""


def test_selection_is_ginkgos_focus_and_skip(tmp_path: Path) -> None:
    junit = tmp_path / "junit_01.xml"
    junit.write_text(JUNIT)
    results = upstream_e2e.parse_junit(junit, DEFAULT_FOCUS, DEFAULT_SKIP)
    assert [r.name for r in results] == sorted([
        "[sig-network] DNS should provide DNS for services [Conformance]",
        "[sig-network] DNS should provide DNS for the cluster [Provider:GCE]",
        GAP,
    ])
    by_name = {r.name: r for r in results}
    assert by_name[GAP].verdict == "FAIL (known gap)"
    assert by_name["[sig-network] DNS should provide DNS for the cluster [Provider:GCE]"].reason.startswith(
        "skipped - Only supported")
    assert upstream_e2e.verdict_ok(results)


def test_verdict_flags_unexpected_failures_and_gaps_that_pass() -> None:
    ok = upstream_e2e.Result("a", "passed", 1.0)
    assert upstream_e2e.verdict_ok([ok, upstream_e2e.Result("b", "skipped", 0)])
    assert not upstream_e2e.verdict_ok([ok, upstream_e2e.Result("c", "failed", 1.0, "boom")])
    fixed = upstream_e2e.Result(GAP, "passed", 1.0, known_gap=KNOWN_GAPS[GAP])
    assert fixed.verdict == "PASS (known gap now passes)"
    assert not upstream_e2e.verdict_ok([fixed])


def test_summary_lists_every_result(tmp_path: Path) -> None:
    results = [upstream_e2e.Result("[sig-network] DNS x | y", "passed", 2.0),
               upstream_e2e.Result(GAP, "failed", 0.1, "[FAILED] invalid", KNOWN_GAPS[GAP])]
    meta: dict[str, object] = {"kubernetes": "v1.34.4", "coredns": "1.14.7", "focus": DEFAULT_FOCUS,
                               "skip": DEFAULT_SKIP, "started": "t", "run_seconds": 60.0, "exit_code": 1,
                               "command": "e2e.test"}
    text = upstream_e2e.write_summary(tmp_path, results, meta).read_text()
    assert "1 passed, 1 failed, 0 skipped of 2 selected" in text
    assert "| PASS | [sig-network] DNS x / y | 2 |" in text
    assert "FAIL (known gap)" in text and (tmp_path / "summary.json").is_file()


def test_repo_list_maps_every_manifest_field_under_the_prefix() -> None:
    repo = images.upstream_repo_list("10.253.0.2:5000")
    # the field names of RegistryList in k8s.io/kubernetes/test/utils/image/manifest.go (v1.34.4)
    assert set(repo) == {"gcAuthenticatedRegistry", "promoterE2eRegistry", "buildImageRegistry", "invalidRegistry",
                         "gcEtcdRegistry", "gcRegistry", "sigStorageRegistry", "privateRegistry",
                         "dockerLibraryRegistry", "cloudProviderGcpRegistry"}
    assert repo["promoterE2eRegistry"] == "10.253.0.2:5000/upstream-e2e/registry.k8s.io/e2e-test-images"
    # what the framework pulls (registry + name:tag) is exactly where the stand-ins are pushed
    for name, tag in (("agnhost", "2.56"), ("jessie-dnsutils", "1.7"), ("busybox", "1.37.0-1")):
        recipe = images.UPSTREAM_E2E_RECIPES[name]
        assert images.image_reference(recipe, "10.253.0.2:5000") == f"{repo['promoterE2eRegistry']}/{name}:{tag}"
    assert images.UPSTREAM_AGNHOST.entrypoint == ("/agnhost",)
    assert {f.path for f in images.UPSTREAM_AGNHOST.files} >= {"/agnhost", "/coredns"}
    assert not set(images.UPSTREAM_E2E_RECIPES.values()) & set(images.RECIPES.values())  # never built by `up`


def test_e2e_components_are_not_built_by_up() -> None:
    names = {c.name for c in build.components()}
    e2e = build.e2e_components()
    assert not names & {c.name for c in e2e}
    assert {b for c in e2e for b in c.binaries} == {"e2e.test", "agnhost", "kubectl", "coredns"}
    agnhost_coredns = next(c for c in e2e if c.name == "coredns-e2e")
    assert {"forward", "hosts"} <= set(agnhost_coredns.extra["plugins"])


class _FakeSock:
    def __init__(self) -> None:
        self.connected: tuple[str, int] | None = None

    def settimeout(self, _t: float) -> None:
        pass

    def connect(self, addr: tuple[str, int]) -> None:
        self.connected = addr


class _FakeNs:
    def __init__(self) -> None:
        self.made: list[_FakeSock] = []

    def socket(self, _family: int, _kind: int) -> _FakeSock:
        s = _FakeSock()
        self.made.append(s)
        return s


@pytest.mark.parametrize("target", ["10.245.0.4", "fd00:10:245::4", "10.253.0.10", "hsdns-real-0"])
def test_gateway_dials_nodes_and_real_pods_inside_the_namespace(target: str) -> None:
    ns = _FakeNs()
    gw = gateway.Gateway(ns, {"hsdns-real-0": "10.253.0.10"})  # type: ignore[arg-type]
    sock = gw.dial(target, 80)
    assert isinstance(sock, _FakeSock) and sock.connected is not None
    assert sock.connected[0] == ("10.253.0.10" if target == "hsdns-real-0" else target)


@pytest.mark.parametrize("target", ["8.8.8.8", "10.244.0.5", "10.96.0.10", "2001:4860:4860::8888"])
def test_gateway_refuses_everything_else(target: str) -> None:
    ns = _FakeNs()
    gw = gateway.Gateway(ns, {})  # type: ignore[arg-type]
    with pytest.raises(PermissionError):
        gw.dial(target, 80)
    assert ns.made == []
