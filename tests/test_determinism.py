"""Reproducibility: one random_state, one result, bit for bit.

* The same ``random_state`` gives bit-identical initial weights, weights after training
  with dropout + input noise + shuffling, and identical reported losses; a different one
  gives different results.
* The result does not depend on the number of BLAS threads (threadpoolctl, 1 vs 2).
* It does not depend on calls in between that must not have side effects (predict,
  loss_gradient) nor on a pickle round trip of the network.
* A ``numpy.random.Generator`` works as ``random_state``.
* Networks trained at the same time in several Python threads (the epoch loop runs
  without the GIL) end exactly as when trained one after the other.
"""
import copy
import pickle
import threading

import numpy as np
import pytest

import fastreg


def _network(dtype, random_state, **kw):
    options = dict(loss="softmax_cross_entropy", optimizer=fastreg.Adam(0.01),
                   regularizers=[fastreg.L2(0.1), fastreg.MaxNorm(2.0)], input_dropout=0.1,
                   input_noise=0.2, label_smoothing=0.05, dtype=dtype,
                   random_state=random_state)
    options.update(kw)
    return fastreg.Network([fastreg.Dense(32, "relu", dropout=0.3),
                            fastreg.Dense(16, "tanh", dropout=0.2), fastreg.Dense(3)], **options)


def _data(n=150, d=8):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    return X, y


def _params(net):
    return net.coefs_ + net.intercepts_


def _identical(a, b):
    return all(np.array_equal(p, q) for p, q in zip(_params(a), _params(b)))


def test_same_seed_same_everything(dtype):
    X, y = _data()
    a, b = _network(dtype, 42), _network(dtype, 42)
    a.initialize(8)
    b.initialize(8)
    assert _identical(a, b)
    ha = a.fit(X, y, epochs=3, batch_size=16)
    hb = b.fit(X, y, epochs=3, batch_size=16)
    assert ha["loss"] == hb["loss"]
    assert _identical(a, b)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_different_seed_different_result(dtype):
    X, y = _data()
    a, b = _network(dtype, 1), _network(dtype, 2)
    a.fit(X, y, epochs=1)
    b.fit(X, y, epochs=1)
    assert all(not np.array_equal(p, q) for p, q in zip(_params(a), _params(b)))
    # Same initial weights but another seed for the streams: training still differs.
    c, d = _network(dtype, 3), _network(dtype, 4)
    c.initialize(8)
    d.initialize(8)
    d.set_weights(c.coefs_, c.intercepts_)
    c.fit(X, y, epochs=1)
    d.fit(X, y, epochs=1)
    assert not np.array_equal(c.coefs_[0], d.coefs_[0])


def test_generator_random_state(dtype):
    X, y = _data()
    a = _network(dtype, np.random.default_rng(5))
    b = _network(dtype, np.random.default_rng(5))
    a.fit(X, y, epochs=2)
    b.fit(X, y, epochs=2)
    assert _identical(a, b)


@pytest.mark.blas_threads
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("blas_threads", [1, 2])
def test_independent_of_thread_counts(dtype, n_threads, blas_threads):
    """Products large enough to be split over threads: the weights after training, and the
    gradients, are bit-identical for every (fastreg threads, user's BLAS threads) pair."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(512, 64))
    y = rng.integers(0, 3, 512)

    def train(n_threads, blas_threads):
        with threadpoolctl.threadpool_limits(limits=blas_threads, user_api="blas"):
            net = fastreg.Network([fastreg.Dense(128, "relu", dropout=0.2), fastreg.Dense(3)],
                                  optimizer=fastreg.SGD(0.05, momentum=0.9), input_noise=0.1,
                                  dtype=dtype, random_state=11, n_threads=n_threads)
            history = net.fit(X, y, epochs=2, batch_size=256)
            loss, grad_coefs, grad_intercepts = net.loss_gradient(X, y, training=True)
        return history["loss"], [p.copy() for p in _params(net)], loss, grad_coefs + grad_intercepts

    (l1, p1, g1, d1) = train(1, 1)
    (l2, p2, g2, d2) = train(n_threads, blas_threads)
    assert l1 == l2
    assert g1 == g2
    assert all(np.array_equal(p, q) for p, q in zip(p1, p2))
    assert all(np.array_equal(p, q) for p, q in zip(d1, d2))


def test_side_effect_free_calls_do_not_change_training(dtype):
    X, y = _data()
    a, b = _network(dtype, 8), _network(dtype, 8)
    a.fit(X, y, epochs=1, batch_size=20)
    b.fit(X, y, epochs=1, batch_size=20)
    b.predict(X[:7])
    b.loss_gradient(X[:11], y[:11], training=True)
    b.loss_gradient(X, y)
    a.fit(X, y, epochs=2, batch_size=20)
    b.fit(X, y, epochs=2, batch_size=20)
    assert _identical(a, b)


@pytest.mark.parametrize("clone", ["pickle", "deepcopy"])
def test_copy_continues_identically(dtype, clone):
    X, y = _data()
    net = _network(dtype, 9, optimizer=fastreg.SGD(0.05, momentum=0.9, nesterov=True))
    net.fit(X, y, epochs=2, batch_size=32)
    other = pickle.loads(pickle.dumps(net)) if clone == "pickle" else copy.deepcopy(net)
    assert other.steps_ == net.steps_ and other.epochs_ == net.epochs_
    assert np.array_equal(other.predict(X), net.predict(X))
    net.fit(X, y, epochs=2, batch_size=32)
    other.fit(X, y, epochs=2, batch_size=32)
    assert _identical(net, other)
    assert other.history_["loss"] == net.history_["loss"]


def test_concurrent_training_in_threads(dtype):
    X, y = _data(n=400)
    seeds = [21, 22, 23]
    sequential = []
    for seed in seeds:
        net = _network(dtype, seed)
        net.fit(X, y, epochs=3, batch_size=16)
        sequential.append(net)
    parallel = [_network(dtype, seed) for seed in seeds]
    errors = []

    def work(net):
        try:
            net.fit(X, y, epochs=3, batch_size=16)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(net,)) for net in parallel]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for a, b in zip(sequential, parallel):
        assert _identical(a, b)
        assert a.history_["loss"] == b.history_["loss"]


@pytest.mark.blas_threads
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_parallel_fused_passes_are_thread_count_independent(dtype, activation):
    """Batches and layers large enough that the fused passes (activation + dropout, the
    backward pass with its bias sums, the update) run split over threads."""
    pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(1024, 32))
    y = rng.integers(0, 4, 1024)

    def train(n_threads):
        net = fastreg.Network([fastreg.Dense(256, activation, dropout=0.2),
                               fastreg.Dense(256, activation, dropout=0.2), fastreg.Dense(4)],
                              optimizer=fastreg.Adam(1e-3), regularizers=[fastreg.L2(1e-3)],
                              dtype=dtype, random_state=5, n_threads=n_threads)
        history = net.fit(X, y, epochs=2, batch_size=512)
        return history["loss"], [p.copy() for p in _params(net)]

    (l1, p1), (l2, p2) = train(1), train(2)
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
