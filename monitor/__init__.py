"""Live monitor of a headless Service's DNS answers (issue 12): ``python -m monitor``, ``hsdns monitor``.

``main(argv) -> int`` is the entry point (``monitor.cli.main``); docs/monitor.md describes the run, the
incident model, the reports and the exit status.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the monitor with command-line arguments ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from monitor.cli import main as cli_main

    return cli_main(argv)


__all__ = ["main"]
