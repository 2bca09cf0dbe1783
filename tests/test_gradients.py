"""Gradients returned by ``Network.loss_gradient``.

Checked two independent ways:

* against central finite differences of the loss that ``loss_gradient`` itself reports
  (float64), for every hidden activation, every loss (with label smoothing, sample
  weights and L2), with dropout and input noise at ``training=True`` (the masks of the
  current step are fixed, so the loss is a smooth function of the weights), in both
  dropout modes, and at evaluation (``training=False``) with dropout configured;
* against the plain-NumPy reference (``reference.loss_and_gradient``) fed with the masks
  and noise of the documented ``fastreg._random`` hooks, in float32 and float64.

ReLU kinks are avoided by asserting a margin between every ReLU pre-activation and zero
before differencing.
"""
import itertools

import numpy as np
import pytest

import fastreg
from helpers import assert_close, hook_draws, make_pair, make_problem, weights_of
from reference import ACTIVATIONS, LOSSES, forward, loss_and_gradient

CE_LOSSES = ("softmax_cross_entropy", "logistic_cross_entropy")

H = 1e-6  # finite-difference step


def _finite_differences(net, X, y, sample_weight, training):
    """Central differences of the reported loss w.r.t. every weight and bias."""
    grads = []
    for params in (net.coefs_, net.intercepts_):
        out = []
        for P in params:
            G = np.empty(P.shape)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + H
                up = net.loss_gradient(X, y, sample_weight=sample_weight, training=training)[0]
                P[idx] = old - H
                down = net.loss_gradient(X, y, sample_weight=sample_weight, training=training)[0]
                P[idx] = old
                G[idx] = (up - down) / (2 * H)
            out.append(G)
        grads.append(out)
    return grads


def _assert_no_kink(model, net, X, draws):
    """Every ReLU pre-activation must be far enough from 0 for the difference step."""
    coefs, intercepts = weights_of(net)
    _, pre, _ = forward(model, coefs, intercepts, X, draws)
    for (_, act, _), Z in zip(model.hidden, pre):
        if act == "relu":
            margin = np.min(np.abs(Z))
            assert margin > 1e-3, f"test setup: a ReLU input is {margin:g} from its kink"


def _check_against_differences(net, model, X, y, sw, training):
    analytic_loss, grad_coefs, grad_intercepts = net.loss_gradient(
        X, y, sample_weight=sw, training=training)
    draws = hook_draws(net._seed, model, net.steps_, X.shape[0], X.shape[1]) if training else None
    _assert_no_kink(model, net, X, draws)
    num_coefs, num_intercepts = _finite_differences(net, X, y, sw, training)
    for layer, (a, n) in enumerate(zip(grad_coefs, num_coefs)):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8, err_msg=f"coefs[{layer}]")
    for layer, (a, n) in enumerate(zip(grad_intercepts, num_intercepts)):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-8, err_msg=f"intercepts[{layer}]")
    # The differences must not be trivially zero (every parameter influences the loss).
    assert all(np.abs(n).max() > 1e-6 for n in num_coefs + num_intercepts)


@pytest.mark.parametrize("activation,loss", list(itertools.product(ACTIVATIONS, LOSSES)))
def test_finite_differences(activation, loss):
    """Every activation x loss, with L2, label smoothing (cross-entropies), sample weights."""
    rng = np.random.default_rng(7)
    smoothing = 0.1 if loss in CE_LOSSES else 0.0
    hidden = [(5, activation, 0.0), (4, activation, 0.0)]
    net, model = make_pair(hidden, 3, loss, dtype="float64", random_state=3,
                           regularizers=[fastreg.L2(0.3)], alpha=0.3, label_smoothing=smoothing)
    X, y, Y = make_problem(loss, 7, 3, 3, rng)
    net.initialize(3)
    sw = rng.uniform(0.2, 2.0, 7)
    _check_against_differences(net, model, X, y, sw, training=False)


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_finite_differences_training_masks(mode, activation):
    """training=True: hidden and input dropout plus input noise with the step's masks."""
    rng = np.random.default_rng(11)
    hidden = [(6, activation, 0.3), (5, activation, 0.2)]
    net, model = make_pair(hidden, 3, "softmax_cross_entropy", dtype="float64", random_state=5,
                           regularizers=[fastreg.L2(0.1)], alpha=0.1, input_dropout=0.25,
                           input_noise=0.1, dropout_mode=mode, label_smoothing=0.05)
    X, y, Y = make_problem("softmax_cross_entropy", 8, 4, 3, rng)
    net.initialize(4)
    # Move to a later step so that the masks are not those of step 0.
    net.fit(X, y, epochs=1, batch_size=3)
    assert net.steps_ == 3
    draws = hook_draws(net._seed, model, net.steps_, 8, 4)
    assert not draws.masks[1].all() and not draws.masks[0].all(), "test setup: nothing dropped"
    _check_against_differences(net, model, X, y, None, training=True)


