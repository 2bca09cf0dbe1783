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
    fired = [replay.update(tr, va) for tr, va in zip(model.loss_curve_, model.validation_loss_curve_)]
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
