"""Fixtures for the reporting tests: a fake suite run through the plugin with pytester (in a subprocess)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.reports.helpers import DATA, REPO_ROOT

pytest_plugins = ["pytester"]

if str(REPO_ROOT) not in sys.path:  # the fake suites import fixtures.reporting
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture
def suite_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment of a pytester run of the project's plugins: no HSDNS_* setting of the caller's, and the
    repository importable (the fake suites import fixtures.*)."""
    for name in list(os.environ):
        if name.startswith("HSDNS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    return monkeypatch


@pytest.fixture
def fake_suite(pytester: pytest.Pytester, suite_env: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester directory holding the fake suite, its conftest, the fixture catalogue and a pyproject."""
    (pytester.path / "conformance").mkdir()
    (pytester.path / "conformance" / "catalogue.yaml").write_text((DATA / "catalogue.yaml").read_text())
    pytester.makeconftest((DATA / "fake_conftest.py").read_text())
    pytester.makepyfile(test_fake_suite=(DATA / "fake_suite.py").read_text())
    pytester.makefile(".toml", pyproject='[project]\nname = "fake"\nversion = "9.9.9"\n')
    return pytester
