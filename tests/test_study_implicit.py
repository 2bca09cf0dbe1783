"""The implicit-regularization study: its step and epoch budgets exact, its summary the
means and sds of the runs, its checkpoints those of networks trained straight to them, and
its quick run writing a figure, a table and numbers of the right shapes and ranges.

MNIST-1D is generated once per process (seconds on two busy cores), so the tests that
train on it are marked slow.
"""
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

import fastreg
from fastreg import SGD, Dense, Network
from fastreg.studies import run_study
from fastreg.studies._runner import mnist1d
from fastreg.studies.implicit import (
    QUICK,
    REGIMES,
    _summarize,
    epochs_for_steps,
    steps_per_epoch,
    train_checkpoints,
)
from helpers import run_study_command

ROOT = Path(fastreg.__file__).parents[1]


@pytest.mark.parametrize("n_samples", [1, 100, 4000, 4001])
@pytest.mark.parametrize("batch_size", [1, 16, 64, 1024, 4000, 5000])
def test_steps_per_epoch_counts_the_batches(n_samples, batch_size):
    batches = list(range(0, n_samples, batch_size))  # the first index of each batch
    assert steps_per_epoch(n_samples, batch_size) == len(batches)


@pytest.mark.parametrize("batch_size", [16, 32, 64, 128, 256, 512, 1024, 4000])
@pytest.mark.parametrize("steps", [20, 1000, 2000])
def test_epochs_for_steps_is_the_nearest_whole_number_of_epochs(batch_size, steps):
    per_epoch = steps_per_epoch(4000, batch_size)
    epochs = epochs_for_steps(steps, 4000, batch_size)
    candidates = range(1, steps + 2)
    nearest = min(abs(e * per_epoch - steps) for e in candidates)
    assert epochs >= 1
    assert abs(epochs * per_epoch - steps) == nearest or (epochs == 1 and per_epoch > steps)


def test_summarize_gives_the_means_and_sds_over_the_seeds():
    rng = np.random.default_rng(0)
    runs = []
    for seed in range(3):
        for batch_size in (16, 4000):
            for learning_rate in (0.1, 1.0):
                run = {"batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
                for regime in REGIMES:
                    train, test = rng.uniform(0.3, 1.0, 2)
                    run[regime] = {"epochs": 5, "steps": 7, "train_loss": rng.uniform(),
                                   "train_accuracy": train, "test_accuracy": test,
                                   "gap": train - test}
                runs.append(run)
    rows = _summarize(runs, (16, 4000), (0.1, 1.0))
    assert len(rows) == len(REGIMES) * 2 * 2
    for row in rows:
        group = [run[row["regime"]] for run in runs if run["batch_size"] == row["batch_size"]
                 and run["learning_rate"] == row["learning_rate"]]
        assert row["seeds"] == 3
        assert row["lr_over_batch"] == row["learning_rate"] / row["batch_size"]
        for key in ("train_accuracy", "test_accuracy", "gap", "train_loss"):
            values = [entry[key] for entry in group]
            assert row[key] == pytest.approx(np.mean(values))
            assert row[key + "_sd"] == pytest.approx(np.std(values, ddof=1))
        assert row["gap"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"])


@pytest.mark.slow
def test_checkpoints_are_those_of_networks_trained_straight_to_them():
    X_train, y_train, X_test, y_test = mnist1d()
    result = train_checkpoints(batch_size=256, learning_rate=0.3, seed=5, epochs=2, steps=48)
    assert result["fixed_epochs"]["epochs"] == 2 and result["fixed_steps"]["epochs"] == 3
    assert result["fixed_epochs"]["steps"] == 2 * 16 and result["fixed_steps"]["steps"] == 48
    for regime in REGIMES:
        network = Network([Dense(100, "relu"), Dense(100, "relu"), Dense(10)],
                          optimizer=SGD(0.3), random_state=5, n_threads=1)
        network.fit(X_train, y_train, epochs=result[regime]["epochs"], batch_size=256)
        train = np.mean(network.predict(X_train).argmax(axis=1) == y_train)
        test = np.mean(network.predict(X_test).argmax(axis=1) == y_test)
        assert result[regime]["train_accuracy"] == train
        assert result[regime]["test_accuracy"] == test
        assert result[regime]["gap"] == train - test
    assert train_checkpoints(batch_size=256, learning_rate=0.3, seed=5, epochs=2,
                             steps=48) == result


def check_outputs(out, result=None):
    for name in ("implicit.png", "implicit.md", "implicit.json", "implicit.csv", "report.md"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "implicit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "implicit.json").read_text())
    if result is not None:
        assert result.data["implicit"] == data
    settings = data["settings"]
    assert settings["batch_sizes"] == list(QUICK["batch_sizes"])
    n_cells = len(settings["batch_sizes"]) * len(settings["learning_rates"])
    assert len(data["runs"]) == n_cells * settings["n_seeds"]
    for run in data["runs"]:
        per_epoch = steps_per_epoch(4000, run["batch_size"])
        assert run["fixed_epochs"]["epochs"] == settings["epochs"]
        assert run["fixed_steps"]["epochs"] == epochs_for_steps(settings["steps"], 4000,
                                                                run["batch_size"])
        for regime in REGIMES:
            entry = run[regime]
            assert entry["steps"] == entry["epochs"] * per_epoch
            assert 0 <= entry["train_accuracy"] <= 1 and 0 <= entry["test_accuracy"] <= 1
            # 4000 training and 1000 test signals: exact fractions.
            assert entry["train_accuracy"] * 4000 == pytest.approx(
                round(entry["train_accuracy"] * 4000))
            assert entry["test_accuracy"] * 1000 == pytest.approx(
                round(entry["test_accuracy"] * 1000))
            assert entry["gap"] == pytest.approx(entry["train_accuracy"]
                                                 - entry["test_accuracy"])
            assert math.isfinite(entry["train_loss"]) and entry["train_loss"] > 0
    assert len(data["summary"]) == len(REGIMES) * n_cells
    with open(out / "implicit.csv") as file:
        assert len(list(csv.DictReader(file))) == len(REGIMES) * n_cells
    table = (out / "implicit.md").read_text()
    assert table.count("\n| ") == n_cells + 1  # header and a row per (batch, lr)


@pytest.mark.slow
def test_quick_run_writes_consistent_files_whatever_the_threads(tmp_path):
    results = []
    for n_jobs in (1, 2):
        out = tmp_path / f"out{n_jobs}"
        stream = io.StringIO()
        result = run_study("implicit-regularization", out, quick=True, progress=False,
                           stream=stream, n_jobs=n_jobs)
        check_outputs(out, result)
        assert "fixed steps" in stream.getvalue() and "Keskar" in stream.getvalue()
        results.append(result.data["implicit"]["runs"])
    assert results[0] == results[1]


@pytest.mark.slow
def test_quick_run_from_the_command_line(tmp_path):
    out = tmp_path / "cli-out"
    completed = run_study_command("implicit-regularization", out, tmp_path)
    assert "| batch | lr |" in completed.stdout
    check_outputs(out)
    # Two threads ask for MNIST-1D first at once: they must still train on the same data.
    runs = json.loads((out / "implicit.json").read_text())["runs"]
    result = run_study("implicit-regularization", tmp_path / "in-process", quick=True,
                       progress=False, stream=io.StringIO(), n_jobs=1)
    assert result.data["implicit"]["runs"] == runs
