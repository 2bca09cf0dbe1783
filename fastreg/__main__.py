"""``python -m fastreg``: the command line, as the console script ``fastreg`` runs it."""
import sys

from fastreg.cli import main

if __name__ == "__main__":
    sys.exit(main())
