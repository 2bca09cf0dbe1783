"""The regularizers study at its tiny size: the files it writes, one row per regularizer,
numbers in range, strengths chosen on the validation split, L1's exact zeros.

The quick run trains about 50 tiny models and draws its figure (about 8 s of CPU): the
tests that use it are marked slow; the checks of single fits are not."""
import csv
import io
import json

import numpy as np
import pytest

import fastreg
from fastreg.studies import regularizers as study
from fastreg.studies import run_study
from fastreg.studies._runner import mnist1d
from helpers import run_study_command

FILES = ("regularizers.png", "regularizers.md", "regularizers.json", "regularizers.csv",
         "srivastava.md", "report.md")


@pytest.fixture(autouse=True, scope="module")
def _extras():
    # Imported here, not when the module is collected: tests/test_cli.py hides these
    # packages to check its error messages, which a submodule already imported defeats.
    for package in ("matplotlib", "mnist1d", "sklearn"):
        pytest.importorskip(package)


@pytest.fixture(scope="module")
def quick_run(_extras, tmp_path_factory):
    out = tmp_path_factory.mktemp("regularizers")
    result = run_study("regularizers", out, quick=True, n_jobs=2, progress=False,
                       stream=io.StringIO())
    return out, result


@pytest.mark.slow
def test_writes_its_files(quick_run):
    out, result = quick_run
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
        assert name in result.files
    assert (out / "regularizers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_one_row_per_regularizer_in_every_output(quick_run):
    out, result = quick_run
    data = json.loads((out / "regularizers.json").read_text())
    seeds = data["settings"]["seeds"]
    assert data["settings"]["rows"] == list(study.QUICK_ROWS)
    assert [row["row"] for row in data["summary"]] == list(study.QUICK_ROWS)
    assert all(row["fits"] == seeds for row in data["summary"])
    with open(out / "regularizers.csv", newline="") as file:
        records = list(csv.DictReader(file))
    assert len(records) == seeds * len(study.QUICK_ROWS)
    for row in study.QUICK_ROWS:
        assert len({r["seed"] for r in records if r["row"] == row}) == seeds
    table = result.tables["regularizers"].splitlines()
    body = [line for line in table if line.startswith("| ") and not line.startswith("| row")]
    assert [line.split(" | ")[0][2:] for line in body] == [study.ROWS[row][0]
                                                           for row in study.QUICK_ROWS]


def test_the_full_study_has_every_row_and_quick_one_of_each_kind():
    assert study._settings(False)["rows"] == tuple(study.ROWS)
    kinds = {"none", "es_gl", "ensemble_snapshot", "cnn", "best", "l1"}
    assert kinds <= set(study.QUICK_ROWS) <= set(study.ROWS)


@pytest.mark.slow
def test_numbers_in_range(quick_run):
    out, _ = quick_run
    data = json.loads((out / "regularizers.json").read_text())
    epochs = data["settings"]["epochs"]
    for row in data["summary"]:
        for key in ("test_accuracy", "train_accuracy"):
            assert 0.0 <= row[key] <= 1.0, (row["row"], key)
            assert row[key + "_sd"] >= 0.0
        assert row["seconds"] > 0.0
        assert row["gap"] == pytest.approx(row["train_accuracy"] - row["test_accuracy"])
    n_test = len(mnist1d()[3])
    for record in data["records"]:
        assert record["gap"] == record["train_accuracy"] - record["test_accuracy"]
        # Test accuracies are counts out of the test set's signals.
        assert record["test_accuracy"] * n_test == pytest.approx(
            round(record["test_accuracy"] * n_test), abs=1e-6)
        if record["row"].startswith("es_"):
            assert 1 <= record["best_epoch"] <= record["epochs"] <= epochs
        elif not record["row"].startswith("ensemble_"):
            assert record["epochs"] == epochs
            assert 0.0 <= record["zero_fraction"] <= 1.0


@pytest.mark.slow
def test_strengths_chosen_on_the_validation_split(quick_run):
    out, _ = quick_run
    data = json.loads((out / "regularizers.json").read_text())
    n_validation = data["settings"]["n_validation"]
    scores = {}
    for trial in data["tuning"]:
        # Validation accuracies are counts out of the validation signals, not the test set's.
        count = trial["validation_accuracy"] * n_validation * trial["seeds"]
        assert count == pytest.approx(round(count), abs=1e-6)
        scores.setdefault(trial["row"], []).append(trial)
    grid_rows = [row for row in study.QUICK_ROWS if study.ROWS[row][2]]
    assert set(scores) == set(grid_rows) | {"elastic_net", "best"}
    for row, trials in scores.items():
        best = max(trials, key=lambda t: t["validation_accuracy"])["validation_accuracy"]
        first_best = next(t for t in trials if t["validation_accuracy"] == best)
        assert data["chosen"][row] == first_best["strength"], row
        if row in grid_rows:
            assert [t["strength"] for t in trials] == list(
                study.ROWS[row][2][: data["settings"]["grid_size"]])
    assert data["chosen"]["dropout_vanilla"] == data["chosen"]["dropout"]
    assert data["chosen"]["dropout_max_norm"] == {"dropout": data["chosen"]["dropout"],
                                                  "max_norm": data["chosen"]["max_norm"]}
    assert len(data["chosen"]["best"]) >= 2
    assert set(data["chosen"]["best"]) <= set(study.COMBINABLE)


def test_l1_zero_fraction_is_that_of_the_trained_weights():
    """fit_row's zero fraction equals np.mean(coef == 0) of the same network trained
    independently (same data, layers, optimizer and seed: the same bits)."""
    n_train, n_validation, epochs, strength, seed = 300, 60, 4, 0.05, 7
    result = study.fit_row(row="l1", strength=strength, seed=seed, stage="test",
                           epochs=epochs, n_train=n_train, n_validation=n_validation,
                           split_seed=0)
    X, y, X_test, y_test = mnist1d()
    net = fastreg.Network([fastreg.Dense(100, "relu"), fastreg.Dense(100, "relu"),
                           fastreg.Dense(10)], optimizer=fastreg.Adam(learning_rate=1e-2),
                          regularizers=fastreg.L1(strength), random_state=seed, n_threads=1)
    net.fit(X[:n_train], y[:n_train], epochs=epochs, batch_size=100)
    weights = np.concatenate([coef.ravel() for coef in net.coefs_])
    assert 0.0 < np.mean(weights == 0) < 1.0
    assert result["zero_fraction"] == np.mean(weights == 0)
    assert result["accuracy"] == np.mean(net.predict(X_test).argmax(axis=1) == y_test)
    assert result["train_accuracy"] == np.mean(net.predict(X[:n_train]).argmax(axis=1)
                                               == y[:n_train])


def test_tuning_scores_on_the_validation_split_only():
    """stage='tune' trains on the split's training part and scores on its validation part."""
    n_train, n_validation, seed = 300, 60, 3
    result = study.fit_row(row="none", strength=None, seed=seed, stage="tune", epochs=2,
                           n_train=n_train, n_validation=n_validation, split_seed=5)
    train, validation = study._split(n_train, n_validation, 5)
    assert len(validation) == n_validation and not set(train) & set(validation)
    assert sorted(np.concatenate([train, validation])) == list(range(n_train))
    X, y, _, _ = mnist1d()
    net = fastreg.Network([fastreg.Dense(100, "relu"), fastreg.Dense(100, "relu"),
                           fastreg.Dense(10)], optimizer=fastreg.Adam(learning_rate=1e-2),
                          random_state=seed, n_threads=1)
    net.fit(X[train], y[train], epochs=2, batch_size=100)
    assert result["accuracy"] == np.mean(net.predict(X[validation]).argmax(axis=1)
                                         == y[validation])


def test_bad_rows_and_stages_are_refused():
    with pytest.raises(ValueError, match="Unknown row 'l3'"):
        study.fit_row(row="l3", strength=1.0, seed=0, stage="test", epochs=1, n_train=100,
                      n_validation=20, split_seed=0)
    with pytest.raises(ValueError, match="stage must be"):
        study.fit_row(row="none", strength=None, seed=0, stage="final", epochs=1,
                      n_train=100, n_validation=20, split_seed=0)
    with pytest.raises(ValueError, match="cannot enter a combination"):
        study.network_settings("best", {"cnn": None}, 10)
    with pytest.raises(ValueError, match="needs a dict"):
        study.network_settings("best", {}, 10)


@pytest.mark.slow
def test_cli(tmp_path):
    out = tmp_path / "out"
    completed = run_study_command("regularizers", out, tmp_path)
    assert "| none |" in completed.stdout
    for name in FILES:
        assert (out / name).exists(), name
