"""Weight averaging: EMA after every step and SWA at epoch ends, checked against averages
of the weights recorded step by step (or epoch by epoch) from plain training."""
import numpy as np
import pytest

import fastreg
from fastreg import EMA, SWA, Dense


def _network(dtype, averaging=None, lr=0.05):
    return fastreg.Network([Dense(6, "tanh"), Dense(3)], optimizer=fastreg.SGD(lr, momentum=0.5),
                           averaging=averaging, dtype=dtype, random_state=1)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 4)), rng.integers(0, 3, 40)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ema_follows_every_step(dtype):
    X, y = _data()
    decay = 0.9
    plain, averaged = _network(dtype), _network(dtype, EMA(decay))
    plain.initialize(4)
    averaged.initialize(4)
    expected = [p.astype(np.float64) for p in plain.coefs_ + plain.intercepts_]
    # Steps one at a time (batch 8, no shuffling: 5 steps per epoch) on the plain twin.
    for _epoch in range(3):
        for start in range(0, 40, 8):
            plain.fit(X[start:start + 8], y[start:start + 8], epochs=1, batch_size=8,
                      shuffle=False)
            expected = [decay * e + (1 - decay) * p
                        for e, p in zip(expected, plain.coefs_ + plain.intercepts_)]
    averaged.fit(X, y, epochs=3, batch_size=8, shuffle=False)
    for a, b in zip(averaged.coefs_ + averaged.intercepts_, plain.coefs_ + plain.intercepts_):
        np.testing.assert_array_equal(a, b)  # averaging leaves training alone
    tol = 1e-12 if dtype == "float64" else 1e-5
    for a, e in zip(averaged.averaged_coefs_ + averaged.averaged_intercepts_, expected):
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("start,every", [(0, 1), (2, 1), (1, 3)])
def test_swa_averages_the_due_epoch_ends(start, every):
    X, y = _data()
    plain, averaged = _network("float64"), _network("float64", SWA(start, every))
    snapshots = []
    for epoch in range(9):
        plain.fit(X, y, epochs=1, batch_size=8)
        if epoch >= start and (epoch - start + 1) % every == 0:
            snapshots.append([p.copy() for p in plain.coefs_ + plain.intercepts_])
    averaged.fit(X, y, epochs=9, batch_size=8)
    expected = [np.mean(parts, axis=0) for parts in zip(*snapshots)]
    for a, e in zip(averaged.averaged_coefs_ + averaged.averaged_intercepts_, expected):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-14)
    averaged.use_averaged_weights()
    np.testing.assert_allclose(averaged.coefs_[0], expected[0], rtol=1e-12)


def test_averaging_validation_and_pickle():
    with pytest.raises(ValueError, match="decay"):
        EMA(1.0)
    with pytest.raises(ValueError, match="every"):
        SWA(0, 0)
    with pytest.raises(TypeError, match="averaging"):
        _network("float64", averaging="ema")
    with pytest.raises(ValueError, match="average"):
        _network("float64").initialize(4).use_averaged_weights()
    import pickle

    X, y = _data()
    net = _network("float64", EMA(0.5))
    net.fit(X, y, epochs=1)
    twin = pickle.loads(pickle.dumps(net))
    net.fit(X, y, epochs=2)
    twin.fit(X, y, epochs=2)
    for a, b in zip(net.averaged_coefs_, twin.averaged_coefs_):
        np.testing.assert_array_equal(a, b)
