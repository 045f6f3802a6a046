"""``python -m memattr``: the same as the ``memattr`` console script."""

import sys

from .cli import main

sys.exit(main())
