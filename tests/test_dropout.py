"""Dropout, input noise and the random streams behind them.

Statistical checks use fixed seeds and intervals at 99.9 % or wider (binomial or normal
approximations written out below), so they are deterministic yet would catch a biased
or correlated generator:

* ``bernoulli_mask``: keep rate, independence of neighbouring elements, rows, layers and
  steps; determinism;
* the engine's dropout: expectation of the training output equals the prediction in both
  modes (inverted scales by 1/keep while training, vanilla by keep at prediction), exact
  relation between the modes' predictions, no gradient through dropped units;
* ``normal_noise`` and the engine's input noise: mean, variance, higher moments,
  correlations;
* ``permutation``: a permutation, uniform over positions.

The moments of the network's training output are read through the public API: with one
output, squared error and zero targets, ``loss = mean(z^2) / 2`` and the output bias
gradient is ``mean(z)`` over the batch.
"""
import math

import numpy as np
import pytest

import fastreg
from fastreg import _random
from helpers import hook_draws, weights_of
from reference import Model, forward

Z999 = 3.2905  # two-sided 99.9 % normal quantile
Z9999 = 3.8906  # two-sided 99.99 %


# ------------------------------------------------------------------------ masks (hooks)
@pytest.mark.parametrize("keep", [0.5, 0.8, 0.1, 0.97])
def test_mask_keep_rate(keep):
    n_rows, n_cols = 1000, 1001  # odd width: rows start on both halves of a 64-bit draw
    mask = _random.bernoulli_mask(2024, 7, 1, n_rows, n_cols, keep)
    assert mask.dtype == bool and mask.shape == (n_rows, n_cols)
    n = mask.size
    half_width = Z999 * math.sqrt(n * keep * (1 - keep))
    assert abs(int(mask.sum()) - n * keep) <= half_width
    # Per column and per row the rate is right too (a generous interval on the spread).
    for axis, m in ((0, n_rows), (1, n_cols)):
        rates = mask.mean(axis=axis)
        sd = math.sqrt(keep * (1 - keep) / m)
        assert np.abs(rates - keep).max() <= 5.5 * sd
        # The spread of the rates is binomial: chi-square-like statistic near its mean.
        stat = float(((rates - keep) ** 2).sum() / sd ** 2)
        k = rates.size
        assert abs(stat - k) <= Z999 * math.sqrt(2 * k) * 1.2


def test_mask_elements_are_independent():
    keep = 0.6
    mask = _random.bernoulli_mask(99, 3, 2, 400, 500, keep).astype(np.float64)
    flat = mask.ravel()
    n = flat.size
    bound = Z9999 / math.sqrt(n)
    for lag in (1, 2, 3, 500):  # 1: the two halves of one 64-bit draw; 500: next row
        r = np.corrcoef(flat[:-lag], flat[lag:])[0, 1]
        assert abs(r) < bound, (lag, r)
    for other in (
        _random.bernoulli_mask(99, 3, 1, 400, 500, keep),  # another layer, same step
        _random.bernoulli_mask(99, 4, 2, 400, 500, keep),  # next step, same layer
        _random.bernoulli_mask(98, 3, 2, 400, 500, keep),  # another seed
    ):
        r = np.corrcoef(flat, other.astype(np.float64).ravel())[0, 1]
        assert abs(r) < bound, r


