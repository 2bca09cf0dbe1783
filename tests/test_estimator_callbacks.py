"""The ``callbacks`` of MLPClassifier/MLPRegressor.fit and of the ensembles' fit: the
records against the estimators' own curves, epoch by epoch; the weights untouched by
them; stopping; the checks of the argument; the members of an ensemble, in threads."""
import math
import re
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastreg import (  # noqa: E402
    EnsembleClassifier,
    EnsembleRegressor,
    MLPClassifier,
    MLPRegressor,
)

DTYPES = [np.float32, np.float64]
RECORD_KEYS = {"epoch", "loss", "validation_score", "validation_loss", "epoch_time"}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:200], y[:200]
    return (X - X.mean(axis=0)) / X.std(axis=0), (y - y.mean()) / y.std()


class Recorder:
    """A callback keeping every (estimator, record), thread-safe; stops at ``stop_at``."""

    def __init__(self, stop_at=None):
        self.calls = []
        self.stop_at = stop_at
        self.lock = threading.Lock()

    def __call__(self, estimator, record):
        with self.lock:
            self.calls.append((estimator, record))
        return record["epoch"] == self.stop_at

    @property
    def records(self):
        return [record for _, record in self.calls]


def _quiet(fit, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(*args, **kwargs)


def _classifier(**params):
    return MLPClassifier(**{"hidden_layer_sizes": (8,), "learning_rate_init": 0.02,
                            "max_iter": 12, "random_state": 0, **params})


def _regressor(**params):
    return MLPRegressor(**{"hidden_layer_sizes": (8,), "learning_rate_init": 0.01,
                           "max_iter": 12, "random_state": 0, **params})


def _assert_records_are_the_curves(records, estimator, validated):
    assert [r["epoch"] for r in records] == list(range(1, estimator.n_iter_ + 1))
    assert [r["loss"] for r in records] == estimator.loss_curve_
    for record in records:
        assert set(record) >= RECORD_KEYS
        assert math.isfinite(record["epoch_time"]) and record["epoch_time"] > 0
    if validated:
        assert [r["validation_score"] for r in records] == estimator.validation_scores_
        assert [r["validation_loss"] for r in records] == estimator.validation_loss_curve_
    else:
        assert all(math.isnan(r["validation_score"]) for r in records)
        assert all(math.isnan(r["validation_loss"]) for r in records)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_classifier_records_are_its_curves(iris, dtype, solver):
    X, y = iris
    X = X.astype(dtype)
    held_out = np.arange(len(X)) % 4 == 0
    recorder = Recorder()
    model = _quiet(_classifier(solver=solver).fit, X[~held_out], y[~held_out],
                   validation_data=(X[held_out], y[held_out]), callbacks=recorder)
    assert model.n_iter_ == 12
    assert all(estimator is model for estimator, _ in recorder.calls)
    _assert_records_are_the_curves(recorder.records, model, validated=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_regressor_records_without_validation_have_nan(diabetes, dtype):
    X, y = diabetes
    recorder = Recorder()
    model = _quiet(_regressor().fit, X.astype(dtype), y.astype(dtype), callbacks=[recorder])
    assert model.validation_scores_ is None
    _assert_records_are_the_curves(recorder.records, model, validated=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_early_stopping_records_its_held_out_split(iris, dtype):
    X, y = iris
    recorder = Recorder()
    model = _quiet(_classifier(early_stopping=True, n_iter_no_change=3, max_iter=60).fit,
                   X.astype(dtype), y, callbacks=recorder)
    _assert_records_are_the_curves(recorder.records, model, validated=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_callbacks_leave_the_weights_bit_identical(iris, dtype, early_stopping):
    X, y = iris
    X = X.astype(dtype)
    plain = _quiet(_classifier(early_stopping=early_stopping).fit, X, y)
    watched = _quiet(_classifier(early_stopping=early_stopping).fit, X, y,
                     callbacks=[Recorder(), lambda estimator, record: None])
    assert watched.n_iter_ == plain.n_iter_ and watched.loss_curve_ == plain.loss_curve_
    for a, b in zip(plain.coefs_ + plain.intercepts_, watched.coefs_ + watched.intercepts_):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_callback_returning_true_stops_at_that_epoch(diabetes, dtype):
    X, y = diabetes
    X, y = X.astype(dtype), y.astype(dtype)
    stopper, watcher = Recorder(stop_at=4), Recorder()
    model = _regressor().fit(X, y, callbacks=[stopper, watcher])
    assert model.n_iter_ == 4 and len(model.loss_curve_) == 4
    assert "callback" in model.stopping_reason_ and "epoch 4" in model.stopping_reason_
    # Every callback saw the stopping epoch, and the weights are those of 4 epochs.
    assert [r["epoch"] for r in watcher.records] == [1, 2, 3, 4]
    four = _quiet(_regressor(max_iter=4).fit, X, y)
    for a, b in zip(four.coefs_, model.coefs_):
        np.testing.assert_array_equal(a, b)


def test_a_stopping_callback_keeps_the_best_weights_of_early_stopping(iris):
    """Stopped by a callback at epoch 6, early stopping keeps the weights of its best
    validation score, as a fit of max_iter=6 does."""
    X, y = iris
    params = dict(early_stopping=True, n_iter_no_change=50, learning_rate_init=0.5)
    stopped = _classifier(**{**params, "max_iter": 40}).fit(X, y, callbacks=Recorder(stop_at=6))
    six = _quiet(_classifier(**{**params, "max_iter": 6}).fit, X, y)
    assert stopped.n_iter_ == six.n_iter_ == 6
    assert stopped.validation_scores_ == six.validation_scores_
    assert np.argmax(stopped.validation_scores_) < 5  # the best epoch is not the last
    for a, b in zip(six.coefs_ + six.intercepts_, stopped.coefs_ + stopped.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("callbacks, named", [
    (3, "callbacks must be a callable or a list"),
    ("print", "callbacks must be a callable or a list"),
    ([print, 3], r"callbacks\[1\] must be callable"),
    ((None,), r"callbacks\[0\] must be callable"),
])
def test_bad_callbacks_raise_type_error(iris, callbacks, named):
    X, y = iris
    with pytest.raises(TypeError, match=named):
        _classifier().fit(X, y, callbacks=callbacks)
    with pytest.raises(TypeError, match=named):
        EnsembleClassifier(_classifier(), n_estimators=2).fit(X, y, callbacks=callbacks)


def test_lbfgs_refuses_callbacks(iris):
    X, y = iris
    with pytest.raises(ValueError, match="callbacks need solver='sgd' or 'adam'"):
        _classifier(solver="lbfgs").fit(X, y, callbacks=Recorder())
    with pytest.raises(ValueError, match="solver='lbfgs' has no epochs"):
        EnsembleClassifier(_classifier(solver="lbfgs"), n_estimators=2).fit(
            X, y, callbacks=Recorder())
    _quiet(_classifier(solver="lbfgs").fit, X, y, callbacks=None)  # None is no callback
    _quiet(_classifier(solver="lbfgs").fit, X, y, callbacks=[])


def test_members_that_take_no_callbacks_are_refused(iris):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = iris
    with pytest.raises(ValueError, match="KNeighborsClassifier"):
        EnsembleClassifier(KNeighborsClassifier(), n_estimators=2).fit(
            X, y, callbacks=Recorder())


@pytest.mark.parametrize("strategy", ["seeds", "bagging"])
def test_ensemble_records_carry_every_member_in_threads(iris, strategy):
    X, y = iris
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oob_score_ of three small members
        ensemble = EnsembleClassifier(_classifier(), n_estimators=3, strategy=strategy,
                                      random_state=0, n_jobs=2).fit(X, y, callbacks=recorder)
    members = {record["member"] for record in recorder.records}
    assert members == {0, 1, 2}
    for index, member in enumerate(ensemble.estimators_):
        calls = [(est, record) for est, record in recorder.calls if record["member"] == index]
        assert all(est is member for est, _ in calls)
        _assert_records_are_the_curves([record for _, record in calls], member,
                                       validated=strategy == "bagging")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ensemble_cv_reports_every_fold(diabetes, dtype):
    X, y = diabetes
    recorder = Recorder()
    ensemble = _quiet(EnsembleRegressor(_regressor(max_iter=5), n_estimators=2, strategy="cv",
                                        cv=3, random_state=0).fit,
                      X.astype(dtype), y.astype(dtype), callbacks=recorder)
    assert sorted({record["member"] for record in recorder.records}) == [0, 1, 2]
    assert len(recorder.records) == 3 * 5
    for kept, fold in zip(ensemble.estimators_, ensemble.selected_folds_):
        losses = [r["loss"] for r in recorder.records if r["member"] == fold]
        assert losses == kept.loss_curve_


def test_a_callback_stops_one_member(iris):
    X, y = iris

    def stop_member_one(estimator, record):
        return record["member"] == 1 and record["epoch"] == 3

    ensemble = _quiet(EnsembleClassifier(_classifier(), n_estimators=3, random_state=0).fit,
                      X, y, callbacks=stop_member_one)
    assert [member.n_iter_ for member in ensemble.estimators_] == [12, 3, 12]
    assert "callback" in ensemble.estimators_[1].stopping_reason_


@pytest.mark.parametrize("strategy", ["snapshot", "checkpoints"])
def test_one_run_strategies_report_their_run(diabetes, strategy):
    X, y = diabetes
    recorder = Recorder()
    ensemble = EnsembleRegressor(_regressor(), n_estimators=3, strategy=strategy,
                                 random_state=0).fit(X, y, callbacks=recorder)
    records = recorder.records
    assert [r["epoch"] for r in records] == list(range(1, 13))
    assert {r["member"] for r in records} == {0}
    assert [r["loss"] for r in records] == ensemble.estimators_[-1].loss_curve_
    assert all(math.isnan(r["validation_score"]) for r in records)
    with pytest.raises(ValueError, match=re.escape(f"strategy={strategy!r}")):
        EnsembleRegressor(_regressor(), n_estimators=3, strategy=strategy,
                          random_state=0).fit(X, y, callbacks=Recorder(stop_at=2))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_stalled_fit_states_scikit_learns_stopping_sentence(early_stopping, capsys):
    """n_iter_no_change stops: stopping_reason_ is the line scikit-learn prints then."""
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    X, y = load_iris(return_X_y=True)
    settings = dict(hidden_layer_sizes=(5,), tol=0.5, max_iter=50, random_state=0,
                    early_stopping=early_stopping)
    SklearnMLP(verbose=True, **settings).fit(X, y)
    printed = [line for line in capsys.readouterr().out.splitlines() if "did not improve" in line]
    model = MLPClassifier(**settings).fit(X, y)
    assert model.n_iter_ < 50
    assert printed == [model.stopping_reason_]
