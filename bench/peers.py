"""Epoch timers for fastreg and the libraries it is compared with.

Every library trains the same model on the same data (see :class:`Workload`
and the recipe constants below).  Each peer is described by a :class:`Peer`:
the module it needs, how to install it, what (if anything) differs in its
model, and a ``prepare`` function.  ``prepare(workload, X, y)`` builds the
model, trains a warm-up epoch that absorbs one-off costs (memory allocation,
JIT compilation, thread-pool start-up) and returns a function that trains one
more epoch each time it is called and returns its :class:`EpochTime`.  The
libraries are imported lazily, inside ``prepare``, so that a missing optional
library only removes its column.

How the L2 penalty is matched
-----------------------------
``L2_ALPHA`` has scikit-learn's meaning, which fastreg's ``L2(alpha)`` shares:
the mean loss of a minibatch of S samples gains
``alpha / (2 S) * sum(||W||^2)`` over the weight matrices (not the biases),
so the gradient of each weight matrix gains ``alpha * W / S``.

* scikit-learn: ``MLPClassifier(alpha=L2_ALPHA)``.
* fastreg: ``L2(L2_ALPHA)``.
* PyTorch: ``SGD(weight_decay=L2_ALPHA / batch_size)`` on the weights only (a
  second parameter group holds the biases without decay).  For SGD with
  momentum, weight decay adds exactly this gradient; only the smaller last
  minibatch of an epoch gets slightly less than ``alpha / S``.
* JAX: the penalty term, with the minibatch's own S, is added to the loss.
"""

import importlib
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

# The training recipe shared by every peer.
LEARNING_RATE = 0.01
MOMENTUM = 0.9
L2_ALPHA = 1e-4
DROPOUT_RATE = 0.5
SEED = 0
WARMUP_EPOCHS = 1


@dataclass(frozen=True)
class Workload:
    """One benchmark configuration: data shape, network and minibatch size.

    Attributes
    ----------
    name : str
        Short label used in the table (``"A"``, ``"B"``, ...).
    n_samples, n_features : int
        Shape of the training matrix ``X``.
    hidden : tuple of int
        Widths of the ReLU hidden layers (each followed by dropout).
    n_classes : int
        Number of classes, i.e. width of the softmax output layer.
    batch_size : int
        Minibatch size; the last minibatch of an epoch may be smaller.
    """

    name: str
    n_samples: int
    n_features: int
    hidden: tuple
    n_classes: int
    batch_size: int

    @property
    def layer_sizes(self):
        """Widths of all layers, input and output included."""
        return (self.n_features, *self.hidden, self.n_classes)

    @property
    def flop_per_epoch(self):
        """Floating-point operations of one epoch, counting matrix products only.

        Each weight matrix costs ``2 * fan_in * fan_out`` per sample in the
        forward pass and twice that in the backward pass (gradients with
        respect to the inputs and to the weights): 6 in all.
        """
        sizes = self.layer_sizes
        weights = sum(fan_in * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))
        return 6 * self.n_samples * weights

    def describe(self):
        """Widths of all layers joined by dashes, e.g. ``"40-100-100-10"``."""
        return "-".join(str(width) for width in self.layer_sizes)


class EpochTime(NamedTuple):
    """Wall time of one training epoch, in seconds.

    Attributes
    ----------
    epoch_seconds : float
        The epoch itself.
    fit_call_seconds : float or None
        fastreg only: the whole ``fit(epochs=1)`` call that trained the epoch,
        per-call overhead (input checks, set-up) included.
    """

    epoch_seconds: float
    fit_call_seconds: float | None = None


@dataclass(frozen=True)
class Peer:
    """A library that can train the benchmark model.

    Attributes
    ----------
    name : str
        Column label.
    module : str
        Module whose import decides whether the peer is available.
    install_hint : str
        What to tell the user when the module is missing.
    model_note : str
        How its model differs from the shared recipe ("" when it does not).
    prepare : callable
        ``prepare(workload, X, y)`` builds and warms up the model and returns
        a function that trains one epoch per call and returns its
        :class:`EpochTime`.
    environment : dict
        Variables set in the peer's process (added to the parent's).
    """

    name: str
    module: str
    install_hint: str
    model_note: str
    prepare: Callable[[Workload, np.ndarray, np.ndarray], Callable[[], EpochTime]]
    environment: dict = field(default_factory=dict)

    def probe(self):
        """Try to import the peer's module, in a child process when the peer has an
        environment of its own (another source tree, a variable read at import).

        Returns
        -------
        version : str or None
            The module's version when it imports, else None.
        error : str or None
            Why the import failed, else None.
        """
        if self.environment:
            # As in the bench's workers, which run a script: no current directory on sys.path.
            code = (f"import sys; sys.path.remove(''); import {self.module} as m; "
                    "print(getattr(m, '__version__', 'unknown version'), 'from', "
                    "__import__('os').path.dirname(m.__file__))")
            child = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                   text=True, env={**os.environ, **self.environment})
            if child.returncode != 0:
                lines = child.stderr.strip().splitlines() or ["no output"]
                return None, lines[-1]
            return child.stdout.strip(), None
        try:
            module = importlib.import_module(self.module)
        except Exception as exc:  # a broken build fails with more than ImportError
            return None, f"{type(exc).__name__}: {exc}"
        return getattr(module, "__version__", "unknown version"), None


