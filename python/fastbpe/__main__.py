"""`python -m fastbpe`: the command line (see fastbpe/cli.py and docs/cli.md)."""

import sys

from fastbpe.cli import main

if __name__ == "__main__":
    sys.exit(main())
