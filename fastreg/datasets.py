"""Data sets used by the demo, the studies and the benchmarks."""
import random
import threading

import numpy as np

from fastreg._extras import install_hint

#: mnist1d draws from NumPy's global generator (and Python's ``random``), after seeding them:
#: two threads making the data at once would interleave their draws and get wrong data.
_MNIST1D_LOCK = threading.Lock()


def load_mnist1d(dtype="float32"):
    """MNIST-1D (Greydanus & Kobak 2024), generated offline by the ``mnist1d`` package.

    4000 training and 1000 test signals of 40 samples, 10 classes: small enough for a
    CPU, hard enough that a plain MLP overfits (about 65% test accuracy). Safe to call
    from several threads; the global random states that mnist1d seeds (NumPy's legacy
    generator, Python's ``random``) are put back as they were.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarray
        Signals of shape (n, 40) in `dtype`, labels as int64.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as error:
        raise ImportError(
            f"MNIST-1D needs the mnist1d package: {install_hint('demo', packages=('mnist1d',))}"
        ) from error
    with _MNIST1D_LOCK:
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            data = make_dataset(get_dataset_args())
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
    return (
        np.ascontiguousarray(data["x"], dtype=dtype),
        np.asarray(data["y"], dtype=np.int64),
        np.ascontiguousarray(data["x_test"], dtype=dtype),
        np.asarray(data["y_test"], dtype=np.int64),
    )
