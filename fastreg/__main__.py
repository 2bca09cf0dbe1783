"""``python -m fastreg``: the command line, as the console script ``fastreg`` runs it."""
import sys

from fastreg.cli import main

sys.exit(main())
