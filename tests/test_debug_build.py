"""The tests that reach the kernels, run again on a build with bounds checks.

``FASTREG_DEBUG=1`` compiles every module with Cython's bounds, wraparound and
initialization checks on, at ``-O0``: an index out of range in a typed memoryview raises
instead of corrupting memory. This module builds such a copy of the package in a temporary
folder (from the clone's ``setup.py``, ``src_cython`` and ``fastreg``) and runs the
gradient, training-step, dropout, convolution, sparse, regularizer, noise and hostile-input
tests against it, in a child process. It is skipped where the sources are not at hand (an
installed package without its clone) or Cython is not installed.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a build of its own, then the kernel tests: about a minute

ROOT = Path(__file__).resolve().parents[1]
KERNEL_TESTS = [
    "test_gradients.py", "test_training_step.py", "test_dropout.py", "test_conv1d.py",
    "test_sparse.py", "test_regularizers.py", "test_noise_augment.py", "test_hostile.py",
    "test_team_policy.py", "test_products.py",
]


@pytest.fixture(scope="module")
def debug_build(tmp_path_factory):
    if not (ROOT / "setup.py").exists() or not (ROOT / "src_cython").is_dir():
        pytest.skip("the clone's sources are not at hand")
    pytest.importorskip("Cython")
    build = tmp_path_factory.mktemp("debug_build")
    shutil.copy(ROOT / "setup.py", build)
    shutil.copytree(ROOT / "src_cython", build / "src_cython",
                    ignore=shutil.ignore_patterns("*.c", "*.html", "*.so", "_engine.pyx"))
    shutil.copytree(ROOT / "fastreg", build / "fastreg",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    # No pyproject.toml in the copy: setup.py alone builds the extensions in place.
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace", "-j", "2"],
        cwd=build, env={**os.environ, "FASTREG_DEBUG": "1"}, capture_output=True, text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build


def test_kernel_tests_pass_with_bounds_checks(debug_build):
    tests = [str(ROOT / "tests" / name) for name in KERNEL_TESTS
             if (ROOT / "tests" / name).exists()]
    probe = "import fastreg, sys; print(fastreg.__file__)"
    # The child starts in the build folder, so that its fastreg comes first on sys.path.
    where = subprocess.run([sys.executable, "-c", probe], cwd=debug_build,
                           capture_output=True, text=True, timeout=120)
    assert where.stdout.strip().startswith(str(debug_build)), where.stdout + where.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=debug_build, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PYTHONPATH": str(debug_build)},
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1], result.stdout[-2000:]