def _splitmix64_mask(seed, step, layer, n_elements, keep):
    """The keep-mask of one stream in plain NumPy: SplitMix64 (wrapping uint64 arithmetic),
    the stream's key from (seed, purpose 1 = dropout, step, layer), element c taking the
    low (c even) or high (c odd) 32 bits of draw c // 2, kept when below keep * 2**32."""

    def mix64(z):
        z = np.asarray(z, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))

    with np.errstate(over="ignore"):
        key = mix64(mix64(mix64(np.uint64(seed) ^ (np.uint64(1) << np.uint64(56)))
                          ^ np.uint64(step)) + np.uint64(layer))
        counters = np.arange(1, (n_elements + 1) // 2 + 1, dtype=np.uint64)
        draws = mix64(key + counters * np.uint64(0x9E3779B97F4A7C15))
    halves = np.stack([draws & np.uint64(0xFFFFFFFF), draws >> np.uint64(32)], axis=1).ravel()
    return halves[:n_elements] < np.uint64(int(keep * 2**32))


@pytest.mark.parametrize("n_cols", [1, 2, 3, 31, 64, 1001])
def test_mask_is_the_splitmix64_stream(n_cols):
    """Every row, whether it starts on the low or the high half of a draw and whatever its
    length, is the stream computed independently in NumPy (the mask loop is compiled for
    each processor's vector width; each version must give these bits)."""
    n_rows, keep = 37, 0.6
    mask = _random.bernoulli_mask(2**40 + 9, 123, 2, n_rows, n_cols, keep)
    expected = _splitmix64_mask(2**40 + 9, 123, 2, n_rows * n_cols, keep)
    np.testing.assert_array_equal(mask.ravel(), expected)


def test_mask_determinism_and_layout():
    a = _random.bernoulli_mask(5, 10, 1, 30, 17, 0.5)
    assert np.array_equal(a, _random.bernoulli_mask(5, 10, 1, 30, 17, 0.5))
    assert not np.array_equal(a, _random.bernoulli_mask(5, 11, 1, 30, 17, 0.5))
    assert not np.array_equal(a, _random.bernoulli_mask(5, 10, 2, 30, 17, 0.5))
    # Element (i, j) is element i * width + j of one stream: fewer rows give a prefix.
    assert np.array_equal(a[:12], _random.bernoulli_mask(5, 10, 1, 12, 17, 0.5))
    # A lower keep drops a superset (one uniform draw per element, thresholded).
    b = _random.bernoulli_mask(5, 10, 1, 30, 17, 0.3)
    assert np.all(b <= a) and b.sum() < a.sum()
    assert _random.bernoulli_mask(5, 10, 1, 30, 17, 1.0).all()


# ------------------------------------------------------------------------ engine dropout
def _moments(net, x, n_rows, training=True):
    """Mean and variance over n_rows copies of one input row of the training output."""
    X = np.repeat(np.asarray(x, dtype=np.float64)[None, :], n_rows, axis=0)
    loss, _, grad_intercepts = net.loss_gradient(X, np.zeros(n_rows), training=training)
    mean = float(grad_intercepts[-1][0])
    return mean, 2.0 * loss - mean ** 2


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "logistic", "identity"])
def test_hidden_dropout_keeps_the_expectation(dtype, mode, activation):
    """Mean over many masks of the training output equals the prediction (within CI)."""
    rng = np.random.default_rng(3)
    net = fastreg.Network([fastreg.Dense(40, activation, dropout=0.4), fastreg.Dense(1)],
                          loss="squared_error", dropout_mode=mode, dtype=dtype, random_state=1)
    net.initialize(3)
    x = rng.normal(size=3)
    n = 20000
    mean, var = _moments(net, x, n)
    expected = float(net.predict(x[None, :])[0, 0])
    assert var > 1e-4, "test setup: dropout makes no difference"
    assert abs(mean - expected) <= Z9999 * math.sqrt(var / n) + 1e-5 * abs(expected)
    # The variance is that of the masks: a = act(z), W2 the output weights, q = keep.
    a = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "identity": lambda z: z,
         "logistic": lambda z: 1 / (1 + np.exp(-z))}[activation](
        x @ net.coefs_[0].astype(np.float64) + net.intercepts_[0])
    q = 0.6
    scale = 1 / q if mode == "inverted" else 1.0
    contributions = a * net.coefs_[1][:, 0].astype(np.float64) * scale
    expected_var = float((contributions ** 2).sum() * q * (1 - q))
    # Sample variance of n draws: relative sd about sqrt(2 / n) for near-normal sums.
    assert abs(var - expected_var) <= 0.06 * expected_var


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
def test_input_dropout_keeps_the_expectation(dtype, mode):
    """Input and hidden dropout on a linear path: E[training output] = prediction."""
    rng = np.random.default_rng(5)
    net = fastreg.Network([fastreg.Dense(10, "identity", dropout=0.3), fastreg.Dense(1)],
                          loss="squared_error", input_dropout=0.5, dropout_mode=mode,
                          dtype=dtype, random_state=2)
    net.initialize(8)
    x = rng.normal(size=8)
    n = 20000
    mean, var = _moments(net, x, n)
    expected = float(net.predict(x[None, :])[0, 0])
    assert var > 1e-3
    assert abs(mean - expected) <= Z9999 * math.sqrt(var / n) + 1e-5 * abs(expected)


def test_vanilla_prediction_is_inverted_prediction_with_scaled_weights(dtype):
    """Vanilla predict with W equals inverted predict with each layer's incoming weights
    scaled by the keep rate of its input (exact identity of the two modes' expectations)."""
    rng = np.random.default_rng(7)
    layers = [fastreg.Dense(6, "tanh", dropout=0.25), fastreg.Dense(5, "relu", dropout=0.5),
              fastreg.Dense(3)]
    vanilla = fastreg.Network(layers, input_dropout=0.2, dropout_mode="vanilla", dtype=dtype,
                              random_state=3)
    inverted = fastreg.Network(layers, input_dropout=0.2, dropout_mode="inverted", dtype=dtype,
                               random_state=4)
    vanilla.initialize(4)
    inverted.initialize(4)
    keeps = [0.8, 0.75, 0.5]
    inverted.set_weights([w.astype(np.float64) * k for w, k in zip(vanilla.coefs_, keeps)],
                         vanilla.intercepts_)
    X = rng.normal(size=(50, 4))
    rtol = 1e-5 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(vanilla.predict(X), inverted.predict(X), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "identity"])
