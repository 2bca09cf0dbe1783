"""fastreg.datasets: MNIST-1D made the same in any thread, the global random states kept."""
import random
import threading

import numpy as np
import pytest

pytest.importorskip("mnist1d")

from fastreg.datasets import load_mnist1d  # noqa: E402


def test_mnist1d_in_threads_at_once_equals_one_load():
    """mnist1d seeds and draws from global generators: threads must not interleave."""
    reference = load_mnist1d()
    results, barrier = [None] * 4, threading.Barrier(4)

    def load(slot):
        barrier.wait()
        results[slot] = load_mnist1d()

    threads = [threading.Thread(target=load, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for arrays in results:
        for array, expected in zip(arrays, reference):
            np.testing.assert_array_equal(array, expected)


def test_mnist1d_leaves_the_global_random_states_alone():
    np.random.seed(123)
    random.seed(123)
    numpy_next, python_next = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    X_train, y_train, X_test, y_test = load_mnist1d(dtype="float64")
    assert np.random.random() == numpy_next and random.random() == python_next
    assert X_train.shape == (4000, 40) and X_test.shape == (1000, 40)
    assert X_train.dtype == np.float64 and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10))
