"""The ``pytest11`` entry point of an installed suite: loads the suite's two plugins when a run selects it.

``pip install`` registers this module with pytest, so it is imported by every pytest run in that
environment. It loads ``fixtures.plugin`` (options, cluster facts, fixtures) and
``fixtures.reporting.plugin`` (reports into ``./reports``) only for a run of the suite, so other projects'
test runs in the same environment get neither the suite's options nor a ``reports/`` directory:

* ``pytest --pyargs conformance`` (or ``conformance.test_2_4_1_a_records``...), or a path inside the
  installed ``conformance`` package;
* ``-p fixtures.plugin -p fixtures.reporting.plugin`` loads them explicitly in any run (and ``hsdns run``
  does exactly that), as does the root ``conftest.py`` of a clone.

The plugins are registered under their module names, so a clone's ``conftest.py`` (``pytest_plugins``)
or ``-p`` finds them already loaded and does not register them twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from fixtures.paths import CONFORMANCE_DIR

PLUGINS = ("fixtures.plugin", "fixtures.reporting.plugin")


def selects_suite(args: Sequence[str], invocation_dir: Path) -> bool:
    """True when the command line names the suite's package or a path inside it."""
    for arg in args:
        if arg.startswith("-"):
            continue
        target = arg.split("::", 1)[0]
        if target == "conformance" or target.startswith("conformance."):
            return True
        path = Path(target)
        if not path.is_absolute():
            path = invocation_dir / path
        try:
            path = path.resolve()
        except OSError:
            continue
        if path == CONFORMANCE_DIR or CONFORMANCE_DIR in path.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    manager = early_config.pluginmanager
    if all(manager.has_plugin(name) for name in PLUGINS):
        return
    if selects_suite(args, early_config.invocation_params.dir):
        for name in PLUGINS:
            manager.import_plugin(name)
