"""Sparse input: a CSR (or any scipy.sparse) X trains and predicts exactly as its dense twin.

The engine scatters each sparse row into its dense batch buffer, so the reference is the
same network trained on ``X.toarray()``: the weights must be bit-identical.
"""
import numpy as np
import pytest
import scipy.sparse

import fastreg


def _network(dtype):
    return fastreg.Network(
        [fastreg.Dense(16, "relu", dropout=0.2), fastreg.Dense(3)],
        optimizer=fastreg.SGD(0.1, momentum=0.9),
        regularizers=[fastreg.L2(1e-3)],
        input_noise=0.05,
        dtype=dtype,
        random_state=3,
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_training_equals_dense(dtype, fmt):
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(200, 30, density=0.2, format=fmt, random_state=1, dtype=np.float64)
    y = rng.integers(0, 3, 200)
    dense, sparse = _network(dtype), _network(dtype)
    dense.fit(X.toarray(), y, epochs=3, batch_size=16)
    sparse.fit(X, y, epochs=3, batch_size=16)
    for a, b in zip(dense.coefs_ + dense.intercepts_, sparse.coefs_ + sparse.intercepts_):
        assert np.array_equal(a, b)
    assert np.array_equal(dense.predict(X.toarray()), sparse.predict(X))


def test_duplicate_entries_add_up():
    """A CSR matrix with duplicate (row, column) entries means their sum, as in scipy."""
    data = np.array([1.0, 2.0, 0.5])
    indices = np.array([0, 0, 2])
    indptr = np.array([0, 3])
    X = scipy.sparse.csr_matrix((data, indices, indptr), shape=(1, 3))
    net_sparse, net_dense = _network("float64"), _network("float64")
    net_sparse.fit(X, [1], epochs=1)
    net_dense.fit(X.toarray(), [1], epochs=1)
    assert np.array_equal(net_sparse.coefs_[0], net_dense.coefs_[0])


def test_sparse_nan_is_rejected():
    X = scipy.sparse.csr_matrix(np.array([[0.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        _network("float64").fit(X, [0, 1])
