"""fastreg's estimators where scikit-learn estimators go, its file format, and bad input.

* clone, Pipeline, GridSearchCV, cross_val_score (n_jobs=2), pickle and joblib round trips;
* fastreg.save / fastreg.load: identical predictions (every option and hostile files:
  test_io.py, test_io_hostile.py);
* validation_data, validation_loss_curve_, verbose output;
* dense and sparse, float32 and float64 input; the extras change the model;
* bad input and bad parameters raise the errors scikit-learn raises (or clearer ones);
* ``import fastreg`` works without scikit-learn and says how to get the estimators.
"""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import joblib  # noqa: E402
import scipy.sparse  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import fastreg  # noqa: E402
from fastreg import MLPClassifier, MLPRegressor  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


def classification_data(n_samples=120, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 6))
    y = np.argmax(X[:, :n_classes] + 0.3 * rng.normal(size=(n_samples, n_classes)), axis=1)
    return X, np.array(["ant", "bee", "cat", "dog"])[y]


def regression_data(n_samples=120, n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 6))
    Y = X[:, :n_outputs] * 2 + np.sin(X[:, 1:1 + n_outputs])
    return X, Y.ravel() if n_outputs == 1 else Y


SMALL = dict(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.02, random_state=0)


# ---------------------------------------------------------------------- scikit-learn tools
def test_clone_pipeline_grid_search_and_cross_validation():
    X, y = classification_data()
    model = make_pipeline(StandardScaler(), MLPClassifier(**SMALL))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-2], "mlpclassifier__dropout": [0.0, 0.2]}
    search = GridSearchCV(model, grid, cv=3, n_jobs=2).fit(X, y)
    assert search.best_score_ > 0.6
    assert set(search.predict(X)) <= {"ant", "bee", "cat"}
    scores = cross_val_score(clone(model), X, y, cv=3, n_jobs=2)
    assert scores.mean() > 0.6
    clone_params = clone(MLPRegressor(dropout=(0.1,), max_norm=2.0)).get_params()
    assert clone_params["dropout"] == (0.1,) and clone_params["max_norm"] == 2.0


@pytest.mark.parametrize("make", [
    lambda: (MLPClassifier(**SMALL, dropout=0.1, solver="sgd"), *classification_data()),
    lambda: (MLPRegressor(**SMALL, l1=1e-4), *regression_data(n_outputs=2)),
])
def test_pickle_joblib_and_fastreg_files_keep_predictions(make, tmp_path):
    estimator, X, y = make()
    estimator.fit(X, y)
    expected = estimator.predict(X)
    copies = [pickle.loads(pickle.dumps(estimator))]
    joblib.dump(estimator, tmp_path / "model.joblib")
    copies.append(joblib.load(tmp_path / "model.joblib", mmap_mode="r"))
    estimator.save(tmp_path / "model.fastreg")
    copies.append(fastreg.load(tmp_path / "model.fastreg"))
    for copy in copies:
        np.testing.assert_array_equal(copy.predict(X), expected)
        assert copy.get_params() == estimator.get_params()
        assert copy.loss_curve_ == estimator.loss_curve_
        copy.partial_fit(X, y)  # the copy trains on (its arrays are writeable)
    if isinstance(estimator, MLPClassifier):
        np.testing.assert_array_equal(copies[-1].classes_, estimator.classes_)


def test_fastreg_file_of_network_and_unfitted_estimator(tmp_path):
    X, y = classification_data()
    net = fastreg.Network([fastreg.Dense(8, "tanh", dropout=0.2), fastreg.Dense(3)],
                          optimizer=fastreg.Adam(0.01), regularizers=[fastreg.MaxNorm(2.0)],
                          dtype="float64", random_state=1)
    net.fit(X, np.unique(y, return_inverse=True)[1], epochs=2)
    fastreg.save(net, tmp_path / "net.npz")
    loaded = fastreg.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.epochs_ == 2 and loaded.steps_ == net.steps_
    fastreg.save(MLPRegressor(alpha=0.5), tmp_path / "unfitted")
    unfitted = fastreg.load(tmp_path / "unfitted")
    assert unfitted.alpha == 0.5 and not hasattr(unfitted, "coefs_")


# ---------------------------------------------------------------------- validation and verbose
def test_validation_data_is_monitored_or_drives_early_stopping(capsys):
    X, y = classification_data(200)
    X_val, y_val = classification_data(60, seed=1)
    clf = MLPClassifier(**SMALL).fit(X, y, validation_data=(X_val, y_val))
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == clf.n_iter_ == 30
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X_val, y_val))
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    stopper = MLPClassifier(**dict(SMALL, max_iter=300, learning_rate_init=0.05),
                            early_stopping=True, n_iter_no_change=3, verbose=True)
    stopper.fit(X, y, validation_data=(X_val, y_val))
    assert stopper.n_iter_ < 300
    assert stopper.score(X_val, y_val) == pytest.approx(stopper.best_validation_score_)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert lines[1].startswith("Validation score: ")  # as scikit-learn prints it
    assert "Validation score did not improve" in lines[-1]


