"""EnsembleClassifier and EnsembleRegressor against expectations computed by hand.

* combination rules: 'mean_proba', 'mean_logits' (softmax of mean log-probabilities; the
  sigmoid of the mean logit for two classes), 'vote' (plurality, ties to the first class),
  'mean' and 'median', each recomputed from the members' own predictions;
* bagging: bootstrap samples of n draws, each member validated on exactly the rows its
  sample left out, ``oob_score_`` recomputed sample by sample;
* snapshot: the learning rate of every epoch equals the cosine formula, members copied at
  the end of every cycle; checkpoints: the last epochs of one run; cv: the best folds;
* parallel members (threads, n_jobs=2) and members on a Dask cluster of two worker
  processes are bit-identical to sequential ones;
* scikit-learn tools: clone, get_params, cross_val_score, pickle, estimator checks.
"""
import math
import pickle
import threading
import warnings
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastreg import EnsembleClassifier, EnsembleRegressor, MLPClassifier, MLPRegressor  # noqa: E402
from fastreg._threads import engine_thread_cap, resolve_n_threads  # noqa: E402
from fastreg.ensemble import snapshot_learning_rate  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


def classification_data(n_samples=150, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    y = np.argmax(X[:, :n_classes] + 0.5 * rng.normal(size=(n_samples, n_classes)), axis=1)
    return X, np.array(["ant", "bee", "cat", "dog"])[y]


def regression_data(n_samples=150, n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    noise = 0.1 * rng.normal(size=(n_samples, n_outputs))
    Y = X[:, :n_outputs] - np.cos(X[:, 2:2 + n_outputs]) + noise
    return X, Y.ravel() if n_outputs == 1 else Y


SMALL = {"hidden_layer_sizes": (8,), "max_iter": 15, "learning_rate_init": 0.02}


def small_classifier(**params):
    return MLPClassifier(**{**SMALL, **params})


def small_regressor(**params):
    return MLPRegressor(**{**SMALL, **params})


def all_weights(ensemble):
    return [w for member in ensemble.estimators_ for w in member.coefs_ + member.intercepts_]


# ---------------------------------------------------------------------- combination rules
def test_mean_proba_is_the_mean_of_the_members_probabilities():
    X, y = classification_data()
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=3, random_state=0).fit(X, y)
    members = [member.predict_proba(X) for member in ensemble.estimators_]
    expected = (members[0] + members[1] + members[2]) / 3
    np.testing.assert_allclose(ensemble.predict_proba(X), expected, rtol=1e-12)
    labels = np.array(["ant", "bee", "cat"])
    np.testing.assert_array_equal(ensemble.predict(X), labels[expected.argmax(axis=1)])
    # Different seeds give different members; the seeds come from the ensemble's random_state.
    assert len(set(ensemble.seeds_)) == 3
    assert [m.random_state for m in ensemble.estimators_] == list(ensemble.seeds_)
    assert not np.array_equal(members[0], members[1])


def test_mean_logits_is_the_softmax_of_the_mean_log_probabilities():
    X, y = classification_data()
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=3, combine="mean_logits",
                                  random_state=1).fit(X, y)
    proba = ensemble.predict_proba(X)
    for row in range(0, X.shape[0], 17):
        logs = [np.log(member.predict_proba(X[row:row + 1])[0]) for member in ensemble.estimators_]
        mean = [sum(log[k] for log in logs) / 3 for k in range(3)]
        exps = [math.exp(value) for value in mean]
        np.testing.assert_allclose(proba[row], [e / sum(exps) for e in exps], rtol=1e-10)


def test_mean_logits_of_logistic_outputs_is_the_sigmoid_of_the_mean_logit():
    X, y = classification_data(n_classes=2)
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=4, combine="mean_logits",
                                  random_state=2).fit(X, y)
    p = np.stack([member.predict_proba(X)[:, 1] for member in ensemble.estimators_])
    mean_logit = np.mean(np.log(p / (1 - p)), axis=0)
    sigmoid = 1 / (1 + np.exp(-mean_logit))
    np.testing.assert_allclose(ensemble.predict_proba(X)[:, 1], sigmoid, rtol=1e-9)
    np.testing.assert_array_equal(ensemble.predict(X), np.where(sigmoid > 0.5, "bee", "ant"))


