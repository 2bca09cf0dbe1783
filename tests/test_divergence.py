"""Divergence: no model is ever left with NaN or infinite weights, and the errors say so.

* The core API (``Network.fit``, ``TrainingSession.run_epoch``) raises
  ``fastreg.DivergenceError``, both a ``ValueError`` and a ``FloatingPointError``, with the
  network back at the weights of the diverging epoch's start (compared with the weights a
  callback copied at the end of the epoch before), or, with an ``EarlyStopping`` callback,
  at its best weights (compared with the weights its error function saw at that epoch).
* The estimators behave as scikit-learn's: its ``ValueError`` without early stopping (its
  message, word for word, checked against scikit-learn itself); with early stopping they
  finish with the weights of the best validation score (scikit-learn's own
  ``test_mlp_diverging_loss`` case, compared with scikit-learn's model).
* Weights made non-finite by hand are named in a ``ValueError`` at the next fit or
  predict, not reported as divergence.
"""
import re
import warnings

import numpy as np
import pytest

import fastreg
from fastreg import EMA, SGD, Dense, DivergenceError, EarlyStopping, Network, Patience

SKLEARN_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


def unscaled_problem(dtype):
    """Inputs of scale 10 for SGD(4e-3, momentum 0.9): the loss grows from epoch 2 and the
    fifth epoch diverges, in float32 and float64."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)) * 10
    y = rng.normal(size=(200, 2))
    X_val = rng.normal(size=(100, 5)) * 10
    y_val = rng.normal(size=(100, 2))
    return X.astype(dtype), y, X_val.astype(dtype), y_val


def diverging_network(dtype, **kw):
    return Network([Dense(16, "relu"), Dense(2)], loss="squared_error",
                   optimizer=SGD(4e-3, momentum=0.9), dtype=dtype, random_state=0, **kw)


def snapshot(network):
    return [p.copy() for p in network.coefs_ + network.intercepts_]


def assert_weights_equal(network, expected):
    now = network.coefs_ + network.intercepts_
    assert len(now) == len(expected)
    for a, b in zip(now, expected):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- the core API
def test_diverging_fit_restores_the_last_finite_weights(dtype):
    X, y, _, _ = unscaled_problem(dtype)
    net = diverging_network(dtype)
    ends = []  # the weights at the end of every epoch
    with pytest.raises(DivergenceError) as caught:
        net.fit(X, y, epochs=50, batch_size=20,
                callback=lambda network, record: ends.append(snapshot(network)))
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, FloatingPointError)
    assert error.epoch == 5 == len(ends) + 1 and not np.isfinite(error.loss)
    message = str(error)
    assert "Training diverged at epoch 5: its loss was nan" in message
    assert "the weights it had at the start of that epoch (the last finite ones)" in message
    assert "Lower the learning rate" in message
    # The weights at the start of epoch 5 are those at the end of epoch 4.
    assert_weights_equal(net, ends[-1])
    # Epoch 5 does not count; the optimizer state (momentum) starts afresh.
    assert net.epochs_ == 4 == len(net.history_["loss"])
    assert all(np.isfinite(net.history_["loss"]))
    assert net.steps_ == 0
    # The network trains on at a lower rate (its weights after epoch 4 were already far
    # out: their loss is about 1e5), and its loss comes down.
    net.optimizer = SGD(1e-5, momentum=0.9)
    history = net.fit(X, y, epochs=3, batch_size=20)
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0] / 10
    assert net.epochs_ == 7 and all(np.isfinite(p).all() for p in net.coefs_)


@pytest.mark.parametrize("kind", [ValueError, FloatingPointError])
def test_either_except_clause_catches_divergence(dtype, kind):
    X, y, _, _ = unscaled_problem(dtype)
    net = diverging_network(dtype)
    try:
        net.fit(X, y, epochs=50, batch_size=20)
    except kind as error:
        caught = error
    assert type(caught) is DivergenceError and fastreg.DivergenceError is DivergenceError
    assert "DivergenceError" in fastreg.__all__


def test_diverging_fit_with_early_stopping_restores_the_best_weights(dtype):
    X, y, X_val, y_val = unscaled_problem(dtype)
    seen = []  # the weights of every epoch, as the stopper's error function sees them

    def validation_loss(network, X_given, y_given):
        seen.append(snapshot(network))
        return network.evaluate(X_given, y_given)["data_loss"]

    stopper = EarlyStopping(Patience(100), (X_val, y_val), error=validation_loss)
    net = diverging_network(dtype)
    with pytest.raises(DivergenceError, match="epoch 5") as caught:
        net.fit(X, y, epochs=50, batch_size=20, callback=stopper)
    best = stopper.best_epoch_
    assert len(seen) == 4 and best == int(np.argmin(stopper.val_errors_)) + 1 and best < 4
    assert stopper.restored_
    assert_weights_equal(net, seen[best - 1])
    assert net.evaluate(X_val, y_val)["data_loss"] == stopper.best_val_error_
    assert (f"the best weights of its EarlyStopping callback (its epoch {best}, validation error "
            f"{stopper.best_val_error_:.6g})") in str(caught.value)

    # restore_best=False: the last finite weights.
    stopper = EarlyStopping(Patience(100), (X_val, y_val), restore_best=False)
    net = diverging_network(dtype)
    with pytest.raises(DivergenceError, match="start of that epoch"):
        net.fit(X, y, epochs=50, batch_size=20, callback=stopper)
    assert_weights_equal(net, seen[-1])


def test_training_session_goes_on_after_a_diverging_epoch(dtype):
    X, y, _, _ = unscaled_problem(dtype)
    net = diverging_network(dtype)
    records = []
    with net.training_session(X, y, batch_size=20) as session:
        with pytest.raises(DivergenceError, match="epoch 5"):
            for _ in range(50):
                records.append(session.run_epoch())
                ends = snapshot(net)
        assert_weights_equal(net, ends)
        record = session.run_epoch(learning_rate=1e-4)
    assert [r["epoch"] for r in records] == [0, 1, 2, 3] and record["epoch"] == 4
    assert np.isfinite(record["loss"]) and net.epochs_ == 5


def test_divergence_restarts_an_ema_average_from_the_restored_weights(dtype):
    X, y, _, _ = unscaled_problem(dtype)
    net = diverging_network(dtype, averaging=EMA(0.9))
    with pytest.raises(DivergenceError, match="EMA average restarted"):
        net.fit(X, y, epochs=50, batch_size=20)
    for average, weights in zip(net.averaged_coefs_ + net.averaged_intercepts_,
                                net.coefs_ + net.intercepts_):
        np.testing.assert_array_equal(average, weights)


# ---------------------------------------------------------------------- weights set by hand
@pytest.mark.parametrize("where", ["coefs_[0]", "intercepts_[1]"])
def test_non_finite_weights_set_by_hand_are_named(dtype, where):
    X, y, _, _ = unscaled_problem(dtype)
    net = Network([Dense(4, "relu"), Dense(2)], loss="squared_error", optimizer=SGD(1e-4),
                  dtype=dtype, random_state=0)
    net.fit(X, y, epochs=1)
    if where == "coefs_[0]":
        net.coefs_[0][1, 2] = np.nan
    else:
        net.intercepts_[1][0] = -np.inf
    name = re.escape(where)
    for call in (lambda: net.predict(X), lambda: net.fit(X, y), lambda: net.evaluate(X, y),
                 lambda: net.loss_gradient(X, y)):
        with pytest.raises(ValueError, match=f"^{name} contains NaN or infinity") as caught:
            call()
        assert not isinstance(caught.value, DivergenceError)
        assert "learning rate" not in str(caught.value)
    assert net.epochs_ == 1
    net.set_weights([np.zeros_like(c) for c in net.coefs_],
                    [np.zeros_like(b) for b in net.intercepts_])
    np.testing.assert_array_equal(net.predict(X[:3]), np.zeros((3, 2), dtype=dtype))


# ---------------------------------------------------------------------- the estimators
def sklearn_parts():
    """scikit-learn's neural_network module, ConvergenceWarning and iris (skip without it)."""
    neural_network = pytest.importorskip("sklearn.neural_network")
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    return neural_network, ConvergenceWarning, load_iris(return_X_y=True)


