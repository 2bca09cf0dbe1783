"""The double-descent study: its label noise exact, its widths and parameter counts right,
its quick run writing a figure, a table and numbers of the right shapes (in-process and
through the command line), and its benchmark running with tiny settings.

MNIST-1D is generated once per process (about 12 s on two busy cores), so every test that
trains on it is marked slow.
"""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastreg
from fastreg import Dense, Network
from fastreg.studies import run_study
from fastreg.studies._runner import noisy_labels
from fastreg.studies.double_descent import (
    QUICK,
    interpolation_threshold,
    parameter_count,
    peak,
    sweep_widths,
    torch_like_weights,
    train_width,
)
from helpers import run_study_command

ROOT = Path(fastreg.__file__).parents[1]


@pytest.mark.parametrize("n", [1, 7, 100, 4000, 4001])
@pytest.mark.parametrize("fraction", [0.0, 0.15, 0.5, 1.0])
def test_noisy_labels_change_exactly_the_fraction_each_to_another_class(n, fraction):
    rng = np.random.default_rng(n)
    y = rng.integers(0, 10, n)
    noisy = noisy_labels(y, fraction, 10, seed=3)
    changed = noisy != y
    assert changed.sum() == int(round(fraction * n))
    assert noisy.min() >= 0 and noisy.max() <= 9
    assert np.array_equal(noisy_labels(y, fraction, 10, seed=3), noisy)
    assert np.array_equal(y, np.random.default_rng(n).integers(0, 10, n))  # input untouched


def test_noisy_labels_spread_over_the_other_classes():
    y = np.zeros(20000, dtype=int)
    noisy = noisy_labels(y, 0.15, 10, seed=0)
    counts = np.bincount(noisy[noisy != 0], minlength=10)
    assert counts[0] == 0
    expected = 3000 / 9
    assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))


