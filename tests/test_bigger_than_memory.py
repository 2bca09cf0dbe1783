"""Training on data bigger than memory: dask-ml's Incremental, and np.memmap read in place.

* ``dask_ml.wrappers.Incremental`` calls ``partial_fit`` once per block of a dask array,
  on a Dask cluster; the model must be exactly the one of calling partial_fit on the same
  blocks in the same order by hand.
* A C-contiguous ``np.memmap`` in the model's dtype is trained on where it lies: the peak
  of memory allocated while training (tracemalloc: NumPy's and Python's allocations, not
  the file's pages) stays far below the array's size, and the model is the one trained on
  the same values in memory.
"""
import tracemalloc
import warnings

import numpy as np
import pytest

from fastreg import Dense, Network

N_ROWS, N_FEATURES = 60_000, 100  # float32: 22.9 MiB


@pytest.fixture(autouse=True)
def _quiet_convergence():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
        yield


@pytest.fixture(scope="module")
def memmapped(tmp_path_factory):
    """A read-only float32 memmap of N_ROWS x N_FEATURES (written chunk by chunk, never
    whole in memory), binary labels and real targets."""
    path = tmp_path_factory.mktemp("memmap") / "X.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                  shape=(N_ROWS, N_FEATURES))
    rng = np.random.RandomState(0)
    for start in range(0, N_ROWS, 10_000):
        X[start:start + 10_000] = rng.randn(10_000, N_FEATURES)
    X.flush()
    del X
    X = np.load(path, mmap_mode="r")
    labels = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    targets = np.asarray(X[:, 2] - X[:, 3], dtype=np.float64)
    return X, labels, targets


def traced_peak(function, *args, **kwargs):
    """(result, the peak bytes NumPy and Python allocated while ``function(*args,
    **kwargs)`` ran)."""
    tracemalloc.start()
    try:
        result = function(*args, **kwargs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_same_weights(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_network_fit_reads_a_float32_memmap_in_place(memmapped):
    X, labels, _ = memmapped
    assert isinstance(X, np.memmap) and X.dtype == np.float32 and X.flags.c_contiguous
    assert not X.flags.writeable

    def network(dtype):
        return Network([Dense(8, "relu"), Dense(2)], dtype=dtype, random_state=0)

    in_place = network("float32")
    _, peak = traced_peak(lambda: in_place.fit(X, labels, epochs=1, batch_size=200))
    assert peak < X.nbytes / 10, (peak, X.nbytes)
    # The measure sees a copy: a float64 network converts the memmap.
    _, converted_peak = traced_peak(
        lambda: network("float64").fit(X, labels, epochs=1, batch_size=200))
    assert converted_peak > 2 * X.nbytes, (converted_peak, X.nbytes)
    in_memory = network("float32")
    in_memory.fit(np.array(X), labels, epochs=1, batch_size=200)
    assert_same_weights(in_place.coefs_ + in_place.intercepts_,
                        in_memory.coefs_ + in_memory.intercepts_)


def test_the_estimators_fit_and_partial_fit_read_a_memmap_in_place(memmapped):
    pytest.importorskip("sklearn")
    from fastreg import MLPClassifier, MLPRegressor

    X, labels, targets = memmapped
    in_memory = np.array(X)
    cases = [
        (lambda: MLPClassifier((8,), max_iter=1, random_state=0), "fit", labels, {}),
        (lambda: MLPClassifier((8,), random_state=0), "partial_fit", labels, {"classes": [0, 1]}),
        (lambda: MLPRegressor(hidden_layer_sizes=(8,), max_iter=1, random_state=0), "fit",
         targets, {}),
    ]
    for make, method, y, kwargs in cases:
        model = make()
        _, peak = traced_peak(getattr(model, method), X, y, **kwargs)
        # What is allocated grows with the rows (labels, orders), not with X's 100 columns.
        assert peak < X.nbytes / 4, (method, peak, X.nbytes)
        reference = getattr(make(), method)(in_memory, y, **kwargs)
        assert_same_weights(model.coefs_ + model.intercepts_,
                            reference.coefs_ + reference.intercepts_)


def test_partial_fit_over_row_chunks_of_a_memmap(memmapped):
    pytest.importorskip("sklearn")
    from fastreg import MLPClassifier

    X, labels, _ = memmapped
    chunks = [slice(start, start + 15_000) for start in range(0, N_ROWS, 15_000)]

    def train(data):
        model = MLPClassifier((8,), random_state=0)
        for _ in range(2):
            for rows in chunks:
                model.partial_fit(data[rows], labels[rows], classes=[0, 1])
        return model

    model, peak = traced_peak(lambda: train(X))
    assert peak < X.nbytes / 10, (peak, X.nbytes)
    reference = train(np.array(X))
    assert_same_weights(model.coefs_ + model.intercepts_,
                        reference.coefs_ + reference.intercepts_)
    assert model.t_ == 2 * N_ROWS


@pytest.mark.slow
def test_dask_ml_incremental_is_partial_fit_on_the_blocks_in_their_order():
    pytest.importorskip("sklearn")
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from fastreg import MLPClassifier, MLPRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(1_200, 6)
    labels = (X[:, 0] - X[:, 1] > 0.3).astype(int)
    targets = X[:, 2] + X[:, 3] ** 2
    cases = [
        (lambda: MLPClassifier((8,), random_state=0, class_weight={1: 2.0}),
         X.astype(np.float32), labels, {"classes": [0, 1]}),
        (lambda: MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.01,
                              random_state=0), X, targets, {}),
    ]
    with (distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                   dashboard_address=None, silence_logs=50) as cluster,
          distributed.Client(cluster) as client):
        for make, features, y, kwargs in cases:
            X_dask = da.from_array(features, chunks=(300, features.shape[1]))
            y_dask = da.from_array(y, chunks=300)
            blocks = [slice(start, start + 300) for start in range(0, len(y), 300)]
            for shuffle_blocks in (False, True):
                incremental = wrappers.Incremental(make(), shuffle_blocks=shuffle_blocks,
                                                   random_state=1)
                with distributed.get_task_stream(client) as stream:
                    incremental.fit(X_dask, y_dask, **kwargs)
                order = list(range(len(blocks)))
                if shuffle_blocks:  # dask-ml's draw of the block order
                    np.random.RandomState(1).shuffle(order)
                    assert order != sorted(order)
                by_hand = make()
                for block in order:
                    by_hand.partial_fit(features[blocks[block]], y[blocks[block]], **kwargs)
                fitted = incremental.estimator_
                # One partial_fit task per block on the cluster: keys ("fit-<token>", block).
                steps = [task["key"] for task in stream.data if task["key"][0].startswith("fit-")]
                assert sorted(step[1] for step in steps) == [-1, 0, 1, 2, 3]
                assert fitted.t_ == by_hand.t_ == len(y)
                assert fitted.coefs_[0].dtype == features.dtype
                assert_same_weights(fitted.coefs_ + fitted.intercepts_,
                                    by_hand.coefs_ + by_hand.intercepts_)
                np.testing.assert_array_equal(incremental.predict(X_dask).compute(),
                                              by_hand.predict(features))
