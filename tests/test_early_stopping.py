"""Early stopping: Prechelt's criteria on scripted curves, and the fit callback end to end.

The criteria are fed hand-made error curves; the epoch at which each must stop is worked
out by hand in the comments (t counts epochs from 1). The callback is checked on a small
noisy classification problem that a wide network overfits: it must stop before the
epoch budget, put back the weights of the best validation epoch (the same weights as a
second network with the same seed trained for exactly that many epochs) and record both
error curves.
"""
import math

import numpy as np
import pytest

import fastreg
from fastreg import (
    EarlyStopping,
    GeneralizationLoss,
    Patience,
    ProgressQuotient,
    StoppingCriterion,
    UpStrips,
)


def first_stop(criterion, val_errors, train_errors=None):
    """The first epoch (1-based) at which ``criterion`` says stop, or None."""
    criterion.reset()
    if train_errors is None:
        train_errors = [None] * len(val_errors)
    for t, (tr, va) in enumerate(zip(train_errors, val_errors), start=1):
        if criterion.update(tr, va):
            return t
    return None


# ---------------------------------------------------------------------- Patience
def test_patience_counts_epochs_since_the_best():
    val = [1.0, 0.9, 0.95, 0.9, 0.92, 0.8, 0.85, 0.85, 0.85, 0.81]
    # Best 0.9 at t=2; t=3, 4 (equal is no improvement), 5 do not improve: 3 epochs.
    assert first_stop(Patience(3), val) == 5
    # With patience 4, t=6 (0.8) improves; t=7..10 do not: the 4th is t=10.
    assert first_stop(Patience(4), val) == 10
    assert first_stop(Patience(5), val) is None
    criterion = Patience(4)
    first_stop(criterion, val)
    assert criterion.best_epoch_ == 6 and criterion.best_val_error_ == 0.8
    assert criterion.stopped_epoch_ == 10 and criterion.wait_ == 4


def test_patience_min_delta_accumulates_slow_progress():
    # A steady descent by 0.125 per epoch from 4.0 to 3.0 (t=1..9), then a plateau.
    val = [4.0 - 0.125 * i for i in range(9)] + [3.0, 3.0, 3.0]
    # min_delta 0.2, reference = last improving value: t=1 improves (ref 4.0);
    # t=2 3.875 is not < 3.8; t=3 3.75 is (ref 3.75); t=4 3.625 not < 3.55; t=5 3.5 is;
    # ... every second epoch improves, so the wait never reaches 2 until the plateau:
    # t=9 3.0 < 3.05 improves (ref 3.0), t=10 and t=11 do not -> stop at t=11.
    criterion = Patience(patience=2, min_delta=0.2)
    assert first_stop(criterion, val) == 11
    assert criterion.best_epoch_ == 9  # the first 3.0
    assert criterion.reference_ == 3.0
    # With min_delta 0.25 two steps make a drop of exactly 0.25 from 4.0, which is not
    # "more than": t=2 (3.875) and t=3 (3.75) do not improve, patience 2 stops at t=3.
    assert first_stop(Patience(patience=2, min_delta=0.25), val) == 3


def test_patience_first_epoch_always_improves():
    assert first_stop(Patience(1), [5.0, 5.0]) == 2
    assert first_stop(Patience(1), [math.inf, math.inf]) == 1  # inf is not < inf - 0
    assert first_stop(Patience(2), [-1.0, -0.5, -0.75]) == 3  # any sign is fine here


# ---------------------------------------------------------------------- GL
def test_generalization_loss_stops_above_alpha():
    val = [1.0, 0.8, 0.6, 0.5, 0.52, 0.54, 0.53, 0.56, 0.49, 0.51]
    # E_opt = 0.5 from t=4; GL(5) = 4, GL(6) = 8, GL(7) = 6, GL(8) = 12 (percent).
    assert first_stop(GeneralizationLoss(5.0), val) == 6
    assert first_stop(GeneralizationLoss(10.0), val) == 8
    assert first_stop(GeneralizationLoss(20.0), val) is None
    # alpha 0 stops at the first epoch that is not a new best: t=5.
    assert first_stop(GeneralizationLoss(0.0), val) == 5
    criterion = GeneralizationLoss(10.0)
    first_stop(criterion, val)
    assert criterion.generalization_loss_ == pytest.approx(12.0)
    assert criterion.best_epoch_ == 4
    assert "GL_10" in criterion.reason_ and "12 %" in criterion.reason_
    assert "epoch 4" in criterion.reason_


