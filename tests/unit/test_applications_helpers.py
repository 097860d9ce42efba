"""The pieces of the applications cases (HS-DNS-076..080) that need no cluster: --musl-image, the musl stand-in
recipe, the probe's fqdn/libc ops, the parsers of in-pod output, the resolver pod body, the workload pod that
runs the probe, and the converge-and-hold of application lookups (its verdicts: FAIL, ERROR, never judged)."""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from fixtures.catalogue import get_case
from fixtures.dns.applookup import AppCheck, addresses_of, converge_lookups, no_answer
from fixtures.dns.converge import Live
from fixtures.dns.resolver import Resolver, _address_of, parse_libc, parse_resolv_conf
from fixtures.kube.namespace import IMAGE_OPTION_ANNOTATION, RESOLVER_LABEL, CaseNamespace
from fixtures.options import DEFAULT_MUSL_IMAGE, OPTIONS, resolve_settings, rewrite_registry
from fixtures.verdict import DnsViolation, Evidence, HarnessError
from localcluster import images

ROOT = Path(__file__).resolve().parents[2]


def _raw(**kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {spec.name: None for spec in OPTIONS}
    raw.update({k.replace("_", "-"): v for k, v in kw.items()})
    return raw


# --- --musl-image -------------------------------------------------------------------------------

def test_musl_image_default_rewrite_environment_and_listing() -> None:
    s = resolve_settings(_raw(), {"HOME": "/h"})
    assert s.musl_image == DEFAULT_MUSL_IMAGE == "docker.io/library/alpine:3.21"
    assert s.images()["musl"] == DEFAULT_MUSL_IMAGE
    s = resolve_settings(_raw(image_registry="mirror.example:5000/k8s"), {"HOME": "/h"})
    assert s.musl_image == "mirror.example:5000/k8s/library/alpine:3.21"
    s = resolve_settings(_raw(image_registry="mirror.example"), {"HOME": "/h", "HSDNS_MUSL_IMAGE": "quay.io/x/alp:1"})
    assert s.musl_image == "quay.io/x/alp:1"  # a given image is never rewritten
    s = resolve_settings(_raw(musl_image="cli.example/a:1"), {"HOME": "/h", "HSDNS_MUSL_IMAGE": "env.example/a:1"})
    assert s.musl_image == "cli.example/a:1"
    with pytest.raises(pytest.UsageError, match="--musl-image"):
        resolve_settings(_raw(musl_image="Bad Image"), {"HOME": "/h"})


def test_the_local_cluster_serves_the_musl_default_under_its_rewritten_name() -> None:
    registry = "10.253.0.2:5000"
    assert rewrite_registry(DEFAULT_MUSL_IMAGE, registry) == images.image_reference(images.MUSL, registry)
    assert images.find_recipe("musl") is images.MUSL and images.RECIPES["musl"] is images.MUSL


def test_musl_recipe_compiles_our_getent_with_musl_gcc_and_keeps_only_the_runtime() -> None:
    source = (ROOT / "localcluster" / "musl_getent.c").read_text()
    hooks = "\n".join(images.MUSL.hooks)
    assert source.strip() in hooks and "musl-gcc" in hooks and "/usr/bin/getent" in hooks
    assert {"musl", "musl-tools", "busybox-static"} <= set(images.MUSL.packages)
    kept = set(images.MUSL.keep)
    assert "usr/lib/ld-musl-x86_64.so.1" in kept and "usr/bin/getent" in kept
    assert not [k for k in kept if "gcc" in k or "include" in k]  # the toolchain stays out of the layer
    # the source is part of the cache key: another source, another image
    other = replace(images.MUSL, hooks=images._musl_getent_hooks(Path("/nonexistent/getent.c")))
    mirrors = ("deb http://deb.example/debian bookworm main",)
    assert images.recipe_digest(other, mirrors=mirrors) != images.recipe_digest(images.MUSL, mirrors=mirrors)
    assert "exit 1" in other.hooks[0]


# --- the probe ------------------------------------------------------------------------------------

def _probe_main() -> Any:
    sys.path.insert(0, str(ROOT / "fixtures" / "dns"))
    try:
        import probe_main
    finally:
        sys.path.pop(0)
    return probe_main


def test_probe_fqdn_is_the_canonical_name_of_the_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _probe_main()
    seen: list[tuple[Any, ...]] = []

    def fake_gai(host: str, port: Any, fam: int, typ: int, proto: int, flags: int) -> list[Any]:
        seen.append((host, flags))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "h.svc.ns.svc.cluster.local", ("10.0.0.7", 0))]

    monkeypatch.setattr(probe.socket, "gethostname", lambda: "h")
    monkeypatch.setattr(probe.socket, "getaddrinfo", fake_gai)
    out = probe.handle({"ops": [{"op": "fqdn"}]})["results"][0]
    assert out["hostname"] == "h" and out["fqdn"] == "h.svc.ns.svc.cluster.local" and out["addresses"] == ["10.0.0.7"]
    assert seen == [("h", socket.AI_CANONNAME)]


