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
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import fastreg
import fastreg.augment


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


def _team_case(name, dtype):
    """A network, its data and fit options for one feature set of the team step, large
    enough (batch x multiply-adds per sample) that n_threads=2 does run a team of two."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(517, 48))  # 517 = 2 x 256 + 5: a last batch of 5 rows
    y = rng.integers(0, 4, 517)
    options = dict(dtype=dtype, random_state=5)
    fit = dict(epochs=2, batch_size=256)
    hidden = [fastreg.Dense(200, "relu", dropout=0.2), fastreg.Dense(96, "tanh", dropout=0.1)]
    if name == "adam-l2-dropout":
        options.update(optimizer=fastreg.Adam(1e-3), regularizers=[fastreg.L2(1e-3)])
    elif name == "adamw-elasticnet-maxnorm-ema":
        options.update(optimizer=fastreg.AdamW(1e-3, weight_decay=0.01),
                       regularizers=[fastreg.ElasticNet(1e-3, 1e-4), fastreg.MaxNorm(0.5)],
                       averaging=fastreg.EMA(0.9))
    elif name == "noise-everywhere":
        options.update(optimizer=fastreg.SGD(0.05, momentum=0.9, nesterov=True),
                       input_dropout=0.1, input_noise=0.1, weight_noise=0.01, label_noise=0.1,
                       label_smoothing=0.1, dropout_mode="vanilla")
    elif name == "augment-and-sample-weight":
        options.update(optimizer=fastreg.SGD(0.05), regularizers=[fastreg.MaxNorm(1.0)],
                       augment=fastreg.augment.Jitter(0.05))
        weight = rng.uniform(0, 2, size=517)
        weight[:300] = 0  # whole batches of zero weight take no step
        fit.update(sample_weight=weight, shuffle=False)
    elif name == "one-layer":
        hidden = []
        options.update(optimizer=fastreg.SGD(0.1), regularizers=[fastreg.L2(1e-2)],
                       averaging=fastreg.EMA(0.5))
    elif name == "conv1d":
        hidden = [fastreg.Conv1D(8, 5, padding=2, activation="relu", dropout=0.1),
                  fastreg.Conv1D(6, 3, stride=2, activation="tanh"),
                  fastreg.Dense(32, "relu")]
        options.update(optimizer=fastreg.Adam(1e-3), regularizers=[fastreg.L2(1e-3)])
    elif name == "sparse":
        import scipy.sparse

        X = scipy.sparse.random(517, 48, density=0.2, format="csr", random_state=3)
        options.update(optimizer=fastreg.SGD(0.05, momentum=0.5), regularizers=[fastreg.L1(1e-3)])
    net = fastreg.Network(hidden + [fastreg.Dense(4)], **options)
    return net, X, y, fit


TEAM_CASES = ["adam-l2-dropout", "adamw-elasticnet-maxnorm-ema", "noise-everywhere",
              "augment-and-sample-weight", "one-layer", "conv1d", "sparse"]


@pytest.mark.blas_threads
@pytest.mark.parametrize("case", TEAM_CASES)
def test_team_steps_are_thread_count_independent(dtype, case):
    """A step shared by two threads (blocks of the products, rows of the passes,
    delta and weight gradient of a layer at the same time, updates of different layers)
    gives the same bits as one thread: weights, averages, optimizer state, losses, and the
    gradients of loss_gradient."""
    pytest.importorskip("threadpoolctl")
    if fastreg._threads.available_cores() < 2:
        pytest.skip("needs two cores")

    def train(n_threads):
        net, X, y, fit = _team_case(case, dtype)
        net.n_threads = n_threads
        history = net.fit(X, y, **fit)
        loss, grad_coefs, grad_intercepts = net.loss_gradient(X, y, training=True)
        state = [a.copy() for group in net._optimizer_state for a in group if a is not None]
        averages = [a.copy() for a in (net.averaged_coefs_ or [])]
        return (history["loss"], loss, [p.copy() for p in _params(net)] + state + averages,
                grad_coefs + grad_intercepts)

    (l1, g1, p1, d1), (l2, g2, p2, d2) = train(1), train(2)
    assert l1 == l2
    assert g1 == g2
    assert len(p1) == len(p2)
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    assert all(np.array_equal(a, b) for a, b in zip(d1, d2))


def _skip_without_team():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if fastreg._threads.available_cores() < 2:
        pytest.skip("needs two cores")
    if not any(info["user_api"] == "openmp" for info in threadpoolctl.threadpool_info()):
        pytest.skip("fastreg was built without OpenMP: no team")


def _train_with_team_review(case, dtype, n_threads, verdict=False, batch_size=None, **review):
    """Train a team case; `review` sets the engine's team-review attributes first. Unless
    `verdict`, the engine does not start from the verdict of an earlier one."""
    net, X, y, fit = _team_case(case, dtype)
    net.n_threads = n_threads
    if batch_size is not None:
        fit["batch_size"] = batch_size
    if not verdict:
        fastreg._engine.forget_team_verdict()
    if review:
        net.initialize(X.shape[1])
        engine = net._engine_for(fit["batch_size"])
        for name, value in review.items():
            setattr(engine, name, value)
    history = net.fit(X, y, **fit)
    return net, history["loss"], [p.copy() for p in _params(net)]


@pytest.mark.blas_threads
@pytest.mark.parametrize("case", ["adam-l2-dropout", "augment-and-sample-weight", "conv1d"])
def test_team_handing_the_epoch_to_one_thread(dtype, case):
    """When its threads wait too long for each other (cores shared with other work), the
    team hands the steps to one thread: forced here from the second step on, the weights
    and losses are those of one thread throughout."""
    _skip_without_team()
    _, l1, p1 = _train_with_team_review(case, dtype, 1)
    net, l2, p2 = _train_with_team_review(case, dtype, 2, team_window=0.0, team_wait_limit=-1.0)
    assert net._engine.solo_steps == net._engine.step - 1, "the team kept steps"
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))


@pytest.mark.blas_threads
@pytest.mark.parametrize("case", ["adam-l2-dropout", "augment-and-sample-weight", "sparse"])
def test_team_and_one_thread_taking_turns(dtype, case):
    """A team that times one thread against itself after every step (a window of no
    time, a trial whenever the last is done, the team always faster) alternates: a step
    on the team, a step on thread 0 with the other parked, inside epochs and across
    their ends. The weights and losses are those of one thread throughout."""
    _skip_without_team()
    _, l1, p1 = _train_with_team_review(case, dtype, 1)
    net, l2, p2 = _train_with_team_review(
        case, dtype, 2, team_window=0.0, team_wait_limit=np.inf, trial_interval=0.0,
        solo_advantage=np.inf)
    engine = net._engine
    assert engine.solo_steps == engine.step // 2
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))


@pytest.mark.blas_threads
def test_team_gives_its_steps_to_a_faster_thread(dtype):
    """When one thread trains faster than the team (forced: any advantage counts and
    every window is timed), a trial hands it the steps for a turn; the result is the
    same."""
    _skip_without_team()
    case = "adam-l2-dropout"
    _, l1, p1 = _train_with_team_review(case, dtype, 1)
    net, l2, p2 = _train_with_team_review(
        case, dtype, 2, team_window=0.0, team_wait_limit=np.inf, trial_interval=0.0,
        solo_advantage=0.0)
    engine = net._engine
    # Steps: team, trial on one thread, team (compared: slower than one thread), then
    # one thread for a turn of 0.1 s of training, longer than this whole fit.
    assert engine.solo_steps == engine.step - 2
    assert engine.solo
    assert engine.trial_interval > 0
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))

    # The next engine with steps of this size starts from that verdict: on one thread.
    net, l3, p3 = _train_with_team_review(case, dtype, 2, verdict=True, solo_advantage=0.0)
    assert net._engine.solo_steps == net._engine.step
    assert l3 == l1
    assert all(np.array_equal(a, b) for a, b in zip(p1, p3))
    # Steps of another size: it times one thread itself (team, trial, team, one thread).
    batch_size = _team_case(case, dtype)[3]["batch_size"] // 2
    net, *_ = _train_with_team_review(case, dtype, 2, verdict=True, batch_size=batch_size,
                                      team_window=0.0, team_wait_limit=np.inf,
                                      solo_advantage=0.0)
    assert net._engine.solo_steps == net._engine.step - 2


@pytest.mark.blas_threads
def test_small_steps_begin_on_one_thread(dtype):
    """Steps of fewer forward multiply-adds than ``solo_first_work`` begin with a turn of
    one thread (the team parked); larger ones begin on the team. The turn is made to last
    the whole fit (no window ends it); the weights are those of one thread."""
    _skip_without_team()
    case = "adam-l2-dropout"
    _, l1, p1 = _train_with_team_review(case, dtype, 1)
    net, l2, p2 = _train_with_team_review(case, dtype, 2, team_window=np.inf,
                                          solo_first_work=2**40)
    assert net._engine.solo_steps == net._engine.step
    assert l1 == l2
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    net, *_ = _train_with_team_review(case, dtype, 2, team_window=np.inf, solo_first_work=0)
    assert net._engine.solo_steps == 0


@pytest.mark.blas_threads
def test_parked_threads_sleep():
    """While one thread takes the steps, the parked threads sleep instead of spinning at a
    barrier (libgomp spins for milliseconds first, through a whole short epoch: that
    partner slowed the working thread 1.5x on the 2-core machine). Forty short epochs, each
    with the team woken and parked at once; timed by the CPU time of the process's other
    threads, in a child process."""
    _skip_without_team()
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc/self/task to read each thread's CPU time")
    script = textwrap.dedent(
        """
        import os, threading, time
        import numpy as np
        import fastreg

        def cpu_seconds_of_other_threads():
            total = 0.0
            for task in os.listdir("/proc/self/task"):
                if int(task) == threading.get_native_id():
                    continue
                with open(f"/proc/self/task/{task}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            return total

        rng = np.random.default_rng(0)
        X = rng.normal(size=(4000, 40)).astype(np.float32)
        y = rng.integers(0, 10, 4000)
        net = fastreg.Network([fastreg.Dense(100, "relu"), fastreg.Dense(100, "relu"),
                               fastreg.Dense(10)], dtype="float32", random_state=0,
                              n_threads=2)
        net.initialize(40)
        engine = net._engine_for(32)
        # One thread's turn that no review ends: every epoch wakes the team and parks it.
        engine.solo_first_work, engine.team_window = 2**40, float("inf")
        time.sleep(0.5)
        before, start = cpu_seconds_of_other_threads(), time.perf_counter()
        net.fit(X, y, epochs=40, batch_size=32)
        wall = time.perf_counter() - start
        others = cpu_seconds_of_other_threads() - before
        print(engine.step, engine.solo_steps, wall, others)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0, child.stderr
    steps, solo_steps, wall, others = child.stdout.split()
    assert int(solo_steps) == int(steps) == 40 * 125, child.stdout
    # A spinning partner takes about the whole wall time; a sleeping one, libgomp's spin
    # between epochs.
    assert float(others) < 0.3 * float(wall), child.stdout


@pytest.mark.blas_threads
@pytest.mark.parametrize("failing_call", [2, 3, 4])
def test_team_stops_cleanly_when_the_augment_hook_fails(dtype, failing_call):
    """Steps alternating between the team and one thread (as in the test above): the hook
    fails on a step of one thread with the other parked in the middle of the first epoch
    (call 2), on a team step (3), on the first step of an epoch begun on one thread (4).
    The error surfaces, no thread is left waiting, and the network trains on."""
    _skip_without_team()
    calls = []

    def flaky(X, rng):
        calls.append(net._engine.solo)
        if len(calls) == failing_call:
            raise RuntimeError("the hook failed")
        return X

    net, X, y, fit = _team_case("adam-l2-dropout", dtype)
    net.augment = flaky
    net.n_threads = 2
    fastreg._engine.forget_team_verdict()
    net.initialize(X.shape[1])
    engine = net._engine_for(fit["batch_size"])
    engine.team_window, engine.team_wait_limit = 0.0, np.inf
    engine.trial_interval, engine.solo_advantage = 0.0, np.inf
    with pytest.raises(RuntimeError, match="the hook failed"):
        net.fit(X, y, **fit)
    assert calls == [False, True, False, True][:failing_call]
    history = net.fit(X, y, **fit)
    assert len(history["loss"]) == fit["epochs"] and np.all(np.isfinite(history["loss"]))
    assert len(calls) == failing_call + 6


@pytest.mark.slow
@pytest.mark.blas_threads
def test_team_taking_turns_on_busy_cores():
    """The hand-overs of the test above, with both cores also busy with other processes:
    a partner thread is often descheduled between a barrier and reading the team's word,
    while thread 0 goes on alone. Thirty fits must end (a child process, so that a team
    that waits forever fails the test instead of hanging it) with the weights of one
    thread."""
    _skip_without_team()
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import fastreg
        sys.path.insert(0, sys.argv[1])
        from test_determinism import _params, _train_with_team_review

        _, _, reference = _train_with_team_review("adam-l2-dropout", "float64", 1)
        for _ in range(30):
            net, _, params = _train_with_team_review(
                "adam-l2-dropout", "float64", 2, team_window=0.0, team_wait_limit=np.inf,
                trial_interval=0.0, solo_advantage=np.inf)
            assert net._engine.solo_steps == net._engine.step // 2
            assert all(np.array_equal(a, b) for a, b in zip(reference, params))
        print("ok")
        """
    )
    spin = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        child = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent)],
                               capture_output=True, text=True, timeout=50)
    except subprocess.TimeoutExpired:
        pytest.fail("a team of two threads waited forever")
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "ok"
