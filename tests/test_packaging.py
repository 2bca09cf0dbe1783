"""The distribution as a user gets it: its extras, its sdist, an unbuilt source tree."""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fastreg._extras import DISTRIBUTION, EXTRAS, install_hint

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(requirement):
    """'dask[distributed]>=2024.1' -> 'dask[distributed]'."""
    for stop in "<>=!~; ":
        requirement = requirement.split(stop)[0]
    return requirement


def test_install_hints_name_the_extras_of_pyproject():
    project = PYPROJECT["project"]
    assert project["name"] == DISTRIBUTION
    extras = project["optional-dependencies"]
    for extra, packages in EXTRAS.items():
        assert extra in extras, extra
        assert set(packages) <= {_requirement_name(r) for r in extras[extra]}, extra
    hint = install_hint("plot")
    assert hint.startswith("pip install matplotlib ")
    assert f'"{DISTRIBUTION}[plot]"' in hint and 'pip install ".[plot]"' in hint


def test_unbuilt_source_tree_says_what_to_do(tmp_path):
    """Python started in a clone's root imports fastreg/ there: no circular-import puzzle."""
    shutil.copytree(ROOT / "fastreg", tmp_path / "fastreg",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    # -S: no site hooks, so that an editable install's import hook cannot take precedence;
    # NumPy and SciPy come from their own folder, as an installed fastreg would find them.
    site_packages = str(Path(np.__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-S", "-c", "import fastreg"], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": site_packages})
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: fastreg was imported from the source tree")
    assert str(tmp_path / "fastreg") in last_line
    assert "python3 -m pip install -e ." in last_line
    assert "circular" not in result.stderr


@pytest.mark.slow
def test_sdist_carries_its_tests_license_and_sources(tmp_path):
    """The sdist's own test suite needs tests/helpers.py, reference.py, conftest.py."""
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(tmp_path)],
                   cwd=ROOT, check=True, capture_output=True)
    (archive,) = tmp_path.glob("*.tar.gz")
    assert archive.name.startswith("fastreg_nn-")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    wanted = {"LICENSE", "README.md", "pyproject.toml", "setup.py",
              "src_cython/fastreg/_engine.pyx.tp"}
    wanted |= {str(path.relative_to(ROOT)) for folder in ("tests", "bench", "fastreg")
               for path in (ROOT / folder).glob("*.py")}
    wanted |= {str(path.relative_to(ROOT)) for pattern in ("*.pyx", "*.pxd", "*.h")
               for path in (ROOT / "src_cython" / "fastreg").glob(pattern)
               if path.name != "_engine.pyx"}
    assert wanted - names == set()
    assert not [name for name in names if name.endswith((".so", ".c", ".pyc"))]
    assert "src_cython/fastreg/_engine.pyx" not in names  # rendered at build time
