"""Regularizers in isolation: exact effects on the weights, biases never touched.

Most tests remove the data term by construction: all inputs are 0, the first layer is a
ReLU whose biases are negative (so every hidden output is exactly 0) and the targets
equal the output biases, so the data gradient of every weight and bias is exactly 0.
What remains is the regularizer alone, whose effect is then known in closed form and
checked exactly (bit for bit, computed in the network's dtype) where the specification
allows:

* decoupled weight decay (``WeightDecay``, ``AdamW``) multiplies the weights by exactly
  ``1 - lr * rate`` per step, with any optimizer;
* L1 is the soft-threshold ``sign(w) max(|w| - lr * l1, 0)`` and makes exact zeros;
* max-norm rescales each over-long column to norm ``c`` and leaves the others alone, and
  holds after every step of an ordinary training run;
* coupled L2 uses scikit-learn's ``alpha`` (penalty ``alpha / (2 S) ||W||^2`` with S the
  batch's weight sum), checked against ``MLPRegressor`` with sample weights.
"""
import warnings

import numpy as np
import pytest

import fastreg
from helpers import (
    assert_close,
    hook_draws_for,
    hook_order_for,
    make_fastreg_optimizer,
    make_pair,
    make_problem,
    make_reference_optimizer,
    weights_of,
)
from reference import Model, loss_and_gradient, train

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam"]


def _zero_data_network(dtype, optimizer, regularizers, *, n_features=3, hidden=6, n_out=2,
                       random_state=0):
    """A network whose data gradient is exactly 0 on the data of ``_zero_data``."""
    net = fastreg.Network([fastreg.Dense(hidden, "relu"), fastreg.Dense(n_out)],
                          loss="squared_error", optimizer=optimizer,
                          regularizers=regularizers, dtype=dtype, random_state=random_state)
    net.initialize(n_features)
    net.intercepts_[0][:] = -1.0
    return net


def _zero_data(net, n_samples):
    X = np.zeros((n_samples, net.n_features_in_))
    Y = np.repeat(net.intercepts_[-1][None, :].astype(np.float64), n_samples, axis=0)
    return X, Y


def _per_step_callback(net, expected_coefs_at, log):
    """Callback comparing the weights with the expected ones after every epoch."""
    def callback(network, record):
        log.append(record["epoch"])
        for layer, (w, e) in enumerate(zip(network.coefs_, expected_coefs_at(network.steps_))):
            assert np.array_equal(w, e), f"coefs[{layer}] after step {network.steps_}"
        return False
    return callback


