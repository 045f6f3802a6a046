"""``python -m memattr.cli``: the same as the ``memattr`` console script."""

import sys

from . import main

sys.exit(main())