@pytest.mark.parametrize("input_dropout", [0.0, 0.3])
@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
def test_finite_differences_evaluation_with_dropout(mode, input_dropout):
    """training=False with dropout configured: vanilla scaling must be differentiated too."""
    rng = np.random.default_rng(13)
    hidden = [(5, "tanh", 0.4), (4, "logistic", 0.2)]
    net, model = make_pair(hidden, 2, "squared_error", dtype="float64", random_state=9,
                           input_dropout=input_dropout, dropout_mode=mode)
    X, y, Y = make_problem("squared_error", 6, 3, 2, rng)
    net.initialize(3)
    _check_against_differences(net, model, X, y, None, training=False)


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("activation,loss", list(itertools.product(ACTIVATIONS, LOSSES)))
def test_matches_reference_training(dtype, tol, activation, loss, mode):
    """Loss and gradients at training=True equal the reference fed with the hook draws."""
    rng = np.random.default_rng(17)
    smoothing = 0.15 if loss in CE_LOSSES else 0.0
    hidden = [(6, activation, 0.3), (5, activation, 0.1)]
    net, model = make_pair(hidden, 3, loss, dtype=dtype, random_state=21,
                           optimizer=fastreg.SGD(0.01), regularizers=[fastreg.L2(0.2)],
                           alpha=0.2, input_dropout=0.2, input_noise=0.3, dropout_mode=mode,
                           label_smoothing=smoothing)
    X, y, Y = make_problem(loss, 9, 4, 3, rng)
    sw = rng.uniform(0.0, 2.0, 9)
    net.fit(X, y, epochs=2, batch_size=4)  # steps_ = 6: masks of a later step
    loss_value, grad_coefs, grad_intercepts = net.loss_gradient(X, y, sample_weight=sw,
                                                                training=True)
    coefs, intercepts = weights_of(net)
    draws = hook_draws(net._seed, model, net.steps_, 9, 4)
    ref_loss, ref_coefs, ref_intercepts = loss_and_gradient(model, coefs, intercepts, X, Y, sw,
                                                            draws)
    assert_close(loss_value, ref_loss, **tol, what="loss")
    assert_close(grad_coefs, ref_coefs, **tol, what="grad_coefs")
    assert_close(grad_intercepts, ref_intercepts, **tol, what="grad_intercepts")
    assert all(g.dtype == np.dtype(dtype) for g in grad_coefs + grad_intercepts)


@pytest.mark.parametrize("input_dropout", [0.0, 0.2])
@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_reference_evaluation(dtype, tol, loss, mode, input_dropout):
    """training=False: no masks, no noise; vanilla dropout scales by the keep rates."""
    rng = np.random.default_rng(19)
    smoothing = 0.1 if loss in CE_LOSSES else 0.0
    hidden = [(6, "tanh", 0.3), (5, "relu", 0.5)]
    net, model = make_pair(hidden, 2, loss, dtype=dtype, random_state=2,
                           regularizers=[fastreg.L2(0.05)], alpha=0.05,
                           input_dropout=input_dropout, input_noise=0.5, dropout_mode=mode,
                           label_smoothing=smoothing)
    X, y, Y = make_problem(loss, 10, 3, 2, rng)
    net.initialize(3)
    loss_value, grad_coefs, grad_intercepts = net.loss_gradient(X, y)
    coefs, intercepts = weights_of(net)
    ref_loss, ref_coefs, ref_intercepts = loss_and_gradient(model, coefs, intercepts, X, Y)
    assert_close(loss_value, ref_loss, **tol, what="loss")
    assert_close(grad_coefs, ref_coefs, **tol, what="grad_coefs")
    assert_close(grad_intercepts, ref_intercepts, **tol, what="grad_intercepts")


