"""Whole training runs of ``Network.fit`` against the NumPy reference.

The reference (``reference.train``) does forward, loss, backward and the update of
every minibatch in plain float64 NumPy, using the visiting order, dropout masks and
input noise that fastreg documents (``fastreg._random`` hooks). Compared after a few
epochs with shuffling, hidden and input dropout and input noise:

* every optimizer (SGD, momentum, Nesterov, Adam, AdamW) x every regularizer (none, L2,
  WeightDecay, L1, ElasticNet, MaxNorm): weights, biases, reported epoch losses, step
  and epoch counters;
* every loss with sample weights, in both dropout modes, without shuffling;
* learning-rate schedules, fit continued over several calls, callbacks, history;
* scikit-learn's MLP (SGD, momentum, Nesterov, Adam with L2), as an external check.

Tolerances: ~1e-12 relative in float64, ~1e-5 in float32 (the reference stays float64).
"""
import warnings

import numpy as np
import pytest

import fastreg
from helpers import (
    TOLERANCES,
    assert_close,
    hook_draws_for,
    hook_order_for,
    make_fastreg_optimizer,
    make_pair,
    make_problem,
    make_reference_optimizer,
    weights_of,
)
from reference import LOSSES, predict, train

LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 0.01, "adamw": 0.01}
REGULARIZERS = ["none", "l2", "weight_decay", "l1", "elastic_net", "max_norm"]
ADAMW_DECAY = 0.5


def _regularization(name):
    """(fastreg regularizers, reference settings) of a regularizer column of the grid."""
    if name == "none":
        return [], {}
    if name == "l2":
        return [fastreg.L2(0.5)], {"alpha": 0.5}
    if name == "weight_decay":
        return [fastreg.WeightDecay(0.4)], {"weight_decay": 0.4}
    if name == "l1":
        return [fastreg.L1(0.5)], {"l1": 0.5}
    if name == "elastic_net":
        return [fastreg.ElasticNet(l1=0.3, alpha=0.4)], {"l1": 0.3, "alpha": 0.4}
    if name == "max_norm":
        return [fastreg.MaxNorm(0.8)], {"max_norm": 0.8}
    raise ValueError(name)


GRID = [(opt, reg) for opt in LEARNING_RATES for reg in REGULARIZERS
        if not (opt == "adamw" and reg == "weight_decay")]  # that pair is rejected by design


def _run_both(net, model, ref_opt, X, y, Y, sample_weight=None, *, epochs, batch_size, shuffle):
    """Train fastreg and the reference from the same weights; return both results."""
    coefs, intercepts = weights_of(net)
    start_epoch, start_step = net.epochs_, net.steps_
    history = net.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle,
                      sample_weight=sample_weight)
    ref = train(model, ref_opt, coefs, intercepts, X, Y, sample_weight, epochs=epochs,
                batch_size=batch_size, shuffle=shuffle,
                draws_for=hook_draws_for(net._seed, model, X.shape[1]),
                order_for=hook_order_for(net._seed), start_epoch=start_epoch,
                start_step=start_step)
    return history, ref


def _assert_same(net, history, ref, tol):
    ref_coefs, ref_intercepts, ref_losses, ref_step = ref
    assert net.steps_ == ref_step
    assert_close(net.coefs_, ref_coefs, **tol, what="coefs")
    assert_close(net.intercepts_, ref_intercepts, **tol, what="intercepts")
    assert_close(history["loss"], ref_losses, **tol, what="epoch losses")


