"""The early-stopping study: its replay of a recorded run agrees with the EarlyStopping
callback trained live and with the criteria's formulas written out in NumPy; its quick run
writes a figure, tables and numbers of the right shapes, and the stop epochs in its JSON are
those the criteria give when replayed on the saved curves.

MNIST-1D is generated once per process (seconds on two busy cores), so the tests that run
the study are marked slow.
"""
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import fastreg
from fastreg import Adam, Dense, EarlyStopping, Network
from fastreg.early_stopping import GeneralizationLoss, Patience, ProgressQuotient, UpStrips
from fastreg.studies import run_study
from fastreg.studies.early_stopping import (
    CRITERIA,
    SIGNALS,
    _CurveRecorder,
    criterion_label,
    evaluate_criteria,
    make_criterion,
    record_run,
    replay,
)
from helpers import run_study_command

ROOT = Path(fastreg.__file__).parents[1]


def noisy_u_curve(n_epochs, seed):
    """A validation curve that falls, then rises, with noise; a falling training curve."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n_epochs + 1)
    val = 0.3 + 0.5 * np.exp(-t / 8) + 0.002 * t + rng.normal(0, 0.01, n_epochs)
    train = 0.5 * np.exp(-t / 15) + 0.01 + rng.uniform(0, 0.003, n_epochs)
    return train.tolist(), val.tolist()


# ---------------------------------------------------------------------- independent formulas
def gl_stop(val, alpha):
    best = np.minimum.accumulate(val)
    loss = 100 * (np.asarray(val) / best - 1)
    hits = np.flatnonzero(loss > alpha)
    return int(hits[0]) + 1 if hits.size else None


def patience_stop(val, patience):
    best, wait = np.inf, 0
    for epoch, value in enumerate(val, start=1):
        best, wait = (value, 0) if value < best else (best, wait + 1)
        if wait >= patience:
            return epoch
    return None


def up_stop(val, strips, strip):
    ends = np.arange(strip, len(val) + 1, strip)
    rises = 0
    for previous, current in zip(ends[:-1], ends[1:]):
        rises = rises + 1 if val[current - 1] > val[previous - 1] else 0
        if rises >= strips:
            return int(current)
    return None


def pq_stop(train, val, alpha, strip):
    best = np.minimum.accumulate(val)
    for end in range(strip, len(val) + 1, strip):
        window = np.asarray(train[end - strip:end])
        progress = 1000 * (window.mean() / window.min() - 1)
        loss = 100 * (val[end - 1] / best[end - 1] - 1)
        if loss > 0 and loss / progress > alpha:
            return end
    return None


@pytest.mark.parametrize("seed", range(6))
def test_replay_stops_where_the_formulas_say(seed):
    train, val = noisy_u_curve(120, seed)
    cases = [(Patience(7), patience_stop(val, 7)),
             (GeneralizationLoss(2.0), gl_stop(val, 2.0)),
             (GeneralizationLoss(10.0), gl_stop(val, 10.0)),
             (UpStrips(2, 5), up_stop(val, 2, 5)), (UpStrips(3, 5), up_stop(val, 3, 5)),
             (ProgressQuotient(0.5, 5), pq_stop(train, val, 0.5, 5)),
             (ProgressQuotient(2.0, 5), pq_stop(train, val, 2.0, 5))]
    assert any(expected is not None for _, expected in cases)
    for criterion, expected in cases:
        stop, restored = replay(criterion, train, val)
        assert stop == expected, criterion
        seen = val[:stop] if stop is not None else val
        assert restored == int(np.argmin(seen)) + 1
        assert min(seen) == val[restored - 1]


def test_replay_resets_the_criterion_and_never_stopping_uses_the_whole_run():
    val = list(np.linspace(1.0, 0.1, 40))  # always improving: nothing stops
    criterion = Patience(3)
    for _ in range(2):
        assert replay(criterion, [None] * 40, val) == (None, 40)
        assert criterion.epoch_ == 40


def test_evaluate_criteria_ratios_and_reference_from_the_curves():
    train, val = noisy_u_curve(60, 1)
    test = (np.asarray(val) + np.random.default_rng(2).normal(0, 0.01, 60)).tolist()
    curves = {"train_loss": train, "val_error": val, "val_loss": val, "test_error": test,
              "test_loss": test}
    outcomes, reference = evaluate_criteria(curves, "error_rate")
    assert [o["criterion"] for o in outcomes] == [criterion_label(k, p) for k, p in CRITERIA]
    assert reference["min_test_error"] == min(test)
    assert reference["best_val_epoch"] == int(np.argmin(val)) + 1
    assert reference["best_val_test_error"] == test[int(np.argmin(val))]
    fastest = min(o["epochs_used"] for o in outcomes)
    for outcome in outcomes:
        assert outcome["test_error"] == test[outcome["restored_epoch"] - 1]
        assert outcome["ratio_to_min_test"] == pytest.approx(outcome["test_error"] / min(test))
        assert outcome["ratio_to_min_test"] >= 1.0
        assert outcome["time_to_fastest"] == outcome["epochs_used"] / fastest
        assert 1 <= outcome["restored_epoch"] <= outcome["epochs_used"] <= 60


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_recorded_curves_replayed_stop_where_the_live_callback_stops(dtype):
    """The study never retrains: the replay must agree with EarlyStopping trained live."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(dtype)
    y = (X[:, 0] + 0.7 * rng.normal(size=300) > 0).astype(int) + 2 * (X[:, 1] > 0.5)
    X_train, y_train, X_val, y_val = X[:150], y[:150], X[150:], y[150:]

    def network():
        return Network([Dense(64, "relu"), Dense(4)], optimizer=Adam(0.02), dtype=dtype,
                       random_state=3, n_threads=1)

    recorder = _CurveRecorder(X_val, y_val, X_val, y_val)
    network().fit(X_train, y_train, epochs=60, batch_size=16, callbacks=recorder)
    stopped = 0
    for kind, parameters in CRITERIA:
        for error, signal in (("error_rate", "val_error"), ("loss", "val_loss")):
            stop, restored = replay(make_criterion(kind, parameters),
                                    recorder.curves["train_loss"], recorder.curves[signal])
            live = EarlyStopping(make_criterion(kind, parameters), (X_val, y_val),
                                 error=error, restore_best=False)
            network().fit(X_train, y_train, epochs=60, batch_size=16, callbacks=live)
            assert live.stopped_epoch_ == stop, (kind, parameters, error)
            assert live.best_epoch_ == restored
            stopped += stop is not None
    assert stopped >= 6  # the run overfits: most criteria do stop


