"""``python -m hsdns`` = the ``hsdns`` command."""

import sys

from hsdns.cli import main

sys.exit(main())
