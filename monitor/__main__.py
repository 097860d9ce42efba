"""``python -m monitor``."""

import sys

from monitor import main

sys.exit(main())