def huge_inputs(dtype):
    """scikit-learn's test_nonfinite_params: inputs near the largest float of the dtype."""
    rng = np.random.RandomState(0)
    X = (np.finfo(dtype).max * rng.uniform(size=(10, 2))).astype(dtype)
    y = rng.standard_normal(size=10)
    return X, y


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in numpy, as expected
@pytest.mark.parametrize("kind", ["MLPRegressor", "MLPClassifier"])
def test_estimators_raise_sklearns_error_and_keep_finite_weights(dtype, kind):
    neural_network, _, _ = sklearn_parts()
    X, y = huge_inputs(dtype)
    if kind == "MLPClassifier":
        y = (y > 0).astype(int)
    ours = getattr(fastreg, kind)(solver="sgd", random_state=0)
    theirs = getattr(neural_network, kind)(solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=re.escape(SKLEARN_MESSAGE)) as reference:
            theirs.fit(X, y)
        with pytest.raises(ValueError, match=re.escape(SKLEARN_MESSAGE)) as caught:
            ours.fit(X, y)
    assert str(caught.value).startswith(str(reference.value))
    assert "start of that epoch, the last finite ones" in str(caught.value)
    assert isinstance(caught.value.__cause__, DivergenceError)
    # scikit-learn leaves NaN weights; fastreg those at the start of the diverging epoch.
    assert not all(np.isfinite(c).all() for c in theirs.coefs_)
    assert all(np.isfinite(p).all() for p in ours.coefs_ + ours.intercepts_)
    # The diverging epoch is recorded (its loss may be finite when only the weights its
    # last step left are not).
    assert ours.n_iter_ == len(ours.loss_curve_) >= 1
    if kind == "MLPClassifier":
        output = ours.predict_proba(X)
    else:
        output = ours.predict(X / np.finfo(dtype).max)
    assert np.isfinite(output).all()


