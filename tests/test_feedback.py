"""Training feedback of ``Network.fit``: verbose output, validation metrics, callbacks,
``summary()``, ``repr`` and the docstring example.

* ``verbose=1`` prints one line per epoch whose figures are the history's, rounded;
  ``verbose=2`` adds a progress bar (tqdm's, or a text bar without tqdm) moved by a monitor
  thread while the epoch trains without the GIL: a hook inside the epoch waits until the
  bar has moved, so the test shows the bar advancing mid-epoch without timing anything.
  The weights are the same bits at every level, with and without validation data.
* ``val_loss`` and ``val_accuracy`` are checked against a forward pass and losses written
  here in NumPy from ``coefs_`` / ``intercepts_``; epochs without validation data hold NaN.
* Callbacks: all are called every epoch, training stops if any says so, ``on_train_end``
  reaches each, an ``EarlyStopping`` anywhere in the list restores its best weights when
  an epoch diverges.
* ``summary()``'s parameter counts equal the sizes of ``coefs_`` and ``intercepts_``.
"""
import doctest
import math
import pickle
import re
import sys
import threading

import numpy as np
import pytest

import fastreg
from fastreg import (
    L2,
    SGD,
    Adam,
    Conv1D,
    Dense,
    DivergenceError,
    EarlyStopping,
    Network,
    Patience,
    _progress,
)
from fastreg import network as network_module

HISTORY_KEYS = {"loss", "learning_rate", "epoch_time", "val_loss", "val_accuracy"}
LINE = re.compile(
    r"^Epoch (\d+)/(\d+) - loss (\d+\.\d{4})(?: - val_loss (\d+\.\d{4}))?"
    r"(?: - val_accuracy (\d\.\d{4}))?(?: - learning_rate (\S+))? - \d+(?:\.\d+)?(?:e-\d+)? m?s$")


