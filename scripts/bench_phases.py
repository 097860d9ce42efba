"""pytest plugin of the suite benchmark: writes each test's setup/call/teardown seconds to $HSDNS_BENCH_PHASES."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_PHASES: dict[str, dict[str, float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _PHASES.setdefault(report.nodeid, {})[report.when] = round(report.duration, 4)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("HSDNS_BENCH_PHASES")
    if path and not getattr(session.config, "workerinput", None):
        data: dict[str, Any] = {"items": _PHASES}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
