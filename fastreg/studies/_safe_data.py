"""MNIST-1D for models trained side by side in threads.

MNIST-1D's generator seeds and draws from NumPy's global random state, and
:func:`fastreg.studies._runner.mnist1d` caches its result without a lock: two threads that
ask for it first at the same moment both generate it, their draws interleave, and each
gets a different (wrong) dataset. :func:`mnist1d` lets one thread at a time in, so the
first one generates the canonical split and the others find it cached.
"""
import threading

from fastreg.studies import _runner

_LOCK = threading.Lock()


def mnist1d(dtype="float32"):
    """MNIST-1D's default split (4000 / 1000), cached, made by one thread at a time."""
    with _LOCK:
        return _runner.mnist1d(dtype)