def test_vote_is_the_plurality_with_ties_to_the_first_class():
    X, y = classification_data(n_samples=200)
    # Two undertrained members disagree often: many ties to settle.
    ensemble = EnsembleClassifier(small_classifier(max_iter=2), n_estimators=2, combine="vote",
                                  random_state=3).fit(X, y)
    votes = [member.predict(X) for member in ensemble.estimators_]
    expected, ties = [], 0
    for row in range(X.shape[0]):
        counts = Counter(vote[row] for vote in votes)
        top = max(counts.values())
        winners = sorted(label for label, count in counts.items() if count == top)
        ties += len(winners) > 1
        expected.append(winners[0])
    assert ties > 5
    np.testing.assert_array_equal(ensemble.predict(X), expected)
    shares = ensemble.predict_proba(X)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert set(np.unique(shares)) <= {0.0, 0.5, 1.0}


@pytest.mark.parametrize("combine", ["mean", "median"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_mean_and_median_of_the_members(combine, n_outputs):
    X, y = regression_data(n_outputs=n_outputs)
    ensemble = EnsembleRegressor(small_regressor(), n_estimators=4, combine=combine,
                                 random_state=0).fit(X, y)
    predictions = [member.predict(X) for member in ensemble.estimators_]
    if combine == "mean":
        expected = (predictions[0] + predictions[1] + predictions[2] + predictions[3]) / 4
    else:  # with 4 members: the mean of the two middle values
        ordered = np.sort(np.stack(predictions), axis=0)
        expected = (ordered[1] + ordered[2]) / 2
    np.testing.assert_allclose(ensemble.predict(X), expected, rtol=1e-12)
    assert ensemble.predict(X).shape == y.shape


# ---------------------------------------------------------------------- bagging
def test_bagging_members_validate_on_exactly_their_out_of_bag_rows():
    X, y = classification_data(n_samples=160)
    n = X.shape[0]
    ensemble = EnsembleClassifier(small_classifier(max_iter=30), n_estimators=4, strategy="bagging",
                                  random_state=0).fit(X, y)
    for member, sample in zip(ensemble.estimators_, ensemble.estimators_samples_):
        assert sample.shape == (n,) and sample.min() >= 0 and sample.max() < n
        assert len(np.unique(sample)) < n  # drawn with replacement
        out_of_bag = np.array(sorted(set(range(n)) - set(sample.tolist())))
        assert member.early_stopping
        # The best validation score (whose weights early stopping restored) is the score of
        # the fitted member on the complement of its sample, and on nothing else.
        assert member.best_validation_score_ == member.score(X[out_of_bag], y[out_of_bag])
        assert member.best_validation_score_ == max(member.validation_scores_)
    # The bootstrap samples differ from member to member.
    assert not np.array_equal(ensemble.estimators_samples_[0], ensemble.estimators_samples_[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bagging_members_with_a_criterion_keep_their_lowest_out_of_bag_loss(dtype):
    """A member with a stopping criterion early-stops on its out-of-bag rows and keeps the
    weights of its lowest validation log-loss there (recomputed), not those of its best
    accuracy, which at least one member reaches later."""
    from fastreg import UpStrips

    X, y = classification_data(n_samples=160)
    X = X.astype(dtype)
    member = small_classifier(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.05,
                              stopping_criterion=UpStrips(strips=2, strip=2))
    ensemble = EnsembleClassifier(member, n_estimators=4, strategy="bagging",
                                  random_state=0).fit(X, y)
    accuracy_later = 0
    for fitted, sample in zip(ensemble.estimators_, ensemble.estimators_samples_):
        out_of_bag = np.setdiff1d(np.arange(X.shape[0]), sample)
        assert set(y[out_of_bag]) <= set(fitted.classes_)  # all of them are its validation rows
        losses = np.array(fitted.validation_loss_curve_)
        scores = np.array(fitted.validation_scores_)
        assert fitted.n_iter_ < 300 and fitted.stopping_reason_
        accuracy_later += int(np.argmax(scores)) > int(np.argmin(losses))
        proba = fitted.predict_proba(X[out_of_bag]).astype(np.float64)
        columns = np.searchsorted(fitted.classes_, y[out_of_bag])
        log_loss = -np.mean(np.log(proba[np.arange(len(out_of_bag)), columns]))
        rel = 1e-12 if dtype == "float64" else 1e-6
        assert log_loss == pytest.approx(losses.min(), rel=rel)
    assert accuracy_later >= 1


def test_oob_score_combines_only_members_that_did_not_see_the_sample():
    X, y = classification_data(n_samples=120)
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=5, strategy="bagging",
                                  random_state=4).fit(X, y)
    probas = [member.predict_proba(X) for member in ensemble.estimators_]
    correct, counted = 0, 0
    for row in range(X.shape[0]):
        unseen = [p[row] for p, sample in zip(probas, ensemble.estimators_samples_)
                  if row not in set(sample)]
        if not unseen:
            continue
        counted += 1
        correct += ensemble.classes_[np.argmax(sum(unseen) / len(unseen))] == y[row]
    assert counted > 100
    assert ensemble.oob_score_ == pytest.approx(correct / counted, abs=1e-12)


def test_regressor_oob_score_is_the_r2_of_out_of_bag_medians():
    X, y = regression_data(n_samples=120)
    ensemble = EnsembleRegressor(small_regressor(), n_estimators=5, strategy="bagging",
                                 combine="median", random_state=5).fit(X, y)
    predictions = [member.predict(X) for member in ensemble.estimators_]
    rows, combined = [], []
    for row in range(X.shape[0]):
        unseen = [p[row] for p, sample in zip(predictions, ensemble.estimators_samples_)
                  if row not in set(sample)]
        if unseen:
            rows.append(row)
            combined.append(np.median(unseen))
    truth = y[rows]
    r2 = 1 - np.sum((truth - combined) ** 2) / np.sum((truth - truth.mean()) ** 2)
    assert ensemble.oob_score_ == pytest.approx(r2, abs=1e-12)
    np.testing.assert_allclose(ensemble.oob_prediction_[rows], combined, rtol=1e-12)


# ---------------------------------------------------------------------- one-run strategies
@pytest.mark.parametrize("max_iter, n_cycles", [(12, 3), (10, 4)])
def test_snapshot_learning_rate_follows_the_cosine_formula(max_iter, n_cycles):
    X, y = classification_data()
    lr0 = 0.05
    base = small_classifier(max_iter=max_iter, learning_rate_init=lr0, solver="sgd")
    ensemble = EnsembleClassifier(base, n_estimators=n_cycles, strategy="snapshot",
                                  random_state=0).fit(X, y)
    cycle = -(-max_iter // n_cycles)
    epochs = range(1, max_iter + 1)
    expected = [lr0 / 2 * (math.cos(math.pi * ((t - 1) % cycle) / cycle) + 1) for t in epochs]
    np.testing.assert_allclose(ensemble.learning_rates_, expected, rtol=1e-15)
    assert ensemble.learning_rates_[0] == lr0
    assert [snapshot_learning_rate(t, max_iter, n_cycles, lr0) for t in epochs] == expected
    # What the engine actually ran: the network's own record of every epoch.
    ran = ensemble.estimators_[-1]._network.history_["learning_rate"]
    np.testing.assert_allclose(ran, expected, rtol=1e-15)
    ends = [t for t in range(1, max_iter + 1) if t % cycle == 0 or t == max_iter]
    np.testing.assert_array_equal(ensemble.snapshot_epochs_, ends)
    assert [member.t_ for member in ensemble.estimators_] == [t * X.shape[0] for t in ends]
    assert all(member.learning_rate_init == lr0 for member in ensemble.estimators_)
    assert not np.array_equal(ensemble.estimators_[0].coefs_[0], ensemble.estimators_[1].coefs_[0])


def test_snapshot_with_adam_restarts_its_rate_each_cycle():
    X, y = regression_data()
    base = small_regressor(max_iter=9)
    ensemble = EnsembleRegressor(base, n_estimators=3, strategy="snapshot",
                                 random_state=0).fit(X, y)
    rates = ensemble.learning_rates_
    assert rates[0] == rates[3] == rates[6] == 0.02
    assert rates[0] > rates[1] > rates[2] and rates[3] > rates[4] > rates[5]


def test_checkpoints_are_the_last_epochs_of_one_run():
    X, y = classification_data()
    base = small_classifier(max_iter=10)
    ensemble = EnsembleClassifier(base, n_estimators=3, strategy="checkpoints",
                                  random_state=0).fit(X, y)
    np.testing.assert_array_equal(ensemble.snapshot_epochs_, [8, 9, 10])
    assert [member.t_ for member in ensemble.estimators_] == [8 * 150, 9 * 150, 10 * 150]
    assert np.all(ensemble.learning_rates_ == 0.02)
    # The same run continued: each checkpoint's loss curve extends the previous one.
    curves = [member.loss_curve_ for member in ensemble.estimators_]
    assert curves[1][:-1] == curves[0] and curves[2][:-1] == curves[1]


def test_cv_keeps_the_members_with_the_best_held_out_scores():
    X, y = regression_data()
    folds = list(KFold(n_splits=4, shuffle=True, random_state=0).split(X))
    ensemble = EnsembleRegressor(small_regressor(max_iter=8), n_estimators=2, strategy="cv",
                                 cv=folds, random_state=0).fit(X, y)
    assert len(ensemble.cv_scores_) == 4
    best = sorted(sorted(range(4), key=lambda i: -ensemble.cv_scores_[i])[:2])
    np.testing.assert_array_equal(ensemble.selected_folds_, best)
    for member, fold in zip(ensemble.estimators_, ensemble.selected_folds_):
        _, held_out = folds[fold]
        assert member.score(X[held_out], y[held_out]) == ensemble.cv_scores_[fold]


def test_cv_classifier_folds_are_stratified():
    X, y = classification_data()
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=3, strategy="cv", cv=3,
                                  random_state=0).fit(X, y)
    assert len(ensemble.estimators_) == 3 and len(ensemble.cv_scores_) == 3
    assert all(set(member.classes_) == {"ant", "bee", "cat"} for member in ensemble.estimators_)


# ---------------------------------------------------------------------- parallel and Dask
@pytest.mark.parametrize("strategy", ["seeds", "bagging", "cv"])
def test_threads_give_the_members_of_sequential_training(strategy):
    X, y = classification_data()
    X32 = X.astype(np.float32)  # float32: where BLAS threading would show first

    def make(n_jobs):
        return EnsembleClassifier(small_classifier(), n_estimators=3, strategy=strategy,
                                  random_state=7, n_jobs=n_jobs)

    sequential = make(None).fit(X32, y)
    parallel = make(2).fit(X32, y)
    for a, b in zip(all_weights(sequential), all_weights(parallel)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sequential.predict_proba(X32), parallel.predict_proba(X32))
    if strategy == "bagging":
        assert sequential.oob_score_ == parallel.oob_score_


def test_engine_thread_cap_is_per_thread():
    seen = {}

    def other():
        seen["other"] = resolve_n_threads(None)

    with engine_thread_cap(1):
        assert resolve_n_threads(None) == 1 and resolve_n_threads(4) == 1
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen["other"] == resolve_n_threads(None)


def test_members_running_side_by_side_get_one_engine_thread():
    """What each member's engine was told to run its epochs on, read from the engine after
    the real fit: one thread with n_jobs=2, as many as a lone fit in a fresh thread gets
    with n_jobs=1 (more than one, or there is nothing to cap)."""
    X, y = classification_data()
    seen = {}

    def lone_fit():
        seen["alone"] = small_classifier(max_iter=2).fit(X, y)._network._engine.n_threads

    thread = threading.Thread(target=lone_fit)
    thread.start()
    thread.join()
    if seen["alone"] < 2:
        pytest.skip("a fit alone runs on one engine thread here: nothing to cap")
    for n_jobs, expected in ((2, 1), (1, seen["alone"])):
        ensemble = EnsembleClassifier(small_classifier(max_iter=2), n_estimators=2, random_state=0,
                                      n_jobs=n_jobs).fit(X, y)
        threads = [member._network._engine.n_threads for member in ensemble.estimators_]
        assert threads == [expected] * 2, n_jobs


@pytest.mark.slow
def test_dask_cluster_gives_the_members_of_local_training():
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    X, y = classification_data()

    def make(**kwargs):
        return EnsembleClassifier(small_classifier(), n_estimators=4, strategy="bagging",
                                  random_state=11, **kwargs)

    local = make().fit(X, y)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}
    search_local = GridSearchCV(small_classifier(random_state=3), grid, cv=2).fit(X, y)
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=50) as cluster,
          distributed.Client(cluster) as client):
        with distributed.get_task_stream(client) as explicit:
            on_dask = make(backend="dask").fit(X, y)
        with distributed.get_task_stream(client) as implicit, parallel_config(backend="dask"):
            in_context = make().fit(X, y)
        # A hyperparameter search over fastreg estimators, through joblib's dask backend.
        with distributed.get_task_stream(client) as searched, parallel_config(backend="dask"):
            search_dask = GridSearchCV(small_classifier(random_state=3), grid, cv=2,
                                       n_jobs=-1).fit(X, y)
        worker_pids = client.run(lambda: __import__("os").getpid())
    # Every member was trained by a task on the cluster, whose workers are other processes.
    for stream in (explicit, implicit):
        assert stream.data and all("_fit_member" in task["key"] for task in stream.data)
        assert {task["worker"] for task in stream.data} <= set(worker_pids)
    assert len(set(worker_pids.values()) | {__import__("os").getpid()}) == 3
    for other in (on_dask, in_context):
        for a, b in zip(all_weights(local), all_weights(other)):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(local.predict_proba(X), other.predict_proba(X))
        assert local.oob_score_ == other.oob_score_
    assert searched.data and {task["worker"] for task in searched.data} <= set(worker_pids)
    np.testing.assert_array_equal(search_local.cv_results_["mean_test_score"],
                                  search_dask.cv_results_["mean_test_score"])
    assert search_local.best_params_ == search_dask.best_params_
    for a, b in zip(search_local.best_estimator_.coefs_, search_dask.best_estimator_.coefs_):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------- scikit-learn tools
