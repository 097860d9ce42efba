"""Option resolution and validation (cluster-free)."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.options import OPTIONS, parse_hostport, resolve_settings, rewrite_registry


def _raw(**kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {spec.name: None for spec in OPTIONS}
    raw.update({k.replace("_", "-"): v for k, v in kw.items()})
    return raw


def test_defaults_and_kubeconfig_fallback() -> None:
    s = resolve_settings(_raw(), {"HOME": "/home/u"})
    assert s.kubeconfig == "/home/u/.kube/config"
    assert s.resolver_backend == "python" and s.keep_namespaces == "never" and s.await_cleanup
    assert not resolve_settings(_raw(), {"HOME": "/h", "HSDNS_AWAIT_CLEANUP": "no"}).await_cleanup
    assert s.stable_answers == 3 and s.dns_server is None and s.cluster_domain is None
    s = resolve_settings(_raw(), {"KUBECONFIG": "/a/kc:/b/kc", "HOME": "/h"})
    assert s.kubeconfig == "/a/kc"


def test_command_line_beats_environment_beats_default() -> None:
    env = {"HSDNS_DNS_SERVER": "127.0.0.1:1053", "HSDNS_STABLE_ANSWERS": "5", "HSDNS_KUBECONFIG": "/env/kc"}
    s = resolve_settings(_raw(stable_answers="2"), env)
    assert (s.dns_server, s.dns_port) == ("127.0.0.1", 1053)
    assert s.stable_answers == 2
    assert s.kubeconfig == "/env/kc"


@pytest.mark.parametrize(("kw", "fix"), [
    ({"resolver_backend": "nslookup"}, "--resolver-backend python"),
    ({"keep_namespaces": "sometimes"}, "--keep-namespaces never|on-failure|always"),
    ({"await_cleanup": "later"}, "--await-cleanup yes|no"),
    ({"cluster_domain": "Cluster_Local"}, "--cluster-domain cluster.local"),
    ({"dns_server": "1.2.3.4:99999"}, "--dns-server"),
    ({"dns_timeout": "soon"}, "--dns-timeout="),
    ({"stable_answers": "0"}, "--stable-answers"),
    ({"rollout_timeout": "1"}, "--rollout-timeout"),
    ({"workload_image": "Bad Image"}, "--workload-image"),
    ({"run_as_user": "root"}, "--run-as-user"),
])
def test_invalid_values_raise_one_usage_error_naming_the_fix(kw: dict[str, str], fix: str) -> None:
    with pytest.raises(pytest.UsageError) as err:
        resolve_settings(_raw(**kw), {"HOME": "/h"})
    assert fix in str(err.value)
    assert "\n" not in str(err.value)


def test_environment_values_are_validated_and_named() -> None:
    with pytest.raises(pytest.UsageError, match="HSDNS_RESOLVER_BACKEND"):
        resolve_settings(_raw(), {"HSDNS_RESOLVER_BACKEND": "host"})


def test_image_registry_rewrites_default_images_only() -> None:
    s = resolve_settings(_raw(image_registry="mirror.example:5000/k8s/"), {"HOME": "/h"})
    assert s.workload_image == "mirror.example:5000/k8s/pause:3.10"
    assert s.resolver_image.startswith("mirror.example:5000/k8s/")
    s = resolve_settings(_raw(image_registry="mirror.example", resolver_image="quay.io/x/py:1"), {"HOME": "/h"})
    assert s.resolver_image == "quay.io/x/py:1"
    s = resolve_settings(_raw(resolver_backend="dig", image_registry="m.example"), {"HOME": "/h"})
    assert s.resolver_image == "m.example/e2e-test-images/agnhost:2.53"


def test_rewrite_registry_handles_docker_hub_short_names() -> None:
    assert rewrite_registry("library/python:3", "m.io") == "m.io/library/python:3"
    assert rewrite_registry("localhost/x:1", "m.io") == "m.io/x:1"
    assert rewrite_registry("a.b/c/d:1", None) == "a.b/c/d:1"


def test_parse_hostport() -> None:
    assert parse_hostport("10.96.0.10") == ("10.96.0.10", 53)
    assert parse_hostport("127.0.0.1:1053") == ("127.0.0.1", 1053)
    assert parse_hostport("[fd00::10]:5353") == ("fd00::10", 5353)
    assert parse_hostport("fd00::10") == ("fd00::10", 53)
    with pytest.raises(ValueError):
        parse_hostport("a:b:c]")
