"""Input validation of the core API.

Every bad input must raise ``ValueError`` or ``TypeError`` (never crash the process, never
train on garbage) with a message that names the problem, and leave the network as it
was. Accepted-but-converted inputs (integer, boolean, non-contiguous, Fortran-ordered,
read-only arrays, lists) must give exactly the result of the converted array and must
never be modified.

Each case below names the call and a regular expression the message must match.
"""
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastreg
from fastreg import L1, L2, SGD, Adam, AdamW, Dense, ElasticNet, MaxNorm, Network, WeightDecay

RNG = np.random.default_rng(0)
X = RNG.normal(size=(10, 3))
LABELS = np.arange(10) % 3


def _net(**kw):
    options = dict(loss="softmax_cross_entropy", random_state=0)
    options.update(kw)
    return Network([Dense(4, "relu"), Dense(3)], **options)


def _fitted(**kw):
    net = _net(**kw)
    net.fit(X, LABELS if net.loss == "softmax_cross_entropy" else np.zeros((10, 3)))
    return net


def _with(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


def _set(net, **settings):
    for name, value in settings.items():
        setattr(net, name, value)
    return net


def _quiet(call):
    """Run ``call`` with NumPy's overflow-on-cast RuntimeWarning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return call()


NAN = float("nan")
INF = float("inf")

# (id, call, exception, message regex)
CASES = [
    # --- non-finite data
    ("nan-X", lambda: _net().fit(_with(X, (2, 1), NAN), LABELS), ValueError, "X.*NaN"),
    ("inf-X", lambda: _net().fit(_with(X, (0, 0), -INF), LABELS), ValueError, "X.*infinity"),
    ("nan-X-predict", lambda: _fitted().predict(_with(X, (1, 1), NAN)), ValueError, "X.*NaN"),
    ("nan-X-loss_gradient", lambda: _fitted().loss_gradient(_with(X, (1, 1), NAN), LABELS),
     ValueError, "X.*NaN"),
    ("float32-overflow-X", lambda: _quiet(lambda: _net().fit(X * 1e300, LABELS)), ValueError,
     "X.*infinity"),
    ("nan-y-matrix",
     lambda: _net(loss="squared_error").fit(X, _with(np.zeros((10, 3)), (3, 2), NAN)),
     ValueError, "y.*NaN"),
    ("inf-y-matrix", lambda: _net(loss="poisson").fit(X, _with(np.zeros((10, 3)), (3, 2), INF)),
     ValueError, "y.*infinity"),
    ("nan-y-labels", lambda: _net().fit(X, _with(LABELS, 4, NAN)), ValueError, "NaN|finite"),
    # --- shapes
    ("X-1d", lambda: _net().fit(X[:, 0], LABELS), ValueError, "2-D"),
    ("X-3d", lambda: _net().fit(X[None], LABELS), ValueError, "2-D"),
    ("X-scalar", lambda: _net().fit(1.0, LABELS), ValueError, "2-D"),
    ("y-3d", lambda: _net(loss="squared_error").fit(X, np.zeros((10, 3, 1))), ValueError, "2-D"),
    ("y-columns", lambda: _net(loss="squared_error").fit(X, np.zeros((10, 2))), ValueError,
     "2 columns.*3"),
    ("labels-2d-column", lambda: _net().fit(X, LABELS[:, None]), ValueError, "1 columns.*3"),
    ("length-labels", lambda: _net().fit(X, LABELS[:9]), ValueError, "10 samples.*9"),
    ("length-matrix", lambda: _net(loss="squared_error").fit(X, np.zeros((9, 3))), ValueError,
     "10 samples.*9"),
    ("length-sample-weight", lambda: _net().fit(X, LABELS, sample_weight=np.ones(9)), ValueError,
     "sample_weight.*shape"),
    ("sample-weight-2d", lambda: _net().fit(X, LABELS, sample_weight=np.ones((10, 1))), ValueError,
     "sample_weight.*shape"),
    ("empty-rows", lambda: _net().fit(np.zeros((0, 3)), np.zeros(0, int)), ValueError, "empty"),
    ("empty-columns", lambda: _net().fit(np.zeros((10, 0)), LABELS), ValueError, "empty"),
    ("empty-y", lambda: _net().fit(X, np.zeros(0, int)), ValueError, "samples"),
    ("empty-predict", lambda: _fitted().predict(np.zeros((0, 3))), ValueError, "empty"),
    ("n-features-predict", lambda: _fitted().predict(X[:, :2]), ValueError, "2 columns.*3"),
    ("n-features-fit", lambda: _fitted().fit(X[:, :2], LABELS), ValueError, "2 columns.*3"),
    ("n-features-loss_gradient", lambda: _fitted().loss_gradient(np.ones((2, 4)), [0, 1]),
     ValueError, "4 columns.*3"),
    # --- targets
    ("label-negative", lambda: _net().fit(X, np.where(LABELS == 0, -1, LABELS)), ValueError,
     r"\[0, 3\)"),
    ("label-too-large", lambda: _net().fit(X, np.where(LABELS == 0, 3, LABELS)), ValueError,
     r"\[0, 3\)"),
    ("label-fractional", lambda: _net().fit(X, LABELS + 0.5), ValueError, "integer"),
    ("label-strings", lambda: _net().fit(X, LABELS.astype(str)), (ValueError, TypeError),
     "integer|number"),
    ("label-objects", lambda: _net().fit(X, LABELS.astype(object)), (ValueError, TypeError),
     "integer|number"),
    ("cross-entropy-targets-above-1", lambda: _net().fit(X, np.full((10, 3), 2.0)), ValueError,
     r"\[0, 1\]"),
    ("logistic-targets-negative",
     lambda: _net(loss="logistic_cross_entropy").fit(X, np.full((10, 3), -0.5)), ValueError,
     r"\[0, 1\]"),
    ("poisson-negative", lambda: _net(loss="poisson").fit(X, np.full((10, 3), -1.0)), ValueError,
     "non-negative"),
    # --- dtypes of the data
    ("complex-X", lambda: _net().fit(X + 1j, LABELS), TypeError, "real|complex"),
    ("object-X", lambda: _net().fit(X.astype(object), LABELS), TypeError, "object|number"),
    ("string-X", lambda: _net().fit(X.astype(str), LABELS), TypeError, "number"),
    ("complex-y", lambda: _net(loss="squared_error").fit(X, np.zeros((10, 3)) + 1j), TypeError,
     "real|complex"),
    ("string-y", lambda: _net(loss="squared_error").fit(X, np.full((10, 3), "a")), TypeError,
     "number"),
    ("sparse-X-nan", lambda: _net().fit(
        __import__("scipy.sparse").sparse.csr_matrix(_with(X, (0, 0), NAN)), LABELS),
     ValueError, "NaN"),
    # --- sample weights
    ("sample-weight-negative",
     lambda: _net().fit(X, LABELS, sample_weight=_with(np.ones(10), 3, -1)),
     ValueError, "non-negative"),
    ("sample-weight-zero-sum", lambda: _net().fit(X, LABELS, sample_weight=np.zeros(10)),
     ValueError, "positive sum"),
    ("sample-weight-nan", lambda: _net().fit(X, LABELS, sample_weight=_with(np.ones(10), 3, NAN)),
     ValueError, "NaN"),
    ("sample-weight-inf", lambda: _net().fit(X, LABELS, sample_weight=_with(np.ones(10), 3, INF)),
     ValueError, "infinity"),
    ("sample-weight-complex", lambda: _net().fit(X, LABELS, sample_weight=np.ones(10) * 1j),
     TypeError, "real"),
    ("sample-weight-strings", lambda: _net().fit(X, LABELS, sample_weight=["a"] * 10),
     TypeError, "real"),
    # --- fit arguments
    ("epochs-0", lambda: _net().fit(X, LABELS, epochs=0), ValueError, "epochs"),
    ("epochs-float", lambda: _net().fit(X, LABELS, epochs=2.0), ValueError, "epochs"),
    ("batch-size-0", lambda: _net().fit(X, LABELS, batch_size=0), ValueError, "batch_size"),
    ("batch-size-none", lambda: _net().fit(X, LABELS, batch_size=None), ValueError, "batch_size"),
    ("initialize-0", lambda: _net().initialize(0), ValueError, "n_features"),
    # --- layers
    ("units-0", lambda: Dense(0), ValueError, "units"),
    ("units-negative", lambda: Dense(-2), ValueError, "units"),
    ("units-float", lambda: Dense(2.5), ValueError, "units"),
    ("units-bool", lambda: Dense(True), ValueError, "units"),
    ("units-string", lambda: Dense("3"), ValueError, "units"),
    ("activation-softmax", lambda: Dense(3, "softmax"), ValueError, "activation.*softmax"),
    ("activation-case", lambda: Dense(3, "ReLU"), ValueError, "activation.*ReLU"),
    ("activation-none", lambda: Dense(3, None), ValueError, "activation"),
    ("output-activation", lambda: Network([Dense(3, "relu")]), ValueError, "output layer"),
    ("output-dropout", lambda: Network([Dense(3, dropout=0.5)]), ValueError, "output layer"),
    ("no-layers", lambda: Network([]), ValueError, "layers"),
    ("layer-not-dense", lambda: Network([3]), TypeError, "Dense"),
    # --- network options
    ("loss-unknown", lambda: _net(loss="mse"), ValueError, "loss.*mse"),
    ("loss-none", lambda: _net(loss=None), ValueError, "loss"),
    ("dtype-float16", lambda: _net(dtype="float16"), ValueError, "dtype"),
    ("dtype-int", lambda: _net(dtype="int32"), ValueError, "dtype"),
    ("dtype-complex", lambda: _net(dtype=np.complex128), ValueError, "dtype"),
    ("dtype-garbage", lambda: _net(dtype="foo"), ValueError, "dtype"),
    ("dtype-object", lambda: _net(dtype=object), ValueError, "dtype"),
    ("dropout-mode", lambda: _net(dropout_mode="alpha"), ValueError, "dropout_mode"),
    ("smoothing-with-squared-error", lambda: _net(loss="squared_error", label_smoothing=0.1),
     ValueError, "label_smoothing"),
    ("input-noise-negative", lambda: _net(input_noise=-0.1), ValueError, "input_noise"),
    ("input-noise-inf", lambda: _net(input_noise=INF), ValueError, "input_noise"),
    ("input-noise-nan", lambda: _net(input_noise=NAN), ValueError, "input_noise"),
    ("optimizer-string", lambda: _net(optimizer="adam"), TypeError, "optimizer"),
    ("random-state-negative", lambda: _net(random_state=-1), ValueError, "negative"),
    # --- optimizers
    ("lr-zero", lambda: SGD(0.0), ValueError, "learning_rate"),
    ("lr-negative", lambda: Adam(-0.1), ValueError, "learning_rate"),
    ("lr-nan", lambda: SGD(NAN), ValueError, "learning_rate"),
    ("lr-inf", lambda: AdamW(INF), ValueError, "learning_rate"),
    ("momentum-above-1", lambda: SGD(0.1, momentum=1.01), ValueError, "momentum"),
    ("momentum-negative", lambda: SGD(0.1, momentum=-0.1), ValueError, "momentum"),
    ("nesterov-without-momentum", lambda: SGD(0.1, nesterov=True), ValueError, "nesterov"),
    ("beta1-1", lambda: Adam(beta1=1.0), ValueError, "beta1"),
    ("beta2-negative", lambda: Adam(beta2=-0.1), ValueError, "beta2"),
    ("epsilon-0", lambda: Adam(epsilon=0.0), ValueError, "epsilon"),
    ("adamw-decay-negative", lambda: AdamW(weight_decay=-1.0), ValueError, "weight_decay"),
    ("schedule-negative", lambda: _net(optimizer=SGD(lambda e: -1.0)).fit(X, LABELS), ValueError,
     "learning rate"),
    ("schedule-nan", lambda: _net(optimizer=SGD(lambda e: NAN)).fit(X, LABELS), ValueError,
     "learning rate"),
    # --- regularizers
    ("l2-negative", lambda: L2(-1.0), ValueError, "alpha"),
    ("l1-nan", lambda: L1(NAN), ValueError, "strength"),
    ("elastic-net-negative", lambda: ElasticNet(l1=-1.0, alpha=1.0), ValueError, "l1"),
    ("weight-decay-negative", lambda: WeightDecay(-0.5), ValueError, "rate"),
    ("max-norm-negative", lambda: MaxNorm(-1.0), ValueError, "max_norm"),
    ("max-norm-zero", lambda: MaxNorm(0.0), ValueError, "max_norm"),
    ("max-norm-nan", lambda: MaxNorm(NAN), ValueError, "max_norm"),
    ("max-norm-inf", lambda: MaxNorm(INF), ValueError, "max_norm"),
    ("duplicate-alpha", lambda: _net(regularizers=[L2(1.0), ElasticNet(l1=1.0, alpha=1.0)]),
     ValueError, "alpha"),
    ("duplicate-l2", lambda: _net(regularizers=[L2(1.0), L2(2.0)]), ValueError, "alpha"),
    ("not-a-regularizer", lambda: _net(regularizers=["l2"]), TypeError, "regularizers"),
    ("adamw-and-weight-decay", lambda: _net(optimizer=AdamW(), regularizers=[WeightDecay(0.1)]),
     ValueError, "[Ww]eight decay"),
    # --- set_weights
    ("set-weights-shape", lambda: _fitted().set_weights([np.zeros((3, 5)), np.zeros((4, 3))],
                                                         [np.zeros(4), np.zeros(3)]),
     ValueError, "shape"),
    ("set-weights-count", lambda: _fitted().set_weights([np.zeros((3, 4))], [np.zeros(4)]),
     ValueError, "2"),
    ("set-weights-nan", lambda: _fitted().set_weights([np.full((3, 4), NAN), np.zeros((4, 3))],
                                                       [np.zeros(4), np.zeros(3)]),
     ValueError, "NaN"),
    ("set-weights-complex", lambda: _fitted().set_weights([np.zeros((3, 4)) + 1j, np.zeros((4, 3))],
                                                           [np.zeros(4), np.zeros(3)]),
     TypeError, "complex"),
    ("set-weights-empty", lambda: _net().set_weights([], []), ValueError,
     "per layer.*2 of each.*0 and 0"),
    ("set-weights-empty-fitted", lambda: _fitted().set_weights([], []), ValueError, "2 of each"),
    ("set-weights-arrays", lambda: _net().set_weights(np.zeros((3, 4)), np.zeros(4)), TypeError,
     "coefs must be a list of arrays"),
    ("set-weights-vector", lambda: _net().set_weights([np.zeros(3), np.zeros((4, 3))],
                                                      [np.zeros(4), np.zeros(3)]),
     ValueError, r"coefs\[0\].*shape \(3,\)"),
    # --- finite values that float32 cannot hold: said so
    ("float32-overflow-y",
     lambda: _quiet(lambda: _net(loss="squared_error").fit(X, np.full((10, 3), 1e300))),
     ValueError, r"y contains NaN or infinity \(after conversion to float32\)"),
    ("float32-overflow-sample-weight",
     lambda: _quiet(lambda: _net().fit(X, LABELS, sample_weight=np.full(10, 1e300))),
     ValueError, r"sample_weight contains NaN or infinity \(after conversion to float32\)"),
    ("huge-label", lambda: _net().fit(X, _with(LABELS, 0, 1e300)), ValueError,
     r"Class indices must be in \[0, 3\), got 0.0..1e\+300"),
    # --- softmax over a single output
    ("softmax-one-output", lambda: Network([Dense(1)]).fit(X, LABELS % 2), ValueError,
     r"\[0, 1\).*Dense\(2\).*logistic_cross_entropy"),
    # --- regularizers: one, or a list of them
    ("regularizers-number", lambda: _net(regularizers=3), TypeError, "regularizers.*or a list"),
    ("regularizers-attribute", lambda: _set(_fitted(), regularizers="l2").fit(X, LABELS), TypeError,
     "regularizers"),
    # --- augmentation must give real numbers
    ("augment-complex", lambda: _net(augment=lambda X, rng: X + 1j).fit(X, LABELS), TypeError,
     "augment must return real numbers.*complex"),
    ("augment-text", lambda: _net(augment=lambda X, rng: X.astype(str)).fit(X, LABELS), TypeError,
     "augment must return real numbers.*<U"),
    ("shift-fill-complex", lambda: fastreg.augment.RandomShift(1, fill_value=1j), ValueError,
     "fill_value"),
    ("jitter-complex-rows", lambda: fastreg.augment.Jitter(0.1)(X + 1j, RNG), TypeError,
     "Jitter takes real numbers"),
    ("shift-3d", lambda: fastreg.augment.RandomShift(1)(X[None], RNG), ValueError,
     r"RandomShift takes a batch.*\(1, 10, 3\)"),
]

# Probabilities in [0, 1): dropout of a layer, of the inputs, label smoothing.
for bad in (-0.1, 1.0, 1.5, NAN, True, "0.5", None):
    CASES += [
        (f"dense-dropout-{bad!r}", lambda bad=bad: Dense(4, "relu", dropout=bad), ValueError,
         "dropout"),
        (f"input-dropout-{bad!r}", lambda bad=bad: _net(input_dropout=bad), ValueError,
         "input_dropout"),
        (f"label-smoothing-{bad!r}", lambda bad=bad: _net(label_smoothing=bad), ValueError,
         "label_smoothing"),
    ]


#: Cases that fail on the current code (strict xfail: they must start passing when fixed).
OPEN_BUGS = {}


@pytest.mark.parametrize(
    "call,exception,message",
    [pytest.param(*c[1:], id=c[0],
                  marks=[pytest.mark.xfail(strict=True, reason=OPEN_BUGS[c[0]])]
                  if c[0] in OPEN_BUGS else [])
     for c in CASES])
def test_bad_input_raises(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def test_predict_before_fit():
    """No weights yet: a clear error naming the remedy. fastreg raises RuntimeError;
    ValueError (scikit-learn's NotFittedError is one) would be as good."""
    with pytest.raises((RuntimeError, ValueError), match="fit"):
        _net().predict(X)


def test_adamw_decay_must_stay_below_one_over_lr():
    """AdamW documents ``lr * weight_decay < 1``; a larger product flips the weights' sign
    every step. It must be rejected (when the optimizer is made, or at fit)."""
    with pytest.raises(ValueError, match="weight_decay"):
        net = _net(optimizer=AdamW(0.5, weight_decay=4.0))
        net.fit(X, LABELS)


def test_failed_calls_leave_the_network_unchanged():
    net = _fitted(optimizer=SGD(0.1, momentum=0.9))
    state = [p.copy() for p in net.coefs_ + net.intercepts_]
    counters = (net.steps_, net.epochs_, len(net.history_["loss"]))
    bad_calls = [
        lambda: net.fit(_with(X, (0, 0), NAN), LABELS),
        lambda: net.fit(X, LABELS, sample_weight=-np.ones(10)),
        lambda: net.fit(X, LABELS + 5),
        lambda: net.fit(X, LABELS, epochs=0),
        lambda: net.loss_gradient(X[:, :2], LABELS),
    ]
    for call in bad_calls:
        with pytest.raises((ValueError, TypeError)):
            call()
    assert (net.steps_, net.epochs_, len(net.history_["loss"])) == counters
    for before, now in zip(state, net.coefs_ + net.intercepts_):
        assert np.array_equal(before, now)


@pytest.mark.parametrize("bad", ["second-shape", "last-nan"])
def test_failed_set_weights_changes_nothing(bad):
    """set_weights is all or nothing: a bad later array must not leave the earlier ones
    already copied in."""
    net = _fitted()
    state = [p.copy() for p in net.coefs_ + net.intercepts_]
    if bad == "second-shape":
        coefs, intercepts = [np.ones((3, 4)), np.zeros((5, 3))], [np.zeros(4), np.zeros(3)]
    else:
        coefs, intercepts = [np.ones((3, 4)), np.ones((4, 3))], [np.zeros(4), np.full(3, NAN)]
    with pytest.raises(ValueError):
        net.set_weights(coefs, intercepts)
    for before, now in zip(state, net.coefs_ + net.intercepts_):
        assert np.array_equal(before, now)


def test_divergence_is_reported():
    net = Network([Dense(3)], loss="squared_error", optimizer=SGD(1e6), random_state=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        net.fit(X * 100, np.zeros((10, 3)), epochs=50)


@pytest.mark.parametrize("dtype,rate", [("float32", 1e37), ("float64", 1e306)])
def test_divergence_in_the_last_update_is_reported(dtype, rate):
    """One full-batch step: its loss is finite, the weights it leaves are not; they are
    put back to those before the step."""
    net = Network([Dense(3)], loss="squared_error", optimizer=SGD(rate), dtype=dtype,
                  random_state=0).initialize(3)
    before = [p.copy() for p in net.coefs_ + net.intercepts_]
    message = "epoch 1: its loss was .* NaN or infinite weights"
    with pytest.raises(fastreg.DivergenceError, match=message) as caught:
        net.fit(X * 100, np.ones((10, 3)) * 100, epochs=1, batch_size=10)
    assert np.isfinite(caught.value.loss) and caught.value.epoch == 1
    assert net.history_["loss"] == [] and net.epochs_ == 0
    for kept, now in zip(before, net.coefs_ + net.intercepts_):
        np.testing.assert_array_equal(now, kept)


# ------------------------------------------------------------------- accepted conversions
def _train_and_predict(X_given, y_given, dtype, sample_weight=None):
    net = Network([Dense(5, "tanh", dropout=0.2), Dense(3)], optimizer=SGD(0.1, momentum=0.5),
                  input_noise=0.1, dtype=dtype, random_state=3)
    history = net.fit(X_given, y_given, epochs=2, batch_size=4, sample_weight=sample_weight)
    return history["loss"], [p.copy() for p in net.coefs_ + net.intercepts_], net.predict(X_given)


def _same(a, b):
    return a[0] == b[0] and all(np.array_equal(p, q) for p, q in zip(a[1], b[1])) and \
        np.array_equal(a[2], b[2])


@pytest.mark.parametrize("variant", ["int", "bool", "fortran", "strided", "list", "read-only",
                                     "other-float", "broadcast"])
def test_converted_inputs_give_the_same_result(dtype, variant):
    X_int = RNG.integers(-3, 4, size=(10, 3))
    if variant == "int":
        given, plain = X_int, X_int.astype(dtype)
    elif variant == "bool":
        given, plain = X_int > 0, (X_int > 0).astype(dtype)
    elif variant == "fortran":
        given, plain = np.asfortranarray(X), X.astype(dtype)
    elif variant == "strided":
        wide = np.repeat(X, 2, axis=1)
        given, plain = wide[:, ::2], X.astype(dtype)
    elif variant == "list":
        given, plain = X.tolist(), X.astype(dtype)
    elif variant == "read-only":
        given = X.astype(dtype)
        given.flags.writeable = False
        plain = X.astype(dtype)
    elif variant == "other-float":
        other = np.float64 if dtype == "float32" else np.float32
        given = X.astype(other)
        plain = given.astype(dtype)
    elif variant == "broadcast":
        given = np.broadcast_to(X[:1], (10, 3))
        plain = np.repeat(X[:1], 10, axis=0).astype(dtype)
    snapshot = np.array(given, copy=True)
    assert _same(_train_and_predict(given, LABELS, dtype), _train_and_predict(plain, LABELS, dtype))
    np.testing.assert_array_equal(np.asarray(given), snapshot)  # never modified


def test_inputs_are_never_modified(dtype):
    """Input noise and input dropout work on copies, even when X is already C-contiguous
    in the network's dtype (the zero-copy case)."""
    Xd = X.astype(dtype)
    y = np.eye(3)[LABELS].astype(dtype)
    sw = np.linspace(0.5, 1.5, 10).astype(dtype)
    copies = [a.copy() for a in (Xd, y, sw)]
    net = Network([Dense(5, "relu", dropout=0.5), Dense(3)], input_dropout=0.5, input_noise=1.0,
                  dtype=dtype, random_state=1)
    net.fit(Xd, y, epochs=2, batch_size=3, sample_weight=sw)
    net.loss_gradient(Xd, y, sample_weight=sw, training=True)
    net.predict(Xd)
    for a, b in zip((Xd, y, sw), copies):
        assert np.array_equal(a, b)


def test_label_and_target_forms_accepted():
    net = _net(dtype="float64")
    net.initialize(3)
    by_int = net.loss_gradient(X, LABELS)[0]
    for form in (LABELS.tolist(), LABELS.astype(np.uint8), LABELS.astype(np.float32),
                 np.eye(3)[LABELS], np.eye(3, dtype=bool)[LABELS]):
        assert net.loss_gradient(X, form)[0] == by_int
    one = Network([Dense(1)], loss="logistic_cross_entropy", dtype="float64", random_state=0)
    one.initialize(3)
    as_column = (LABELS > 0)[:, None] * 1.0
    assert one.loss_gradient(X, LABELS > 0)[0] == one.loss_gradient(X, as_column)[0]
    assert math.isfinite(one.loss_gradient(X, LABELS > 0)[0])


# ------------------------------------------------------------------- replaced weight arrays
def test_replaced_weight_arrays_are_used_or_rejected():
    """``coefs_`` / ``intercepts_`` are public lists of arrays: after
    ``net.coefs_[l] = new_array`` predict and fit must use the new array (or refuse),
    not silently keep using the old one."""
    net = Network([Dense(4, "relu"), Dense(3)], dtype="float64", random_state=0)
    net.fit(X, LABELS)
    net.coefs_[1] = np.zeros((4, 3))
    net.intercepts_[1] = np.zeros(3)
    try:
        out = net.predict(X)
    except (ValueError, TypeError):
        return
    np.testing.assert_allclose(out, 1 / 3, rtol=1e-12)


_REPLACE_SCRIPT = """
import numpy as np, fastreg
X = np.random.default_rng(0).normal(size=(10, 3))
net = fastreg.Network([fastreg.Dense(4, "relu"), fastreg.Dense(3)], random_state=0)
net.initialize(3)
kind = {kind!r}
if kind == "dtype":
    net.coefs_[1] = net.coefs_[1].astype(np.float64)
elif kind == "fortran":
    net.coefs_[0] = np.asfortranarray(net.coefs_[0])
elif kind == "shape":
    net.coefs_[1] = np.ones((1, 3), dtype=np.float32)
elif kind == "list":
    net.intercepts_[0] = [0.0, 0.0, 0.0, 0.0]
expected = None
if kind != "shape":
    W0, W1 = (np.asarray(w, dtype=np.float64) for w in net.coefs_)
    b0, b1 = (np.asarray(b, dtype=np.float64) for b in net.intercepts_)
    z = np.maximum(X @ W0 + b0, 0) @ W1 + b1
    expected = np.exp(z - z.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
try:
    out = net.predict(X)
except (ValueError, TypeError) as e:
    print("REJECTED", e)
else:
    ok = expected is not None and np.allclose(out, expected, rtol=1e-5, atol=1e-6)
    print("CORRECT" if ok else "WRONG")
"""


@pytest.mark.parametrize("kind", ["dtype", "fortran", "shape", "list"])
def test_replaced_weight_arrays_of_the_wrong_kind(kind):
    """A replaced weight array of another dtype, layout or shape must be converted or
    rejected: the engine trusts its buffers, so using it as is reads the wrong bytes or
    past the end of the array. Run in a subprocess: an out-of-bounds read may crash."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastreg.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", _REPLACE_SCRIPT.format(kind=kind)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    verdict = done.stdout.strip().splitlines()[-1]
    assert verdict.startswith("REJECTED") or verdict == "CORRECT", verdict


def test_values_beyond_float32_are_refused_in_float32_only():
    """Finite values past float32's range: float32 says they overflow it (CASES), float64
    takes them. Sample weights of 1e300 give the model of unit weights (each batch's loss
    is their weighted mean), and targets of 1e39 a finite loss of about 1e78 / 2."""
    labels = LABELS % 3
    huge, unit = _net(dtype="float64"), _net(dtype="float64")
    huge.fit(X, labels, sample_weight=np.full(10, 1e300), epochs=2, batch_size=4)
    unit.fit(X, labels, epochs=2, batch_size=4)
    for a, b in zip(huge.coefs_ + huge.intercepts_, unit.coefs_ + unit.intercepts_):
        np.testing.assert_array_equal(a, b)
    net = _net(loss="squared_error", dtype="float64")
    net.initialize(3)
    loss = net.evaluate(X, np.full((10, 3), 1e39))["data_loss"]
    assert math.isfinite(loss) and loss == pytest.approx(1.5e78, rel=1e-6)
    with pytest.raises(ValueError, match=r"after conversion to float32"):
        _quiet(lambda: _net(loss="squared_error").initialize(3).evaluate(X, np.full((10, 3), 1e39)))