@pytest.mark.parametrize("optimizer", OPTIMIZERS + ["adamw"])
def test_weight_decay_is_an_exact_factor(dtype, optimizer):
    lr, rate = 0.1, 0.5
    if optimizer == "adamw":
        opt, regs = make_fastreg_optimizer("adamw", lr, weight_decay=rate), []
    else:
        opt, regs = make_fastreg_optimizer(optimizer, lr), [fastreg.WeightDecay(rate)]
    net = _zero_data_network(dtype, opt, regs)
    X, Y = _zero_data(net, 10)
    coefs0 = [w.copy() for w in net.coefs_]
    biases0 = [b.copy() for b in net.intercepts_]
    factor = np.dtype(dtype).type(1 - lr * rate)

    def expected(steps):
        out = []
        for w in coefs0:
            w = w.copy()
            for _ in range(steps):
                w = w * factor  # rounded in the network's dtype, like the engine
            out.append(w)
        return out

    log = []
    history = net.fit(X, Y, epochs=3, batch_size=4, shuffle=True,
                      callback=_per_step_callback(net, expected, log))
    assert log == [0, 1, 2] and net.steps_ == 9
    assert history["loss"] == [0.0, 0.0, 0.0]
    for b, b0 in zip(net.intercepts_, biases0):
        assert np.array_equal(b, b0)
    np.testing.assert_allclose(net.coefs_[0], coefs0[0] * 0.95 ** 9, rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_l1_is_an_exact_soft_threshold(dtype, optimizer):
    lr, strength = 0.05, 1.0
    net = _zero_data_network(dtype, make_fastreg_optimizer(optimizer, lr),
                             [fastreg.L1(strength)], hidden=20)
    X, Y = _zero_data(net, 6)
    coefs0 = [w.copy() for w in net.coefs_]
    biases0 = [b.copy() for b in net.intercepts_]
    t = np.dtype(dtype).type(lr * strength)

    def expected(steps):
        out = []
        for w in coefs0:
            w = w.copy()
            for _ in range(steps):
                shrunk = np.maximum(np.abs(w) - t, 0)
                w = np.where(w > 0, shrunk, -shrunk)
            out.append(w)
        return out

    log = []
    net.fit(X, Y, epochs=4, batch_size=6, callback=_per_step_callback(net, expected, log))
    assert log == [0, 1, 2, 3]
    zeros = [int((w == 0).sum()) for w in net.coefs_]
    small = [int((np.abs(w0) <= 4 * t).sum()) for w0 in coefs0]
    assert zeros == small and sum(zeros) > 10  # exactly the weights within 4 thresholds
    for b, b0 in zip(net.intercepts_, biases0):
        assert np.array_equal(b, b0)
    # A zero stays zero.
    net.fit(X, Y, epochs=1, batch_size=6)
    assert [int((w == 0).sum()) for w in net.coefs_] >= zeros


def test_l1_with_a_data_gradient(dtype):
    """One SGD step: w := soft_threshold(w - lr g, lr l1) with g the reference gradient."""
    rng = np.random.default_rng(3)
    lr, strength = 0.2, 0.5
    net, model = make_pair([(8, "tanh", 0.0)], 3, "softmax_cross_entropy", dtype=dtype,
                           random_state=4, optimizer=fastreg.SGD(lr),
                           regularizers=[fastreg.L1(strength)])
    X, y, Y = make_problem("softmax_cross_entropy", 16, 5, 3, rng)
    net.initialize(5)
    coefs, intercepts = weights_of(net)
    _, grad_coefs, grad_intercepts = loss_and_gradient(model, coefs, intercepts, X, Y)
    net.fit(X, y, epochs=1, batch_size=16)
    thr = lr * strength
    for layer, (w, g, new) in enumerate(zip(coefs, grad_coefs, net.coefs_)):
        moved = w - lr * g
        expected = np.sign(moved) * np.maximum(np.abs(moved) - thr, 0)
        margin = np.abs(np.abs(moved) - thr).min()
        assert margin > 1e-5, "test setup: a weight sits on the threshold"
        assert np.array_equal(new == 0, expected == 0), f"zero pattern of coefs[{layer}]"
        assert (new == 0).any()
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(new, expected, rtol=rtol, atol=rtol)
    for b, b0, g in zip(net.intercepts_, intercepts, grad_intercepts):
        rtol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(b, b0 - lr * g, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_l2_alone_shrinks_by_lr_alpha_over_s(dtype, optimizer):
    """Coupled L2 with a zero data gradient: the gradient is (alpha / S) W, the loss
    alpha / (2 S) ||W||^2 (weights only), the biases untouched."""
    lr, alpha, n = 0.1, 2.0, 8
    net = _zero_data_network(dtype, make_fastreg_optimizer(optimizer, lr), [fastreg.L2(alpha)])
    X, Y = _zero_data(net, n)
    biases0 = [b.copy() for b in net.intercepts_]
    loss, grad_coefs, grad_intercepts = net.loss_gradient(X, Y)
    squares = sum(float((w.astype(np.float64) ** 2).sum()) for w in net.coefs_)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(loss, alpha / (2 * n) * squares, rtol=rtol)
    for g, w in zip(grad_coefs, net.coefs_):
        np.testing.assert_allclose(g, alpha / n * w.astype(np.float64), rtol=rtol, atol=1e-30)
    for g in grad_intercepts:
        assert np.all(g == 0)
    if optimizer == "sgd":
        coefs0 = [w.astype(np.float64) for w in net.coefs_]
        history = net.fit(X, Y, epochs=3, batch_size=n)
        for w, w0 in zip(net.coefs_, coefs0):
            np.testing.assert_allclose(w, w0 * (1 - lr * alpha / n) ** 3, rtol=10 * rtol)
        np.testing.assert_allclose(history["loss"][0], alpha / (2 * n) * squares, rtol=rtol)
    else:
        net.fit(X, Y, epochs=3, batch_size=n)
    for b, b0 in zip(net.intercepts_, biases0):
        assert np.array_equal(b, b0)


def test_max_norm_rescales_long_columns_only(dtype):
    c = 1.5
    net = _zero_data_network(dtype, fastreg.SGD(0.1), [fastreg.MaxNorm(c)], n_features=4,
                             hidden=3)
    # Column norms 0.5c, 2c, 3c, and a row much longer than c (rows are not constrained).
    direction = np.array([[1.0, 2.0, -1.0], [2.0, -1.0, 2.0], [2.0, 2.0, 0.0], [8.0, 8.0, 8.0]])
    direction /= np.linalg.norm(direction, axis=0)
    W = direction * np.array([0.5 * c, 2 * c, 3 * c])
    net.coefs_[0][:] = W
    net.coefs_[1][:] = 0.1
    before = [w.copy() for w in net.coefs_]
    X, Y = _zero_data(net, 5)
    net.fit(X, Y, epochs=1, batch_size=5)
    after = net.coefs_[0].astype(np.float64)
    norms = np.linalg.norm(after, axis=0)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    assert np.array_equal(net.coefs_[0][:, 0], before[0][:, 0])  # short column untouched
    np.testing.assert_allclose(norms[1:], c, rtol=rtol)
    np.testing.assert_allclose(after[:, 1:], direction[:, 1:] * c, rtol=rtol, atol=rtol)
    assert np.array_equal(net.coefs_[1], before[1])  # its columns are short
    assert np.linalg.norm(net.coefs_[0][3]) > c  # a long row stays long


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_max_norm_holds_after_every_step(dtype, optimizer):
    """Every step (one batch per epoch, checked by the callback) ends with all column
    norms <= c; without the constraint the same run exceeds c (the check has teeth)."""
    rng = np.random.default_rng(5)
    c = 0.6
    X, y, _ = make_problem("softmax_cross_entropy", 40, 6, 4, rng)
    lr = {"sgd": 1.0, "momentum": 0.3, "nesterov": 0.3, "adam": 0.05}[optimizer]
    worst = []

    def run(regs):
        net = fastreg.Network([fastreg.Dense(10, "tanh", dropout=0.2), fastreg.Dense(4)],
                              optimizer=make_fastreg_optimizer(optimizer, lr),
                              regularizers=regs, dtype=dtype, random_state=6)

        def callback(network, record):
            worst.append(max(np.linalg.norm(w.astype(np.float64), axis=0).max()
                             for w in network.coefs_))
            return False

        net.fit(X, y, epochs=15, batch_size=40, callback=callback)
        return net

    run([fastreg.MaxNorm(c)])
    constrained, worst[:] = list(worst), []
    run([])
    assert max(constrained) <= c * (1 + (1e-6 if dtype == "float32" else 1e-13))
    assert max(constrained) >= c * (1 - 1e-6)  # the constraint was active
    assert max(worst) > c * 1.2


def test_elastic_net_is_l1_plus_l2(dtype):
    rng = np.random.default_rng(7)
    X, y, _ = make_problem("logistic_cross_entropy", 30, 4, 2, rng)
    kw = dict(loss="logistic_cross_entropy", dtype=dtype, random_state=8, input_dropout=0.1)
    layers = [fastreg.Dense(6, "relu", dropout=0.2), fastreg.Dense(2)]
    a = fastreg.Network(layers, optimizer=fastreg.SGD(0.1, momentum=0.5),
                        regularizers=[fastreg.ElasticNet(l1=0.05, alpha=0.3)], **kw)
    b = fastreg.Network(layers, optimizer=fastreg.SGD(0.1, momentum=0.5),
                        regularizers=[fastreg.L1(0.05), fastreg.L2(0.3)], **kw)
    losses_a = a.fit(X, y, epochs=3, batch_size=8)["loss"]
    assert losses_a == b.fit(X, y, epochs=3, batch_size=8)["loss"]
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(p, q)


@pytest.mark.parametrize("kind", ["L2", "L1", "WeightDecay", "ElasticNet"])
def test_zero_strength_is_no_regularizer(dtype, tol, kind):
    """A regularizer of zero strength trains as the NumPy reference without any: the same
    weights and losses after two shuffled Adam epochs. The same comparison with the
    strength at 0.05 fails, so it can tell a regularizer that acts."""
    rng = np.random.default_rng(9)
    X, y, Y = make_problem("squared_error", 20, 3, 2, rng)
    hidden = [(5, "tanh", 0.0)]

    def trained(strength):
        regularizer = {"L2": lambda: fastreg.L2(strength), "L1": lambda: fastreg.L1(strength),
                       "WeightDecay": lambda: fastreg.WeightDecay(strength),
                       "ElasticNet": lambda: fastreg.ElasticNet(strength, strength)}[kind]()
        net, _ = make_pair(hidden, 2, "squared_error", dtype=dtype, random_state=1,
                           optimizer=make_fastreg_optimizer("adam", 0.01),
                           regularizers=[regularizer])
        net.initialize(3)
        start = weights_of(net)
        history = net.fit(X, y, epochs=2, batch_size=7)
        return net, start, history["loss"]

    net, (coefs, intercepts), losses = trained(0.0)
    model = Model(hidden, 2, "squared_error")  # alpha 0, and an optimizer without l1 or decay
    ref_coefs, ref_intercepts, ref_losses, _ = train(
        model, make_reference_optimizer("adam", 0.01), coefs, intercepts, X, Y, epochs=2,
        batch_size=7, shuffle=True, draws_for=hook_draws_for(net._seed, model, 3),
        order_for=hook_order_for(net._seed))
    assert_close(net.coefs_, ref_coefs, **tol, what="coefs")
    assert_close(net.intercepts_, ref_intercepts, **tol, what="intercepts")
    assert_close(losses, ref_losses, **tol, what="losses")
    acting, _, _ = trained(0.05)
    with pytest.raises(AssertionError):
        assert_close(acting.coefs_, ref_coefs, **tol, what="coefs")


def test_a_single_regularizer_needs_no_list(dtype):
    """``regularizers=L2(a)`` is ``[L2(a)]``: the same weights; as an attribute set later
    too. The L2 acts (the weights differ from training without it)."""
    rng = np.random.default_rng(10)
    X, y, _ = make_problem("softmax_cross_entropy", 30, 4, 3, rng)

    def trained(regularizers, *, later=False):
        net = fastreg.Network([fastreg.Dense(6, "relu"), fastreg.Dense(3)],
                              optimizer=fastreg.SGD(0.1),
                              regularizers=() if later else regularizers, dtype=dtype,
                              random_state=2)
        if later:
            net.regularizers = regularizers
        net.fit(X, y, epochs=3, batch_size=8)
        return net

    alone, listed = trained(fastreg.L2(0.5)), trained([fastreg.L2(0.5)])
    assert alone.regularizers == (fastreg.L2(0.5),)
    for a, b in zip(alone.coefs_ + alone.intercepts_, listed.coefs_ + listed.intercepts_):
        assert np.array_equal(a, b)
    set_later = trained(fastreg.L2(0.5), later=True)
    for a, b in zip(set_later.coefs_ + set_later.intercepts_, listed.coefs_ + listed.intercepts_):
        assert np.array_equal(a, b)
    plain = trained(())
    assert not np.array_equal(plain.coefs_[0], listed.coefs_[0])


def test_l2_alpha_is_scikit_learns_with_sample_weights():
    """L2(alpha) with sample weights: one epoch of batches equals MLPRegressor(alpha) with
    the same sample weights, batches and start weights (penalty divided by the batch's
    weight sum S in both)."""
    neural_network = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(11)
    alpha, lr = 2.0, 0.05
    X, y, _ = make_problem("squared_error", 21, 4, 1, rng)
    y = y[:, 0]
    sw = rng.uniform(0.2, 3.0, 21)
    net = fastreg.Network([fastreg.Dense(6, "relu"), fastreg.Dense(1)], loss="squared_error",
                          optimizer=fastreg.SGD(lr), regularizers=[fastreg.L2(alpha)],
                          dtype="float64", random_state=12)
    net.initialize(4)
    mlp = neural_network.MLPRegressor(hidden_layer_sizes=(6,), activation="relu", solver="sgd",
                                      alpha=alpha, batch_size=5, learning_rate_init=lr,
                                      momentum=0.0, shuffle=False, max_iter=2, warm_start=True,
                                      tol=0.0, n_iter_no_change=1000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            mlp.partial_fit(X, y, sample_weight=sw)
        except TypeError:
            pytest.skip("this scikit-learn's MLP takes no sample_weight")
        mlp.coefs_ = [w.copy() for w in net.coefs_]
        mlp.intercepts_ = [b.copy() for b in net.intercepts_]
        mlp.fit(X, y, sample_weight=sw)
    history = net.fit(X, y, epochs=2, batch_size=5, shuffle=False, sample_weight=sw)
    np.testing.assert_allclose(history["loss"], mlp.loss_curve_[-2:], rtol=1e-12)
    for ours, theirs in zip(net.coefs_ + net.intercepts_, mlp.coefs_ + mlp.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-14)
    # And the penalty term itself, on one batch, against the plain formula.
    model = Model([(6, "relu", 0.0)], 1, "squared_error", alpha=alpha)
    coefs, intercepts = weights_of(net)
    loss, *_ = net.loss_gradient(X[:5], y[:5], sample_weight=sw[:5])
    ref, *_ = loss_and_gradient(model, coefs, intercepts, X[:5], y[:5, None], sw[:5])
    np.testing.assert_allclose(loss, ref, rtol=1e-13)