def test_sweep_widths_are_log_spaced_unique_integers_from_1_to_256():
    widths = sweep_widths()
    assert len(widths) >= 25 and len(set(widths.tolist())) == len(widths)
    assert widths[0] == 1 and widths[-1] == 256
    assert np.all(np.diff(widths) > 0) and widths.dtype.kind == "i"
    ratios = widths[1:] / widths[:-1]
    assert ratios.max() < 2.01
    # Log spacing: the upper half of the sweep steps by a nearly constant ratio.
    upper = ratios[len(ratios) // 2:]
    assert upper.max() / upper.min() < 1.15
    assert 47 in range(widths[0], widths[-1] + 1)
    assert len(sweep_widths(5, 16)) == 5 and sweep_widths(16, 16).tolist() == list(range(1, 17))
    with pytest.raises(ValueError, match="count"):
        sweep_widths(30, 16)


@pytest.mark.parametrize("hidden_layers", [1, 2, 3])
@pytest.mark.parametrize("width", [1, 47, 256])
def test_parameter_count_matches_the_network(width, hidden_layers):
    network = Network([Dense(width, "relu")] * hidden_layers + [Dense(10)]).initialize(40)
    actual = sum(w.size for w in network.coefs_) + sum(b.size for b in network.intercepts_)
    assert parameter_count(width, hidden_layers) == actual


def test_torch_like_weights_have_pytorch_bounds_and_fit_the_network():
    coefs, intercepts = torch_like_weights(30, 2, 40, 10, seed=5)
    assert [c.shape for c in coefs] == [(40, 30), (30, 30), (30, 10)]
    for coef, intercept in zip(coefs, intercepts):
        bound = 1 / np.sqrt(coef.shape[0])
        assert coef.dtype == np.float32 and np.abs(coef).max() <= bound
        assert np.abs(intercept).max() <= bound
        assert np.abs(coef).max() > 0.9 * bound  # uniform over the whole range
    again, _ = torch_like_weights(30, 2, 40, 10, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(coefs, again))
    network = Network([Dense(30, "relu"), Dense(30, "relu"), Dense(10)])
    network.set_weights(coefs, intercepts)
    assert np.array_equal(network.coefs_[1], coefs[1])


def test_peak_and_interpolation_threshold_on_a_made_up_curve():
    rows = [{"width": w, "test_error": e, "train_error": t}
            for w, e, t in [(1, 0.6, 0.6), (4, 0.5, 0.4), (16, 0.55, 0.005), (64, 0.45, 0.02),
                            (256, 0.4, 0.0), (512, 0.42, 0.0)]]
    assert peak(rows) == {"sweet_width": 1, "sweet_error": 0.6, "peak_width": 1,
                          "peak_error": 0.6, "last_width": 512, "last_error": 0.42,
                          "min_width": 256, "min_error": 0.4}
    assert peak(rows[1:])["peak_width"] == 16
    # Past the sweet spot (lowest error below the threshold 64: width 4) the peak is 16.
    beyond = peak(rows, threshold=64)
    assert (beyond["sweet_width"], beyond["peak_width"], beyond["peak_error"]) == (4, 16, 0.55)
    assert peak(rows, threshold=1)["peak_width"] == 1  # nothing narrower: the whole curve
    assert interpolation_threshold(rows) == 256
    assert interpolation_threshold(rows, tolerance=0.05) == 16
    assert interpolation_threshold(rows[:2]) is None


def test_train_width_checks_its_settings():
    with pytest.raises(ValueError, match="validation split"):
        train_width(width=4, patience=3)
    with pytest.raises(ValueError, match="width"):
        train_width(width=0)
    with pytest.raises(ValueError, match="noise"):
        train_width(width=4, noise=1.5)


def check_outputs(out, result=None):
    files = {"double_descent.png", "double_descent.md", "double_descent.csv",
             "double_descent.json", "report.md"}
    assert files <= {path.name for path in Path(out).iterdir()}
    assert (Path(out) / "double_descent.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((Path(out) / "double_descent.json").read_text())
    widths = list(QUICK["widths"])
    assert data["widths"] == widths and data["epochs"] == QUICK["epochs"]
    assert data["l2_alpha"] in QUICK["l2_grid"]
    assert len(data["curves"]) == 5 and len(data["summary"]) == 5
    for name, rows in data["curves"].items():
        assert [row["width"] for row in rows] == widths, name
        for row in rows:
            assert 0 <= row["train_error"] <= 1 and 0 <= row["test_error"] <= 1
            assert 1 <= row["epochs"] <= QUICK["epochs"]
        if "early" in name:
            assert all(0 <= row["val_error"] <= 1 for row in rows)
            assert all(1 <= row["best_epoch"] <= row["epochs"] for row in rows)
        else:
            assert all(row["epochs"] == QUICK["epochs"] for row in rows)
    for entry in data["summary"]:
        errors = [row["test_error"] for row in data["curves"][entry["curve"]]]
        assert entry["peak_error"] <= max(errors) and entry["min_error"] == min(errors)
        assert entry["peak_error"] >= entry["sweet_error"] >= entry["min_error"]
    with open(Path(out) / "double_descent.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["width"]) for row in rows] == widths
    assert [int(row["parameters"]) for row in rows] == [parameter_count(w) for w in widths]
    assert len(rows[0]) == 2 + 2 * 5 + 1
    table = (Path(out) / "double_descent.md").read_text()
    assert table.count("\n| ") == 6 and "54%" in table and "sweet spot" in table
    if result is not None:
        assert result.tables["double_descent"] == table


@pytest.mark.slow
def test_quick_study_writes_its_files(tmp_path, capsys):
    result = run_study("double-descent", tmp_path, quick=True, progress=False, n_jobs=2)
    check_outputs(tmp_path, result)
    printed = capsys.readouterr().out
    assert "peak test error" in printed and "published about 54%" in printed


@pytest.mark.slow
def test_quick_study_results_do_not_depend_on_the_number_of_threads(tmp_path):
    one = run_study("double-descent", tmp_path / "one", quick=True, progress=False, n_jobs=1)
    two = run_study("double-descent", tmp_path / "two", quick=True, progress=False, n_jobs=3)
    first, second = one.data["double_descent"], two.data["double_descent"]
    for name in first["curves"]:
        for a, b in zip(first["curves"][name], second["curves"][name]):
            assert a["test_error"] == b["test_error"] and a["train_error"] == b["train_error"]


@pytest.mark.slow
def test_early_stopping_trains_on_the_split_and_restores_the_best_epoch():
    result = train_width(width=3, epochs=2, validation_size=3900, patience=1, noise=0.15)
    assert 1 <= result["best_epoch"] <= result["epochs"] <= 2
    assert 0 <= result["val_error"] <= 1


@pytest.mark.slow
def test_cli_runs_the_quick_study(tmp_path):
    out = tmp_path / "out"
    result = run_study_command("double-descent", out, tmp_path)
    assert "peak test error" in result.stdout
    check_outputs(out)


def run_bench(tmp_path, libraries):
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_double_descent.py"), "--widths", "2,5",
         "--epochs", "2", "--cores", "1", "--libraries", libraries, "--json",
         str(tmp_path / "bench.json")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=600)


@pytest.mark.slow
def test_bench_runs_fastreg_with_tiny_settings(tmp_path):
    result = run_bench(tmp_path, "fastreg,fastreg-threads")
    assert result.returncode == 0, result.stderr
    assert "| 2 |" in result.stdout and "| 5 |" in result.stdout and "**sweep**" in result.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    runs = data["results"]
    assert set(runs) == {"fastreg", "fastreg-threads"}
    sequential, threads = runs["fastreg"][0]["rows"], runs["fastreg-threads"][0]["rows"]
    assert [row["width"] for row in sequential] == [2, 5]
    # The same initial weights and seeds: the same networks either way.
    for a, b in zip(sequential, threads):
        assert a["test_error"] == b["test_error"] and a["train_error"] == b["train_error"]
        assert a["seconds"] > 0


@pytest.mark.slow
def test_bench_runs_torch_with_tiny_settings(tmp_path):
    pytest.importorskip("torch")
    result = run_bench(tmp_path, "fastreg,torch")
    assert result.returncode == 0, result.stderr
    assert "torch / fastreg:" in result.stdout
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]["torch"][0]["rows"]
    assert [row["width"] for row in rows] == [2, 5]
    assert all(0 <= row["test_error"] <= 1 for row in rows)


@pytest.mark.slow
def test_bench_says_when_torch_is_missing(tmp_path):
    script = (f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); "
              "import bench_double_descent as b; b.torch_available = lambda: False; "
              "b.make_data = lambda path, seed: (_ for _ in ()).throw(SystemExit(7))\n"
              "b.main(['--widths', '2', '--epochs', '1', '--libraries', 'fastreg,torch'])")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True, timeout=120)
    assert "PyTorch is not installed" in result.stdout
    assert result.returncode == 7  # went on to make the data for fastreg alone