def test_probe_libc_names_this_interpreters_c_library() -> None:
    out = _probe_main().handle({"ops": [{"op": "libc"}]})["results"][0]
    assert out["libc"] in ("glibc", "musl", "unknown")
    if out["libc"] == "glibc":
        assert out["version"].split(".")[0] == "2"


# --- parsers ----------------------------------------------------------------------------------------

def test_parse_libc_of_getconf_and_of_musls_loader() -> None:
    assert parse_libc("glibc 2.36\nrc=0\n") == {"libc": "glibc", "version": "2.36"}
    musl = parse_libc("loader=/lib/ld-musl-x86_64.so.1\nmusl libc (x86_64)\nVersion 1.2.5\nrc=0\n")
    assert musl == {"libc": "musl", "version": "1.2.5", "loader": "/lib/ld-musl-x86_64.so.1"}
    assert parse_libc("rc=0\n")["libc"] == "unknown"


def test_parse_resolv_conf() -> None:
    text = "# generated\nsearch a.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\n" \
           "options ndots:2 edns0\n"
    assert parse_resolv_conf(text) == {"nameservers": ["10.96.0.10", "fd00::a"],
                                       "search": ["a.svc.cluster.local", "svc.cluster.local"],
                                       "options": ["ndots:2", "edns0"]}
    assert parse_resolv_conf("search a\nsearch b\n")["search"] == ["b"]  # the last one wins


def test_getent_lines_give_addresses_and_nothing_else() -> None:
    assert _address_of("10.0.0.1        STREAM web.svc") == "10.0.0.1"
    assert _address_of("fd00:0:0::1     DGRAM") == "fd00::1"
    assert _address_of("getent: not found") is None and _address_of("") is None
    assert addresses_of({"addresses": ["fd00:0::1", "10.0.0.2", "10.0.0.2"]}) == ("10.0.0.2", "fd00::1")
    assert no_answer({"addresses": [], "error": "gaierror -3: Temporary failure in name resolution"})
    assert not no_answer({"addresses": [], "error": "gaierror -2: Name or service not known"})
    assert no_answer({"addresses": [], "error": "rc=2"}, empty_is_no_answer=True)


# --- pod bodies ---------------------------------------------------------------------------------------

def test_resolver_pod_body_carries_its_label_image_option_overrides_and_user() -> None:
    settings = resolve_settings(_raw(run_as_user="1000"), {"HOME": "/h"})
    res = Resolver(k8s.ApiClient(), settings, "ns", "10.96.0.10", 53, name="hsdns-musl", backend="getent",
                   image="alp:1", image_option="musl-image", run_as_user=65534,
                   spec={"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"})
    body = res.pod_body()
    assert body["metadata"]["labels"][RESOLVER_LABEL] == "hsdns-musl"
    assert body["metadata"]["annotations"][IMAGE_OPTION_ANNOTATION] == "musl-image"
    spec = body["spec"]
    assert spec["containers"][0]["image"] == "alp:1" and spec["securityContext"]["runAsUser"] == 65534
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    # still PodSecurity restricted in everything but the host network
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = spec["containers"][0]["securityContext"]
    assert c["allowPrivilegeEscalation"] is False and c["capabilities"] == {"drop": ["ALL"]}
    with pytest.raises(HarnessError, match="no DNS client"):
        res.run([])


def test_a_workload_pod_can_run_the_probe() -> None:
    settings = resolve_settings(_raw(), {"HOME": "/h"})
    ns = CaseNamespace(k8s.ApiClient(), settings, "ns", "cluster.local")
    made: list[dict[str, Any]] = []
    ns._create = lambda what, fn, body: made.append(body)  # type: ignore[method-assign]
    ns.pod("fqdn-pod", hostname="querier", subdomain="svc", probe=True)
    ns.pod("plain")
    probe, plain = made
    assert probe["metadata"]["labels"] == {"app": "web", RESOLVER_LABEL: "fqdn-pod"}
    assert probe["metadata"]["annotations"][IMAGE_OPTION_ANNOTATION] == "resolver-image"
    c = probe["spec"]["containers"][0]
    assert c["image"] == settings.resolver_image and c["command"][0] == "sh"
    assert probe["spec"]["hostname"] == "querier" and probe["spec"]["subdomain"] == "svc"
    assert plain["spec"]["containers"][0]["image"] == settings.workload_image
    assert RESOLVER_LABEL not in plain["metadata"]["labels"]


