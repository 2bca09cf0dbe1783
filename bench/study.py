"""Run one of fastreg's studies from a clone, as ``fastreg study NAME`` does.

Usage::

    python bench/study.py NAME [--out DIR] [--quick] [--jobs N] [--scheduler ADDRESS]
    python bench/study.py all [--quick]        # every study, each into study-NAME/

The studies (fastreg/studies/): double-descent, implicit-regularization, regularizers,
ensembles, early-stopping, map. Each writes a PNG figure, a Markdown table and the raw
numbers; docs/studies/ holds the figures and tables of full runs, with their commands.
"""
import sys

from fastreg.cli import main
from fastreg.studies import STUDIES

if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["all"]:
        status = 0
        for name in STUDIES:
            status = max(status, main(["study", name, "--out", f"study-{name}"] + arguments[1:]))
        sys.exit(status)
    sys.exit(main(["study"] + arguments))
