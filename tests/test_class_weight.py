"""MLPClassifier's class_weight: the sample weights ``class_weight[y_i] * sample_weight_i``.

The reference is the same fit given those weights as ``sample_weight`` (computed here with
NumPy, and with scikit-learn's ``compute_class_weight`` for 'balanced'): every test of
equality asks for the same bits.
"""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import recall_score  # noqa: E402
from sklearn.utils.class_weight import compute_class_weight  # noqa: E402

import fastreg  # noqa: E402
from fastreg import EnsembleClassifier, MLPClassifier  # noqa: E402
from test_hostile import records, run_checked  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def imbalanced(n_samples=240, counts=(0.7, 0.2, 0.1), seed=0, labels=(0, 1, 2), draw=0):
    """Overlapping Gaussian classes in the given shares, labels as given: the classes of
    ``seed``, the samples of ``(seed, draw)``; also each sample's class index."""
    centers = np.random.RandomState(seed).randn(len(counts), 5)
    rng = np.random.RandomState((seed, draw))
    index = rng.choice(len(counts), size=n_samples, p=counts)
    X = centers[index] + rng.randn(n_samples, 5)
    return X, np.asarray(labels)[index], index


def small(**params):
    params = {"hidden_layer_sizes": (6,), "max_iter": 15, "random_state": 0, **params}
    return MLPClassifier(**params)


def weights_of(model):
    return model.coefs_ + model.intercepts_


