"""``python -m infotheory ...`` is the ``infotheory`` command."""

import sys

from .cli import main

sys.exit(main())
