"""The optional extras of fastreg's distribution, and the install hint for each.

The distribution is called ``fastreg-nn`` (``fastreg`` on the package index is another
project); it installs the import package ``fastreg``, as ``scikit-learn`` installs
``sklearn``. The packages below mirror ``[project.optional-dependencies]`` in
pyproject.toml (a test keeps them in step).
"""

DISTRIBUTION = "fastreg-nn"

EXTRAS = {
    "sklearn": ("scikit-learn",),
    "demo": ("mnist1d", "threadpoolctl"),
    "cli": ("scikit-learn", "pandas"),
    "plot": ("matplotlib",),
    "study": ("matplotlib", "mnist1d", "threadpoolctl", "scikit-learn"),
    "progress": ("tqdm",),
    "dask": ("scikit-learn", "dask[distributed]", "dask-ml"),
}


def install_hint(extra, *, packages=None):
    """``pip install <packages>`` for `extra`, and the extra's two spellings.

    A missing optional package is one ``pip install`` away, whatever the user installed
    fastreg from: the package index (``fastreg-nn[extra]``) or a clone (``.[extra]``).
    """
    packages = EXTRAS[extra] if packages is None else packages
    names = " ".join(f'"{name}"' if "[" in name else name for name in packages)
    return (f'pip install {names} (or the extra: pip install "{DISTRIBUTION}[{extra}]", '
            f'from a clone: pip install ".[{extra}]")')