def assert_same_bits(a, b):
    for x, y in zip(weights_of(a), weights_of(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_a_dict_trains_as_the_sample_weights_of_its_values(dtype, solver):
    X, y, index = imbalanced(labels=("cat", "dog", "eel"))
    X = X.astype(dtype)
    class_weight = {"dog": 2.5, "eel": 0.25}  # "cat" is missing: it weighs 1
    weighted = small(solver=solver, class_weight=class_weight).fit(X, y)
    reference = small(solver=solver).fit(X, y, sample_weight=np.array([1.0, 2.5, 0.25])[index])
    assert weighted.coefs_[0].dtype == dtype
    assert_same_bits(weighted, reference)
    unweighted = small(solver=solver).fit(X, y)
    assert not np.array_equal(weighted.coefs_[0], unweighted.coefs_[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_binary_dict_with_integer_labels(dtype):
    X, y, _ = imbalanced(counts=(0.8, 0.2), labels=(-1, 4))
    X = X.astype(dtype)
    weighted = small(class_weight={4: 3.0, -1: 0.5}).fit(X, y)
    reference = small().fit(X, y, sample_weight=np.where(y == 4, 3.0, 0.5))
    assert_same_bits(weighted, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_balanced_is_compute_class_weight_applied_as_sample_weight(dtype, solver):
    X, y, index = imbalanced()
    X = X.astype(dtype)
    balanced = compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(balanced, len(y) / (3 * np.bincount(y)))
    weighted = small(solver=solver, class_weight="balanced").fit(X, y)
    reference = small(solver=solver).fit(X, y, sample_weight=balanced[index])
    assert_same_bits(weighted, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_balanced_counts_the_sample_weights_as_logistic_regression_does(dtype):
    X, y, index = imbalanced()
    X = X.astype(dtype)
    sample_weight = np.random.RandomState(1).uniform(0.2, 3.0, size=len(y))
    balanced = compute_class_weight("balanced", classes=np.unique(y), y=y,
                                    sample_weight=sample_weight)
    totals = np.bincount(y, weights=sample_weight)
    np.testing.assert_allclose(balanced * totals, np.full(3, sample_weight.sum() / 3))
    weighted = small(class_weight="balanced").fit(X, y, sample_weight=sample_weight)
    reference = small().fit(X, y, sample_weight=balanced[index] * sample_weight)
    assert_same_bits(weighted, reference)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_dict_multiplies_the_sample_weights(dtype):
    X, y, index = imbalanced()
    X = X.astype(dtype)
    sample_weight = np.random.RandomState(2).uniform(0.0, 2.0, size=len(y))
    per_class = np.array([0.5, 1.0, 4.0])
    weighted = small(solver="sgd", class_weight={0: 0.5, 2: 4.0}).fit(
        X, y, sample_weight=sample_weight)
    reference = small(solver="sgd").fit(X, y, sample_weight=per_class[index] * sample_weight)
    assert_same_bits(weighted, reference)


def test_early_stopping_splits_and_scores_with_the_class_weights():
    X, y, index = imbalanced(n_samples=300)
    per_class = np.array([1.0, 3.0, 6.0])
    params = {"early_stopping": True, "max_iter": 30, "n_iter_no_change": 3}
    weighted = small(class_weight={1: 3.0, 2: 6.0}, **params).fit(X, y)
    reference = small(**params).fit(X, y, sample_weight=per_class[index])
    assert weighted.validation_scores_ == reference.validation_scores_
    assert weighted.n_iter_ == reference.n_iter_
    assert_same_bits(weighted, reference)
    unweighted = small(**params).fit(X, y)
    assert weighted.validation_scores_ != unweighted.validation_scores_


def test_partial_fit_weighs_each_chunk_by_the_dict():
    X, y, index = imbalanced(n_samples=300)
    per_class = np.array([1.0, 2.0, 5.0])
    weighted = small(class_weight={1: 2.0, 2: 5.0})
    reference = small()
    for chunk in np.array_split(np.arange(len(y)), 4):
        weighted.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        reference.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2],
                              sample_weight=per_class[index[chunk]])
    assert_same_bits(weighted, reference)


def test_partial_fit_refuses_balanced_before_changing_anything():
    X, y, _ = imbalanced()
    model = small(class_weight="balanced")
    with pytest.raises(ValueError, match="compute_class_weight"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    assert not hasattr(model, "classes_")
    # The recipe the message gives works.
    weights = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y)
    model.set_params(class_weight=dict(zip([0, 1, 2], weights)))
    model.partial_fit(X, y, classes=[0, 1, 2])
    reference = small().partial_fit(X, y, classes=[0, 1, 2], sample_weight=weights[y])
    assert_same_bits(model, reference)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_key_that_is_not_a_class_is_named(method):
    X, y, _ = imbalanced()
    model = small(class_weight={1: 2.0, 7: 3.0, "x": 1.0})
    kwargs = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    with pytest.raises(ValueError, match=r"not classes: \[7, 'x'\]"):
        getattr(model, method)(X, y, **kwargs)


@pytest.mark.parametrize("class_weight", ["auto", [1.0, 2.0], 3.0, ("balanced",)])
def test_class_weight_of_the_wrong_type(class_weight):
    X, y, _ = imbalanced()
    with pytest.raises(ValueError, match="class_weight"):
        small(class_weight=class_weight).fit(X, y)


@pytest.mark.parametrize("value", [-1.0, np.nan, np.inf, "2", True, None])
def test_a_weight_that_is_not_a_finite_non_negative_number(value):
    X, y, _ = imbalanced()
    with pytest.raises(ValueError, match=r"class_weight\[2\] must be a finite float >= 0"):
        small(class_weight={2: value}).fit(X, y)


def test_weights_that_leave_nothing_to_learn():
    X, y, _ = imbalanced()
    with pytest.raises(ValueError, match="every sample the weight 0"):
        small(class_weight={0: 0.0, 1: 0.0, 2: 0.0}).fit(X, y)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 2.0}])
def test_multilabel_targets_are_refused(class_weight):
    X, _, _ = imbalanced()
    Y = (np.random.RandomState(0).rand(len(X), 3) < 0.3).astype(int)
    with pytest.raises(ValueError, match="not multilabel"):
        small(class_weight=class_weight).fit(X, Y)
    with pytest.raises(ValueError, match="not multilabel"):
        small(class_weight={0: 2.0}).partial_fit(X, Y)


def test_get_params_set_params_and_clone():
    class_weight = {0: 1.5, 2: 3.0}
    model = small(class_weight=class_weight)
    assert model.get_params()["class_weight"] is class_weight
    copy = clone(model)
    assert copy.get_params()["class_weight"] == class_weight
    X, y, _ = imbalanced()
    assert_same_bits(copy.fit(X, y), model.fit(X, y))
    assert small().set_params(class_weight="balanced").class_weight == "balanced"
    assert "class_weight" not in fastreg.MLPRegressor().get_params()


@pytest.mark.parametrize("labels, class_weight", [
    ((0, 1, 2), {2: 4.0, 0: 0.5}),
    ((-1.0, 0.0, 2.0), {2.0: 4.0}),
    (("a", "b", "c"), {"c": 4.0, "a": 0.5}),
    ((0, 1, 2), "balanced"),
])
def test_save_and_load_keep_class_weight(tmp_path, labels, class_weight):
    X, y, _ = imbalanced(labels=labels)
    model = small(class_weight=class_weight)
    path = tmp_path / "model.fastreg"
    model.save(path)
    unfitted = fastreg.load(path)
    assert unfitted.class_weight == class_weight
    assert [type(key) for key in unfitted.get_params()["class_weight"]] == [
        type(key) for key in class_weight]
    model.fit(X, y)
    model.save(path)
    loaded = fastreg.load(path)
    assert loaded.class_weight == class_weight
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert_same_bits(loaded.set_params(warm_start=True).fit(X, y),
                     model.set_params(warm_start=True).fit(X, y))


@pytest.mark.slow
def test_stored_pairs_that_are_not_pairs_are_refused(tmp_path):
    import json

    X, y, _ = imbalanced()
    good = tmp_path / "good.fastreg"
    small(class_weight={1: 2.0}).fit(X, y).save(good)
    cases = {
        "not_pairs": {"tuple": [1, 2.0]},
        "triple": {"tuple": [{"tuple": [1, 2.0, 3]}]},
        "label_list": {"tuple": [{"tuple": [[1], 2.0]}]},
        "weight_text": {"tuple": [{"tuple": [1, "2"]}]},
        "twice": {"tuple": [{"tuple": [1, 2.0]}, {"tuple": [1, 3.0]}]},
    }
    paths = {}
    for case, stored in cases.items():
        with np.load(good, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("metadata")))
        meta["model"]["params"]["class_weight"] = stored
        paths[case] = str(tmp_path / f"{case}.fastreg")
        with open(paths[case], "wb") as file:
            np.savez(file, metadata=np.array(json.dumps(meta)), **arrays)
    out = run_checked(f"PATHS = {paths!r}\n" + """
import fastreg
for case, path in PATHS.items():
    try:
        fastreg.load(path)
        emit("outcome", case=case, error=None)
    except ValueError as error:
        emit("outcome", case=case, error=str(error))
""")
    outcomes = {r["case"]: r["error"] for r in records(out, "outcome")}
    assert set(outcomes) == set(cases)
    for case, error in outcomes.items():
        assert error is not None and "class_weight" in error, (case, error)


