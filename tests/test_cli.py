"""The command line: ``fastreg demo`` trains and reports, ``fastreg info`` describes the build."""
import io
import re
import subprocess
import sys

import pytest

from fastreg import cli


def _table(out):
    """The demo's table rows: name -> (train accuracy, test accuracy) as printed."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"(plain|regularized)\s.*?\s(\d+\.\d)%\s+(\d+\.\d)%\s+\d+\.\d+s$", line)
        if match:
            rows[match[1]] = (float(match[2]) / 100, float(match[3]) / 100)
    return rows


def test_demo_runs_and_reports_both_models(capsys):
    """Two epochs already learn: both models are far above chance (0.1 on ten classes;
    2 epochs with seed 1 reach 0.42-0.46 test accuracy), and the table prints the
    accuracies the demo returns."""
    pytest.importorskip("mnist1d")
    results = cli.demo(epochs=2, seed=1)
    table = _table(capsys.readouterr().out)
    assert set(results) == set(table) == {"plain", "regularized"}
    for name, (train_acc, test_acc, seconds) in results.items():
        assert test_acc > 0.3 and train_acc > 0.3 and seconds > 0, (name, results[name])
        assert table[name] == pytest.approx((train_acc, test_acc), abs=0.0005)


@pytest.mark.slow
def test_full_demo_reproduces_the_published_mlp_and_the_gain():
    """The full demo (150 epochs): the plain MLP scores as in Greydanus & Kobak's paper
    (68% test accuracy; 67.1-69.5% over five seeds in the README) and overfits, and the
    regularized one gains what the README reports (82.1% +- 0.7, at least 81.3%)."""
    pytest.importorskip("mnist1d")
    results = cli.demo(seed=0, out=io.StringIO())
    plain_train, plain_test, _ = results["plain"]
    _, regularized_test, _ = results["regularized"]
    assert 0.62 < plain_test < 0.74
    assert plain_train > 0.98
    assert regularized_test > 0.78 and regularized_test > plain_test + 0.08


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
