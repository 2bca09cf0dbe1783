"""Peak memory of training: the data, plus buffers that depend on the model, not on the data.

NumPy reports its allocations to tracemalloc, so the peak of traced memory during a fit,
above what was allocated before it, counts every array fastreg makes: a copy of the
training data would show as its size. The engine allocates nothing per step or epoch,
so more epochs must not raise the peak.
"""
import tracemalloc

import numpy as np
import pytest

import fastreg

N_SAMPLES, N_FEATURES = 40_000, 100  # X: 16 MB in float32, 32 MB in float64
WORKSPACE = 2 * 2**20  # weights, optimizer state, batch buffers, Python objects
# (and one copy of the weights, kept at each epoch's start to undo a diverging epoch:
# 26 KB in float32 for the model below; measured peaks: 0.58 and 0.82 MiB)


def _peak_allocation(function):
    """Bytes allocated at the peak of ``function()``, above those allocated before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def _megabytes(peak, X):
    return f"{peak / 2**20:.1f} MiB for X of {X.nbytes / 2**20:.0f} MiB"


@pytest.fixture(scope="module")
def data():
    # One small fit first: one-off allocations (caches, the BLAS thread controller) are
    # not the fit's.
    fastreg.Network([fastreg.Dense(2)], loss="squared_error").fit(np.ones((4, 3)), np.ones((4, 2)))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    y = X[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]]) + 0.1 * rng.standard_normal((N_SAMPLES, 2))
    return X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_network_fit_holds_buffers_not_copies(data, dtype):
    X, y = (a.astype(dtype) for a in data)

    def fit(epochs):
        net = fastreg.Network(
            [fastreg.Dense(64, "relu", dropout=0.5), fastreg.Dense(2)],
            loss="squared_error", optimizer=fastreg.Adam(1e-3),
            regularizers=[fastreg.L2(1e-4)], dtype=dtype, random_state=0,
        )
        return lambda: net.fit(X, y, epochs=epochs, batch_size=128)

    one_epoch = _peak_allocation(fit(1))
    three_epochs = _peak_allocation(fit(3))
    # The visiting order (an int64 per sample) is the one array that grows with the data.
    assert one_epoch < 8 * N_SAMPLES + WORKSPACE, _megabytes(one_epoch, X)
    assert three_epochs < one_epoch + 64 * 1024, "memory grows with the epochs"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_estimator_fit_holds_buffers_not_copies(data, dtype):
    pytest.importorskip("sklearn")
    X, y = data[0].astype(dtype), (data[1][:, 0] > 0).astype(np.int64)
    model = fastreg.MLPClassifier(hidden_layer_sizes=(64,), max_iter=2, dropout=0.2,
                                  random_state=0, tol=0.0)
    peak = _peak_allocation(lambda: model.fit(X, y))
    # Also per sample: the visiting order and its shuffled copy (int64), the one-hot
    # targets (one column for two classes) in the data's dtype, the label encoding.
    per_sample = 8 * 2 + X.itemsize + 8
    assert peak < per_sample * N_SAMPLES + WORKSPACE, _megabytes(peak, X)
