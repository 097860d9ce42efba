"""``hsdns``: the command line of the headless-DNS conformance suite (``pip install`` gives the ``hsdns`` command).

``hsdns run`` runs the suite from any directory; the other subcommands front the project's tools
(``compare``, ``faults``, ``cleanup``, ``cluster``...). See ``hsdns --help`` and the README section
"Install as a tool".
"""

from __future__ import annotations

from fixtures.paths import suite_version

__version__ = suite_version()