def diverging_regressor(module, **kw):
    """scikit-learn's test_mlp_diverging_loss."""
    return module.MLPRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                               alpha=0.0001, learning_rate="constant", learning_rate_init=1,
                               shuffle=True, max_iter=20, early_stopping=True,
                               n_iter_no_change=10, random_state=0, **kw)


def test_early_stopping_finishes_a_diverging_fit_with_the_best_weights_as_sklearn():
    neural_network, ConvergenceWarning, (X, y) = sklearn_parts()
    ours, theirs = diverging_regressor(fastreg), diverging_regressor(neural_network)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Training diverged at epoch 6"):
        ours.fit(X, y)
    # scikit-learn trains on from NaN weights to max_iter; fastreg stops at the divergence.
    assert theirs.n_iter_ == 20 and ours.n_iter_ == 6
    assert isinstance(ours.validation_scores_[-1], float) and np.isnan(ours.validation_scores_[-1])
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_[:6], rtol=1e-10)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-10)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10)
    assert "best validation score" in ours.stopping_reason_


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in numpy, as expected
@pytest.mark.parametrize("criterion", [None, Patience(30)])
def test_early_stopping_survives_divergence_with_the_best_weights(dtype, criterion):
    """Own validation set: the restored weights score the best validation score (or have
    the lowest validation loss, with a criterion), recomputed from the predictions."""
    _, ConvergenceWarning, (X, y) = sklearn_parts()
    X = X.astype(dtype)
    model = diverging_regressor(fastreg, stopping_criterion=criterion)
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        model.fit(X, y, validation_data=(X, y))
    scores, losses = np.array(model.validation_scores_), np.array(model.validation_loss_curve_)
    assert np.isnan(scores[-1]) and np.isnan(losses[-1]) and model.n_iter_ < 20
    assert all(np.isfinite(p).all() for p in model.coefs_ + model.intercepts_)
    prediction = model.predict(X).astype(np.float64)
    assert np.isfinite(prediction).all()
    rel = 1e-10 if dtype == "float64" else 1e-5
    if criterion is None:
        assert model.score(X, y) == pytest.approx(np.nanmax(scores), rel=rel)
        assert "best validation score" in model.stopping_reason_
    else:
        assert 0.5 * np.mean((prediction - y) ** 2) == pytest.approx(np.nanmin(losses), rel=rel)
        assert "best validation loss" in model.stopping_reason_


def test_estimator_weights_set_by_hand_are_named(dtype):
    _, ConvergenceWarning, (X, y) = sklearn_parts()
    model = fastreg.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X.astype(dtype), y)
    model.coefs_[1][0, 0] = np.nan
    for call in (lambda: model.predict_proba(X.astype(dtype)), lambda: model.predict(X),
                 lambda: model.fit(X.astype(dtype), y)):
        with pytest.raises(ValueError, match=re.escape("coefs_[1] contains NaN or infinity")):
            call()
