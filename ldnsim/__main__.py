"""``python -m ldnsim``: the same command line as the ``ldnsim`` console script."""
import sys

from ldnsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
