"""fastreg's MLPClassifier / MLPRegressor against scikit-learn's own estimators.

With fastreg's extras off, the same parameters and random_state must give the same model:
the weights are drawn with the same RandomState calls, every epoch visits the samples in
scikit-learn's shuffled order, the early-stopping split is the same. Compared in float64
to 1e-10 relative (weights, biases, loss curves, validation scores, counters, predictions)
for every activation, every kind of target and every solver; float32 side by side at 1e-5.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402

import fastreg  # noqa: E402

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.05),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False, learning_rate_init=0.02),
    "nesterov": dict(solver="sgd", momentum=0.8, nesterovs_momentum=True, learning_rate_init=0.02),
    "adam": dict(solver="adam", learning_rate_init=0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-7),
    "lbfgs": dict(solver="lbfgs", max_iter=10),
}
TARGETS = ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]
COMMON = dict(hidden_layer_sizes=(7, 5), alpha=0.01, batch_size=16, max_iter=6, random_state=3)


def make_data(target, dtype=np.float64, n_samples=70, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(dtype)
    scores = X @ rng.normal(size=(n_features, 3))
    if target == "binary":
        y = np.where(scores[:, 0] > 0, "yes", "no")
    elif target == "multiclass":
        y = np.argmax(scores, axis=1) * 10 + 1
    elif target == "multilabel":
        y = (scores > 0).astype(int)
    elif target == "regression":
        y = scores[:, 0] + 0.1 * rng.normal(size=n_samples)
    elif target == "multioutput":
        y = scores[:, :2]
    else:  # poisson
        y = rng.poisson(np.exp(0.3 * scores[:, 0])).astype(float)
    return X, y


def estimator_pair(target, **params):
    if target in ("binary", "multiclass", "multilabel"):
        return fastreg.MLPClassifier(**params), neural_network.MLPClassifier(**params)
    if target == "poisson":
        params["loss"] = "poisson"
    return fastreg.MLPRegressor(**params), neural_network.MLPRegressor(**params)


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(*args, **kwargs)


def relative_error(ours, theirs):
    return max(
        np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-300)
        for a, b in zip(ours, theirs)
    )


def assert_same_model(ours, theirs, rtol, X):
    assert relative_error(ours.coefs_, theirs.coefs_) <= rtol
    assert relative_error(ours.intercepts_, theirs.intercepts_) <= rtol
    assert ours.n_iter_ == theirs.n_iter_
    assert np.isclose(ours.loss_, theirs.loss_, rtol=rtol, atol=0)
    for name in ("t_", "n_layers_", "n_outputs_", "out_activation_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    if hasattr(theirs, "loss_curve_"):
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol, atol=0)
    if hasattr(theirs, "classes_"):
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
        np.testing.assert_allclose(ours.predict_proba(X[:20]), theirs.predict_proba(X[:20]),
                                   rtol=100 * rtol, atol=1e-14)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=100 * rtol, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_same_model_as_sklearn_float64(activation, solver, target):
    X, y = make_data(target)
    ours, theirs = estimator_pair(target, activation=activation, **{**COMMON, **SOLVERS[solver]})
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    assert ours.coefs_[0].dtype == np.float64
    assert_same_model(ours, theirs, 1e-10, X)


@pytest.mark.parametrize("target", ["binary", "multiclass", "multioutput"])
@pytest.mark.parametrize("solver", ["nesterov", "adam"])
def test_same_model_as_sklearn_float32(solver, target):
    X, y = make_data(target, dtype=np.float32)
    ours, theirs = estimator_pair(target, activation="tanh", **{**COMMON, **SOLVERS[solver]})
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    if target == "multioutput":
        assert ours.predict(X).dtype == np.float32
    assert relative_error(ours.coefs_, theirs.coefs_) <= 1e-5
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)


@pytest.mark.parametrize("target", ["binary", "multiclass", "regression"])
def test_early_stopping_and_shuffle_match_sklearn(target):
    """Same split (stratified for one output), same epoch orders, same stop, best weights."""
    X, y = make_data(target, n_samples=120)
    params = dict(COMMON, max_iter=60, early_stopping=True, validation_fraction=0.25,
                  n_iter_no_change=3, tol=1e-3, shuffle=True, solver="adam",
                  learning_rate_init=0.05)
    ours, theirs = estimator_pair(target, **params)
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    assert ours.n_iter_ < 60
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-10)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_, rel=1e-10)
    assert ours.best_loss_ is None and theirs.best_loss_ is None
    assert_same_model(ours, theirs, 1e-10, X)
    assert len(ours.validation_loss_curve_) == ours.n_iter_


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_learning_rate_schedules_match_sklearn(schedule):
    X, y = make_data("multiclass")
    params = dict(COMMON, solver="sgd", learning_rate=schedule, learning_rate_init=0.3, power_t=0.3,
                  max_iter=40, n_iter_no_change=2, tol=0.05)
    ours, theirs = estimator_pair("multiclass", **params)
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    assert_same_model(ours, theirs, 1e-10, X)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_sample_weight_matches_sklearn(solver):
    X, y = make_data("multiclass")
    weights = np.random.default_rng(1).uniform(0.2, 2.0, size=len(y))
    ours, theirs = estimator_pair("multiclass", **dict(COMMON, **SOLVERS[solver]))
    fit_quietly(ours, X, y, sample_weight=weights)
    fit_quietly(theirs, X, y, sample_weight=weights)
    assert_same_model(ours, theirs, 1e-10, X)


@pytest.mark.parametrize("target", ["multiclass", "regression"])
def test_partial_fit_and_warm_start_match_sklearn(target):
    X, y = make_data(target)
    ours, theirs = estimator_pair(target, **dict(COMMON, **SOLVERS["nesterov"]))
    extra = {"classes": np.unique(y)} if target == "multiclass" else {}
    for start in range(0, 70, 25):
        for estimator in (ours, theirs):
            estimator.partial_fit(X[start:start + 25], y[start:start + 25], **extra)
    assert_same_model(ours, theirs, 1e-10, X)
    ours.set_params(warm_start=True, max_iter=3)
    theirs.set_params(warm_start=True, max_iter=3)
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    assert_same_model(ours, theirs, 1e-10, X)


def test_training_from_given_weights_matches_sklearn():
    """Weights assigned to coefs_ / intercepts_ are where a warm-started fit continues."""
    X, y = make_data("binary")
    ours, theirs = estimator_pair("binary", **dict(COMMON, **SOLVERS["momentum"]))
    fit_quietly(ours, X, y)
    fit_quietly(theirs, X, y)
    rng = np.random.default_rng(7)
    start_coefs = [rng.normal(scale=0.3, size=c.shape) for c in theirs.coefs_]
    start_intercepts = [rng.normal(scale=0.3, size=b.shape) for b in theirs.intercepts_]
    for estimator in (ours, theirs):
        estimator.set_params(warm_start=True)
        estimator.coefs_ = [c.copy() for c in start_coefs]
        estimator.intercepts_ = [b.copy() for b in start_intercepts]
        fit_quietly(estimator, X, y)
    assert_same_model(ours, theirs, 1e-10, X)


def test_momentum_one_is_accepted_and_matches_scikit_learn():
    """scikit-learn allows momentum=1 (velocities never decay); so does fastreg."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor as SkRegressor

    from fastreg import MLPRegressor

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    settings = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=1.0, learning_rate_init=1e-3,
                    max_iter=5, shuffle=False, random_state=0, nesterovs_momentum=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**settings).fit(X, y)
        theirs = SkRegressor(**settings).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
