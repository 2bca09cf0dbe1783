"""The same model gives the same bits in whichever Python thread it trains.

fastreg's weights are meant to be bit-identical for any number of threads: the engine cuts
every product into blocks fixed by its shape, each block one call of a single-threaded
BLAS, and ``fastreg._threads.single_threaded_blas`` holds BLAS to one thread while a fit
runs. A multithreaded OpenBLAS call may round differently (it does with OpenBLAS's Haswell
kernels, in float32 and float64), so a fit whose BLAS limit is not in force gives other
bits, and is much slower: OpenBLAS's own threads then compete with the engine's.

threadpoolctl (3.8) lets only one Python thread set the process-wide thread count of a
pthreads OpenBLAS: the first one to set it, until that thread ends or leaves a ``with``
block; the others' limits are silently ignored. A fit that ran in the main thread
therefore made the main thread that owner for good, and every later fit in another thread
ran with BLAS on all cores. So this module checks, in float32 and float64:

* a ``Network`` (two hidden layers of 256, batches of 128, or of 256 with dropout) and
  an ``MLPClassifier`` ((100, 100), batches of 100) trained in the main thread, in a
  ``threading.Thread``, in a
  ``concurrent.futures.ThreadPoolExecutor`` and through ``joblib.Parallel(backend=
  "threading")`` end with the same ``coefs_`` and ``intercepts_``, bit for bit;
* an ``EnsembleClassifier`` gives the same members and predictions with ``n_jobs=2``
  (members in threads) as with ``n_jobs=None`` (one after the other, in the main thread);
* BLAS does run on one thread during a fit in a worker thread: the direct check, which
  fails even where the BLAS kernels happen to round the same on one thread and on several.

Every main-thread fit comes before the worker-thread fits it is compared with: that order
made the main thread the owner of the BLAS limit. The tests are marked ``blas_threads``:
the suite's autouse fixture otherwise holds BLAS to one thread for the whole process from
the main thread, which hides what is tested here.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import pytest

import fastreg
from fastreg import EnsembleClassifier, MLPClassifier

# Two epochs do not converge; the filter is the test's (process-wide), as
# warnings.catch_warnings is not safe in fits running side by side in threads.
pytestmark = [pytest.mark.blas_threads,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

N_FEATURES = 40


@cache
def _data(dtype, n_samples, n_classes):
    """Synthetic classification data: Gaussian inputs, labels from a noisy linear rule."""
    rng = np.random.default_rng(2024)
    X = rng.normal(size=(n_samples, N_FEATURES)).astype(dtype)
    scores = (X @ rng.normal(size=(N_FEATURES, n_classes))
              + rng.normal(scale=0.5, size=(n_samples, n_classes)))
    return X, scores.argmax(axis=1)


def _fit_network(dtype, batch_size=128):
    """A float32 or float64 Network (256, 256) -> 10, one epoch of batches of 128 (or 256,
    with dropout)."""
    X, y = _data(dtype, 2048, 10)
    dropout = 0.0 if batch_size == 128 else 0.5
    net = fastreg.Network([fastreg.Dense(256, "relu", dropout=dropout),
                           fastreg.Dense(256, "relu", dropout=dropout), fastreg.Dense(10)],
                          dtype=dtype, random_state=0)
    net.fit(X, y, epochs=1, batch_size=batch_size)
    return net


def _fit_classifier(dtype):
    """MLPClassifier((100, 100)), two epochs of batches of 100 on (4000, 40) data."""
    X, y = _data(dtype, 4000, 3)
    return MLPClassifier(hidden_layer_sizes=(100, 100), batch_size=100, max_iter=2,
                         random_state=0).fit(X, y)


MODELS = {"network": _fit_network, "network-256": lambda dtype: _fit_network(dtype, 256),
          "classifier": _fit_classifier}


@cache
def _main_thread_weights(model, dtype):
    """The weights of ``model`` trained in the main thread (once per model and dtype)."""
    assert threading.current_thread() is threading.main_thread()
    return _weights(MODELS[model](dtype))


def _weights(fitted):
    return [np.array(a, copy=True) for a in list(fitted.coefs_) + list(fitted.intercepts_)]


def _in_worker(fit):
    """``fit()`` in a worker thread; also checks that it did run outside the main thread."""
    main = threading.main_thread()

    def work():
        assert threading.current_thread() is not main
        return fit()

    return work


def _in_thread(fit):
    result, errors = [], []

    def target():
        try:
            result.append(_in_worker(fit)())
        except BaseException as error:  # pragma: no cover - re-raised below
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _in_executor(fit):
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(_in_worker(fit)).result()


def _in_joblib(fit):
    """Two identical fits side by side in joblib's threads: both must match the main thread."""
    from joblib import Parallel, delayed

    first, second = Parallel(n_jobs=2, backend="threading")(
        delayed(_in_worker(fit))() for _ in range(2))
    for a, b in zip(_weights(first), _weights(second)):
        np.testing.assert_array_equal(a, b)
    return first


RUNNERS = {"threading.Thread": _in_thread, "ThreadPoolExecutor": _in_executor,
           "joblib-threading": _in_joblib}


@pytest.mark.parametrize("runner", list(RUNNERS))
@pytest.mark.parametrize("model", list(MODELS))
def test_worker_thread_gives_the_main_thread_bits(dtype, model, runner):
    expected = _main_thread_weights(model, dtype)
    fitted = RUNNERS[runner](lambda: MODELS[model](dtype))
    got = _weights(fitted)
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_ensemble_members_in_threads_match_sequential(dtype):
    X, y = _data(dtype, 2000, 3)

    def fit(n_jobs):
        # Layers of 100: their product blocks (100 x 56 x 100) are large enough for OpenBLAS
        # to thread; those of (64, 64) members (100 x 32 x 64) are not, and show nothing.
        member = MLPClassifier(hidden_layer_sizes=(100, 100), batch_size=100, max_iter=1)
        return EnsembleClassifier(member, n_estimators=4, random_state=0, n_jobs=n_jobs).fit(X, y)

    sequential = fit(None)  # first: members in the main thread
    parallel = fit(2)
    for a, b in zip(sequential.estimators_, parallel.estimators_):
        for p, q in zip(_weights(a), _weights(b)):
            np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(sequential.predict_proba(X), parallel.predict_proba(X))
    np.testing.assert_array_equal(sequential.predict(X), parallel.predict(X))


def test_blas_runs_on_one_thread_during_a_fit_in_a_worker_thread():
    """The cause itself, checked from inside the fit (a callback between epochs)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    X, y = _data("float64", 256, 3)

    def fit():
        seen = []

        def record(net, epoch_record):
            seen.extend(info["num_threads"] for info in threadpoolctl.threadpool_info()
                        if info["user_api"] == "blas")

        net = fastreg.Network([fastreg.Dense(16, "relu"), fastreg.Dense(3)], dtype="float64",
                              random_state=0)
        net.fit(X, y, epochs=1, batch_size=64, callback=record)
        return seen

    in_main = fit()  # the main thread sets the limit first
    in_worker = _in_thread(fit)
    assert in_main and set(in_main) == {1}
    assert in_worker and set(in_worker) == {1}, (
        f"BLAS ran on {sorted(set(in_worker))} threads during a fit in a worker thread")