def usable_cores():
    """Return the number of CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _timed(train_epoch):
    """Wrap ``train_epoch()`` so that each call returns its wall time as an :class:`EpochTime`."""

    def timed_epoch():
        start = time.perf_counter()
        train_epoch()
        return EpochTime(time.perf_counter() - start)

    return timed_epoch


def prepare_fastreg(workload, X, y):
    """Build a fastreg network; each epoch is one ``fit(epochs=1)`` call.

    The epoch time is the one fastreg reports in ``history["epoch_time"]``;
    the wall time of the whole call is kept beside it.  ``fit`` continues
    from the current weights, so successive calls train the same network on.
    """
    import fastreg

    network = fastreg.Network(
        [fastreg.Dense(width, activation="relu", dropout=DROPOUT_RATE) for width in workload.hidden]
        + [fastreg.Dense(workload.n_classes)],
        loss="softmax_cross_entropy",
        optimizer=fastreg.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM),
        regularizers=[fastreg.L2(L2_ALPHA)],
        dtype="float32",
        random_state=SEED,
    )

    def fit_one_epoch():
        start = time.perf_counter()
        history = network.fit(X, y, epochs=1, batch_size=workload.batch_size)
        fit_call_seconds = time.perf_counter() - start
        if len(history["epoch_time"]) != 1:
            raise RuntimeError(
                f"fastreg reported {len(history['epoch_time'])} epoch times for one epoch"
            )
        return EpochTime(float(history["epoch_time"][0]), fit_call_seconds)

    for _ in range(WARMUP_EPOCHS):
        fit_one_epoch()
    return fit_one_epoch


def prepare_sklearn(workload, X, y):
    """Build a scikit-learn ``MLPClassifier``; each epoch is one ``partial_fit`` call.

    ``partial_fit`` makes exactly one shuffled pass over the data and emits no
    ConvergenceWarning.  With float32 input the weights stay float32; this
    is checked rather than assumed.
    """
    from sklearn.neural_network import MLPClassifier

    classifier = MLPClassifier(
        hidden_layer_sizes=workload.hidden,
        solver="sgd",
        learning_rate_init=LEARNING_RATE,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        alpha=L2_ALPHA,
        batch_size=workload.batch_size,
        max_iter=1,
        shuffle=True,
        random_state=SEED,
    )
    classes = np.arange(workload.n_classes)
    for _ in range(WARMUP_EPOCHS):
        classifier.partial_fit(X, y, classes=classes)
    if classifier.coefs_[0].dtype != np.float32:
        raise RuntimeError(f"scikit-learn trains in {classifier.coefs_[0].dtype}, not float32")
    return _timed(lambda: classifier.partial_fit(X, y))


def prepare_torch(workload, X, y):
    """Build an eager PyTorch model; an epoch is a shuffled index loop over in-memory tensors.

    No DataLoader: each minibatch is gathered from the full tensors with a
    slice of a fresh random permutation, the fastest idiomatic eager loop.
    """
    import torch
    from torch import nn

    torch.set_num_threads(usable_cores())
    torch.manual_seed(SEED)

    layers = []
    sizes = workload.layer_sizes
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.Dropout(DROPOUT_RATE)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    model = nn.Sequential(*layers).train()

    weights = [param for name, param in model.named_parameters() if name.endswith("weight")]
    biases = [param for name, param in model.named_parameters() if name.endswith("bias")]
    weight_decay = L2_ALPHA / workload.batch_size
    optimizer = torch.optim.SGD(
        [
            {"params": weights, "weight_decay": weight_decay},
            {"params": biases, "weight_decay": 0.0},
        ],
        lr=LEARNING_RATE,
        momentum=MOMENTUM,
    )
    loss_function = nn.CrossEntropyLoss()
    inputs = torch.from_numpy(X)
    targets = torch.from_numpy(y.astype(np.int64, copy=False))
    batch_size = workload.batch_size

    def train_epoch():
        order = torch.randperm(workload.n_samples)
        for start in range(0, workload.n_samples, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()

    for _ in range(WARMUP_EPOCHS):
        train_epoch()
    return _timed(train_epoch)


def prepare_jax(workload, X, y):
    """Build a JAX model whose epoch is compiled whole: ``jax.lax.scan`` over the minibatches.

    The jitted epoch draws a permutation, gathers each minibatch from the
    device-resident data inside the scan, applies dropout with one key per
    step and updates with SGD momentum written by hand.  When the batch size
    does not divide the sample count, the smaller last minibatch is one more
    step after the scan, so every sample is seen, as in the other peers.
    The timed call waits for the result with ``block_until_ready``.
    """
    import jax
    import jax.numpy as jnp

    batch_size = workload.batch_size
    n_full_batches, last_batch_size = divmod(workload.n_samples, batch_size)
    n_steps = n_full_batches + (last_batch_size > 0)
    keep_probability = 1.0 - DROPOUT_RATE

    def initial_parameters(key):
        parameters = []
        sizes = workload.layer_sizes
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            key, subkey = jax.random.split(key)
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            weight = jax.random.uniform(subkey, (fan_in, fan_out), jnp.float32, -limit, limit)
            parameters.append((weight, jnp.zeros(fan_out, jnp.float32)))
        return parameters

    def loss(parameters, inputs, labels, dropout_key):
        activations = inputs
        for weight, bias in parameters[:-1]:
            dropout_key, subkey = jax.random.split(dropout_key)
            activations = jax.nn.relu(activations @ weight + bias)
            kept = jax.random.bernoulli(subkey, keep_probability, activations.shape)
            activations = jnp.where(kept, activations / keep_probability, 0.0)
        weight, bias = parameters[-1]
        log_probabilities = jax.nn.log_softmax(activations @ weight + bias)
        cross_entropy = -jnp.mean(jnp.take_along_axis(log_probabilities, labels[:, None], axis=1))
        squared_weights = sum(jnp.sum(layer_weight**2) for layer_weight, _ in parameters)
        penalty = 0.5 * L2_ALPHA / inputs.shape[0] * squared_weights
        return cross_entropy + penalty

    gradient = jax.grad(loss)
    seed_key = jax.random.PRNGKey(SEED)

    @jax.jit
    def train_epoch(parameters, velocities, inputs, labels, epoch_index):
        epoch_key = jax.random.fold_in(seed_key, epoch_index)
        permutation_key, dropout_key = jax.random.split(epoch_key)
        order = jax.random.permutation(permutation_key, workload.n_samples)
        step_keys = jax.random.split(dropout_key, n_steps)

        def sgd_step(state, batch):
            parameters, velocities = state
            indices, step_key = batch
            gradients = gradient(parameters, inputs[indices], labels[indices], step_key)
            velocities = jax.tree.map(lambda v, g: MOMENTUM * v + g, velocities, gradients)
            parameters = jax.tree.map(lambda p, v: p - LEARNING_RATE * v, parameters, velocities)
            return (parameters, velocities), None

        full_batches = order[: n_full_batches * batch_size].reshape(n_full_batches, batch_size)
        state, _ = jax.lax.scan(
            sgd_step, (parameters, velocities), (full_batches, step_keys[:n_full_batches])
        )
        if last_batch_size:
            state, _ = sgd_step(state, (order[n_full_batches * batch_size :], step_keys[-1]))
        return state

    parameters = initial_parameters(seed_key)
    velocities = jax.tree.map(jnp.zeros_like, parameters)
    inputs = jax.device_put(X)
    labels = jax.device_put(y.astype(np.int32))
    epochs_done = 0

    def run_epoch():
        nonlocal parameters, velocities, epochs_done
        epochs_done += 1
        parameters, velocities = train_epoch(parameters, velocities, inputs, labels, epochs_done)
        jax.block_until_ready(parameters)

    for _ in range(WARMUP_EPOCHS):
        run_epoch()
    return _timed(run_epoch)


PEERS = {
    peer.name: peer
    for peer in [
        Peer(
            name="fastreg",
            module="fastreg",
            install_hint="pip install . at the repository root, or put the root of an in-place "
            "build on PYTHONPATH",
            model_note="",
            prepare=prepare_fastreg,
        ),
        Peer(
            name="fastreg-blas",
            module="fastreg",
            install_hint="pip install . at the repository root, or put the root of an in-place "
            "build on PYTHONPATH",
            model_note="fastreg with every product by OpenBLAS (FASTREG_PRODUCTS=blas): "
            "fastreg before its own product kernels",
            prepare=prepare_fastreg,
            environment={"FASTREG_PRODUCTS": "blas"},
        ),
        Peer(
            name="sklearn",
            module="sklearn",
            install_hint="pip install scikit-learn",
            model_note="no dropout (MLPClassifier has none)",
            prepare=prepare_sklearn,
        ),
        Peer(
            name="torch",
            module="torch",
            install_hint="install a CPU build of torch",
            model_note="",
            prepare=prepare_torch,
        ),
        Peer(
            name="jax",
            module="jax",
            install_hint="pip install jax",
            model_note="",
            prepare=prepare_jax,
        ),
    ]
}

BASELINE_PEER = "fastreg-baseline"


def baseline_peer(path):
    """fastreg imported from another source tree, built in place: an earlier version
    (a ``git worktree`` of an older commit, say) timed in turn with this one.

    Parameters
    ----------
    path : str
        Root of that tree, the directory that holds its ``fastreg`` package.

    Returns
    -------
    Peer
        Named :data:`BASELINE_PEER`; its process has ``path`` first on ``PYTHONPATH``.
    """
    path = os.path.abspath(path)
    search_path = os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")]))
    return Peer(
        name=BASELINE_PEER,
        module="fastreg",
        install_hint=f"build it in place: cd {path} && python setup.py build_ext --inplace",
        model_note=f"fastreg from {path}",
        prepare=prepare_fastreg,
        environment={"PYTHONPATH": search_path},
    )
