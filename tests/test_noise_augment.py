"""Noise as a regularizer and data augmentation, checked for their exact effects.

* label noise: the fraction of changed labels is r (K - 1) / K, replacements are uniform
  over the classes, they are redrawn each epoch, and training with label noise equals
  training on the hook's noisy labels;
* weight noise: one SGD step equals ``W - lr * grad(W + sigma * eps)`` with the gradient
  taken by the engine at explicitly perturbed weights, and the draws are N(0, sigma^2);
* augmentation: the hook sees every minibatch and its output is what the network trains
  on; the built-ins move, scale, jitter and flip exactly as documented.
"""
import numpy as np
import pytest
from scipy import stats

import fastreg
from fastreg import _engine, _random
from fastreg.augment import Compose, Jitter, RandomFlip, RandomScale, RandomShift


def _classifier(dtype="float64", **kwargs):
    return fastreg.Network(
        [fastreg.Dense(8, "tanh"), fastreg.Dense(4)],
        optimizer=fastreg.SGD(0.1),
        dtype=dtype,
        random_state=0,
        **kwargs,
    )


def _data(n=300, n_features=5, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_features)), rng.integers(0, n_classes, n)


# ----------------------------------------------------------------------------- label noise
def _noisy(net, y, epoch, n_classes=4):
    net.initialize(5)
    engine = net._engine_for(1)
    return _engine.noisy_labels(engine, np.eye(n_classes)[y], epoch).argmax(axis=1)


def test_label_noise_changes_the_expected_fraction_uniformly():
    rate, n_classes, n = 0.3, 4, 40000
    y = np.random.default_rng(1).integers(0, n_classes, n)
    noisy = _noisy(_classifier(label_noise=rate), y, epoch=0)
    changed = noisy != y
    expected = rate * (n_classes - 1) / n_classes
    interval = stats.binomtest(int(changed.sum()), n, expected).proportion_ci(0.999)
    assert interval.low <= expected <= interval.high
    # A replaced label is uniform over the classes: the offsets of the changed ones
    # (new - old, mod K) spread evenly over 1 .. K - 1.
    replaced_to = np.bincount((noisy - y)[changed] % n_classes, minlength=n_classes)[1:]
    assert stats.chisquare(replaced_to).pvalue > 1e-3


def test_label_noise_is_redrawn_each_epoch_and_reproducible():
    y = np.random.default_rng(2).integers(0, 4, 5000)
    net = _classifier(label_noise=0.5)
    a, b, again = _noisy(net, y, 0), _noisy(net, y, 1), _noisy(net, y, 0)
    assert np.array_equal(a, again)
    assert np.mean(a != b) > 0.2


