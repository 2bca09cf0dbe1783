"""ruff, with the configuration in pyproject.toml, finds nothing in fastreg/, tests/, bench/
and setup.py (skipped where ruff or the clone's sources are not at hand: ``pip install -e
".[test]"`` installs ruff)."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["fastreg", "tests", "bench", "setup.py"]


def _ruff(*args, **kwargs):
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("the clone's sources are not at hand")
    if importlib.util.find_spec("ruff") is not None:
        command = [sys.executable, "-m", "ruff"]
    elif shutil.which("ruff"):
        command = [shutil.which("ruff")]
    else:
        pytest.skip("ruff is not installed (it comes with the test extra)")
    return subprocess.run(command + ["check", "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_ruff_finds_nothing():
    result = _ruff(*CHECKED)
    command = "ruff check " + " ".join(CHECKED)
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"


def test_the_configuration_is_the_one_checked():
    """The check has teeth: code with an unused import, a line of 101 characters and
    unsorted imports, given as a module of fastreg, is reported under the project's rules
    (E501 and I001 are not among ruff's defaults)."""
    source = "import sys\nimport os\n\nx = '" + "a" * 95 + "'\n"
    result = _ruff("--stdin-filename", "fastreg/_lint_probe.py", "-", input=source)
    assert result.returncode == 1, result.stdout + result.stderr
    for rule in ("F401", "E501", "I001"):
        assert rule in result.stdout, (rule, result.stdout)
