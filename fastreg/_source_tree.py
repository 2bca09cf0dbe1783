"""Fail with what to do when ``fastreg`` is a source tree whose Cython modules are not built.

Python started in the root of a clone imports the folder ``fastreg/`` there, ahead of the
installed package; without this check, that ends in a puzzling circular-import error.
``fastreg/__init__.py`` imports this module first.
"""
import importlib.util
import os


def _installed_elsewhere(folder):
    """The installed ``fastreg`` this source tree hides, or None."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover
        return None
    try:
        located = os.path.abspath(str(distribution("fastreg-nn").locate_file("fastreg")))
    except PackageNotFoundError:
        return None
    return located if located != folder and os.path.isdir(located) else None


def check_compiled():
    """Raise ImportError, saying what to do, if fastreg's compiled modules are missing."""
    if importlib.util.find_spec("fastreg._engine") is not None:
        return
    folder = os.path.dirname(os.path.abspath(__file__))
    installed = _installed_elsewhere(folder)
    hidden = f" (it hides the installed fastreg at {installed})" if installed else ""
    raise ImportError(
        f"fastreg was imported from the source tree {folder}, whose compiled modules are not "
        f"built{hidden}. From {os.path.dirname(folder)}, install it in editable mode, which "
        "builds them in place: python3 -m pip install -e . ; or start Python in another folder "
        "to use an installed fastreg."
    )


check_compiled()