def test_no_gradient_through_dropped_units(dtype, mode, activation):
    """One row: a dropped hidden unit gets exactly zero gradient on its incoming weights,
    its bias and its outgoing weights; a dropped input on its outgoing weights."""
    rng = np.random.default_rng(11)
    net = fastreg.Network(
        [fastreg.Dense(16, activation, dropout=0.5), fastreg.Dense(14, activation, dropout=0.5),
         fastreg.Dense(3)],
        loss="softmax_cross_entropy", input_dropout=0.5, input_noise=0.1, dropout_mode=mode,
        dtype=dtype, random_state=6)
    net.initialize(10)
    net.intercepts_[0][:] = np.abs(net.intercepts_[0]) + 0.5  # ReLU units active
    net.intercepts_[1][:] = np.abs(net.intercepts_[1]) + 2.0
    X = rng.normal(size=(1, 10))
    net.fit(np.repeat(X, 4, axis=0), [0, 1, 2, 0], batch_size=2, epochs=1)  # steps_ = 2
    _, grad_coefs, grad_intercepts = net.loss_gradient(X, [1], training=True)
    step = net.steps_
    m0 = _random.bernoulli_mask(net._seed, step, 0, 1, 10, 0.5)[0]
    m1 = _random.bernoulli_mask(net._seed, step, 1, 1, 16, 0.5)[0]
    m2 = _random.bernoulli_mask(net._seed, step, 2, 1, 14, 0.5)[0]
    for m in (m0, m1, m2):
        assert 0 < m.sum() < m.size, "test setup: need dropped and kept units"
    assert np.all(grad_coefs[0][~m0, :] == 0)
    assert np.all(grad_coefs[0][:, ~m1] == 0) and np.all(grad_intercepts[0][~m1] == 0)
    assert np.all(grad_coefs[1][~m1, :] == 0)
    assert np.all(grad_coefs[1][:, ~m2] == 0) and np.all(grad_intercepts[1][~m2] == 0)
    assert np.all(grad_coefs[2][~m2, :] == 0)
    # ...and a kept (and, for ReLU, active) unit does receive a gradient.
    model = Model([(16, activation, 0.5), (14, activation, 0.5)], 3, "softmax_cross_entropy",
                  input_dropout=0.5, input_noise=0.1, dropout_mode=mode)
    coefs, intercepts = weights_of(net)
    _, pre, _ = forward(model, coefs, intercepts, X, hook_draws(net._seed, model, step, 1, 10))
    live1 = m1 & (pre[0][0] > 0) if activation == "relu" else m1
    live2 = m2 & (pre[1][0] > 0) if activation == "relu" else m2
    assert live1.sum() >= 2 and live2.sum() >= 2, "test setup: too few live units"
    assert np.all(grad_intercepts[0][live1] != 0) and np.all(grad_intercepts[1][live2] != 0)
    assert np.all(grad_coefs[0][np.ix_(m0, live1)] != 0)


def test_same_seed_same_masks_new_step_new_masks(dtype):
    """Two networks with one random_state draw the same masks; each step draws new ones."""
    rng = np.random.default_rng(13)
    make = lambda: fastreg.Network(  # noqa: E731
        [fastreg.Dense(16, "relu", dropout=0.5), fastreg.Dense(2)], loss="squared_error",
        input_dropout=0.3, input_noise=0.2, dtype=dtype, random_state=77)
    a, b = make(), make()
    X = rng.normal(size=(5, 4))
    Y = rng.normal(size=(5, 2))
    a.initialize(4)
    b.initialize(4)
    ga = a.loss_gradient(X, Y, training=True)
    gb = b.loss_gradient(X, Y, training=True)
    assert ga[0] == gb[0]
    for p, q in zip(ga[1] + ga[2], gb[1] + gb[2]):
        assert np.array_equal(p, q)
    # Same weights at a different step: different masks, different loss.
    b.set_weights([w.copy() for w in a.coefs_], [c.copy() for c in a.intercepts_])
    b.fit(X, Y, epochs=1, batch_size=5)
    b.set_weights(a.coefs_, a.intercepts_)
    assert b.steps_ == 1
    assert b.loss_gradient(X, Y, training=True)[0] != ga[0]
    # Evaluation does not depend on the step.
    assert b.loss_gradient(X, Y)[0] == a.loss_gradient(X, Y)[0]