def test_generalization_loss_is_strict():
    # 4.0 -> 5.0 is exactly GL = 25 %: stops for alpha below 25 only.
    assert first_stop(GeneralizationLoss(25.0), [4.0, 5.0]) is None
    assert first_stop(GeneralizationLoss(24.9), [4.0, 5.0]) == 2


def test_generalization_loss_with_a_perfect_best():
    # E_opt = 0 from t=2: GL(3) = 0 (0 / 0 is defined as no loss), GL(4) = +inf.
    val = [0.2, 0.0, 0.0, 0.1]
    criterion = GeneralizationLoss(1000.0)
    assert first_stop(criterion, val) == 4
    assert criterion.generalization_loss_ == math.inf
    # An infinite validation error after a finite best is an infinite loss too.
    assert first_stop(GeneralizationLoss(1e9), [1.0, math.inf]) == 2
    # inf / inf at the start is no loss.
    assert first_stop(GeneralizationLoss(0.0), [math.inf, math.inf]) is None


# ---------------------------------------------------------------------- PQ
PQ_TRAIN = [10, 8, 6, 4, 2, 2.0, 1.8, 1.6, 1.6, 1.5, 1.5, 1.5, 1.5, 1.5, 1.4]
PQ_VAL = [10, 9, 8, 7, 8, 7.5, 7.2, 7.1, 7.4, 8.4, 8.0, 14, 8.0, 8.0, 9.1]
# E_opt = 7 from t=4. Strip ends (k = 5):
#   t=5:  strip 10 8 6 4 2:         P = 1000 (30 / (5 * 2) - 1) = 2000;
#         GL = 100 (8 / 7 - 1) = 14.29;  GL / P = 0.00714
#   t=10: strip 2 1.8 1.6 1.6 1.5:   P = 1000 (8.5 / 7.5 - 1) = 133.3;
#         GL = 100 (8.4 / 7 - 1) = 20;   GL / P = 0.15
#   t=15: strip 1.5 1.5 1.5 1.5 1.4: P = 1000 (7.4 / 7 - 1) = 57.14;
#         GL = 100 (9.1 / 7 - 1) = 30;   GL / P = 0.525
# t=12 has GL = 100 but is not a strip end.


def test_progress_quotient_at_strip_ends():
    assert first_stop(ProgressQuotient(0.5), PQ_VAL, PQ_TRAIN) == 15
    assert first_stop(ProgressQuotient(0.1), PQ_VAL, PQ_TRAIN) == 10
    assert first_stop(ProgressQuotient(0.001), PQ_VAL, PQ_TRAIN) == 5
    assert first_stop(ProgressQuotient(0.6), PQ_VAL, PQ_TRAIN) is None
    criterion = ProgressQuotient(0.5)
    first_stop(criterion, PQ_VAL, PQ_TRAIN)
    assert criterion.progress_ == pytest.approx(400 / 7)
    assert criterion.generalization_loss_ == pytest.approx(30.0)
    assert criterion.quotient_ == pytest.approx(0.525)
    assert "PQ_0.5" in criterion.reason_ and "0.525" in criterion.reason_


def test_progress_quotient_other_strip_length():
    # k = 3: strip ends t = 3, 6, 9.
    #   t=3: E_va = 8 is the best so far: GL = 0, quotient 0;
    #   t=6: strip E_tr(4..6) = 4 2 2, P = 1000 (8 / 6 - 1) = 333.3,
    #        GL = 100 (7.5 / 7 - 1) = 7.14, quotient 0.0214;
    #   t=9: strip 1.8 1.6 1.6, P = 1000 (5 / 4.8 - 1) = 41.67,
    #        GL = 100 (7.4 / 7 - 1) = 5.71, quotient 0.137 > 0.1 -> stop at t=9.
    assert first_stop(ProgressQuotient(0.1, strip=3), PQ_VAL, PQ_TRAIN) == 9