@pytest.mark.parametrize("optimizer,regularizer", GRID)
def test_optimizer_regularizer_grid(dtype, tol, optimizer, regularizer):
    rng = np.random.default_rng(101)
    lr = LEARNING_RATES[optimizer]
    regs, settings = _regularization(regularizer)
    wd = ADAMW_DECAY if optimizer == "adamw" else settings.get("weight_decay", 0.0)
    hidden = [(6, "tanh", 0.2), (5, "relu", 0.1)]
    net, model = make_pair(hidden, 3, "softmax_cross_entropy", dtype=dtype, random_state=33,
                           optimizer=make_fastreg_optimizer(optimizer, lr, ADAMW_DECAY),
                           regularizers=regs, alpha=settings.get("alpha", 0.0),
                           input_dropout=0.1, input_noise=0.05, label_smoothing=0.05)
    ref_opt = make_reference_optimizer(optimizer, lr, weight_decay=wd,
                                       l1=settings.get("l1", 0.0),
                                       max_norm=settings.get("max_norm", 0.0))
    X, y, Y = make_problem("softmax_cross_entropy", 20, 4, 3, rng)
    sw = rng.uniform(0.5, 2.0, 20)
    net.initialize(4)
    initial_norm = max(np.linalg.norm(w.astype(np.float64), axis=0).max() for w in net.coefs_)
    history, ref = _run_both(net, model, ref_opt, X, y, Y, sw, epochs=3, batch_size=6,
                             shuffle=True)
    assert net.epochs_ == 3 and net.steps_ == 12  # 20 samples: batches of 6, 6, 6, 2
    _assert_same(net, history, ref, tol)
    # The regularizer must actually have done something visible.
    if regularizer in ("l1", "elastic_net"):
        assert sum(int((w == 0).sum()) for w in net.coefs_) > 0, "L1 made no exact zero"
        assert all(np.all(b != 0) for b in net.intercepts_), "biases must not be L1-shrunk"
    if regularizer == "max_norm":
        norms = np.concatenate([np.linalg.norm(w.astype(np.float64), axis=0) for w in net.coefs_])
        assert norms.max() <= 0.8 * (1 + 1e-6)
        assert initial_norm > 0.8 * 1.05, "max-norm never active: test too weak"


@pytest.mark.parametrize("mode", ["inverted", "vanilla"])
@pytest.mark.parametrize("loss", LOSSES)
def test_losses_with_sample_weights(dtype, tol, loss, mode):
    """Each loss, weighted samples, no shuffling, momentum, L2, dropout in both modes."""
    rng = np.random.default_rng(103)
    smoothing = 0.1 if loss in ("softmax_cross_entropy", "logistic_cross_entropy") else 0.0
    hidden = [(5, "logistic", 0.25), (4, "tanh", 0.0)]
    net, model = make_pair(hidden, 2, loss, dtype=dtype, random_state=8,
                           optimizer=fastreg.SGD(0.05, momentum=0.5),
                           regularizers=[fastreg.L2(0.1)], alpha=0.1, input_dropout=0.2,
                           dropout_mode=mode, label_smoothing=smoothing)
    ref_opt = make_reference_optimizer("momentum", 0.05)
    ref_opt.momentum = 0.5
    X, y, Y = make_problem(loss, 17, 3, 2, rng)
    sw = rng.uniform(0.1, 3.0, 17)
    sw[[2, 9]] = 0.0
    net.initialize(3)
    history, ref = _run_both(net, model, ref_opt, X, y, Y, sw, epochs=2, batch_size=5,
                             shuffle=False)
    _assert_same(net, history, ref, tol)


@pytest.mark.parametrize("n_features,width,batch_size",
                         [(3, 1, 4), (1, 5, 1), (4, 6, 1), (2, 1, 1)])
def test_matrix_vector_products(dtype, tol, n_features, width, batch_size):
    """One output unit, a hidden layer of width 1, one feature, batches of one row: each
    product is then a matrix-vector product (or an outer one), done by BLAS gemv."""
    rng = np.random.default_rng(107)
    hidden = [(width, "tanh", 0.0), (3, "relu", 0.3)]
    net, model = make_pair(hidden, 1, "squared_error", dtype=dtype, random_state=5,
                           optimizer=fastreg.SGD(0.05, momentum=0.5),
                           regularizers=[fastreg.L2(0.1)], alpha=0.1)
    ref_opt = make_reference_optimizer("momentum", 0.05)
    ref_opt.momentum = 0.5
    X, y, Y = make_problem("squared_error", 9, n_features, 1, rng)
    net.initialize(n_features)
    history, ref = _run_both(net, model, ref_opt, X, y, Y, epochs=2, batch_size=batch_size,
                             shuffle=True)
    _assert_same(net, history, ref, tol)
    coefs, intercepts = weights_of(net)
    for row in X[:3]:
        assert_close(net.predict(row[None, :]), predict(model, coefs, intercepts, row[None, :]),
                     **tol, what="one row")


