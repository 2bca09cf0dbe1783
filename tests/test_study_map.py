"""The map study: fastreg's L2 and L1 weights are the MAP weights of a Gaussian and a
Laplace prior, with s^2 = S / (n alpha) and b = 1 / (n (1 - momentum) l1).

The MAP references (plain NumPy + scipy) are themselves checked against scikit-learn's
LogisticRegression (whose objective is C sum(loss) + ||W||^2 / 2: s^2 = C) and against
the optimality conditions of the Laplace posterior.
"""
import json
import os

import numpy as np
import pytest

from fastreg.studies import map as study
from helpers import run_study_command

pytest.importorskip("scipy")
pytest.importorskip("sklearn")

N_SAMPLES = 120
MOMENTUM = study.MOMENTUM


def _full_batch_rate(X, alpha=0.0):
    return 1.0 / (0.5 * np.linalg.eigvalsh(X.T @ X / len(X)).max() + alpha / len(X))


def _centered(b):
    return np.asarray(b) - np.mean(b)


def test_gaussian_reference_is_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    X, y = study.digits(N_SAMPLES)
    W, b, residual = study.map_gaussian(X, y, s2=0.3)
    model = LogisticRegression(C=0.3, tol=1e-12, max_iter=20000).fit(X, y)
    assert residual < 1e-9
    np.testing.assert_allclose(W, model.coef_.T, atol=1e-5)
    np.testing.assert_allclose(_centered(b), _centered(model.intercept_), atol=1e-5)


def test_laplace_reference_meets_the_optimality_conditions():
    X, y = study.digits(N_SAMPLES)
    W, b, residual = study.map_laplace(X, y, scale=0.2)
    assert residual < 1e-9
    assert residual == study.laplace_optimality(W, b, X, y, 0.2)
    assert 0 < np.count_nonzero(W == 0) < W.size  # a sparse, not an empty, solution
    # Moving any weight off the optimum raises the negative log posterior.
    base = study.negative_log_posterior(W, b, X, y, scale=0.2)
    rng = np.random.default_rng(0)
    for _ in range(5):
        nudged = W + 1e-3 * rng.standard_normal(W.shape)
        assert study.negative_log_posterior(nudged, b, X, y, scale=0.2) > base


@pytest.mark.parametrize("dtype, atol", [("float64", 1e-11), ("float32", 1e-6)])
def test_full_batch_l2_weights_are_the_gaussian_map(dtype, atol):
    X, y = study.digits(N_SAMPLES)
    alpha = 10.0
    weights = study.train_softmax(
        n_samples=N_SAMPLES, penalty="l2", strength=alpha, momentum=MOMENTUM,
        learning_rate=_full_batch_rate(X, alpha), batch_size=N_SAMPLES, epochs=1500, seed=3,
        dtype=dtype)
    W_map, b_map, _ = study.map_gaussian(X, y, s2=1.0 / alpha)
    W, b = np.asarray(weights["W"]), np.asarray(weights["b"])
    np.testing.assert_allclose(W, W_map, rtol=0, atol=atol)
    np.testing.assert_allclose(_centered(b), _centered(b_map), rtol=0, atol=atol)
    if dtype == "float32":
        return
    # Not the MAP of the prior s^2 = n / alpha: the mapping matters.
    W_other, _, _ = study.map_gaussian(X, y, s2=N_SAMPLES / alpha)
    assert np.abs(W - W_other).max() > 0.1


@pytest.mark.parametrize("dtype, atol", [("float64", 1e-8), ("float32", 2e-5)])
def test_full_batch_l1_weights_are_the_laplace_map(dtype, atol):
    X, y = study.digits(N_SAMPLES)
    l1 = 0.4
    weights = study.train_softmax(
        n_samples=N_SAMPLES, penalty="l1", strength=l1, momentum=MOMENTUM,
        learning_rate=_full_batch_rate(X), batch_size=N_SAMPLES, epochs=2000, seed=3,
        dtype=dtype)
    scale = 1.0 / (N_SAMPLES * (1 - MOMENTUM) * l1)
    W_map, b_map, _ = study.map_laplace(X, y, scale)
    W, b = np.asarray(weights["W"]), np.asarray(weights["b"])
    np.testing.assert_allclose(W, W_map, rtol=0, atol=atol)
    np.testing.assert_allclose(_centered(b), _centered(b_map), rtol=0, atol=atol)
    if dtype == "float32":
        return
    np.testing.assert_array_equal(W == 0, W_map == 0)  # the same exact zeros
    # Momentum matters: b = 1 / (n l1), forgetting the factor 1 - mu, is another prior.
    W_other, _, _ = study.map_laplace(X, y, 1.0 / (N_SAMPLES * l1))
    assert np.abs(W - W_other).max() > 0.1


def test_minibatch_l2_is_the_map_of_s2_batch_over_n_alpha():
    n, S, alpha = 200, 40, 10.0
    X, y = study.digits(n)
    weights = study.train_softmax(n_samples=n, penalty="l2", strength=alpha, momentum=0.0,
                                  learning_rate=0.2, half_life=200.0, batch_size=S,
                                  epochs=300, seed=1)
    W = np.asarray(weights["W"])
    near = np.abs(W - study.map_gaussian(X, y, S / (n * alpha))[0]).max()
    far = np.abs(W - study.map_gaussian(X, y, 1.0 / alpha)[0]).max()
    assert near < 0.01
    assert far > 10 * near


def test_decaying_rate():
    rate = study.DecayingRate(0.2, 100.0)
    assert rate(0) == 0.2
    assert rate(100) == pytest.approx(0.1)


def _check_outputs(out):
    for name in ("map.png", "map.md", "map.json", "map.csv", "report.md"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "map.json").read_text())
    rows = data["rows"]
    assert [row["prior"] for row in rows] == ["gaussian", "laplace", "gaussian", "laplace"]
    n_features = data["n_features"]
    for row in rows:
        assert np.shape(row["W_fastreg"]) == np.shape(row["W_map"]) == (n_features, 10)
        assert row["naive_dw"] > row["max_dw"]
    full_l2, full_l1 = rows[0], rows[1]
    assert full_l2["max_dw"] < 1e-10 and full_l2["s2"] == pytest.approx(0.1)
    assert full_l1["max_dw"] < 1e-6 and full_l1["zeros_mismatched"] == 0
    assert full_l1["objective_fastreg"] == pytest.approx(full_l1["objective_map"], rel=1e-10)
    table = (out / "map.md").read_text()
    assert table.count("\n| ") == 1 + len(rows)


@pytest.mark.slow
def test_quick_study_writes_its_files(tmp_path):
    from fastreg.studies import run_study

    result = run_study("map", tmp_path, quick=True, n_jobs=2, progress=False,
                       stream=open(os.devnull, "w"))
    assert {"map.png", "map.md", "map.json", "map.csv"} <= set(result.files)
    _check_outputs(tmp_path)


@pytest.mark.slow
def test_quick_study_from_the_command_line(tmp_path):
    out = tmp_path / "out"
    result = run_study_command("map", out, tmp_path)
    assert "−log posterior" in result.stdout
    _check_outputs(out)