def test_progress_quotient_zero_progress():
    flat = [1.0] * 10
    # Constant training error: P = 0. At the strip ends t=5 and t=10 the validation error
    # is a new best (GL = 0): quotient 0, no stop.
    assert first_stop(ProgressQuotient(0.5), [5, 4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2, 0.1], flat) is None
    # GL(10) = 100 (1.01 / 1 - 1) = 1 > 0 with P = 0: infinite quotient, stop at t=10,
    # even though GL is tiny.
    criterion = ProgressQuotient(1000.0)
    assert first_stop(criterion, [5, 4, 3, 2, 1, 1, 1, 1, 1, 1.01], flat) == 10
    assert criterion.progress_ == 0 and criterion.quotient_ == math.inf
    # All-zero training errors are no progress either.
    assert first_stop(ProgressQuotient(1000.0), [2, 1, 1, 1, 1.5], [0.0] * 5) == 5


def test_progress_quotient_training_error_reaching_zero():
    # Strip 1 0 0 0 0: min 0 < sum, P = +inf, quotient GL / inf = 0: no stop at t=5.
    criterion = ProgressQuotient(0.0)
    assert first_stop(criterion, [2, 1, 1, 1, 1.5], [1, 0, 0, 0, 0]) is None
    assert criterion.progress_ == math.inf and criterion.quotient_ == 0.0
    # Unless GL is infinite too (validation error left a perfect 0): stop.
    assert first_stop(ProgressQuotient(0.0), [1, 0, 0, 0, 0.5], [1, 0, 0, 0, 0]) == 5


def test_progress_quotient_needs_training_errors():
    with pytest.raises(ValueError, match="training error"):
        ProgressQuotient().update(None, 1.0)


# ---------------------------------------------------------------------- UP
def test_up_strips_consecutive_rises():
    val = [5, 4, 3, 3.5, 2, 2.5, 3, 2.8, 2.9, 3.1]
    # strip 2, strip ends t = 2, 4, 6, 8, 10 with E_va = 4, 3.5, 2.5, 2.8, 3.1:
    # t=2 nothing to compare; t=4 and t=6 fall; t=8 rises (1); t=10 rises (2).
    # (t=4 is above t=3, but only strip ends are compared.)
    assert first_stop(UpStrips(strips=1, strip=2), val) == 8
    assert first_stop(UpStrips(strips=2, strip=2), val) == 10
    assert first_stop(UpStrips(strips=3, strip=2), val) is None


def test_up_strips_count_restarts():
    val = [4, 5, 4.5, 4.8, 4.9, 4.9]
    # strip 1: rises at t=2 (1), fall at t=3 (0), rises at t=4 (1), t=5 (2), equal at t=6.
    assert first_stop(UpStrips(strips=1, strip=1), val) == 2
    assert first_stop(UpStrips(strips=2, strip=1), val) == 5
    assert first_stop(UpStrips(strips=3, strip=1), val) is None
    criterion = UpStrips(strips=2, strip=1)
    first_stop(criterion, val)
    assert criterion.reason_.startswith("UP_2") and "4.8 -> 4.9" in criterion.reason_


def test_up_strips_default_strip_of_five():
    # k = 5, s = 3: strip ends t=5, 10, 15, 20 with E_va 1, 2, 3, 4: rises at
    # t=10, 15, 20 -> stop at t=20, whatever happens in between.
    val = []
    for level in (1, 2, 3, 4):
        val += [9, 0.5, 9, 0.5, level]
    assert first_stop(UpStrips(), val) == 20


