"""The README as pasted: each Python example runs as a script, and CI runs its test command."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastreg

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)


def _example_id(code):
    """The example's heading in the README, for the test's name."""
    before = README[: README.index(code)]
    return re.findall(r"^## (.+)$", before, re.M)[-1].split()[0].lower() + (
        f"-{before.count('```python')}")


def test_ci_runs_the_readme_test_command():
    command = "python3 -m pip install -e \".[test]\" && python3 -m pytest"
    assert f"\n    {command}\n" in README
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == command


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.slow
@pytest.mark.parametrize("code", EXAMPLES, ids=[_example_id(code) for code in EXAMPLES])
def test_readme_example_runs_as_a_script(code, tmp_path):
    """Pasted into a script and run from a folder of its own: no error, no warning."""
    script = tmp_path / "example.py"
    script.write_text(code)
    package_root = str(Path(fastreg.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": package_root, "PYTHONWARNINGS": "error::UserWarning"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
