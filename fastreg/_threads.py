"""Threads: fastreg's own, and the BLAS library's while fastreg trains.

While a network trains, a team of the engine's own threads shares each step: the blocks of a
product (of columns, or of rows for a narrow one, fixed by its shape), the rows of an
elementwise pass, the delta and the weight gradient of a layer, the updates of different
layers. Each piece is computed the same way whoever runs it, each product block by one
single-threaded BLAS call; that makes the weights bit-identical for any number of threads.
BLAS is limited to one thread for the duration through threadpoolctl. Without threadpoolctl,
the engine runs each step on one thread and lets BLAS use its own threads: as fast, but
float32 results may then differ in the last bits between thread counts (float64 ones do
not).
"""
import os
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_active_fits = 0
_limiter = None
_controller = None
_per_thread = threading.local()


def _reset_in_forked_child():
    # A child forked while another thread held the lock or ran a fit: it starts clean.
    global _lock, _active_fits, _limiter
    _lock = threading.Lock()
    _active_fits = 0
    _limiter = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_forked_child)


def available_cores():
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_n_threads(n_threads):
    """The size of the engine's team for ``n_threads``.

    None: the available cores, at most OpenMP's limit for the calling thread
    (``OMP_NUM_THREADS``, threadpoolctl's limit, or 1 in a worker process of joblib
    that shares the cores with others: a team must not outnumber its cores, as its
    threads wait for each other at every stage of a step). -1: all available cores.
    A positive int: that many, at most the cores. Within :func:`engine_thread_cap`,
    the calling thread gets at most the cap.
    """
    if n_threads is None:
        from fastreg._engine import max_team_threads

        resolved = max(1, min(available_cores(), max_team_threads()))
    elif n_threads == -1:
        resolved = available_cores()
    else:
        resolved = max(1, min(int(n_threads), available_cores()))
    cap = getattr(_per_thread, "cap", None)
    return resolved if cap is None else min(resolved, cap)


@contextmanager
def engine_thread_cap(max_threads):
    """Run the engine on at most ``max_threads`` threads for work started in this thread.

    ``None`` leaves the thread count alone. The cap is thread-local, so concurrent callers
    each set their own; nested caps restore the outer one on exit. Results do not depend on
    the cap (the engine's blocks are fixed by the matrix shapes), only the speed does.
    """
    previous = getattr(_per_thread, "cap", None)
    if max_threads is not None:
        max_threads = max(1, int(max_threads))
        _per_thread.cap = max_threads if previous is None else min(previous, max_threads)
    try:
        yield
    finally:
        _per_thread.cap = previous


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _release_blas_control():
    """Let the next thread that sets OpenBLAS's (process-wide) thread count do so.

    threadpoolctl >= 3.8 lets one Python thread at a time set the thread count of a
    pthreads OpenBLAS, the first to do so, until its ``with`` block ends, and silently
    ignores the others. fastreg's limit is set by the thread that starts the first fit and
    restored by the one that ends the last, under fastreg's own lock: no thread may keep
    control, or every fit in another thread would run on threaded BLAS (other bits,
    and slower).
    """
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while any fit is running; yield whether it could.

    Limits are process-wide: concurrent fits share one limit, set by the first to start and
    restored by the last to finish. Where a library would not take the limit, this yields
    False and the engine leaves the threading to BLAS.
    """
    global _active_fits, _limiter
    try:
        controller = _blas_controller()
    except ImportError:
        yield False
        return
    with _lock:
        if _active_fits == 0:
            _release_blas_control()
            _limiter = controller.limit(limits=1, user_api="blas")
            _release_blas_control()
        _active_fits += 1
        limited = all(library.get_num_threads() in (1, None)
                      for library in controller.select(user_api="blas").lib_controllers)
    try:
        yield limited
    finally:
        with _lock:
            _active_fits -= 1
            if _active_fits == 0:
                _release_blas_control()
                _limiter.restore_original_limits()
                _release_blas_control()
                _limiter = None
