"""Test-side glue: one configuration builds both a fastreg Network and its NumPy reference.

The reference (``reference.py``) never sees fastreg; this module is the only place that
maps a configuration onto both, and that reads the documented random draws through the
``fastreg._random`` test hooks (``bernoulli_mask``, ``normal_noise``, ``permutation``).
"""
import numpy as np

import fastreg
from fastreg import _random
from reference import Draws, Model, Optimizer

#: Optimizers used across the suite: name -> (reference kind, shared hyperparameters).
OPTIMIZERS = {
    "sgd": ("sgd", {}),
    "momentum": ("momentum", {"momentum": 0.9}),
    "nesterov": ("nesterov", {"momentum": 0.8}),
    "adam": ("adam", {"beta1": 0.85, "beta2": 0.99, "epsilon": 1e-6}),
    "adamw": ("adam", {"beta1": 0.85, "beta2": 0.99, "epsilon": 1e-6}),
}


#: Tolerances for matching the float64 reference: relative, and absolute relative to the
#: scale of the compared quantity (see ``assert_close``).
TOLERANCES = {
    "float64": {"rtol": 1e-12, "atol": 1e-12},
    "float32": {"rtol": 1e-5, "atol": 1e-5},
}


def make_fastreg_optimizer(name, learning_rate, weight_decay=0.0):
    """The fastreg optimizer object named ``name`` (AdamW takes the weight decay)."""
    kind, kw = OPTIMIZERS[name]
    if name == "sgd":
        return fastreg.SGD(learning_rate)
    if name == "momentum":
        return fastreg.SGD(learning_rate, momentum=kw["momentum"])
    if name == "nesterov":
        return fastreg.SGD(learning_rate, momentum=kw["momentum"], nesterov=True)
    if name == "adam":
        return fastreg.Adam(learning_rate, **kw)
    if name == "adamw":
        return fastreg.AdamW(learning_rate, weight_decay=weight_decay, **kw)
    raise ValueError(name)


def make_reference_optimizer(name, learning_rate, *, weight_decay=0.0, l1=0.0, max_norm=0.0):
    kind, kw = OPTIMIZERS[name]
    return Optimizer(kind, learning_rate, weight_decay=weight_decay, l1=l1, max_norm=max_norm, **kw)


def make_pair(hidden, n_outputs, loss, *, dtype="float64", random_state=0, optimizer=None,
              regularizers=(), alpha=0.0, label_smoothing=0.0, input_dropout=0.0,
              input_noise=0.0, dropout_mode="inverted"):
    """(fastreg Network, reference Model) for the same architecture and options.

    ``alpha`` is the total coupled L2 strength the reference must use (the caller passes
    the matching fastreg regularizers).
    """
    layers = [fastreg.Dense(u, a, dropout=p) for (u, a, p) in hidden] + [fastreg.Dense(n_outputs)]
    net = fastreg.Network(
        layers, loss=loss, optimizer=optimizer, regularizers=list(regularizers),
        input_dropout=input_dropout, input_noise=input_noise, dropout_mode=dropout_mode,
        label_smoothing=label_smoothing, dtype=dtype, random_state=random_state)
    model = Model(hidden, n_outputs, loss, label_smoothing=label_smoothing,
                  input_dropout=input_dropout, input_noise=input_noise,
                  dropout_mode=dropout_mode, alpha=alpha)
    return net, model


def hook_draws(seed, model, step, n_rows, n_features):
    """The draws fastreg documents for ``step``: masks per layer and input noise."""
    widths = [n_features] + [h[0] for h in model.hidden]
    masks = []
    for layer, (width, keep) in enumerate(zip(widths, model.keeps)):
        if keep < 1:
            masks.append(_random.bernoulli_mask(seed, step, layer, n_rows, width, keep))
        else:
            masks.append(None)
    noise = None
    if model.input_noise > 0:
        noise = _random.normal_noise(seed, step, n_rows * n_features).reshape(n_rows, n_features)
    return Draws(masks, noise)


def hook_draws_for(seed, model, n_features):
    """``draws_for(step, n_rows)`` for reference.train, from the hooks."""
    return lambda step, n_rows: hook_draws(seed, model, step, n_rows, n_features)


def hook_order_for(seed):
    """``order_for(epoch, n)`` for reference.train, from the hooks."""
    return lambda epoch, n: _random.permutation(seed, epoch, n)


def make_problem(loss, n_samples, n_features, n_outputs, rng):
    """Random inputs and targets for ``loss``.

    Returns
    -------
    X : ndarray (float64)
    y : targets as given to fastreg (int labels for softmax)
    Y : float64 target matrix for the reference
    """
    X = rng.normal(size=(n_samples, n_features))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_outputs, n_samples)
        Y = np.eye(n_outputs)[y]
    elif loss == "logistic_cross_entropy":
        Y = (rng.random((n_samples, n_outputs)) < 0.5).astype(np.float64)
        Y[::3] = rng.random((len(Y[::3]), n_outputs))  # soft targets too
        y = Y
    elif loss == "squared_error":
        Y = rng.normal(size=(n_samples, n_outputs))
        y = Y
    elif loss == "poisson":
        Y = rng.poisson(1.0, size=(n_samples, n_outputs)).astype(np.float64)
        y = Y
    else:
        raise ValueError(loss)
    return X, y, Y


def weights_of(net):
    """Copies of the network's weights and biases, as float64."""
    return ([np.array(w, dtype=np.float64) for w in net.coefs_],
            [np.array(b, dtype=np.float64) for b in net.intercepts_])


def assert_close(actual, expected, rtol, atol, what=""):
    """assert_allclose with ``atol`` taken relative to max |expected| (at least 1).

    Lists of arrays are compared element by element.
    """
    if isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, rtol, atol, f"{what}[{i}]")
        return
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale, err_msg=what)


def run_study_command(name, out, cwd, *options):
    """``python -m fastreg study NAME --quick --out OUT`` in a child process that imports
    the fastreg under test; the CompletedProcess, its return code checked."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    package_root = str(Path(fastreg.__file__).resolve().parents[1])
    completed = subprocess.run(
        [sys.executable, "-m", "fastreg", "study", name, "--quick", *options, "--out", str(out)],
        cwd=cwd, env={**os.environ, "PYTHONPATH": package_root, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return completed