def blobs(n, n_features=6, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    return centers[y] + rng.normal(size=(n, n_features)), y


def classifier(dtype="float32", **kw):
    kw.setdefault("optimizer", SGD(0.05, momentum=0.9))
    return Network([Dense(8, "relu", dropout=0.2), Dense(3)], dtype=dtype, random_state=0, **kw)


def no_progress_threads():
    return not [t for t in threading.enumerate() if t.name == "fastreg-progress"]


# ---------------------------------------------------------------------- verbose
@pytest.mark.parametrize("verbose", [3, -1, 1.0, "1", None, [1]])
def test_verbose_is_validated(verbose):
    X, y = blobs(20)
    net = classifier()
    with pytest.raises(ValueError, match="verbose"):
        net.fit(X, y, verbose=verbose)
    assert net.epochs_ == 0


def test_verbose_0_and_false_are_silent_true_is_1(capsys):
    X, y = blobs(40)
    classifier().fit(X, y, epochs=2)
    classifier().fit(X, y, epochs=2, verbose=False)
    assert capsys.readouterr().out == ""
    classifier().fit(X, y, epochs=2, verbose=True)
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_verbose_1_prints_the_history_of_each_epoch(capsys):
    X, y = blobs(120)
    X_val, y_val = blobs(30, seed=1)
    net = classifier()
    history = net.fit(X, y, epochs=4, batch_size=16, validation_data=(X_val, y_val), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for number, line in enumerate(lines, start=1):
        match = LINE.match(line)
        assert match, line
        assert match[1] == str(number) and match[2] == "4"
        k = number - 1
        assert match[3] == f"{history['loss'][k]:.4f}"
        assert match[4] == f"{history['val_loss'][k]:.4f}"
        assert match[5] == f"{history['val_accuracy'][k]:.4f}"
        assert match[6] is None  # a constant learning rate is not repeated every epoch

    # Without validation data, no validation figures; a schedule shows the rate.
    net = classifier(optimizer=SGD(lambda epoch: 0.1 / (1 + epoch)))
    net.fit(X, y, epochs=3, batch_size=16, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert [LINE.match(line)[4] for line in lines] == [None] * 3
    assert [LINE.match(line)[6] for line in lines] == ["0.1", "0.05", "0.03333"]


def test_verbose_1_regression_shows_val_loss_only(capsys):
    X, _ = blobs(60)
    y = X @ np.arange(6.0)
    net = Network([Dense(4, "tanh"), Dense(1)], loss="squared_error", random_state=0)
    net.fit(X, y, epochs=2, validation_data=(X[:20], y[:20]), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert all(LINE.match(line)[4] is not None and LINE.match(line)[5] is None
               for line in lines), lines


def _bar_run(monkeypatch, capsys, tqdm_installed, n=200, batch_size=16):
    if not tqdm_installed:
        monkeypatch.setitem(sys.modules, "tqdm", None)
    X, y = blobs(n)
    net = classifier()
    net.fit(X, y, epochs=2, batch_size=batch_size, verbose=2)
    assert no_progress_threads()
    return capsys.readouterr().out, math.ceil(n / batch_size)


def test_verbose_2_without_tqdm_draws_a_text_bar(monkeypatch, capsys):
    out, steps = _bar_run(monkeypatch, capsys, tqdm_installed=False)
    assert f"\rEpoch 1/2 [{'=' * _progress.TextBar.width}] {steps}/{steps} " in out
    assert f"\rEpoch 2/2 [{'=' * _progress.TextBar.width}] {steps}/{steps} " in out
    lines = [line for line in out.split("\n") if line.startswith("Epoch")]
    assert [LINE.match(line)[1] for line in lines] == ["1", "2"]


def test_verbose_2_with_tqdm(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    out, steps = _bar_run(monkeypatch, capsys, tqdm_installed=True)
    for number in (1, 2):
        assert re.search(rf"Epoch {number}/2: 100%\|.*\| {steps}/{steps} \[", out), out
        assert re.search(rf"(^|\n)Epoch {number}/2 - loss \d", out), out


@pytest.mark.parametrize("tqdm_installed", [False, True])
def test_the_monitor_moves_the_bar_within_an_epoch(monkeypatch, capsys, tqdm_installed):
    """A hook in the middle of the epoch waits until the bar shows steps of this epoch
    (more than 0, fewer than all): only a thread running while the epoch trains can."""
    if tqdm_installed:
        pytest.importorskip("tqdm")
        bar_class = _progress.TqdmBar
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
        bar_class = _progress.TextBar
    shown, moved = [], threading.Event()
    original = bar_class.show

    def show(bar, done):
        shown.append(done)
        if 0 < done < bar.total:
            moved.set()
        original(bar, done)

    monkeypatch.setattr(bar_class, "show", show)
    batches, waited = [0], []

    def wait_for_the_bar(X, rng):
        batches[0] += 1
        if batches[0] == 20:
            waited.append(moved.wait(60))
        return X

    X, y = blobs(400)
    net = classifier(augment=wait_for_the_bar)
    net.fit(X, y, epochs=1, batch_size=10, verbose=2)
    assert waited == [True]
    assert any(0 < done < 40 for done in shown) and shown[-1] == 40
    assert shown == sorted(shown)
    assert "40/40" in capsys.readouterr().out
    assert no_progress_threads()


class _Stop(Exception):
    pass


@pytest.mark.parametrize("error", [_Stop, KeyboardInterrupt])
def test_the_monitor_stops_when_the_epoch_fails(monkeypatch, capsys, error):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    batches = [0]

    def failing(X, rng):
        batches[0] += 1
        if batches[0] == 5:
            raise error("stop here")
        return X

    X, y = blobs(200)
    net = classifier(augment=failing)
    with pytest.raises(error):
        net.fit(X, y, epochs=3, batch_size=10, verbose=2)
    assert no_progress_threads()
    assert capsys.readouterr().out.endswith("\n")  # the bar's line was ended


def test_the_monitor_stops_when_an_epoch_diverges(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    X, y, _, _ = unscaled_problem("float64")
    with pytest.raises(DivergenceError):
        diverging_network("float64").fit(X, y, epochs=50, batch_size=20, verbose=2)
    assert no_progress_threads()
    out = capsys.readouterr().out
    assert "Epoch 4/50 - loss" in out and "Epoch 5/50 - loss" not in out


def test_weights_are_the_same_bits_at_every_verbose_level(monkeypatch, capsys, dtype):
    X, y = blobs(150)
    X_val, y_val = blobs(40, seed=1)

    def train(**kw):
        net = classifier(dtype, input_noise=0.1, regularizers=L2(1e-3))
        net.fit(X, y, epochs=3, batch_size=8, **kw)
        return [a.tobytes() for a in net.coefs_ + net.intercepts_], net.history_["loss"]

    quiet = train()
    assert train(verbose=1) == quiet
    assert train(verbose=2) == quiet
    assert train(verbose=2, validation_data=(X_val, y_val)) == quiet
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert train(verbose=2, validation_data=(X_val, y_val)) == quiet


# ---------------------------------------------------------------------- validation
def _forward(coefs, intercepts, X, activations):
    A = np.asarray(X, dtype=np.float64)
    for W, b, activation in zip(coefs, intercepts, activations):
        Z = A @ W.astype(np.float64) + b.astype(np.float64)
        A = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
             "identity": lambda z: z}[activation](Z)
    return A


def _reference_metrics(loss, Z, y, weights):
    """Mean data loss and exact-match accuracy from the output layer's values Z."""
    w = np.ones(len(Z)) if weights is None else np.asarray(weights, dtype=np.float64)
    if loss == "softmax_cross_entropy":
        shifted = Z - Z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        per_sample = -log_p[np.arange(len(y)), y]
        right = Z.argmax(axis=1) == y
    elif loss == "logistic_cross_entropy":
        Y = y.reshape(Z.shape)
        per_sample = (np.logaddexp(0, Z) - Y * Z).sum(axis=1)  # -log sigmoid terms
        right = ((Z > 0) == (Y > 0.5)).all(axis=1)
    else:
        per_sample = 0.5 * ((Z - y.reshape(Z.shape)) ** 2).sum(axis=1)
        right = None
    loss_value = (w * per_sample).sum() / w.sum()
    accuracy = math.nan if right is None else (w * right).sum() / w.sum()
    return loss_value, accuracy


@pytest.mark.parametrize("loss, n_outputs", [("softmax_cross_entropy", 3),
                                             ("logistic_cross_entropy", 3),
                                             ("logistic_cross_entropy", 1),
                                             ("squared_error", 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_metrics_match_numpy(dtype, tol, loss, n_outputs, weighted):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 5))
    X_val = rng.normal(size=(40, 5))
    if loss == "softmax_cross_entropy":
        y, y_val = rng.integers(0, 3, 90), rng.integers(0, 3, 40)
    elif loss == "logistic_cross_entropy":
        y = (rng.random((90, n_outputs)) < 0.5).astype(float)
        y_val = (rng.random((40, n_outputs)) < 0.5).astype(float)
    else:
        y, y_val = rng.normal(size=(90, 2)), rng.normal(size=(40, 2))
    if n_outputs == 1:
        y, y_val = y.ravel(), y_val.ravel()
    weights = rng.uniform(0.5, 2.0, 40) if weighted else None
    validation = (X_val, y_val) if weights is None else (X_val, y_val, weights)
    net = Network([Dense(7, "tanh", dropout=0.3), Dense(n_outputs)], loss=loss,
                  optimizer=SGD(0.05), input_noise=0.2, dtype=dtype, random_state=0)
    expected = []

    def measure(network, record):  # the weights at the end of the epoch, as measured
        Z = _forward(network.coefs_, network.intercepts_, X_val, ["tanh", "identity"])
        expected.append(_reference_metrics(loss, Z, y_val, weights))
        assert ("val_accuracy" in record) == (loss != "squared_error")
        assert record["val_loss"] == network.history_["val_loss"][-1]
        return False

    history = net.fit(X, y, epochs=3, batch_size=10, validation_data=validation,
                      callbacks=measure)
    val_loss, val_accuracy = zip(*expected)
    np.testing.assert_allclose(history["val_loss"], val_loss, rtol=tol["rtol"] * 10)
    if loss == "squared_error":
        assert np.isnan(history["val_accuracy"]).all()
    else:
        # The weights are taken in the network's dtype; one flipped sample would be 1/40 off.
        np.testing.assert_allclose(history["val_accuracy"], val_accuracy, rtol=tol["rtol"])
    assert history["val_loss"] == net.history_["val_loss"]
    assert all(math.isfinite(v) for v in history["val_loss"])


def test_history_fills_nan_where_nothing_was_measured():
    X, y = blobs(60)
    net = classifier()
    net.fit(X, y, epochs=2)
    net.fit(X, y, epochs=3, validation_data=(X[:20], y[:20]))
    again = net.fit(X, y, epochs=1)
    history = net.history_
    assert set(history) == set(again) == HISTORY_KEYS
    assert all(len(values) == net.epochs_ == 6 for values in history.values())
    measured = [False, False, True, True, True, False]
    for key in ("val_loss", "val_accuracy"):
        assert [not math.isnan(v) for v in history[key]] == measured
    assert math.isnan(again["val_loss"][0]) and math.isnan(again["val_accuracy"][0])
    assert all(0 <= v <= 1 for v in history["val_accuracy"][2:5])


def test_a_training_session_leaves_nan_for_the_validation_figures():
    X, y = blobs(30)
    net = classifier()
    with net.training_session(X, y, batch_size=10) as session:
        record = session.run_epoch()
    assert "val_loss" not in record
    assert math.isnan(net.history_["val_loss"][0]) and len(net.history_["val_accuracy"]) == 1


@pytest.mark.parametrize("validation_data, kind, message", [
    ([1, 2], ValueError, "validation_data: X must be 2-D"),  # a list works as a tuple
    ("data", ValueError, "validation_data must be a tuple"),
    ((np.zeros((3, 6)),), ValueError, "validation_data must be a tuple"),
    ((np.zeros((3, 6)), np.zeros(3), None, None), ValueError, "validation_data must be a tuple"),
    ((np.zeros((3, 5)), np.zeros(3)), ValueError, "validation_data: X has 5 columns"),
    ((np.full((3, 6), np.nan), np.zeros(3)), ValueError, "validation_data: X contains NaN"),
    ((np.zeros((3, 6)), np.zeros(4)), ValueError, "validation_data: X has 3 samples"),
    ((np.zeros((3, 6)), np.array([0, 1, 7])), ValueError, r"validation_data: Class indices"),
    ((np.zeros((3, 6)), np.zeros(3), -np.ones(3)), ValueError, "validation_data: sample_weight"),
    ((np.zeros((3, 6)).astype(complex), np.zeros(3)), TypeError, "validation_data: X must be real"),
])
def test_validation_data_is_checked_before_training(validation_data, kind, message):
    X, y = blobs(30)
    net = classifier()
    with pytest.raises(kind, match=message):
        net.fit(X, y, epochs=2, validation_data=validation_data)
    assert net.epochs_ == 0 and net.history_["loss"] == []


# ---------------------------------------------------------------------- callbacks
class Recorder:
    def __init__(self, stop_at=None):
        self.epochs, self.ended, self.stop_at = [], 0, stop_at

    def __call__(self, network, record):
        self.epochs.append(record["epoch"])
        return record["epoch"] == self.stop_at

    def on_train_end(self, network):
        self.ended += 1


def test_every_callback_is_called_and_any_stops_training():
    X, y = blobs(40)
    net = classifier()
    first, second = Recorder(stop_at=1), Recorder()
    plain = []
    history = net.fit(X, y, epochs=10, callbacks=[first, lambda n, r: plain.append(r) or False,
                                                 second])
    assert first.epochs == second.epochs == [0, 1] and len(plain) == 2
    assert net.epochs_ == 2 == len(history["loss"])
    assert first.ended == second.ended == 1
    # A tuple, a single callable, and the older name.
    for given in [(Recorder(),), Recorder()]:
        net.fit(X, y, epochs=2, callbacks=given)
    old = Recorder(stop_at=net.epochs_)
    net.fit(X, y, epochs=5, callback=old)
    assert old.epochs == [6] and old.ended == 1
    net.fit(X, y, epochs=1, callback=[Recorder(), Recorder()])
    net.fit(X, y, epochs=1, callbacks=[])


@pytest.mark.parametrize("kw, message", [
    (dict(callbacks=Recorder(), callback=Recorder()), "not both"),
    (dict(callbacks=[Recorder(), 3]), r"callbacks\[1\] must be callable"),
    (dict(callback=[None]), r"callback\[0\] must be callable"),
    (dict(callbacks="stop"), "callbacks must be a callable or a list"),
    (dict(callbacks={Recorder()}), "callbacks must be a callable or a list"),
])
def test_callbacks_are_checked(kw, message):
    X, y = blobs(20)
    net = classifier()
    with pytest.raises(TypeError, match=message):
        net.fit(X, y, **kw)
    assert net.epochs_ == 0


def test_the_record_passed_to_callbacks_has_the_validation_figures():
    X, y = blobs(40)
    records = []
    classifier().fit(X, y, epochs=2, validation_data=(X[:10], y[:10]),
                     callbacks=lambda net, record: records.append(dict(record)))
    assert all({"val_loss", "val_accuracy", "loss", "epoch"} <= set(r) for r in records)


def unscaled_problem(dtype):
    """Inputs of scale 10 for SGD(4e-3, momentum 0.9): the fifth epoch diverges (as in
    test_divergence.py)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * 10
    y = rng.normal(size=(200, 2))
    X_val = rng.normal(size=(100, 5)) * 10
    y_val = rng.normal(size=(100, 2))
    return X.astype(dtype), y, X_val.astype(dtype), y_val


def diverging_network(dtype):
    return Network([Dense(16, "relu"), Dense(2)], loss="squared_error",
                   optimizer=SGD(4e-3, momentum=0.9), dtype=dtype, random_state=0)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_early_stopping_anywhere_in_the_list_restores_its_best_on_divergence(dtype, position):
    X, y, X_val, y_val = unscaled_problem(dtype)
    seen = []

    def validation_loss(network, X_given, y_given):
        seen.append([p.copy() for p in network.coefs_ + network.intercepts_])
        return network.evaluate(X_given, y_given)["data_loss"]

    stopper = EarlyStopping(Patience(100), (X_val, y_val), error=validation_loss)
    others = [Recorder(), Recorder()]
    callbacks = others[:position] + [stopper] + others[position:]
    net = diverging_network(dtype)
    with pytest.raises(DivergenceError, match="epoch 5") as caught:
        net.fit(X, y, epochs=50, batch_size=20, callbacks=callbacks,
                validation_data=(X_val, y_val))
    best = stopper.best_epoch_
    assert len(seen) == 4 and best < 4 and stopper.restored_
    for now, kept in zip(net.coefs_ + net.intercepts_, seen[best - 1]):
        np.testing.assert_array_equal(now, kept)
    assert f"the best weights of its EarlyStopping callback (its epoch {best}" in str(caught.value)
    assert all(other.epochs == [0, 1, 2, 3] and other.ended == 1 for other in others)
    # The diverging epoch counts nowhere; fit measured the same validation loss.
    assert all(len(values) == net.epochs_ == 4 for values in net.history_.values())
    assert net.history_["val_loss"] == stopper.val_errors_


# ---------------------------------------------------------------------- summary and repr
def _parameter_counts(text):
    rows = [line for line in text.splitlines() if re.match(r"^\d+  ", line)]
    counts = [line.split()[-1].replace(",", "") for line in rows]
    total = re.search(r"Trainable parameters: (\S+)", text)[1].replace(",", "")
    return counts, total


@pytest.mark.parametrize("layers, n_features", [
    ([Dense(16, "relu", dropout=0.5), Dense(8, "tanh"), Dense(3)], 10),
    ([Conv1D(4, 5, stride=2, padding=1), Conv1D(3, 3, activation="tanh"), Dense(6, "relu"),
      Dense(2)], 40),
])
def test_summary_counts_are_the_sizes_of_the_weights(dtype, layers, n_features):
    rng = np.random.default_rng(1)
    net = Network(layers, regularizers=L2(1e-3), input_dropout=0.1, dtype=dtype, random_state=0)
    before = net.summary()
    counts, total = _parameter_counts(before)
    assert total == "?" and "?" in counts and "summary(n_features=...)" in before
    planned = net.summary(n_features=n_features)
    X = rng.normal(size=(20, n_features))
    net.fit(X, rng.integers(0, layers[-1].units, 20), epochs=1)
    text = net.summary()
    assert isinstance(text, str) and text == planned + "\nTrained: 1 epochs, 1 steps"
    counts, total = _parameter_counts(text)
    sizes = [w.size + b.size for w, b in zip(net.coefs_, net.intercepts_)]
    assert [int(c) for c in counts] == sizes and int(total) == sum(sizes)
    for expected in ("Loss: softmax_cross_entropy", "Optimizer: SGD()", "Regularizers: L2(0.001)",
                     "input_dropout 0.1", f"dtype: {np.dtype(dtype).name}"):
        assert expected in text
    # Conv1D output shapes, channels last, are the engine's geometry.
    for layer, geometry in zip(layers, net._geometry(n_features)[1]):
        if geometry is not None:
            assert f"({geometry[3]}, {layer.channels})" in text
    with pytest.raises(ValueError, match="n_features"):
        net.summary(n_features=n_features + 1)
    with pytest.raises(ValueError, match="n_features"):
        net.summary(n_features=0)


def test_summary_before_the_first_fit_knows_what_does_not_depend_on_the_inputs():
    net = Network([Dense(5, "relu"), Dense(4, "relu"), Dense(2)], loss="logistic_cross_entropy",
                  optimizer=Adam(0.01))
    counts, total = _parameter_counts(net.summary())
    assert counts == ["?", str(5 * 4 + 4), str(4 * 2 + 2)] and total == "?"
    assert "sigmoid" in net.summary() and "Optimizer: Adam(learning_rate=0.01)" in net.summary()


@pytest.mark.parametrize("make, expected", [
    (lambda: Network([Dense(3)]), "Network([Dense(3)])"),
    (lambda: Network([Dense(100, "relu", dropout=0.5), Dense(10)],
                     optimizer=SGD(learning_rate=0.01, momentum=0.9), regularizers=[L2(0.0001)],
                     random_state=0),
     "Network([Dense(100, activation='relu', dropout=0.5), Dense(10)], "
     "optimizer=SGD(momentum=0.9), regularizers=[L2(0.0001)], random_state=0)"),
    (lambda: Network([Conv1D(4, 3, stride=2), Dense(1)], loss="squared_error",
                     optimizer=Adam(), dtype=np.float64, input_noise=0.1, n_threads=1,
                     random_state=np.random.default_rng(3)),
     "Network([Conv1D(4, 3, stride=2), Dense(1)], loss='squared_error', optimizer=Adam(), "
     "input_noise=0.1, dtype='float64', n_threads=1)"),
])
def test_repr_shows_the_settings_that_differ_from_their_defaults(make, expected):
    net = make()
    assert repr(net) == expected
    rebuilt = eval(repr(net), vars(fastreg))
    assert repr(rebuilt) == expected and type(rebuilt) is Network


def test_random_state_keeps_the_integer_given_and_seeds_as_before():
    X, y = blobs(30)
    a, b = Network([Dense(3)], random_state=np.int64(4)), Network([Dense(3)], random_state=4)
    assert a.random_state == 4 and type(a.random_state) is int
    a.fit(X, y, epochs=2)
    b.fit(X, y, epochs=2)
    c = Network([Dense(3)], random_state=np.random.default_rng(4))
    c.fit(X, y, epochs=2)
    assert c.random_state is None
    for x, y_, z in zip(a.coefs_, b.coefs_, c.coefs_):
        assert x.tobytes() == y_.tobytes() == z.tobytes()


# ---------------------------------------------------------------------- saving
def test_the_new_history_round_trips(tmp_path):
    X, y = blobs(40)
    net = classifier()
    net.fit(X, y, epochs=2)
    net.fit(X, y, epochs=2, validation_data=(X[:10], y[:10]))
    net.save(tmp_path / "net.fr")
    loaded = fastreg.load(tmp_path / "net.fr")
    assert set(loaded.history_) == HISTORY_KEYS and loaded.random_state == 0
    for key, values in net.history_.items():
        np.testing.assert_array_equal(loaded.history_[key], values)
    assert repr(loaded) == repr(net)
    loaded.fit(X, y, epochs=1, validation_data=(X[:10], y[:10]))
    assert len(loaded.history_["val_accuracy"]) == 5


def test_files_and_pickles_from_before_the_validation_figures_load(tmp_path, monkeypatch):
    X, y = blobs(40)
    net = classifier()
    net.fit(X, y, epochs=3)
    saved = Network._save_state

    def old_save_state(network):  # what _save_state wrote before this change
        params, state = saved(network)
        state["history"] = {key: state["history"][key]
                            for key in ("loss", "learning_rate", "epoch_time")}
        del state["random_state"]
        return params, state

    monkeypatch.setattr(Network, "_save_state", old_save_state)
    net.save(tmp_path / "old.fr")
    monkeypatch.undo()
    loaded = fastreg.load(tmp_path / "old.fr")
    assert loaded.history_["loss"] == net.history_["loss"] and loaded.random_state is None
    assert set(loaded.history_) == HISTORY_KEYS
    assert np.isnan(loaded.history_["val_loss"]).all() and len(loaded.history_["val_loss"]) == 3
    loaded.fit(X, y, epochs=1, validation_data=(X[:10], y[:10]))
    assert len(loaded.history_["val_loss"]) == 4 and not math.isnan(loaded.history_["val_loss"][3])

    state = net.__getstate__()
    state["history_"] = {key: list(state["history_"][key])
                         for key in ("loss", "learning_rate", "epoch_time")}
    del state["random_state"]
    old = Network.__new__(Network)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert set(restored.history_) == HISTORY_KEYS and restored.random_state is None
    restored.fit(X, y, epochs=1, validation_data=(X[:10], y[:10]))
    assert all(len(values) == 4 for values in restored.history_.values())


def test_a_history_with_some_of_the_new_lists_is_refused(tmp_path, monkeypatch):
    X, y = blobs(40)
    net = classifier()
    net.fit(X, y, epochs=1)
    saved = Network._save_state

    def damaged(history):
        def save_state(network):
            params, state = saved(network)
            state["history"] = history(state["history"])
            return params, state
        return save_state

    for history, message in [
        (lambda h: {k: v for k, v in h.items() if k != "val_accuracy"}, "missing"),
        (lambda h: {**h, "val_loss": []}, "differ in length"),
    ]:
        monkeypatch.setattr(Network, "_save_state", damaged(history))
        net.save(tmp_path / "bad.fr")
        monkeypatch.undo()
        with pytest.raises(ValueError, match=message):
            fastreg.load(tmp_path / "bad.fr")


# ---------------------------------------------------------------------- the example
def test_the_docstring_example_of_network_runs():
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(Network, "Network", module=network_module, globs={})
    assert len(test.examples) >= 8
    result = doctest.DocTestRunner().run(test)
    assert result.failed == 0 and result.attempted == len(test.examples)


def test_with_several_early_stoppings_a_divergence_ends_at_the_last_ones_best():
    X, y, X_val, y_val = unscaled_problem("float64")
    seen = []

    def latest_is_best(network, X_given, y_given):  # each epoch better than the last
        seen.append([p.copy() for p in network.coefs_ + network.intercepts_])
        return -len(seen)

    for order in (0, 1):
        seen.clear()
        by_loss = EarlyStopping(Patience(100), (X_val, y_val))
        by_epoch = EarlyStopping(Patience(100), (X_val, y_val), error=latest_is_best)
        stoppers = [by_loss, by_epoch] if order == 0 else [by_epoch, by_loss]
        net = diverging_network("float64")
        with pytest.raises(DivergenceError) as caught:
            net.fit(X, y, epochs=50, batch_size=20, callbacks=stoppers)
        last = stoppers[-1]
        assert by_epoch.best_epoch_ == 4 and by_loss.best_epoch_ < 4
        assert f"(its epoch {last.best_epoch_}," in str(caught.value)
        best = last.best_coefs_ + last.best_intercepts_
        for now, kept in zip(net.coefs_ + net.intercepts_, best):
            np.testing.assert_array_equal(now, kept)
        np.testing.assert_array_equal(by_epoch.best_coefs_[0], seen[3][0])
