"""conftest.py of the fake suite used by the reporting tests."""

from collections.abc import Generator
from typing import Any

import pytest

from fixtures.reporting import set_run_info

pytest_plugins = ["fixtures.reporting.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "info: INFO case (fixtures.plugin registers it in the real suite)")


@pytest.fixture(scope="session", autouse=True)
def _cluster_facts(pytestconfig: pytest.Config) -> None:
    set_run_info(
        pytestconfig,
        {
            "platform": "kind",
            "cluster_version": "v1.34.1",
            "dns_implementation": "coredns",
            "dns_version": "1.14.0",
            "cluster_domain": "cluster.local",
            "ip_families": ["IPv4"],
        },
    )


@pytest.fixture
def broken_cluster() -> None:
    raise RuntimeError("exec into resolver pod failed: no exec found")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    rep = yield
    if rep.failed and call.when == "call":
        rep.sections.append(("hsdns objects (Service, EndpointSlices, pods)", "kind: Service\nmetadata: {name: web}\n"))
        if call.excinfo is not None and call.excinfo.errisinstance(RuntimeError):
            rep.when = "setup"  # as fixtures.plugin reports a harness error raised in a test body: an error
    return rep