# ---------------------------------------------------------------------- common behaviour
@pytest.mark.parametrize("make", [
    lambda: Patience(3),
    lambda: GeneralizationLoss(5.0),
    lambda: ProgressQuotient(0.1),
    lambda: UpStrips(2, 2),
])
def test_reset_and_keep_first_stop(make):
    criterion = make()
    first = first_stop(criterion, PQ_VAL, PQ_TRAIN)
    assert first is not None
    reason = criterion.reason_
    for tr, va in zip(PQ_TRAIN[first:], PQ_VAL[first:]):  # keep feeding it
        criterion.update(tr, va)
    assert criterion.stopped_epoch_ == first and criterion.reason_ == reason
    assert criterion.epoch_ == len(PQ_VAL)
    criterion.reset()
    assert criterion.epoch_ == 0 and criterion.stopped_epoch_ is None
    assert criterion.reason_ is None and criterion.best_val_error_ == math.inf
    assert first_stop(criterion, PQ_VAL, PQ_TRAIN) == first
    assert criterion.reason_ == reason


@pytest.mark.parametrize("make, kwargs, match", [
    (Patience, {"patience": 0}, "patience"),
    (Patience, {"patience": 2.5}, "patience"),
    (Patience, {"patience": True}, "patience"),
    (Patience, {"min_delta": -0.1}, "min_delta"),
    (Patience, {"min_delta": math.nan}, "min_delta"),
    (Patience, {"min_delta": math.inf}, "min_delta"),
    (GeneralizationLoss, {"alpha": -1}, "alpha"),
    (GeneralizationLoss, {"alpha": "5"}, "alpha"),
    (GeneralizationLoss, {"alpha": math.nan}, "alpha"),
    (GeneralizationLoss, {"alpha": False}, "alpha"),
    (ProgressQuotient, {"alpha": -0.5}, "alpha"),
    (ProgressQuotient, {"strip": 1}, "strip"),
    (ProgressQuotient, {"strip": 0}, "strip"),
    (UpStrips, {"strips": 0}, "strips"),
    (UpStrips, {"strip": 0}, "strip"),
    (UpStrips, {"strip": 2.0}, "strip"),
])
def test_parameter_validation(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_error_validation():
    for criterion in (Patience(), UpStrips()):
        with pytest.raises(ValueError, match="val_error"):
            criterion.update(None, math.nan)
        with pytest.raises(ValueError, match="val_error"):
            criterion.update(None, "0.5")
        with pytest.raises(ValueError, match="train_error"):
            criterion.update(math.nan, 1.0)
        assert criterion.epoch_ == 0  # a rejected update changes nothing
    for criterion in (GeneralizationLoss(), ProgressQuotient()):
        with pytest.raises(ValueError, match=">= 0"):
            criterion.update(1.0, -0.5)
        with pytest.raises(ValueError, match="val_error"):
            criterion.update(1.0, -math.inf)
    with pytest.raises(ValueError, match=">= 0"):
        ProgressQuotient().update(-1.0, 0.5)
    # NumPy scalars are numbers too.
    assert GeneralizationLoss().update(np.float32(1.0), np.float64(0.5)) is False


def test_criteria_are_exported():
    for name in ("EarlyStopping", "Patience", "GeneralizationLoss", "ProgressQuotient",
                 "UpStrips", "StoppingCriterion"):
        assert name in fastreg.__all__
    assert issubclass(UpStrips, StoppingCriterion)
    assert repr(ProgressQuotient(0.5, strip=4)) == "ProgressQuotient(alpha=0.5, strip=4)"


# ---------------------------------------------------------------------- EarlyStopping
def noisy_problem(seed=0, n_train=60, n_val=300, n_features=10):
    """A linear boundary with label noise: 60 points are easy to overfit."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n_features)
    X = rng.normal(size=(n_train, n_features))
    y = (X @ w + 0.7 * rng.normal(size=n_train) > 0).astype(np.int64)
    X_val = rng.normal(size=(n_val, n_features))
    y_val = (X_val @ w + 0.7 * rng.normal(size=n_val) > 0).astype(np.int64)
    return X, y, X_val, y_val


def make_network(dtype, regularizers=()):
    return fastreg.Network([fastreg.Dense(64, "tanh"), fastreg.Dense(2)],
                           optimizer=fastreg.SGD(0.01, momentum=0.5),
                           regularizers=regularizers, dtype=dtype, random_state=0)


def cross_entropy(network, X, y):
    proba = network.predict(X).astype(np.float64)
    return float(-np.mean(np.log(proba[np.arange(len(y)), y])))


def test_early_stopping_end_to_end(dtype):
    X, y, X_val, y_val = noisy_problem()
    max_epochs = 300
    stopper = EarlyStopping(GeneralizationLoss(3.0), validation_data=(X_val, y_val))
    net = make_network(dtype)
    history = net.fit(X, y, epochs=max_epochs, batch_size=10, callback=stopper)

    # Stopped early, after a best epoch, and for the stated reason.
    stopped, best = stopper.stopped_epoch_, stopper.best_epoch_
    assert stopped is not None and 1 < best < stopped < max_epochs
    assert net.epochs_ == stopped == len(history["loss"])
    assert stopper.reason_.startswith("GL_3")
    assert f"epoch {best}" in stopper.reason_

    # Curves: one value per epoch; E_tr is the epoch's data loss; the network overfits
    # (training error keeps falling while the validation error rises after the best).
    assert len(stopper.train_errors_) == len(stopper.val_errors_) == stopped
    np.testing.assert_array_equal(stopper.train_errors_,
                                  [float(v) for v in history["loss"]])  # no penalty here
    val = np.array(stopper.val_errors_)
    assert best == int(np.argmin(val)) + 1 and stopper.best_val_error_ == val.min()
    assert 100 * (val[-1] / val.min() - 1) > 3.0
    assert np.all(100 * (val[:-1] / np.minimum.accumulate(val)[:-1] - 1) <= 3.0)
    assert stopper.train_errors_[-1] < stopper.train_errors_[best - 1]
    # E_va is the validation cross-entropy of the weights of that epoch.
    assert stopper.restored_
    assert cross_entropy(net, X_val, y_val) == pytest.approx(val[best - 1], rel=1e-4)

    # Best weights restored: the same network retrained for exactly `best` epochs.
    again = make_network(dtype)
    again.fit(X, y, epochs=best, batch_size=10)
    for restored, reference in zip(net.coefs_ + net.intercepts_,
                                   again.coefs_ + again.intercepts_):
        np.testing.assert_array_equal(restored, reference)
    np.testing.assert_array_equal(net.predict(X_val), again.predict(X_val))


def test_early_stopping_without_restore_and_reuse():
    X, y, X_val, y_val = noisy_problem()
    stopper = EarlyStopping(Patience(5), validation_data=(X_val, y_val), restore_best=False)
    net = make_network("float64")
    net.fit(X, y, epochs=300, batch_size=10, callback=stopper)
    stopped, best = stopper.stopped_epoch_, stopper.best_epoch_
    assert stopped == best + 5 and not stopper.restored_
    # The network keeps its last weights; restore_best loads the best ones on demand.
    assert cross_entropy(net, X_val, y_val) == pytest.approx(stopper.val_errors_[-1], rel=1e-9)
    stopper.restore_best(net)
    assert cross_entropy(net, X_val, y_val) == pytest.approx(stopper.best_val_error_, rel=1e-9)
    # reset() makes the stopper reusable: a fresh network gives the same run.
    stopper.reset()
    assert stopper.val_errors_ == [] and stopper.stopped_epoch_ is None
    net = make_network("float64")
    net.fit(X, y, epochs=300, batch_size=10, callback=stopper)
    assert (stopper.stopped_epoch_, stopper.best_epoch_) == (stopped, best)


def test_early_stopping_runs_out_of_epochs():
    X, y, X_val, y_val = noisy_problem()
    stopper = EarlyStopping(Patience(1000), validation_data=(X_val, y_val))
    net = make_network("float64")
    net.fit(X, y, epochs=8, batch_size=10, callback=stopper)
    assert stopper.stopped_epoch_ is None and stopper.reason_ is None
    # fit calls on_train_end: the best weights come back although no criterion held.
    assert len(stopper.val_errors_) == 8 and stopper.restored_
    assert cross_entropy(net, X_val, y_val) == pytest.approx(stopper.best_val_error_, rel=1e-9)
    with pytest.raises(RuntimeError, match="best weights"):
        EarlyStopping(Patience(), (X_val, y_val)).restore_best(net)


def test_early_stopping_several_criteria_and_error_rate():
    X, y, X_val, y_val = noisy_problem()
    # Two criteria: UP_2 with strips of 1 epoch (two rises in a row) fires long before
    # Patience(1000), which must not be named in the reason.
    stopper = EarlyStopping([Patience(1000), UpStrips(strips=2, strip=1)],
                            validation_data=(X_val, y_val), error="error_rate")
    net = make_network("float64")
    net.fit(X, y, epochs=200, batch_size=10, callback=stopper)
    val = stopper.val_errors_
    assert stopper.stopped_epoch_ == len(val) < 200
    assert stopper.reason_.startswith("UP_2") and "Patience" not in stopper.reason_
    assert val[-1] > val[-2] > val[-3]  # two rises in a row
    # error rates are multiples of 1 / 300
    assert np.allclose(np.array(val) * 300, np.round(np.array(val) * 300))
    best = stopper.best_epoch_
    proba = net.predict(X_val)
    assert np.mean(proba.argmax(axis=1) != y_val) == val[best - 1]


def test_early_stopping_validation_loss_leaves_out_the_penalty():
    X, y, X_val, y_val = noisy_problem()
    stopper = EarlyStopping(Patience(3), validation_data=(X_val, y_val), restore_best=False)
    net = make_network("float64", regularizers=[fastreg.L2(0.5)])
    history = net.fit(X, y, epochs=5, batch_size=10, callback=stopper)
    assert stopper.val_errors_[-1] == pytest.approx(cross_entropy(net, X_val, y_val), rel=1e-10)
    penalised = net.loss_gradient(X_val, y_val)[0]
    assert penalised > stopper.val_errors_[-1] * (1 + 1e-6)
    # E_tr is the data loss of the epoch, also without the penalty.
    assert all(tr < total for tr, total in zip(stopper.train_errors_, history["loss"]))


def test_early_stopping_custom_error():
    X, y, X_val, y_val = noisy_problem()
    seen = []

    def error(network, X_given, y_given):
        assert X_given is X_val and y_given is y_val
        seen.append(network.epochs_)
        return [3.0, 2.0, 1.0, 1.5, math.nan, 0.5][len(seen) - 1]

    stopper = EarlyStopping(GeneralizationLoss(40.0), (X_val, y_val), error=error)
    net = make_network("float64")
    net.fit(X, y, epochs=10, batch_size=10, callback=stopper)
    # E_opt = 1.0 at t=3; GL(4) = 100 (1.5 / 1 - 1) = 50 % > 40 %: stop at t=4, best t=3.
    assert seen == [1, 2, 3, 4]
    assert stopper.stopped_epoch_ == 4 and stopper.best_epoch_ == 3
    # NaN counts as +inf.
    seen.clear()
    stopper = EarlyStopping(Patience(2), (X_val, y_val), error=error)
    net = make_network("float64")
    net.fit(X, y, epochs=10, batch_size=10, callback=stopper)
    # t=4 (1.5) and t=5 (NaN -> inf) do not improve on 1.0: stop at t=5.
    assert stopper.stopped_epoch_ == 5 and stopper.val_errors_[-1] == math.inf


def test_early_stopping_argument_checks():
    X_val, y_val = np.zeros((4, 3)), np.zeros(4, dtype=int)
    with pytest.raises(TypeError, match="criterion"):
        EarlyStopping("GL", (X_val, y_val))
    with pytest.raises(TypeError, match="criterion"):
        EarlyStopping([], (X_val, y_val))
    with pytest.raises(TypeError, match="criterion"):
        EarlyStopping(5, (X_val, y_val))
    with pytest.raises(ValueError, match="validation_data"):
        EarlyStopping(Patience(), X_val)
    with pytest.raises(ValueError, match="samples"):
        EarlyStopping(Patience(), (X_val, y_val[:3]))
    with pytest.raises(ValueError, match="error"):
        EarlyStopping(Patience(), (X_val, y_val), error="accuracy")
    with pytest.raises(TypeError, match="restore_best"):
        EarlyStopping(Patience(), (X_val, y_val), restore_best="yes")
    net = fastreg.Network([fastreg.Dense(1)], loss="squared_error", random_state=0)
    stopper = EarlyStopping(Patience(), (X_val, np.zeros(4)), error="error_rate")
    with pytest.raises(ValueError, match="classification"):
        net.fit(X_val, np.zeros(4), epochs=2, callback=stopper)


# ---------------------------------------------------------------------- BestWeights
def _weights(value):
    return [np.full((2, 3), value)], [np.full(3, -value)]


def test_best_weights_keeps_the_lowest_value_and_its_epoch():
    best = fastreg.BestWeights("min")
    assert best.coefs_ is None and best.best_epoch_ == 0 and best.best_value_ == math.inf
    values = [5.0, 3.0, 4.0, 3.0, math.nan, 2.5, math.inf]
    copied = [best.update(v, *_weights(t), epoch=t) for t, v in enumerate(values, start=1)]
    # 5 (first), 3 (lower); 4 no; 3 again: a tie keeps the earlier epoch; NaN never;
    # 2.5 lower; inf no.
    assert copied == [True, True, False, False, False, True, False]
    assert (best.best_value_, best.best_epoch_) == (2.5, 6)
    np.testing.assert_array_equal(best.coefs_[0], np.full((2, 3), 6.0))
    np.testing.assert_array_equal(best.intercepts_[0], np.full(3, -6.0))


def test_best_weights_max_mode_and_keep():
    best = fastreg.BestWeights("max")
    assert best.best_value_ == -math.inf
    best.update(math.nan, *_weights(1), epoch=1)
    assert best.coefs_ is None  # NaN is never a best, not even the first value
    # keep: a starting point later values must beat, whatever its value.
    best.keep(0.5, *_weights(0), epoch=0)
    updates = [best.update(v, *_weights(t), epoch=t) for t, v in [(1, 0.5), (2, 0.4), (3, 0.7)]]
    assert updates == [False, False, True]
    assert (best.best_value_, best.best_epoch_) == (0.7, 3)
    np.testing.assert_array_equal(best.coefs_[0], np.full((2, 3), 3.0))
    assert best.reset().coefs_ is None and best.best_epoch_ == 0
    with pytest.raises(ValueError, match="mode"):
        fastreg.BestWeights("lowest")


def test_best_weights_copies_and_restores(dtype):
    net = make_network(dtype).initialize(10)
    best = fastreg.BestWeights()
    best.update(1.0, net.coefs_, net.intercepts_, epoch=1)
    kept = [p.copy() for p in net.coefs_ + net.intercepts_]
    buffers = best.coefs_ + best.intercepts_
    # A copy, not a view: training moves the network, not the kept weights.
    X, y, _, _ = noisy_problem()
    net.fit(X, y, epochs=2, batch_size=10)
    assert not np.array_equal(net.coefs_[0], kept[0])
    for k, b in zip(kept, best.coefs_ + best.intercepts_):
        np.testing.assert_array_equal(b, k)
    # A better value is copied into the same buffers (no new allocation).
    best.update(0.5, net.coefs_, net.intercepts_, epoch=3)
    assert all(a is b for a, b in zip(buffers, best.coefs_ + best.intercepts_))
    trained = [p.copy() for p in net.coefs_ + net.intercepts_]
    net.fit(X, y, epochs=1, batch_size=10)
    assert best.restore(net) is net
    for t, p in zip(trained, net.coefs_ + net.intercepts_):
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(p, t)
    with pytest.raises(RuntimeError, match="best weights"):
        fastreg.BestWeights().restore(net)


def test_early_stopping_keeps_its_best_weights_in_a_best_weights():
    X, y, X_val, y_val = noisy_problem()
    stopper = EarlyStopping(Patience(5), validation_data=(X_val, y_val))
    net = make_network("float64")
    net.fit(X, y, epochs=300, batch_size=10, callback=stopper)
    best = stopper.best_weights_
    assert isinstance(best, fastreg.BestWeights) and best.mode == "min"
    assert (stopper.best_epoch_, stopper.best_val_error_) == (best.best_epoch_, best.best_value_)
    assert stopper.best_coefs_ is best.coefs_ and stopper.best_intercepts_ is best.intercepts_
    assert "BestWeights" in fastreg.__all__
