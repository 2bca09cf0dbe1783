"""The estimators' averaging option: the model's final weights are the average of the
weights at the epoch ends (SWA) or a per-step moving average (EMA)."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from fastreg import MLPClassifier


def _data():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _model(**kwargs):
    settings = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05, momentum=0.0,
                    shuffle=False, n_iter_no_change=1000, max_iter=6, random_state=0)
    return MLPClassifier(**{**settings, **kwargs})


@pytest.mark.parametrize("swa_start", [0, 3])
def test_swa_weights_are_the_mean_of_epoch_end_weights(swa_start):
    X, y = _data()
    twin = _model()
    snapshots = []
    for epoch in range(6):
        twin.partial_fit(X, y, classes=np.unique(y))
        if epoch >= swa_start:
            snapshots.append([p.copy() for p in twin.coefs_ + twin.intercepts_])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        averaged = _model(averaging="swa", swa_start=swa_start).fit(X, y)
    expected = [np.mean(parts, axis=0) for parts in zip(*snapshots)]
    for got, want in zip(averaged.coefs_ + averaged.intercepts_, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_ema_weights_are_the_moving_average_of_every_step():
    """A batch of the whole data set: one step per epoch, so a partial_fit twin shows
    every step's weights; the EMA starts from the initial weights."""
    X, y = _data()
    decay = 0.8
    twin = _model(batch_size=len(X), max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        twin.fit(X, y)  # the first step, from the estimator's initial weights
    steps = [[p.copy() for p in twin.coefs_ + twin.intercepts_]]
    for _ in range(5):
        twin.partial_fit(X, y)
        steps.append([p.copy() for p in twin.coefs_ + twin.intercepts_])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = _model(batch_size=len(X), max_iter=1, learning_rate_init=1e-300).fit(X, y)
        averaged = _model(batch_size=len(X), max_iter=6, averaging="ema",
                          averaging_decay=decay).fit(X, y)
    # The initial weights: one step with a vanishing learning rate leaves them as drawn.
    expected = [p.astype(np.float64) for p in start.coefs_ + start.intercepts_]
    for weights in steps:
        expected = [decay * e + (1 - decay) * w for e, w in zip(expected, weights)]
    for got, want in zip(averaged.coefs_ + averaged.intercepts_, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_averaging_needs_a_stochastic_solver():
    X, y = _data()
    with pytest.raises(ValueError, match="averaging"):
        MLPClassifier(solver="lbfgs", averaging="ema").fit(X, y)
