"""Each private scikit-learn name fastreg relies on still exists and behaves as fastreg expects.

A failure here names the name that moved: update fastreg/_sklearn_private.py (and the upper
bound on scikit-learn in pyproject.toml) before releasing against that scikit-learn.
"""
import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from fastreg import _sklearn_private  # noqa: E402


def _get(name):
    module_name, attribute = _sklearn_private.PRIVATE_NAMES[name]
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        pytest.fail(f"scikit-learn's private {module_name}.{attribute} moved or was removed")


def _parameters(function):
    return inspect.signature(function).parameters


@pytest.mark.parametrize("name", sorted(_sklearn_private.PRIVATE_NAMES))
def test_each_private_name_is_importable(name):
    assert _get(name) is getattr(_sklearn_private, name)


def test_loss_functions_compute_what_the_parity_relies_on():
    losses = _get("LOSS_FUNCTIONS")
    for key in ("log_loss", "binary_log_loss", "squared_error", "poisson"):
        assert key in losses, f"LOSS_FUNCTIONS has no {key!r}"
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.8, 0.2], [0.4, 0.6]])
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    assert losses["log_loss"](y, p) == pytest.approx(expected, rel=1e-15), "log_loss changed"
    # Probabilities are clipped to [eps, 1 - eps] before the log: no infinity at 0.
    assert np.isfinite(losses["log_loss"](y, np.array([[0.0, 1.0], [1.0, 0.0]])))
    weighted = losses["log_loss"](y, p, np.array([3.0, 1.0]))
    assert weighted == pytest.approx(-(3 * np.log(0.8) + np.log(0.6)) / 4, rel=1e-15)
    squared = losses["squared_error"](np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]]))
    assert squared == pytest.approx(0.5 * (1 + 4) / 2, rel=1e-15), "squared_error changed"


def test_parameter_constraints_accept_and_reject():
    Interval, Options, StrOptions, HasMethods = (
        _get(n) for n in ("Interval", "Options", "StrOptions", "HasMethods"))
    from numbers import Integral, Real

    interval = Interval(Real, 0, 1, closed="left")
    assert interval.is_satisfied_by(0.0) and not interval.is_satisfied_by(1.0)
    assert Options(Real, {np.inf}).is_satisfied_by(np.inf)
    assert StrOptions({"a"}).is_satisfied_by("a") and not StrOptions({"a"}).is_satisfied_by("b")
    assert HasMethods(["fit"]).is_satisfied_by(interval) is False
    assert Interval(Integral, 1, None, closed="left").is_satisfied_by(3)


def test_fit_context_takes_prefer_skip_nested_validation():
    fit_context = _get("_fit_context")
    assert "prefer_skip_nested_validation" in _parameters(fit_context), "_fit_context changed"


def test_lbfgs_options_dict_returns_a_dict():
    options = _get("_get_additional_lbfgs_options_dict")("iprint", -1)
    assert options in ({}, {"iprint": -1}), "_get_additional_lbfgs_options_dict changed"


def test_check_partial_fit_first_call_sets_classes_once():
    check = _get("_check_partial_fit_first_call")

    class Model:
        pass

    model = Model()
    assert check(model, np.array([0, 1])) is True
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert check(model, None) is False
    with pytest.raises(ValueError):
        check(model, np.array([0, 2]))


def test_check_optimize_result_returns_the_iteration_count():
    import scipy.optimize

    check = _get("_check_optimize_result")
    assert {"solver", "result", "max_iter"} <= set(_parameters(check))
    result = scipy.optimize.minimize(lambda x: float((x**2).sum()), np.ones(2), method="L-BFGS-B")
    assert check("lbfgs", result, 100) == result.nit


def test_check_sample_weight_fills_and_converts():
    check = _get("_check_sample_weight")
    assert "dtype" in _parameters(check), "_check_sample_weight has no dtype"
    X = np.zeros((3, 2), dtype=np.float32)
    filled = check(None, X, dtype=X.dtype)
    np.testing.assert_array_equal(filled, np.ones(3))
    assert filled.dtype == np.float32
    with pytest.raises(ValueError):
        check(np.ones(2), X)


def test_pyproject_bounds_scikit_learn_to_the_known_range():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    pins = [p for deps in extras.values() for p in deps if re.match(r"scikit-learn\b", p)]
    assert pins and all(p == "scikit-learn" + _sklearn_private.KNOWN_WORKING for p in pins)


def test_a_missing_name_raises_an_import_error_naming_it(monkeypatch):
    monkeypatch.setitem(_sklearn_private.PRIVATE_NAMES, "gone", ("sklearn.base", "_no_such"))
    with pytest.raises(ImportError, match=r"sklearn\.base\._no_such.*scikit-learn>=1\.7,<1\.11"):
        _sklearn_private._private("gone")