def test_products_cut_into_blocks(dtype, tol):
    """Products large enough to be cut for the team: by columns (fan-out 128), by rows
    where the output is too narrow for columns (48 units, 4 outputs), with and without
    transposed operands (forward, delta, weight gradient)."""
    rng = np.random.default_rng(109)
    hidden = [(48, "relu", 0.2), (128, "tanh", 0.0)]
    net, model = make_pair(hidden, 4, "softmax_cross_entropy", dtype=dtype, random_state=6,
                           optimizer=fastreg.SGD(0.05, momentum=0.5),
                           regularizers=[fastreg.L2(0.1)], alpha=0.1)
    ref_opt = make_reference_optimizer("momentum", 0.05)
    ref_opt.momentum = 0.5
    X, y, Y = make_problem("softmax_cross_entropy", 300, 48, 4, rng)
    net.initialize(48)
    history, ref = _run_both(net, model, ref_opt, X, y, Y, epochs=2, batch_size=256,
                             shuffle=True)
    _assert_same(net, history, ref, tol)


def test_schedule_and_continued_fit(dtype, tol):
    """A learning-rate schedule is evaluated per epoch over the whole life of the network;
    fit continues from the current weights, optimizer state and step count."""
    rng = np.random.default_rng(107)
    schedule = lambda epoch: 0.05 / (1 + epoch)  # noqa: E731
    hidden = [(7, "relu", 0.3)]
    net, model = make_pair(hidden, 2, "logistic_cross_entropy", dtype=dtype, random_state=12,
                           optimizer=fastreg.Adam(schedule, beta1=0.8, beta2=0.95),
                           regularizers=[fastreg.WeightDecay(0.3), fastreg.L1(0.01)],
                           input_noise=0.1)
    ref_opt = make_reference_optimizer("adam", schedule, weight_decay=0.3, l1=0.01)
    ref_opt.beta1, ref_opt.beta2, ref_opt.epsilon = 0.8, 0.95, 1e-8
    X, y, Y = make_problem("logistic_cross_entropy", 15, 3, 2, rng)
    net.initialize(3)
    coefs, intercepts = weights_of(net)
    first = net.fit(X, y, epochs=2, batch_size=4)
    second = net.fit(X, y, epochs=1, batch_size=4)
    third = net.fit(X, y, epochs=1, batch_size=15)  # a new batch size: one step per epoch
    assert net.epochs_ == 4 and net.steps_ == 4 + 4 + 4 + 1
    ref = train(model, ref_opt, coefs, intercepts, X, Y, epochs=3, batch_size=4, shuffle=True,
                draws_for=hook_draws_for(net._seed, model, 3), order_for=hook_order_for(net._seed))
    ref = train(model, ref_opt, ref[0], ref[1], X, Y, epochs=1, batch_size=15, shuffle=True,
                draws_for=hook_draws_for(net._seed, model, 3), order_for=hook_order_for(net._seed),
                start_epoch=3, start_step=ref[3])
    losses = first["loss"] + second["loss"] + third["loss"]
    assert net.history_["loss"] == losses
    assert net.history_["learning_rate"] == [schedule(e) for e in range(4)]
    assert third["learning_rate"] == [schedule(3)]
    assert_close(net.coefs_, ref[0], **tol, what="coefs")
    assert_close(net.intercepts_, ref[1], **tol, what="intercepts")
    assert_close(losses[-1], ref[2][0], **tol, what="last epoch loss")