def test_loss_gradient_changes_nothing(dtype):
    """Weights, step count, optimizer state and the next training run are untouched."""
    rng = np.random.default_rng(23)
    hidden = [(5, "relu", 0.3)]
    net, _ = make_pair(hidden, 3, "softmax_cross_entropy", dtype=dtype, random_state=4,
                       optimizer=fastreg.Adam(0.01), input_dropout=0.1, input_noise=0.2)
    twin, _ = make_pair(hidden, 3, "softmax_cross_entropy", dtype=dtype, random_state=4,
                        optimizer=fastreg.Adam(0.01), input_dropout=0.1, input_noise=0.2)
    X, y, _ = make_problem("softmax_cross_entropy", 12, 4, 3, rng)
    net.fit(X, y, epochs=1, batch_size=5)
    twin.fit(X, y, epochs=1, batch_size=5)
    before = [w.copy() for w in net.coefs_ + net.intercepts_]
    first = net.loss_gradient(X[:7], y[:7], training=True)
    second = net.loss_gradient(X[:7], y[:7], training=True)
    net.loss_gradient(X, y, training=False)
    assert net.steps_ == 3 and net.epochs_ == 1
    for a, b in zip(before, net.coefs_ + net.intercepts_):
        assert np.array_equal(a, b)
    # Same step -> same masks and noise -> identical results.
    assert first[0] == second[0]
    for a, b in zip(first[1] + first[2], second[1] + second[2]):
        assert np.array_equal(a, b)
    # Training afterwards is bit-identical to a twin that never called loss_gradient.
    net.fit(X, y, epochs=2, batch_size=5)
    twin.fit(X, y, epochs=2, batch_size=5)
    for a, b in zip(net.coefs_ + net.intercepts_, twin.coefs_ + twin.intercepts_):
        assert np.array_equal(a, b)


def test_gradients_are_copies(dtype):
    """Returned gradient arrays are not views of a workspace that a later call overwrites."""
    rng = np.random.default_rng(29)
    net, _ = make_pair([(4, "tanh", 0.0)], 1, "squared_error", dtype=dtype, random_state=1)
    X, y, _ = make_problem("squared_error", 6, 2, 1, rng)
    net.initialize(2)
    _, g1, b1 = net.loss_gradient(X, y)
    kept = [g.copy() for g in g1 + b1]
    net.loss_gradient(X * 3 + 1, y - 2)
    for a, b in zip(kept, g1 + b1):
        assert np.array_equal(a, b)


def test_integer_labels_equal_one_hot(dtype):
    rng = np.random.default_rng(31)
    net, _ = make_pair([(5, "tanh", 0.0)], 4, "softmax_cross_entropy", dtype=dtype,
                       random_state=1, label_smoothing=0.2)
    X, y, Y = make_problem("softmax_cross_entropy", 10, 3, 4, rng)
    net.initialize(3)
    by_label = net.loss_gradient(X, y)
    by_matrix = net.loss_gradient(X, Y)
    by_float_label = net.loss_gradient(X, y.astype(np.float64))
    for other in (by_matrix, by_float_label):
        assert by_label[0] == other[0]
        for a, b in zip(by_label[1] + by_label[2], other[1] + other[2]):
            assert np.array_equal(a, b)


def test_sample_weights_as_repetitions():
    """An integer sample weight k is the same as k copies of the sample (alpha = 0)."""
    rng = np.random.default_rng(37)
    net, _ = make_pair([(5, "logistic", 0.0)], 3, "softmax_cross_entropy", dtype="float64",
                       random_state=8)
    X, y, _ = make_problem("softmax_cross_entropy", 6, 3, 3, rng)
    counts = np.array([1, 3, 0, 2, 1, 1])
    net.initialize(3)
    weighted = net.loss_gradient(X, y, sample_weight=counts)
    repeated = net.loss_gradient(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    np.testing.assert_allclose(weighted[0], repeated[0], rtol=1e-13)
    for a, b in zip(weighted[1] + weighted[2], repeated[1] + repeated[2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # Weights are normalized by their sum: a common factor changes nothing.
    scaled = net.loss_gradient(X, y, sample_weight=counts * 7.5)
    np.testing.assert_allclose(scaled[0], weighted[0], rtol=1e-13)
    for a, b in zip(scaled[1] + scaled[2], weighted[1] + weighted[2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", CE_LOSSES)
def test_cross_entropy_is_stable_for_huge_logits(dtype, tol, loss):
    """Logits of order 1e3 give finite losses and gradients equal to the stable reference."""
    rng = np.random.default_rng(41)
    net, model = make_pair([], 3, loss, dtype=dtype, random_state=1, label_smoothing=0.1)
    X, y, Y = make_problem(loss, 8, 2, 3, rng)
    W = np.array([[400.0, -300.0, 0.0], [-500.0, 250.0, 100.0]])
    net.set_weights([W], [np.array([0.0, 1.0, -1.0])])
    value, grad_coefs, grad_intercepts = net.loss_gradient(X, y)
    assert np.isfinite(value) and value > 10
    coefs, intercepts = weights_of(net)
    ref_loss, ref_coefs, ref_intercepts = loss_and_gradient(model, coefs, intercepts, X, Y)
    assert_close(value, ref_loss, **tol, what="loss")
    assert_close(grad_coefs, ref_coefs, **tol, what="grad_coefs")
    assert_close(grad_intercepts, ref_intercepts, **tol, what="grad_intercepts")
    prediction = net.predict(X)
    assert np.all(np.isfinite(prediction))
