"""Prechelt's criteria as the estimators' stopping rule: the fit stops at the first epoch
where the criterion, replayed by hand on the recorded curves, holds; the weights of the
lowest validation loss come back."""
import numpy as np
import pytest
from sklearn.datasets import make_classification

from fastreg import GeneralizationLoss, MLPClassifier, UpStrips


def _data():
    X, y = make_classification(n_samples=300, n_features=20, n_informative=5, flip_y=0.2,
                               random_state=0)
    return X[:200], y[:200], X[200:], y[200:]


@pytest.mark.parametrize("criterion", [GeneralizationLoss(alpha=2.0), UpStrips(strips=2, strip=3)])
def test_fit_stops_where_the_criterion_holds_on_the_curves(criterion):
    X, y, X_val, y_val = _data()
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=300,
                          stopping_criterion=criterion, random_state=0)
    model.fit(X, y, validation_data=(X_val, y_val))
    assert model.n_iter_ < 300 and model.stopping_reason_
    # Replay: the criterion holds first at the last epoch trained.
    replay = type(criterion)(**{k: v for k, v in vars(criterion).items()
                                if not k.endswith("_") and not k.startswith("_")})
    fired = [replay.update(tr, va)
             for tr, va in zip(model.loss_curve_, model.validation_loss_curve_)]
    assert fired.index(True) == model.n_iter_ - 1
    # The restored weights are those of the lowest validation loss: refitting for exactly
    # that many epochs without a criterion gives the same weights.
    best_epochs = int(np.argmin(model.validation_loss_curve_)) + 1
    twin = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=best_epochs,
                         n_iter_no_change=10**6, random_state=0)
    with pytest.warns(Warning):
        twin.fit(X, y, validation_data=(X_val, y_val))
    for a, b in zip(model.coefs_, twin.coefs_):
        np.testing.assert_array_equal(a, b)


def test_criterion_needs_a_validation_set():
    X, y, _, _ = _data()
    with pytest.raises(ValueError, match="validation"):
        MLPClassifier(stopping_criterion=GeneralizationLoss(), max_iter=5).fit(X, y)


def test_a_stopping_criterion_survives_save_and_load(tmp_path):
    import json

    import fastreg

    X, y, X_val, y_val = _data()
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0,
                          stopping_criterion=UpStrips(strips=2, strip=4))
    model.fit(X, y, validation_data=(X_val, y_val))
    path = tmp_path / "model.fastreg"
    model.save(path)
    loaded = fastreg.load(path)
    assert type(loaded.stopping_criterion) is UpStrips
    assert (loaded.stopping_criterion.strips, loaded.stopping_criterion.strip) == (2, 4)
    np.testing.assert_array_equal(loaded.predict_proba(X_val), model.predict_proba(X_val))
    # A tampered criterion class is refused, and nothing is executed.
    with np.load(path, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["model"]["params"]["stopping_criterion"]["object"][0] = "os.system"
    arrays["metadata"] = np.array(json.dumps(meta))
    tampered = tmp_path / "tampered.fastreg"
    with open(tampered, "wb") as file:
        np.savez(file, **arrays)
    with pytest.raises(ValueError, match="criterion"):
        fastreg.load(tampered)


def _log_loss(model, X_val, y_val):
    """Validation log-loss of the fitted model, in float64 from its probabilities."""
    proba = model.predict_proba(X_val).astype(np.float64)
    columns = np.searchsorted(model.classes_, y_val)
    return float(-np.mean(np.log(proba[np.arange(len(y_val)), columns])))


@pytest.mark.parametrize("own_validation_set,seed", [(True, 0), (False, 1)])
def test_early_stopping_with_a_criterion_keeps_the_lowest_validation_loss(
        dtype, own_validation_set, seed, monkeypatch):
    """early_stopping=True with a criterion: the weights of the lowest validation loss come
    back, not those of the best validation accuracy (a later epoch here), with a
    validation set of one's own or the held-out split."""
    import fastreg.estimators

    X, y, X_val, y_val = _data()
    X, X_val = X.astype(dtype), X_val.astype(dtype)
    split = []
    real_split = fastreg.estimators.train_test_split

    def spy(*arrays, **kwargs):  # records the held-out rows of the split
        parts = real_split(*arrays, **kwargs)
        split.append((parts[1], parts[3]))
        return parts

    monkeypatch.setattr(fastreg.estimators, "train_test_split", spy)
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=300,
                          early_stopping=True, stopping_criterion=UpStrips(strips=2, strip=3),
                          validation_fraction=0.2, random_state=seed)
    if own_validation_set:
        model.fit(X, y, validation_data=(X_val, y_val))
        assert not split
    else:
        model.fit(X, y)
        (X_val, Y_val), = split
        if Y_val.shape[1] > 1:
            y_val = model.classes_[Y_val.argmax(axis=1)]
        else:
            y_val = Y_val.ravel().astype(int)
    losses, scores = np.array(model.validation_loss_curve_), np.array(model.validation_scores_)
    best_epoch = int(np.argmin(losses)) + 1
    # The case tells the two apart: the best accuracy is first reached after the epoch of
    # the lowest loss (a copy at the best accuracy would come later and win).
    assert int(np.argmax(scores)) + 1 > best_epoch and model.n_iter_ > best_epoch
    rel = 1e-12 if dtype == "float64" else 1e-6
    assert _log_loss(model, X_val, y_val) == pytest.approx(losses.min(), rel=rel)
    assert model.score(X_val, y_val) == pytest.approx(scores[best_epoch - 1], abs=1e-12)
    # The criterion's reason names the same best epoch.
    assert f"best {losses.min():.6g} at epoch {best_epoch})" in model.stopping_reason_


def test_plain_early_stopping_keeps_the_best_validation_score_as_sklearn(dtype):
    """Without a criterion, scikit-learn's rule: the weights of the best validation
    score (accuracy), the first epoch that reached it."""
    X, y, X_val, y_val = _data()
    X, X_val = X.astype(dtype), X_val.astype(dtype)
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01, max_iter=300,
                          early_stopping=True, n_iter_no_change=5, random_state=0)
    model.fit(X, y, validation_data=(X_val, y_val))
    scores, losses = np.array(model.validation_scores_), np.array(model.validation_loss_curve_)
    best_epoch = int(np.argmax(scores)) + 1
    assert int(np.argmin(losses)) + 1 != best_epoch  # the loss would pick another epoch
    assert model.best_validation_score_ == scores.max()
    assert model.score(X_val, y_val) == scores.max()
    rel = 1e-12 if dtype == "float64" else 1e-6
    assert _log_loss(model, X_val, y_val) == pytest.approx(losses[best_epoch - 1], rel=rel)