def test_reset_optimizer(dtype, tol):
    """reset_optimizer zeroes the Adam moments and the step count (masks and bias
    correction restart at step 0) but not the epoch count (shuffling continues)."""
    rng = np.random.default_rng(108)
    hidden = [(6, "tanh", 0.3)]
    net, model = make_pair(hidden, 3, "softmax_cross_entropy", dtype=dtype, random_state=14,
                           optimizer=fastreg.Adam(0.02), input_dropout=0.2)
    X, y, Y = make_problem("softmax_cross_entropy", 12, 3, 3, rng)
    net.fit(X, y, epochs=2, batch_size=5)
    net.reset_optimizer()
    assert net.steps_ == 0 and net.epochs_ == 2
    ref_opt = make_reference_optimizer("adam", 0.02)
    ref_opt.beta1, ref_opt.beta2, ref_opt.epsilon = 0.9, 0.999, 1e-8
    history, ref = _run_both(net, model, ref_opt, X, y, Y, epochs=2, batch_size=5, shuffle=True)
    assert net.epochs_ == 4
    _assert_same(net, history, ref, tol)


def test_split_fit_is_bit_identical(dtype):
    """fit(epochs=3) and three fit(epochs=1) calls give bit-identical weights and losses."""
    rng = np.random.default_rng(109)
    kw = dict(optimizer=fastreg.SGD(0.05, momentum=0.9, nesterov=True),
              regularizers=[fastreg.MaxNorm(1.0), fastreg.L2(0.1)], input_dropout=0.2,
              input_noise=0.1, dtype=dtype, random_state=5)
    a, _ = make_pair([(6, "relu", 0.5)], 3, "softmax_cross_entropy", **kw)
    b, _ = make_pair([(6, "relu", 0.5)], 3, "softmax_cross_entropy", **kw)
    X, y, _ = make_problem("softmax_cross_entropy", 30, 4, 3, rng)
    la = a.fit(X, y, epochs=3, batch_size=7)["loss"]
    lb = sum((b.fit(X, y, epochs=1, batch_size=7)["loss"] for _ in range(3)), [])
    assert la == lb
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(p, q)


def test_adamw_is_adam_with_weight_decay(dtype):
    rng = np.random.default_rng(113)
    X, y, _ = make_problem("squared_error", 25, 3, 2, rng)
    a, _ = make_pair([(5, "tanh", 0.2)], 2, "squared_error", dtype=dtype, random_state=3,
                     optimizer=fastreg.AdamW(0.02, weight_decay=0.7))
    b, _ = make_pair([(5, "tanh", 0.2)], 2, "squared_error", dtype=dtype, random_state=3,
                     optimizer=fastreg.Adam(0.02), regularizers=[fastreg.WeightDecay(0.7)])
    losses_a = a.fit(X, y, epochs=3, batch_size=6)["loss"]
    assert losses_a == b.fit(X, y, epochs=3, batch_size=6)["loss"]
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.array_equal(p, q)


def test_weight_decay_is_l2_for_full_batch_sgd():
    """Plain SGD: WeightDecay(rate) equals L2(alpha = rate * S) with S the batch size."""
    rng = np.random.default_rng(127)
    X, y, _ = make_problem("squared_error", 12, 3, 1, rng)
    a, _ = make_pair([(4, "tanh", 0.0)], 1, "squared_error", random_state=2,
                     optimizer=fastreg.SGD(0.1), regularizers=[fastreg.WeightDecay(0.3)])
    b, _ = make_pair([(4, "tanh", 0.0)], 1, "squared_error", random_state=2,
                     optimizer=fastreg.SGD(0.1), regularizers=[fastreg.L2(0.3 * 12)])
    a.fit(X, y, epochs=5, batch_size=12)
    b.fit(X, y, epochs=5, batch_size=12)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-15)