def test_early_stopping_split_records_validation_loss():
    X, y = regression_data(200)
    reg = MLPRegressor(**SMALL, early_stopping=True).fit(X, y)
    assert len(reg.validation_loss_curve_) == reg.n_iter_
    assert reg.validation_loss_curve_[-1] < reg.validation_loss_curve_[0]
    assert MLPRegressor(**SMALL).fit(X, y).validation_loss_curve_ is None


# ---------------------------------------------------------------------- data kinds
def test_sparse_input_gives_the_dense_model():
    X, y = classification_data()
    X[np.abs(X) < 0.8] = 0
    for solver in ("adam", "lbfgs"):
        dense = MLPClassifier(**SMALL, solver=solver).fit(X, y)
        sparse = MLPClassifier(**SMALL, solver=solver).fit(scipy.sparse.csr_matrix(X), y)
        np.testing.assert_allclose(sparse.coefs_[0], dense.coefs_[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sparse.predict_proba(scipy.sparse.csc_matrix(X)),
                                   dense.predict_proba(X), rtol=1e-9)


def test_float32_stays_float32_and_multilabel():
    X, _ = classification_data()
    Y = (X[:, :3] > 0).astype(int)
    clf = MLPClassifier(**SMALL).fit(X.astype(np.float32), Y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.6


def test_extras_change_the_model_and_l1_makes_zeros():
    X, y = regression_data()
    plain = MLPRegressor(**SMALL, solver="sgd").fit(X, y)
    for extra in (dict(dropout=[0.3]), dict(input_dropout=0.2), dict(input_noise=0.3),
                  dict(weight_decay=1.0), dict(max_norm=0.5), dict(l1=0.05)):
        other = MLPRegressor(**SMALL, solver="sgd", **extra).fit(X, y)
        assert not np.allclose(other.coefs_[0], plain.coefs_[0]), extra
    sparse_weights = MLPRegressor(**SMALL, solver="sgd", l1=1.0).fit(X, y)
    assert np.mean(sparse_weights.coefs_[0] == 0) > 0.2
    bounded = MLPRegressor(**SMALL, max_norm=0.5).fit(X, y)
    assert np.all(np.linalg.norm(bounded.coefs_[0], axis=0) <= 0.5 + 1e-9)
    smoothed = MLPClassifier(**SMALL, label_smoothing=0.3).fit(*classification_data())
    sharp = MLPClassifier(**SMALL).fit(*classification_data())
    assert smoothed.predict_proba(X).max() < sharp.predict_proba(X).max()


def test_same_random_state_same_model_with_dropout():
    X, y = classification_data()
    a = MLPClassifier(**SMALL, dropout=0.3, input_noise=0.1).fit(X, y)
    b = MLPClassifier(**SMALL, dropout=0.3, input_noise=0.1).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("params, match", [
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=[0.1, 0.2]), "one per hidden layer"),
    (dict(dropout=[-0.1]), r"\[0, 1\)"),
    (dict(input_dropout=-0.1), "input_dropout"),
    (dict(max_norm=-1.0), "max_norm"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must be > 0"),
    (dict(l1=-1), "l1"),
    (dict(input_noise=-1), "input_noise"),
    (dict(solver="lbfgs", dropout=0.2), "solver='lbfgs' does not support dropout"),
    (dict(momentum=1.5), "momentum"),
])
def test_bad_parameters(params, match):
    X, y = classification_data()
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**{**SMALL, **params}).fit(X, y)


def test_bad_data():
    X, y = classification_data()
    clf = MLPClassifier(**SMALL)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="0 sample"):
        clf.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, len(X)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 6"):
        clf.predict(X[:, :5])
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.predict_proba(bad)
    with pytest.raises(ValueError, match="Expected 2D array"):
        clf.predict(X[0])
    with pytest.raises(ValueError, match="classes not in"):
        clf.fit(X, y, validation_data=(X, np.full(len(y), "emu")))
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson", **SMALL).fit(X, X[:, 0])


def test_user_weights_of_another_dtype_are_adopted():
    X, y = classification_data()
    clf = MLPClassifier(**SMALL).fit(X.astype(np.float32), y)
    clf.coefs_[0] = clf.coefs_[0].astype(np.float64) * 0
    # A zeroed first layer makes every hidden unit a constant: one output for all rows.
    assert np.ptp(clf.predict_proba(X), axis=0).max() == 0
    assert clf.coefs_[0].dtype == np.float32 and not clf.coefs_[0].any()


def test_one_call_prediction_sees_replaced_weights():
    """predict_proba of a checked array of the model's dtype goes straight to the engine;
    new arrays put in coefs_ must still be the ones used."""
    X, y = classification_data()
    X = X.astype(np.float32)
    clf = MLPClassifier(**SMALL).fit(X, y)
    before = clf.predict_proba(X[:3])
    clf.coefs_[0] = np.zeros_like(clf.coefs_[0])
    after = clf.predict_proba(X[:3])
    assert not np.allclose(before, after)
    assert np.ptp(after, axis=0).max() == 0  # a zeroed first layer: one output for all rows


def test_import_without_sklearn_explains_the_extra():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import fastreg\n"
        "fastreg.Network([fastreg.Dense(2)])\n"
        "try:\n"
        "    fastreg.MLPClassifier\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"PYTHONPATH": ":".join(sys.path)})
    assert 'pip install scikit-learn (or the extra: pip install "fastreg-nn[sklearn]"' in (
        result.stdout)