# ------------------------------------------------------------------------ input noise
def test_normal_noise_distribution():
    n = 200000
    z = _random.normal_noise(31, 4, n)
    assert z.shape == (n,) and z.dtype == np.float64
    assert abs(z.mean()) <= Z9999 / math.sqrt(n)
    assert abs(z.var() - 1) <= Z9999 * math.sqrt(2 / n)
    skew = float((z ** 3).mean())
    kurt = float((z ** 4).mean())
    assert abs(skew) <= Z9999 * math.sqrt(15 / n)
    assert abs(kurt - 3) <= Z9999 * math.sqrt(96 / n)
    # Tail mass: P(|z| > 3) = 0.0026998.
    p = 0.0026998
    assert abs((np.abs(z) > 3).sum() - n * p) <= Z9999 * math.sqrt(n * p * (1 - p))
    # Kolmogorov-Smirnov against N(0, 1).
    stats = pytest.importorskip("scipy.stats")
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_normal_noise_independence():
    n = 100000
    z = _random.normal_noise(31, 4, n)
    bound = Z9999 / math.sqrt(n)
    for lag in (1, 2, 7):
        assert abs(np.corrcoef(z[:-lag], z[lag:])[0, 1]) < bound
    # Squares too (Box-Muller pairs share a radius if done wrong).
    s = z ** 2
    assert abs(np.corrcoef(s[:-1], s[1:])[0, 1]) < bound
    for other in (_random.normal_noise(31, 5, n), _random.normal_noise(32, 4, n)):
        assert abs(np.corrcoef(z, other)[0, 1]) < bound
    assert np.array_equal(z, _random.normal_noise(31, 4, n))
    assert np.array_equal(z[:1000], _random.normal_noise(31, 4, 1000))


@pytest.mark.parametrize("sigma", [0.3, 2.0])
def test_engine_input_noise_moments(dtype, sigma):
    """A linear unit with weight 1 and bias 0 outputs exactly its noisy input: over many
    rows of x = 0 the output has mean ~0 and variance ~sigma^2."""
    net = fastreg.Network([fastreg.Dense(1)], loss="squared_error", input_noise=sigma,
                          dtype=dtype, random_state=9)
    net.set_weights([np.ones((1, 1))], [np.zeros(1)])
    n = 50000
    mean, var = _moments(net, np.zeros(1), n)
    assert abs(mean) <= Z9999 * sigma / math.sqrt(n)
    assert abs(var - sigma ** 2) <= Z9999 * sigma ** 2 * math.sqrt(2 / n)
    # Exactly the documented draws of this step.
    expected = sigma * _random.normal_noise(net._seed, net.steps_, n)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(mean, expected.mean(), rtol=rtol, atol=rtol * sigma)
    # No noise at evaluation.
    assert _moments(net, np.zeros(1), 10, training=False) == (0.0, 0.0)


def test_engine_input_noise_is_independent_across_features():
    """Two features, weights (1, 1): Var(z) = 2 sigma^2 only if the noise is uncorrelated;
    weights (1, -1) give the same variance."""
    sigma, n = 1.0, 40000
    for signs in ((1.0, 1.0), (1.0, -1.0)):
        net = fastreg.Network([fastreg.Dense(1)], loss="squared_error", input_noise=sigma,
                              dtype="float64", random_state=10)
        net.set_weights([np.array([[signs[0]], [signs[1]]])], [np.zeros(1)])
        _, var = _moments(net, np.zeros(2), n)
        assert abs(var - 2 * sigma ** 2) <= Z9999 * 2 * sigma ** 2 * math.sqrt(2 / n)


# ------------------------------------------------------------------------ shuffling
def test_permutation_is_uniform():
    n, epochs = 4, 24000
    counts = np.zeros((n, n))
    orders = set()
    for epoch in range(epochs):
        p = _random.permutation(123, epoch, n)
        assert sorted(p.tolist()) == list(range(n))
        counts[np.arange(n), p] += 1
        orders.add(tuple(p.tolist()))
    assert len(orders) == math.factorial(n)
    # Chi-square over positions x values: 9 degrees of freedom; 99.9 % quantile 27.88.
    expected = epochs / n
    stat = float(((counts - expected) ** 2 / expected).sum())
    assert stat < 27.88
    big = _random.permutation(123, 0, 100001)
    assert np.array_equal(np.sort(big), np.arange(100001))
    assert not np.array_equal(big, _random.permutation(123, 1, 100001))
    assert np.array_equal(big, _random.permutation(123, 0, 100001))
