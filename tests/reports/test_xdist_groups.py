"""Under ``-n``, the suite's plugin makes xdist keep each ``xdist_group`` on one worker (the seed stream's cases,
the scale scenario's): a shared module-scoped workload is then built once, and the cases that read what an
earlier one asked (the scale scenario's stale-cache reasoning) see it. Without ``--dist`` on the command line
the workers used to leave the groups untagged, and the controller spread them like ``load``."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = """
import os
from pathlib import Path

import pytest

OUT = Path(os.environ["HSDNS_TEST_OUT"])

def _record(name):
    with OUT.open("a") as f:
        f.write(f"{name} {os.environ.get('PYTEST_XDIST_WORKER', 'm0')}\\n")

@pytest.mark.xdist_group("together")
@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    _record(f"grouped-{i}")

@pytest.mark.parametrize("i", range(6))
def test_free(i):
    _record(f"free-{i}")
"""


@pytest.mark.parametrize("dist", [[], ["--dist", "load"], ["--dist", "loadgroup"]],
                         ids=["default", "load", "loadgroup"])
def test_an_xdist_group_runs_on_one_worker(pytester: pytest.Pytester, suite_env: pytest.MonkeyPatch,
                                           tmp_path: Path, dist: list[str]) -> None:
    out = tmp_path / "workers.txt"
    suite_env.setenv("HSDNS_TEST_OUT", str(out))
    pytester.makeconftest('pytest_plugins = ["fixtures.plugin"]\n')
    pytester.makepyfile(test_groups=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "3", *dist)
    result.assert_outcomes(passed=12)
    ran = dict(line.split() for line in out.read_text().splitlines())
    assert len({w for name, w in ran.items() if name.startswith("grouped-")}) == 1, ran
