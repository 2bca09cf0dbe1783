"""How many threads the engine's team gets: never more than the cores it has to itself.

The threads of a team wait for each other at every stage of a step, so a team that
outnumbers its cores (two worker processes of a grid search, each with a team as large as
the machine) spends its time waiting for descheduled partners. ``n_threads=None`` therefore
follows OpenMP's limit, which ``OMP_NUM_THREADS``, threadpoolctl and joblib's worker
processes set; the weights never depend on it (test_determinism.py).
"""
import os
import subprocess
import sys

import pytest

from fastreg._threads import available_cores, resolve_n_threads


def test_explicit_counts_are_capped_at_the_cores():
    assert resolve_n_threads(1) == 1
    assert resolve_n_threads(10**6) == available_cores()
    assert resolve_n_threads(-1) == available_cores()


def test_default_follows_the_openmp_limit_of_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import fastreg._engine  # noqa: F401  (loads the OpenMP runtime that threadpoolctl limits)

    if not any(info["user_api"] == "openmp" for info in threadpoolctl.threadpool_info()):
        pytest.skip("fastreg was built without OpenMP")
    before = resolve_n_threads(None)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert resolve_n_threads(None) == 1
        assert resolve_n_threads(-1) == available_cores()
    assert resolve_n_threads(None) == before


def test_default_follows_omp_num_threads():
    code = "from fastreg._threads import resolve_n_threads as r; print(r(None), r(-1))"
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, check=True,
    )
    assert result.stdout.split() == ["1", str(available_cores())]


def test_joblib_worker_processes_do_not_oversubscribe_the_cores():
    joblib = pytest.importorskip("joblib")
    n_jobs = available_cores()
    if n_jobs < 2:
        pytest.skip("needs two cores")
    sizes = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(resolve_n_threads)(None) for _ in range(n_jobs)
    )
    assert max(sizes) * n_jobs <= available_cores(), sizes
