"""The command line: ``fastreg demo`` trains and reports, ``fastreg info`` describes the build."""
import subprocess
import sys

import pytest

from fastreg import cli


def test_demo_runs_and_reports_both_models(capsys):
    pytest.importorskip("mnist1d")
    results = cli.demo(epochs=2, seed=1)
    out = capsys.readouterr().out
    assert set(results) == {"plain", "regularized"}
    for train_acc, test_acc, seconds in results.values():
        assert 0.1 < test_acc <= 1 and 0.1 < train_acc <= 1 and seconds > 0
    assert "plain" in out and "regularized" in out and "test acc" in out


def test_info_and_bad_arguments(capsys):
    assert cli.main(["info"]) == 0
    assert "fastreg" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--epochs", "0"])


def test_console_entry_point_is_installed():
    """The ``fastreg`` command of the README exists (installed by pip from pyproject)."""
    result = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import entry_points; "
         "print([e.value for e in entry_points(group='console_scripts') if e.name == 'fastreg'])"],
        capture_output=True, text=True, check=True,
    )
    assert "fastreg.cli:main" in result.stdout
