"""Shared fixtures of the fastreg engine test suite.

* ``dtype``: every test that takes it runs once in float32 and once in float64.
* ``tol``: the matching tolerances for comparing fastreg against the float64 NumPy
  reference (``reference.py``) in that dtype.
* ``rng``: a fresh, fixed-seed NumPy generator per test.
* BLAS runs on one thread (when threadpoolctl is installed) except in tests marked
  ``blas_threads``, which set their own limits: on a shared 2-core machine OpenBLAS
  threads that spin-wait for a busy core can make one small product 40x slower, and
  nothing but the BLAS calls in fastreg is multithreaded.
"""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import TOLERANCES  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "blas_threads: the test sets the number of BLAS threads itself")


@pytest.fixture(autouse=True)
def _single_blas_thread(request):
    if request.node.get_closest_marker("blas_threads") is not None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOLERANCES[dtype]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