def test_batch_larger_than_data_is_clipped(dtype, tol):
    rng = np.random.default_rng(131)
    net, model = make_pair([(4, "relu", 0.0)], 1, "poisson", dtype=dtype, random_state=6,
                           optimizer=fastreg.SGD(0.05))
    X, y, Y = make_problem("poisson", 9, 2, 1, rng)
    net.initialize(2)
    history, ref = _run_both(net, model, make_reference_optimizer("sgd", 0.05), X, y[:, 0], Y,
                             epochs=3, batch_size=1000, shuffle=True)
    assert net.steps_ == 3
    _assert_same(net, history, ref, tol)


def test_zero_weight_minibatch():
    """A minibatch whose sample weights are all 0 is valid input (the total is positive):
    it must not poison training; with plain SGD and no penalty it is a no-op step."""
    rng = np.random.default_rng(137)
    net, model = make_pair([(4, "tanh", 0.0)], 1, "squared_error", random_state=1,
                           optimizer=fastreg.SGD(0.1))
    X, y, Y = make_problem("squared_error", 6, 2, 1, rng)
    sw = np.array([0.0, 0.0, 1.0, 2.0, 1.0, 1.0])
    net.initialize(2)
    coefs, intercepts = weights_of(net)
    history = net.fit(X, y, epochs=1, batch_size=2, shuffle=False, sample_weight=sw)
    assert np.isfinite(history["loss"][0])
    # Expected: the first batch changes nothing; then two ordinary steps.
    ref = train(model, make_reference_optimizer("sgd", 0.1), coefs, intercepts, X[2:], Y[2:],
                sw[2:], epochs=1, batch_size=2, shuffle=False, draws_for=lambda s, n: None,
                order_for=None)
    assert_close(net.coefs_, ref[0], **TOLERANCES["float64"], what="coefs")
    assert_close(net.intercepts_, ref[1], **TOLERANCES["float64"], what="intercepts")


def test_history_and_callback():
    rng = np.random.default_rng(139)
    net, _ = make_pair([(4, "tanh", 0.0)], 2, "softmax_cross_entropy", random_state=1,
                       optimizer=fastreg.SGD(0.1))
    X, y, _ = make_problem("softmax_cross_entropy", 20, 3, 2, rng)
    seen = []

    def callback(network, record):
        assert network is net
        seen.append(dict(record))
        return record["epoch"] == 3  # stop after the 4th epoch

    history = net.fit(X, y, epochs=10, batch_size=8, callback=callback)
    assert [r["epoch"] for r in seen] == [0, 1, 2, 3]
    assert net.epochs_ == 4 and net.steps_ == 4 * 3
    assert set(history) == {"loss", "learning_rate", "epoch_time", "val_loss", "val_accuracy"}
    assert np.isnan(history["val_loss"]).all() and np.isnan(history["val_accuracy"]).all()
    assert history["loss"] == [r["loss"] for r in seen]
    assert history["learning_rate"] == [0.1] * 4
    assert all(t >= 0 for t in history["epoch_time"])
    # A second call reports only its own epochs; history_ keeps everything.
    again = net.fit(X, y, epochs=2)
    assert len(again["loss"]) == 2 and len(net.history_["loss"]) == 6
    assert net.history_["loss"][:4] == history["loss"]


@pytest.mark.parametrize("loss", LOSSES)
def test_prediction_matches_reference_beyond_one_chunk(dtype, tol, loss):
    """predict (done in chunks of rows) equals the reference for many rows: the output
    function of each loss (softmax, sigmoid, identity, exp), both dropout modes."""
    rng = np.random.default_rng(149)
    for mode in ("inverted", "vanilla"):
        hidden = [(7, "relu", 0.3), (6, "tanh", 0.5), (5, "logistic", 0.2)]
        net, model = make_pair(hidden, 4, loss, dtype=dtype, random_state=4,
                               input_dropout=0.4, dropout_mode=mode)
        X = rng.normal(size=(601, 3))
        net.initialize(3)
        coefs, intercepts = weights_of(net)
        out = net.predict(X)
        assert out.shape == (601, 4) and out.dtype == np.dtype(dtype)
        assert_close(out, predict(model, coefs, intercepts, X), **tol, what=mode)
        # Row-wise: predicting a slice gives the same rows.
        assert_close(net.predict(X[250:270]), out[250:270], **tol, what="slice")