def test_balanced_raises_the_recall_of_the_minority_class():
    X, y, _ = imbalanced(n_samples=600, counts=(0.9, 0.1), seed=3)
    X_test, y_test, _ = imbalanced(n_samples=2000, counts=(0.9, 0.1), seed=3, draw=1)
    params = {"hidden_layer_sizes": (16,), "max_iter": 60, "learning_rate_init": 0.01,
              "random_state": 0}
    plain = MLPClassifier(**params).fit(X, y)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    plain_recall = recall_score(y_test, plain.predict(X_test), pos_label=1)
    balanced_recall = recall_score(y_test, balanced.predict(X_test), pos_label=1)
    assert balanced_recall > plain_recall + 0.1, (plain_recall, balanced_recall)


# ---------------------------------------------------------------------------- ensembles
@pytest.mark.parametrize("strategy", ["seeds", "bagging", "snapshot", "cv"])
@pytest.mark.parametrize("class_weight", ["balanced", {1: 3.0, 2: 8.0}])
@pytest.mark.filterwarnings("ignore:.*out-of-bag:UserWarning")
def test_an_ensemble_weighs_the_classes_of_all_of_y(strategy, class_weight):
    X, y, index = imbalanced(n_samples=120, counts=(0.75, 0.25, 0.0))
    y[0] = index[0] = 2  # one sample of class 2: a bootstrap sample may well lack it
    if isinstance(class_weight, str):
        per_class = compute_class_weight("balanced", classes=np.unique(y), y=y)
    else:
        per_class = np.array([1.0, 3.0, 8.0])
    params = {"n_estimators": 3 if strategy == "cv" else 4, "strategy": strategy,
              "random_state": 1, "cv": 4}
    weighted = EnsembleClassifier(small(class_weight=class_weight), **params).fit(X, y)
    reference = EnsembleClassifier(small(), **params).fit(X, y, sample_weight=per_class[index])
    assert weighted.estimator_.class_weight == class_weight
    for a, b in zip(weighted.estimators_, reference.estimators_, strict=True):
        assert a.class_weight is None
        assert_same_bits(a, b)
    if strategy == "cv":  # the folds' scores are weighted too
        np.testing.assert_array_equal(weighted.cv_scores_, reference.cv_scores_)
    if strategy == "bagging":
        # Some bootstrap sample lacks the rare class: with the dict it would name that key.
        assert any(2 not in y[sample] for sample in weighted.estimators_samples_)