def test_clone_get_params_cross_val_score_and_pickle():
    X, y = classification_data()
    ensemble = EnsembleClassifier(small_classifier(), n_estimators=2, strategy="bagging",
                                  combine="vote", random_state=0, n_jobs=2)
    params = clone(ensemble).get_params()
    assert params["strategy"] == "bagging" and params["estimator__hidden_layer_sizes"] == (8,)
    scores = cross_val_score(ensemble, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5
    fitted = clone(ensemble).set_params(estimator__max_iter=5).fit(X, y)
    assert not hasattr(ensemble, "estimators_")
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert restored.oob_score_ == fitted.oob_score_


def test_default_members_and_fitted_attributes():
    X, y = classification_data(n_samples=60)
    ensemble = EnsembleClassifier(n_estimators=2, random_state=0).set_params(estimator=None)
    ensemble.fit(X, y)
    assert type(ensemble.estimator_) is MLPClassifier
    assert ensemble.n_features_in_ == 5 and ensemble.n_classes_ == 3
    assert list(ensemble.classes_) == ["ant", "bee", "cat"]
    regressor = EnsembleRegressor(n_estimators=2, random_state=0)
    regressor.fit(*regression_data(n_samples=60))
    assert type(regressor.estimators_[0]) is MLPRegressor


@pytest.mark.parametrize("ensemble, message", [
    (EnsembleClassifier(small_classifier(max_iter=2), n_estimators=3, strategy="snapshot"),
     "max_iter"),
    (EnsembleClassifier(small_classifier(solver="lbfgs"), n_estimators=2, strategy="snapshot"),
     "stochastic"),
    (EnsembleClassifier(small_classifier(), n_estimators=4, strategy="cv", cv=3), "folds"),
    (EnsembleClassifier(small_regressor(), n_estimators=2), "needs a classifier"),
    (EnsembleClassifier(small_classifier(), strategy="boosting"), "strategy"),
    (EnsembleRegressor(small_regressor(), combine="vote"), "combine"),
])
def test_bad_settings_raise(ensemble, message):
    X, y = classification_data(n_samples=60)
    with pytest.raises(ValueError, match=message):
        ensemble.fit(X, y)


def test_multilabel_targets_are_refused():
    X, _ = classification_data(n_samples=40)
    with pytest.raises(ValueError, match="binary and multiclass"):
        EnsembleClassifier(small_classifier(), n_estimators=2).fit(X, (X[:, :2] > 0).astype(int))


TINY_CLASSIFIER = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.02)
TINY_REGRESSOR = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.02)

def expected_failures(estimator):
    failures = {}
    if estimator.strategy == "bagging":
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "A bootstrap sample draws rows, not weight: repeating a row makes it likelier to be "
            "drawn, which a weight of 2 does not."
        )
        failures["check_sample_weight_equivalence_on_sparse_data"] = failures[
            "check_sample_weight_equivalence_on_dense_data"]
    return failures


@parametrize_with_checks(
    [EnsembleClassifier(TINY_CLASSIFIER, n_estimators=2),
     EnsembleRegressor(TINY_REGRESSOR, n_estimators=2),
     EnsembleClassifier(TINY_CLASSIFIER, n_estimators=2, strategy="bagging", n_jobs=2),
     EnsembleRegressor(TINY_REGRESSOR, n_estimators=2, strategy="snapshot")],
    expected_failed_checks=expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