# ----------------------------------------------------------------- scikit-learn cross-check
SKLEARN_SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, nesterovs_momentum=False),
    "momentum": dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    "nesterov": dict(solver="sgd", momentum=0.8, nesterovs_momentum=True),
    "adam": dict(solver="adam", beta_1=0.85, beta_2=0.99, epsilon=1e-6),
}


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("optimizer", list(SKLEARN_SOLVERS))
def test_matches_scikit_learn(optimizer, task):
    """Same weights, same data order (no shuffling): same weights and loss_curve_ as
    scikit-learn's MLP with the same solver and alpha."""
    neural_network = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(151)
    lr, alpha, epochs = LEARNING_RATES[optimizer], 0.3, 3
    if task == "regression":
        loss, n_out = "squared_error", 1
        X, y, _ = make_problem(loss, 23, 4, 1, rng)
        y = y[:, 0]
        Estimator = neural_network.MLPRegressor
    else:
        loss, n_out = "softmax_cross_entropy", 3
        X, y, _ = make_problem(loss, 23, 4, 3, rng)
        Estimator = neural_network.MLPClassifier
    net, _ = make_pair([(5, "tanh", 0.0), (4, "tanh", 0.0)], n_out, loss, random_state=7,
                       optimizer=make_fastreg_optimizer(optimizer, lr),
                       regularizers=[fastreg.L2(alpha)], alpha=alpha)
    net.initialize(4)
    mlp = Estimator(hidden_layer_sizes=(5, 4), activation="tanh", alpha=alpha, batch_size=6,
                    learning_rate_init=lr, shuffle=False, max_iter=epochs, warm_start=True,
                    tol=0.0, n_iter_no_change=1000, random_state=0, **SKLEARN_SOLVERS[optimizer])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "classification":
            mlp.partial_fit(X, y, classes=[0, 1, 2])
        else:
            mlp.partial_fit(X, y)  # allocates its weights, which are then replaced
        mlp.coefs_ = [w.copy() for w in net.coefs_]
        mlp.intercepts_ = [b.copy() for b in net.intercepts_]
        mlp.fit(X, y)  # warm start: our weights, a fresh optimizer, `epochs` epochs
    history = net.fit(X, y, epochs=epochs, batch_size=6, shuffle=False)
    np.testing.assert_allclose(history["loss"], mlp.loss_curve_[-epochs:], rtol=1e-12)
    for ours, theirs in zip(net.coefs_ + net.intercepts_, mlp.coefs_ + mlp.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "squared_error"])
def test_evaluate_equals_the_gradient_free_part_of_loss_gradient(dtype, loss):
    """evaluate() runs forward passes in chunks; its loss is loss_gradient's, any batch size."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(53, 6))
    y = rng.integers(0, 3, 53) if loss == "softmax_cross_entropy" else rng.normal(size=(53, 3))
    w = rng.uniform(0.5, 2.0, 53)
    net = fastreg.Network([fastreg.Dense(7, "tanh", dropout=0.3), fastreg.Dense(3)], loss=loss,
                          regularizers=[fastreg.L2(0.5)], dtype=dtype, random_state=2)
    net.fit(X, y, epochs=1, batch_size=10)
    scores = net.evaluate(X, y, sample_weight=w)
    expected = net.loss_gradient(X, y, sample_weight=w)[0]
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert scores["loss"] == pytest.approx(expected, rel=tol)
    assert scores["loss"] == pytest.approx(scores["data_loss"] + scores["penalty"], rel=1e-15)
