"""Epoch timers for fastreg and the libraries it is compared with.

Every library trains the same model on the same data (see :class:`Workload`
and the recipe constants below) and reports the wall time of individual
training epochs, measured after a warm-up epoch that absorbs one-off costs
(memory allocation, JIT compilation, thread-pool start-up).

Each peer is described by a :class:`Peer`: the module it needs, how to install
it, what (if anything) differs in its model, and a function that returns the
timed epochs.  The libraries are imported lazily, inside the timing
functions, so that a missing optional library only removes its column.

How the L2 penalty is matched
-----------------------------
The penalty is ``L2_PENALTY / 2 * sum(||W||^2)`` over the weight matrices (not
the biases), added to the mean minibatch loss, so its gradient is
``L2_PENALTY * W``:

* PyTorch: ``SGD(weight_decay=L2_PENALTY)`` on the weights only (a second
  parameter group holds the biases without decay).  For plain SGD with
  momentum, weight decay is exactly this L2 gradient.
* JAX: the penalty term is added to the loss.
* scikit-learn divides its ``alpha`` penalty by the minibatch size, so
  ``alpha = L2_PENALTY * batch_size`` gives the same gradient.
"""

import importlib
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

# The training recipe shared by every peer.
LEARNING_RATE = 0.01
MOMENTUM = 0.9
L2_PENALTY = 1e-4
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


@dataclass
class Timing:
    """Wall times measured for one peer on one workload, in seconds.

    Attributes
    ----------
    epoch_seconds : list of float
        Duration of each timed epoch.
    fit_call_seconds : list of float or None
        fastreg only: duration of whole ``fit(epochs=1)`` calls, which add the
        per-call overhead (input checks, set-up) to the epoch itself.
    """

    epoch_seconds: list
    fit_call_seconds: Optional[list] = None

    @property
    def median_epoch_seconds(self):
        """Median of :attr:`epoch_seconds`."""
        return statistics.median(self.epoch_seconds)


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
    time_epochs : callable
        ``time_epochs(workload, X, y, repeats) -> Timing``.
    """

    name: str
    module: str
    install_hint: str
    model_note: str
    time_epochs: Callable[[Workload, np.ndarray, np.ndarray, int], Timing]

    def probe(self):
        """Try to import the peer's module.

        Returns
        -------
        version : str or None
            The module's version when it imports, else None.
        error : str or None
            Why the import failed, else None.
        """
        try:
            module = importlib.import_module(self.module)
        except Exception as exc:  # a broken build fails with more than ImportError
            return None, f"{type(exc).__name__}: {exc}"
        return getattr(module, "__version__", "unknown version"), None


def usable_cores():
    """Number of CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _wall_seconds(function):
    """Run ``function()`` once and return its wall time in seconds."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def time_fastreg(workload, X, y, repeats):
    """Time fastreg epochs as reported by ``fit``'s own history.

    After a warm-up ``fit``, one ``fit(epochs=repeats)`` call gives the
    per-epoch times of ``history["epoch_time"]``; ``repeats`` further
    ``fit(epochs=1)`` calls give the cost of a whole call.  ``fit`` continues
    from the current weights, so every call trains the same network on.
    """
    import fastreg

    network = fastreg.Network(
        [fastreg.Dense(width, activation="relu", dropout=DROPOUT_RATE) for width in workload.hidden]
        + [fastreg.Dense(workload.n_classes)],
        loss="softmax_cross_entropy",
        optimizer=fastreg.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM),
        regularizers=[fastreg.L2(L2_PENALTY)],
        dtype="float32",
        random_state=SEED,
    )

    def fit(epochs):
        return network.fit(X, y, epochs=epochs, batch_size=workload.batch_size)

    fit(WARMUP_EPOCHS)
    epoch_seconds = [float(seconds) for seconds in fit(repeats)["epoch_time"]]
    if len(epoch_seconds) != repeats:
        raise RuntimeError(
            f"fastreg reported {len(epoch_seconds)} epoch times for a {repeats}-epoch fit"
        )
    fit_call_seconds = [_wall_seconds(lambda: fit(1)) for _ in range(repeats)]
    return Timing(epoch_seconds, fit_call_seconds)


def time_sklearn(workload, X, y, repeats):
    """Time scikit-learn ``MLPClassifier.partial_fit`` calls, one epoch each.

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
        alpha=L2_PENALTY * workload.batch_size,
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
    return Timing([_wall_seconds(lambda: classifier.partial_fit(X, y)) for _ in range(repeats)])


def time_torch(workload, X, y, repeats):
    """Time an eager PyTorch epoch: a shuffled index loop over in-memory tensors.

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
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": L2_PENALTY}, {"params": biases, "weight_decay": 0.0}],
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
    return Timing([_wall_seconds(train_epoch) for _ in range(repeats)])


def time_jax(workload, X, y, repeats):
    """Time a JAX epoch compiled whole: ``jax.lax.scan`` over the minibatches.

    The jitted epoch draws a permutation, gathers each minibatch from the
    device-resident data inside the scan, applies dropout with one key per
    step and updates with SGD momentum written by hand.  When the batch size
    does not divide the sample count, the smaller last minibatch is one more
    step after the scan, so every sample is seen, as in the other peers.
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
        penalty = 0.5 * L2_PENALTY * sum(jnp.sum(weight * weight) for weight, _ in parameters)
        return cross_entropy + penalty

    gradient = jax.grad(loss)

    @jax.jit
    def train_epoch(parameters, velocities, inputs, labels, epoch_key):
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

    base_key = jax.random.PRNGKey(SEED)
    parameters = initial_parameters(base_key)
    velocities = jax.tree.map(jnp.zeros_like, parameters)
    inputs = jax.device_put(X)
    labels = jax.device_put(y.astype(np.int32))
    epoch_keys = iter(list(jax.random.split(jax.random.fold_in(base_key, 1), WARMUP_EPOCHS + repeats)))

    def run_epoch():
        nonlocal parameters, velocities
        parameters, velocities = train_epoch(parameters, velocities, inputs, labels, next(epoch_keys))
        jax.block_until_ready(parameters)

    for _ in range(WARMUP_EPOCHS):
        run_epoch()
    return Timing([_wall_seconds(run_epoch) for _ in range(repeats)])


PEERS = {
    "fastreg": Peer("fastreg", "fastreg", "build and install fastreg from this repository", "", time_fastreg),
    "sklearn": Peer(
        "sklearn",
        "sklearn",
        "pip install scikit-learn",
        "no dropout (MLPClassifier has none)",
        time_sklearn,
    ),
    "torch": Peer("torch", "torch", "install a CPU build of torch", "", time_torch),
    "jax": Peer("jax", "jax", "pip install jax", "", time_jax),
}
