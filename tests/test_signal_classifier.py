"""Conv1DClassifier: the 1-D CNN as a scikit-learn estimator. Its network is exactly the
core API's (same layers, same seed gives the same weights), it learns translated patterns,
and it goes where scikit-learn estimators go."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import check_estimators_dtypes, check_fit2d_1sample

import fastreg
from fastreg import Conv1DClassifier


def _signals(n=300, length=24, seed=0):
    """Two classes of a 3-sample pattern at a random position in noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=0.3, size=(n, length))
    y = rng.choice(["down-up", "up-down"], n)
    patterns = {"up-down": np.array([1.0, -1.0, 1.0]), "down-up": np.array([-1.0, 1.0, 1.0])}
    for i in range(n):
        start = rng.integers(0, length - 3)
        X[i, start:start + 3] += 2 * patterns[y[i]]
    return X, y


def _model(**kwargs):
    settings = dict(conv_layers=((8, 3, 1, 1),), hidden_layer_sizes=(16,), max_iter=40,
                    batch_size=20, random_state=0)
    return Conv1DClassifier(**{**settings, **kwargs})


def test_learns_translated_patterns_with_string_labels():
    X, y = _signals()
    model = _model().fit(X[:200], y[:200])
    assert set(model.classes_) == {"down-up", "up-down"}
    assert model.score(X[200:], y[200:]) > 0.9
    proba = model.predict_proba(X[200:])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


def test_same_network_as_the_core_api():
    X, y = _signals(n=60)
    model = _model(max_iter=3).fit(X, y)
    layers = model.network_.layers
    assert [type(layer) for layer in layers] == [fastreg.Conv1D, fastreg.Dense, fastreg.Dense]
    again = _model(max_iter=3).fit(X, y)
    for a, b in zip(model.network_.coefs_, again.network_.coefs_):
        np.testing.assert_array_equal(a, b)


def test_scikit_learn_integration():
    X, y = _signals(n=120)
    model = _model(max_iter=10, max_shift=2, dropout=0.1, weight_decay=1e-3, label_smoothing=0.1)
    scores = cross_val_score(make_pipeline(FunctionTransformer(), model), X, y, cv=3)
    assert scores.shape == (3,)
    fitted = clone(model).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    check_fit2d_1sample("Conv1DClassifier", _model(conv_layers=((2, 1, 1, 0),), max_iter=2))
    check_estimators_dtypes("Conv1DClassifier", _model(conv_layers=((2, 1, 1, 0),), max_iter=2))


def test_bad_settings():
    X, y = _signals(n=30)
    with pytest.raises(ValueError, match="conv_layers"):
        _model(conv_layers=((8, 3),)).fit(X, y)
    with pytest.raises(ValueError, match="too short"):
        _model(conv_layers=((8, 40, 1, 0),)).fit(X, y)
    with pytest.raises(ValueError):
        _model(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        _model().fit(X, np.zeros(30))


from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402


@parametrize_with_checks(
    [Conv1DClassifier(conv_layers=((2, 1, 1, 0),), max_iter=20, random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
