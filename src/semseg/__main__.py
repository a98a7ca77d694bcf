"""``python -m semseg`` (and ``torchrun -m semseg train ...``) runs the command line."""

import sys

from semseg.cli import main

if __name__ == "__main__":
    sys.exit(main())