def check_outputs(out, result=None):
    for name in ("early_stopping.png", "early_stopping.md", "early_stopping_loss.md",
                 "early_stopping.json", "early_stopping.csv", "report.md"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "early_stopping.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "early_stopping.json").read_text())
    if result is not None:
        assert result.data["early_stopping"] == data
    settings = data["settings"]
    assert len(data["runs"]) == settings["n_seeds"] == len(settings["seeds"])
    for run in data["runs"]:
        curves = run["curves"]
        assert set(curves) == {"train_loss", "val_loss", "val_error", "test_loss",
                               "test_error"}
        assert all(len(curve) == settings["epochs"] for curve in curves.values())
        for name in ("val_error", "test_error"):
            assert all(0 <= value <= 1 for value in curves[name])
        assert all(value > 0 for value in curves["train_loss"] + curves["val_loss"])
        # 1000 validation and 1000 test signals: the error rates are multiples of 1/1000.
        assert np.allclose(np.asarray(curves["val_error"]) * 1000,
                           np.round(np.asarray(curves["val_error"]) * 1000))
    # The exact property: each stop epoch is what the criterion's own update() gives when
    # fed the saved curves.
    for signal, key in SIGNALS.items():
        per_seed = data["results"][signal]["per_seed"]
        assert len(per_seed) == settings["n_seeds"]
        for run, outcomes in zip(data["runs"], per_seed):
            assert len(outcomes) == len(CRITERIA)
            curves = run["curves"]
            for outcome, (kind, parameters) in zip(outcomes, CRITERIA):
                criterion = make_criterion(kind, parameters)
                stop = None
                for epoch, pair in enumerate(zip(curves["train_loss"], curves[key]), 1):
                    if criterion.update(*pair):
                        stop = epoch
                        break
                assert outcome["stop_epoch"] == stop
                used = stop or settings["epochs"]
                assert outcome["epochs_used"] == used
                best = int(np.argmin(curves[key][:used])) + 1
                assert outcome["restored_epoch"] == best
                assert outcome["test_error"] == curves["test_error"][best - 1]
    table = (out / "early_stopping.md").read_text()
    assert table.count("\n| ") == len(CRITERIA) + 1  # header and a row per criterion
    with open(out / "early_stopping.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(SIGNALS) * settings["n_seeds"] * len(CRITERIA)


@pytest.mark.slow
def test_quick_run_writes_consistent_files(tmp_path):
    stream = io.StringIO()
    result = run_study("early-stopping", tmp_path / "out", quick=True, progress=False,
                       stream=stream, n_jobs=1)
    check_outputs(tmp_path / "out", result)
    assert "GL_2" in stream.getvalue() and "Prechelt" in stream.getvalue()


@pytest.mark.slow
def test_quick_run_from_the_command_line(tmp_path):
    out = tmp_path / "cli-out"
    completed = run_study_command("early-stopping", out, tmp_path)
    assert "| criterion |" in completed.stdout
    check_outputs(out)
    # The curves are those of the same network trained here, on the same MNIST-1D.
    data = json.loads((out / "early_stopping.json").read_text())
    epochs = data["settings"]["epochs"]
    for run in data["runs"]:
        assert record_run(seed=run["seed"], epochs=epochs) == run["curves"]
