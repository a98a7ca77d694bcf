"""``python -m semseg``: the same as the ``semseg`` command."""

import sys

from semseg.cli import main

sys.exit(main())
