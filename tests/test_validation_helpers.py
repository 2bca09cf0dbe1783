"""fastreg/_validation.py's parameter checks, and the messages of the classes that share them."""
import math

import numpy as np
import pytest

import fastreg
from fastreg import _validation
from fastreg.augment import Jitter, RandomShift


@pytest.mark.parametrize("value", [0, -3, 2.0, True, "1", None])
def test_check_integer_refuses(value):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
        _validation.check_integer(value, "n")


def test_check_integer_returns_an_int():
    value = _validation.check_integer(np.int32(0), "n", minimum=0)
    assert value == 0 and type(value) is int


@pytest.mark.parametrize("value, message", [
    (math.nan, "finite real number"), (math.inf, "finite real number"),
    (True, "finite real number"),
    (0.0, r"in \(0.0, 1.0\], got 0.0"), (1.5, r"in \(0.0, 1.0\], got 1.5"),
])
def test_check_real_refuses(value, message):
    with pytest.raises(ValueError, match=message):
        _validation.check_real(value, "x", 0.0, 1.0, low_open=True, high_open=False)


def test_check_real_accepts_the_closed_ends():
    _validation.check_real(1.0, "x", 0.0, 1.0, high_open=False)
    _validation.check_real(0.0, "x", 0.0, 1.0)


@pytest.mark.parametrize("check, good, bad, message", [
    (_validation.check_nonnegative_float, 0, -1e-9, "must be a finite float >= 0"),
    (_validation.check_positive_finite, 1e-300, 0, "must be a positive finite number"),
])
def test_the_float_checks(check, good, bad, message):
    assert check(good, "x") == float(good) and type(check(good, "x")) is float
    for value in (bad, math.inf, math.nan, True):
        with pytest.raises(ValueError, match=f"^x {message}"):
            check(value, "x")


@pytest.mark.parametrize("make, message", [
    (lambda: fastreg.Conv1D(0, 3), "Conv1D channels must be an integer >= 1, got 0"),
    (lambda: fastreg.Conv1D(2, 3, padding=-1), "Conv1D padding must be an integer >= 0, got -1"),
    (lambda: fastreg.SWA(start=-1), "SWA start must be an integer >= 0, got -1"),
    (lambda: fastreg.Patience(0), "patience must be an integer >= 1, got 0"),
    (lambda: fastreg.UpStrips(strips=0), "strips must be an integer >= 1, got 0"),
    (lambda: RandomShift(-1), "max_shift must be an integer >= 0, got -1"),
    (lambda: RandomShift(1, fill_value=math.inf), "fill_value must be a finite real number"),
    (lambda: Jitter(-0.5), "sigma must be a finite float >= 0, got -0.5"),
    (lambda: fastreg.EMA(decay=1.0), r"EMA decay must be in \[0.0, 1.0\), got 1.0"),
    (lambda: fastreg.L2(-1.0), r"L2 alpha must be in \[0.0, inf\), got -1.0"),
    (lambda: fastreg.SGD(0.1, momentum=2.0), r"SGD momentum must be in \[0.0, 1.0\]"),
])
def test_classes_keep_their_messages(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_run_epoch_refuses_a_negative_learning_rate():
    X = np.random.RandomState(0).normal(size=(20, 3))
    y = X[:, 0]
    net = fastreg.Network([fastreg.Dense(1)], loss="squared_error", random_state=0)
    net.initialize(3)
    with net.training_session(X, y, batch_size=5) as session:
        with pytest.raises(ValueError, match="^learning_rate must be a positive finite number"):
            session.run_epoch(learning_rate=-1.0)
