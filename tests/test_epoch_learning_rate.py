"""The estimators' per-epoch learning-rate hook: partial_fit(epoch_learning_rate=...) and
epoch_learning_rate_, which the snapshot ensembles use."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastreg import EnsembleRegressor, MLPClassifier, MLPRegressor  # noqa: E402

RNG = np.random.RandomState(0)
X = RNG.normal(size=(60, 4))
Y_CLASS = (X[:, 0] > 0).astype(int)
Y_REG = X @ np.array([1.0, -2.0, 0.5, 0.0])


def _regressor(**params):
    return MLPRegressor(hidden_layer_sizes=(5,), random_state=0, **params)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_the_epoch_runs_at_the_given_rate(solver):
    model = _regressor(solver=solver, learning_rate_init=0.01)
    model.partial_fit(X, Y_REG, epoch_learning_rate=0.003)
    assert model.epoch_learning_rate_ == 0.003
    assert model.get_params()["learning_rate_init"] == 0.01


def test_adam_goes_back_to_learning_rate_init():
    model = _regressor(solver="adam", learning_rate_init=0.01)
    model.partial_fit(X, Y_REG, epoch_learning_rate=0.003)
    model.partial_fit(X, Y_REG)
    assert model.epoch_learning_rate_ == 0.01


def test_sgd_running_rate_continues_from_the_given_rate():
    model = _regressor(solver="sgd", learning_rate_init=0.01, learning_rate="constant")
    model.partial_fit(X, Y_REG, epoch_learning_rate=0.002)
    model.partial_fit(X, Y_REG)
    assert model.epoch_learning_rate_ == 0.002


def test_same_weights_as_learning_rate_init_of_that_value():
    hooked = _regressor(solver="adam", learning_rate_init=0.5)
    hooked.partial_fit(X, Y_REG, epoch_learning_rate=0.02)
    plain = _regressor(solver="adam", learning_rate_init=0.02)
    plain.partial_fit(X, Y_REG)
    for a, b in zip(hooked.coefs_ + hooked.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_classifier_takes_the_hook_too():
    model = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    model.partial_fit(X, Y_CLASS, classes=[0, 1], epoch_learning_rate=0.004)
    assert model.epoch_learning_rate_ == 0.004


def test_no_epoch_yet_is_an_attribute_error():
    assert not hasattr(_regressor(), "epoch_learning_rate_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lbfgs = _regressor(solver="lbfgs", max_iter=5).fit(X, Y_REG)
    assert not hasattr(lbfgs, "epoch_learning_rate_")


@pytest.mark.parametrize("rate", [0, -1e-3, np.inf, np.nan, True, "0.1"])
def test_a_rate_that_is_not_positive_and_finite_is_refused(rate):
    with pytest.raises(ValueError, match="epoch_learning_rate must be a positive finite number"):
        _regressor().partial_fit(X, Y_REG, epoch_learning_rate=rate)


def test_snapshot_ensemble_leaves_its_members_parameters_alone():
    base = _regressor(solver="sgd", learning_rate_init=0.01, max_iter=6)
    ensemble = EnsembleRegressor(base, n_estimators=2, strategy="snapshot", random_state=0)
    ensemble.fit(X, Y_REG)
    assert ensemble.learning_rates_[0] == 0.01 and ensemble.learning_rates_[2] < 0.01
    assert all(member.get_params()["learning_rate_init"] == 0.01 for member in ensemble.estimators_)
    last_rates = [member.epoch_learning_rate_ for member in ensemble.estimators_]
    assert last_rates == list(ensemble.learning_rates_[[2, 5]])