def test_training_with_label_noise_equals_training_on_the_noisy_labels():
    X, y = _data()
    noisy_net = _classifier(label_noise=0.4)
    clean_net = _classifier()
    noisy_labels = _noisy(_classifier(label_noise=0.4), y, epoch=0)
    assert np.mean(noisy_labels != y) > 0.1
    noisy_net.fit(X, y, epochs=1, batch_size=16, shuffle=False)
    clean_net.fit(X, noisy_labels, epochs=1, batch_size=16, shuffle=False)
    for a, b in zip(noisy_net.coefs_ + noisy_net.intercepts_,
                    clean_net.coefs_ + clean_net.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_label_noise_needs_a_cross_entropy_loss():
    with pytest.raises(ValueError, match="label_noise"):
        fastreg.Network([fastreg.Dense(1)], loss="squared_error", label_noise=0.1)
    with pytest.raises(ValueError, match="label_noise"):
        _classifier(label_noise=1.0)


# ---------------------------------------------------------------------------- weight noise
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weight_noise_step_uses_the_gradient_at_perturbed_weights(dtype):
    X, y = _data(n=32)
    sigma, lr = 0.05, 0.1
    net = _classifier(dtype=dtype, weight_noise=sigma)
    net.initialize(5)
    clean = [w.copy() for w in net.coefs_], [b.copy() for b in net.intercepts_]
    # The draws the engine makes at step 0, layer by layer.
    perturbed = [
        (w + sigma * _random.normal_noise(net._seed, 0, w.size, layer, True).reshape(w.shape))
        .astype(dtype)
        for layer, w in enumerate(clean[0])
    ]
    probe = _classifier(dtype=dtype)
    probe.initialize(5)
    probe.set_weights(perturbed, clean[1])
    _, grad_w, grad_b = probe.loss_gradient(X, y)
    net.fit(X, y, epochs=1, batch_size=32, shuffle=False)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for w, w0, g in zip(net.coefs_, clean[0], grad_w):
        np.testing.assert_allclose(w, w0 - lr * g, rtol=tol, atol=tol)
    for b, b0, g in zip(net.intercepts_, clean[1], grad_b):
        np.testing.assert_allclose(b, b0 - lr * g, rtol=tol, atol=tol)


def test_weight_noise_draws_are_standard_normal_and_fresh_each_step():
    draws = _random.normal_noise(7, 3, 200000, 1, True)
    assert abs(draws.mean()) < 5 * 1 / np.sqrt(draws.size)
    assert abs(draws.var() - 1) < 5 * np.sqrt(2 / draws.size)
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    other_step = _random.normal_noise(7, 4, 200000, 1, True)
    other_layer = _random.normal_noise(7, 3, 200000, 2, True)
    input_noise = _random.normal_noise(7, 3, 200000)
    for other in (other_step, other_layer, input_noise):
        assert abs(np.corrcoef(draws, other)[0, 1]) < 0.02


def test_weight_noise_validation():
    with pytest.raises(ValueError, match="weight_noise"):
        _classifier(weight_noise=-1.0)


# ---------------------------------------------------------------------------- augmentation
class _Recorder:
    """An augmentation that records what it sees and adds a known offset."""

    def __init__(self):
        self.batches = []

    def __call__(self, X, rng):
        self.batches.append(X.copy())
        return X + 1.0


def test_augment_sees_every_batch_and_its_output_is_trained_on():
    X, y = _data(n=50)
    recorder = _Recorder()
    augmented = _classifier(augment=recorder)
    shifted = _classifier()
    augmented.fit(X, y, epochs=2, batch_size=16, shuffle=False)
    shifted.fit(X + 1.0, y, epochs=2, batch_size=16, shuffle=False)
    assert [b.shape[0] for b in recorder.batches] == [16, 16, 16, 2] * 2
    np.testing.assert_array_equal(np.concatenate(recorder.batches[:4]), X)
    for a, b in zip(augmented.coefs_, shifted.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_augment_errors_surface_and_bad_outputs_are_rejected():
    X, y = _data(n=20)

    def fails(X, rng):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _classifier(augment=fails).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        _classifier(augment=lambda X, rng: X[:, :2]).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        _classifier(augment=lambda X, rng: X * np.nan).fit(X, y)
    with pytest.raises(TypeError, match="callable"):
        _classifier(augment=3)


def test_augmented_training_is_reproducible():
    X, y = _data(n=60)
    nets = [_classifier(augment=Compose([RandomShift(1), Jitter(0.1)])) for _ in range(2)]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=8)
    for a, b in zip(nets[0].coefs_, nets[1].coefs_):
        np.testing.assert_array_equal(a, b)


def test_random_shift_circular_and_padded():
    X = np.arange(2 * 7, dtype=np.float64).reshape(2, 7)
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = RandomShift(3)(X, rng)
        for row, shifted in zip(X, out):
            matches = [s for s in range(-3, 4) if np.array_equal(np.roll(row, s), shifted)]
            assert matches, shifted
        padded = RandomShift(3, mode="pad")(X, rng)
        for row, shifted in zip(X, padded):
            ok = False
            for s in range(-3, 4):
                expected = np.roll(row, s)
                if s > 0:
                    expected[:s] = 0
                elif s < 0:
                    expected[s:] = 0
                ok |= np.array_equal(expected, shifted)
            assert ok, shifted


def test_random_shift_covers_every_shift_uniformly():
    X = np.tile(np.eye(1, 11, 5), (30000, 1))
    out = RandomShift(2)(X, np.random.default_rng(1))
    positions = out.argmax(axis=1) - 5
    counts = np.bincount(positions + 2, minlength=5)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_image_shift_and_flip():
    image = np.arange(12, dtype=np.float64).reshape(3, 4)
    X = image.reshape(1, -1)
    flipped = RandomFlip((3, 4), p=1.0)(X, np.random.default_rng(0)).reshape(3, 4)
    np.testing.assert_array_equal(flipped, image[:, ::-1])
    both = RandomFlip((3, 4), horizontal=True, vertical=True, p=1.0)(X, np.random.default_rng(0))
    np.testing.assert_array_equal(both.reshape(3, 4), image[::-1, ::-1])
    shifted = RandomShift(1, shape=(3, 4))(X, np.random.default_rng(3)).reshape(3, 4)
    assert any(
        np.array_equal(np.roll(np.roll(image, a, axis=0), b, axis=1), shifted)
        for a in (-1, 0, 1) for b in (-1, 0, 1)
    )


def test_random_scale_and_jitter_distributions():
    X = np.ones((20000, 3))
    scaled = RandomScale(0.5, 1.5)(X, np.random.default_rng(0))
    assert np.allclose(scaled, scaled[:, :1])  # one factor per row
    assert stats.kstest(scaled[:, 0], stats.uniform(0.5, 1.0).cdf).pvalue > 1e-3
    jittered = Jitter(0.2)(X, np.random.default_rng(0)) - 1
    assert stats.kstest(jittered.ravel() / 0.2, "norm").pvalue > 1e-3
    with pytest.raises(ValueError):
        RandomScale(2.0, 1.0)
    with pytest.raises(ValueError):
        Jitter(-1)
    with pytest.raises(ValueError):
        RandomShift(-1)


@pytest.mark.parametrize("augmentation", [
    RandomShift(2), RandomShift(2, mode="pad", fill_value=-1.0), RandomShift(1, shape=(2, 3)),
    RandomScale(0.5, 1.5), Jitter(0.3), RandomFlip((2, 3), vertical=True, p=0.5),
    Compose([RandomShift(1), Jitter(0.1)]),
], ids=lambda a: type(a).__name__)
def test_built_ins_take_one_row(augmentation):
    """Called on one row (1-D), a built-in returns one row: what it gives the same row as a
    batch of one with the same generator. Integer rows come back as float64."""
    row = np.arange(6) * 3 - 4
    one = augmentation(row, np.random.default_rng(5))
    batch = augmentation(row[None, :].astype(np.float64), np.random.default_rng(5))
    assert one.shape == (6,) and one.dtype == np.float64
    np.testing.assert_array_equal(one, batch[0])


def test_random_shift_of_one_integer_row_is_a_shift():
    row = np.arange(7)
    seen = set()
    for seed in range(20):
        shifted = RandomShift(3)(row, np.random.default_rng(seed))
        shifts = [s for s in range(-3, 4) if np.array_equal(np.roll(row, s), shifted)]
        assert len(shifts) == 1, shifted
        seen.add(shifts[0])
    assert len(seen) > 3  # the shift is drawn, not fixed


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_augment_must_return_real_numbers(dtype):
    """A complex result is a TypeError naming augment (the engine would keep the real
    part), raised before the first step; a boolean result is taken as 0/1 and trains as
    the same data given as floats."""
    X, y = _data(n=20)
    net = _classifier(dtype=dtype, augment=lambda X, rng: X * (1 + 1j))
    net.initialize(5)
    start = [w.copy() for w in net.coefs_]
    with pytest.raises(TypeError, match="augment must return real numbers.*complex"):
        net.fit(X, y, batch_size=8)
    assert net.steps_ == 0
    for w, w0 in zip(net.coefs_, start):
        assert np.array_equal(w, w0)
    as_bool = _classifier(dtype=dtype, augment=lambda X, rng: X > 0)
    as_float = _classifier(dtype=dtype)
    as_bool.fit(X, y, epochs=2, batch_size=8, shuffle=False)
    as_float.fit((X > 0).astype(np.float64), y, epochs=2, batch_size=8, shuffle=False)
    for a, b in zip(as_bool.coefs_, as_float.coefs_):
        np.testing.assert_array_equal(a, b)


def test_the_checked_augment_keeps_the_engine_between_fits():
    """The result check wraps the hook without changing the engine's configuration from
    fit to fit: the same engine trains on (a rebuilt one would start a new one); a new
    hook makes a new engine. The public attribute stays the user's own object."""
    X, y = _data(n=40)
    hook = Jitter(0.1)
    net = _classifier(augment=hook)
    net.fit(X, y, batch_size=8)
    engine = net._engine
    net.fit(X, y, batch_size=8)
    assert net._engine is engine and net.augment is hook
    net.augment = Jitter(0.1)
    net.fit(X, y, batch_size=8)
    assert net._engine is not engine


def test_augment_is_reachable_after_a_plain_import():
    """``import fastreg`` alone gives ``fastreg.augment`` (the README points there), in a
    fresh interpreter where nothing else imported the submodule."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(fastreg.__file__)))
    code = "import fastreg; print(fastreg.__file__, fastreg.augment.Jitter(0.5).sigma)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": root}, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [fastreg.__file__, "0.5"]