# --- converge and hold of application lookups ----------------------------------------------------------

def _live(state: list[Any]) -> Live:
    return Live(read=lambda: (state[0], state[0], {"state": state[0]}), build=lambda _s: [])


def _run(answers: Any, *, state: list[Any] | None = None, expected: tuple[str, ...] = ("10.0.0.1",),
         timeout: float = 0.5, settle: float = 5.0) -> Evidence:
    ev = Evidence(case=get_case("HS-DNS-076"), requirement="r")
    converge_lookups(_live(state or ["s1"]), lambda _s: [AppCheck("gai", answers, expected)], ev,
                     requirement="getaddrinfo returns the endpoints", timeout=timeout, stable=2, hold_answers=3,
                     hold_seconds=0, settle=settle, interval=0.001)
    return ev


def test_lookups_that_converge_and_hold_pass_with_evidence() -> None:
    ev = _run(lambda: {"addresses": ["10.0.0.1"], "error": None})
    info = ev.info["app_lookups"]
    assert info["hold"]["answers"] >= 3 and info["polls"] >= 5 and ev.time_to_converge_s is not None
    assert ev.expected == [{"lookup": "gai", "expected": ["10.0.0.1"]}]


def test_a_lookup_that_never_matches_fails_with_expected_and_observed() -> None:
    with pytest.raises(DnsViolation) as err:
        _run(lambda: {"addresses": ["192.0.2.66"], "error": None})
    text = str(err.value)
    assert "no stable matching answer" in text and "10.0.0.1" in text and "192.0.2.66" in text


def test_a_wrong_answer_during_the_hold_fails() -> None:
    calls = iter(range(1000))

    def answers() -> dict[str, Any]:
        return {"addresses": ["10.0.0.1"] if next(calls) < 3 else ["192.0.2.66"], "error": None}

    with pytest.raises(DnsViolation, match="during the hold"):
        _run(answers, settle=0)


def test_a_wrong_value_within_the_settle_window_converges_again() -> None:
    """A replica behind the DNS Service address still answers the older state once, just after the API
    state was reached: the lookups converge again, and the hold starts only after the window."""
    calls = iter(range(100000))

    def answers() -> dict[str, Any]:
        return {"addresses": ["192.0.2.66"] if next(calls) == 3 else ["10.0.0.1"], "error": None}

    t0 = time.monotonic()
    ev = _run(answers, timeout=1.0)  # settle window: half the timeout, 0.5 s
    info = ev.info["app_lookups"]
    assert len(info["settling"]) == 1 and info["settling"][0]["wrong"] == {"gai": ["192.0.2.66"]}
    assert time.monotonic() - t0 >= 0.5


def test_a_value_that_stays_wrong_after_the_settle_window_fails() -> None:
    calls = iter(range(100000))

    def answers() -> dict[str, Any]:
        return {"addresses": ["10.0.0.1"] if next(calls) < 3 else ["192.0.2.66"], "error": None}

    with pytest.raises(DnsViolation, match=r"192\.0\.2\.66"):
        _run(answers)


def test_no_answer_during_the_hold_is_asked_again_never_judged() -> None:
    calls = iter(range(1000))

    def answers() -> dict[str, Any]:
        n = next(calls)
        if 2 <= n < 5:
            return {"addresses": [], "error": "gaierror -3: Temporary failure in name resolution"}
        return {"addresses": ["10.0.0.1"], "error": None}

    assert _run(answers).info["app_lookups"]["hold"]["answers"] >= 3


def test_harness_trouble_while_asking_is_an_error_not_a_fail() -> None:
    def broken() -> dict[str, Any]:
        raise HarnessError("the resolver session ended")

    with pytest.raises(HarnessError, match="session ended"):
        _run(broken)


def test_an_api_state_change_rebuilds_the_lookups() -> None:
    state = ["s1"]
    seen: list[Any] = []

    def build(s: Any) -> list[AppCheck]:
        seen.append(s)
        want = ("10.0.0.1",) if s == "s1" else ("10.0.0.2",)
        return [AppCheck("gai", lambda: {"addresses": [want[0]], "error": None}, want)]

    def read() -> tuple[Any, Any, dict[str, Any]]:
        if len(seen) == 1 and len(state) == 1:
            state.append("flip")
            state[0] = "s2"
        return state[0], state[0], {"state": state[0]}

    ev = Evidence(case=get_case("HS-DNS-076"), requirement="r")
    converge_lookups(Live(read=read, build=lambda _s: []), build, ev, requirement="r", timeout=0.5, stable=2,
                     hold_answers=2, hold_seconds=0, interval=0.001)
    assert seen == ["s1", "s2"] and len(ev.api_state) == 2
