"""Plain-NumPy reference of the fastreg engine, written from the specification only.

Nothing here imports fastreg. Every quantity is computed in float64 with the textbook
formulas, deliberately by a different route than the compiled engine:

* activation derivatives come from the pre-activations ``Z`` (the engine recovers them
  from the layer outputs);
* losses are written as the per-sample formulas of the specification and their
  derivatives with respect to the logits are written out separately;
* the optimizer keeps its own state in dictionaries and applies the update rule in the
  specified order (gradient incl. L2 -> optimizer direction -> decoupled decay -> L1
  proximal step -> max-norm).

Randomness is injected: the caller hands in the dropout masks, the standard-normal input
noise and the visiting order, so the tests can feed the draws that fastreg documents
(``fastreg._random`` hooks) while the arithmetic stays independent.

Specification (per sample ``i`` with weight ``w_i``; ``S = sum_i w_i`` over the batch,
or its size without weights)::

    Z_l = A_l W_l + b_l;  A_{l+1} = act(Z_l) * mask_{l+1} * scale
    batch loss = sum_i w_i loss_i / S + alpha / (2 S) * sum_l ||W_l||^2
    dW_l = A_l^T delta_l + (alpha / S) W_l,  db_l = column sums of delta_l,
    delta_out = w_i (d loss_i / d z) / S
"""
import numpy as np

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
LOSSES = ("softmax_cross_entropy", "logistic_cross_entropy", "squared_error", "poisson")


# ---------------------------------------------------------------------------- activations
def activate(name, z):
    """act(z) for a hidden layer."""
    if name == "identity":
        return z.copy()
    if name == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), overflow-free
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(name)


def activation_derivative(name, z):
    """act'(z), from the pre-activation."""
    if name == "identity":
        return np.ones_like(z)
    if name == "logistic":
        s = 0.5 * (1.0 + np.tanh(0.5 * z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 / np.cosh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    raise ValueError(name)


# ---------------------------------------------------------------------------- losses
def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softplus(z):
    return np.logaddexp(0.0, z)


def smoothed_targets(loss, Y, label_smoothing):
    """Cross-entropy targets after label smoothing: (1 - eps) y + eps / K."""
    if loss == "softmax_cross_entropy":
        return (1.0 - label_smoothing) * Y + label_smoothing / Y.shape[1]
    if loss == "logistic_cross_entropy":
        return (1.0 - label_smoothing) * Y + label_smoothing / 2.0
    return Y


def per_sample_loss(loss, Z, Y, label_smoothing=0.0):
    """(loss_i of shape (n,), d loss_i / d z of shape (n, K)) for logits Z and targets Y."""
    Z = np.asarray(Z, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    T = smoothed_targets(loss, Y, label_smoothing)
    if loss == "softmax_cross_entropy":
        log_p = _log_softmax(Z)
        values = -(T * log_p).sum(axis=1)
        # d/dz of -sum_k t_k (z_k - logsumexp z) = (sum_k t_k) softmax(z) - t
        grad = T.sum(axis=1, keepdims=True) * np.exp(log_p) - T
    elif loss == "logistic_cross_entropy":
        values = (_softplus(Z) - T * Z).sum(axis=1)
        grad = 0.5 * (1.0 + np.tanh(0.5 * Z)) - T
    elif loss == "squared_error":
        values = 0.5 * ((Z - Y) ** 2).sum(axis=1)
        grad = Z - Y
    elif loss == "poisson":
        mu = np.exp(Z)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1.0)), 0.0)
        # y log(y / exp(z)) - y + exp(z)
        values = (ylogy - Y * Z - Y + mu).sum(axis=1)
        grad = mu - Y
    else:
        raise ValueError(loss)
    return values, grad


def output_function(loss, Z):
    """The network's prediction for logits Z."""
    if loss == "softmax_cross_entropy":
        return np.exp(_log_softmax(Z))
    if loss == "logistic_cross_entropy":
        return 0.5 * (1.0 + np.tanh(0.5 * Z))
    if loss == "poisson":
        return np.exp(Z)
    return Z.copy()


# ---------------------------------------------------------------------------- model
class Model:
    """Static description of a network.

    Parameters
    ----------
    hidden : list of (units, activation, dropout)
    n_outputs : int
    loss : str
    label_smoothing, input_dropout, input_noise : float
    dropout_mode : {"inverted", "vanilla"}
    alpha : float
        Coupled L2 strength (scikit-learn's alpha).
    """

    def __init__(self, hidden, n_outputs, loss, *, label_smoothing=0.0, input_dropout=0.0,
                 input_noise=0.0, dropout_mode="inverted", alpha=0.0):
        self.hidden = [tuple(h) for h in hidden]
        self.n_outputs = n_outputs
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.input_dropout = input_dropout
        self.input_noise = input_noise
        self.dropout_mode = dropout_mode
        self.alpha = alpha

    @property
    def keeps(self):
        """Keep probability of the input (index 0) and of each hidden layer's output."""
        return [1.0 - self.input_dropout] + [1.0 - h[2] for h in self.hidden]


class Draws:
    """The random draws of one training step.

    Parameters
    ----------
    masks : list
        ``masks[0]`` the input keep-mask, ``masks[l]`` that of hidden layer ``l``; each a
        boolean array of shape (n_rows, width), or None where that layer has no dropout.
    noise : ndarray of shape (n_rows, n_features) or None
        Standard-normal draws (multiplied by the model's ``input_noise``).
    """

    def __init__(self, masks, noise=None):
        self.masks = masks
        self.noise = noise


def forward(model, coefs, intercepts, X, draws=None):
    """Forward pass; ``draws`` None means evaluation (no dropout, no noise).

    Returns
    -------
    inputs : list of ndarray
        ``inputs[l]`` is the input of layer l (``inputs[0]`` the possibly noisy/dropped X).
    pre : list of ndarray
        Pre-activations of the hidden layers.
    logits : ndarray
    """
    coefs = [np.asarray(w, dtype=np.float64) for w in coefs]
    intercepts = [np.asarray(b, dtype=np.float64) for b in intercepts]
    A = np.array(X, dtype=np.float64)
    keeps = model.keeps
    vanilla = model.dropout_mode == "vanilla"
    if draws is not None:
        if model.input_noise > 0:
            A = A + model.input_noise * draws.noise
        if keeps[0] < 1:
            scale = 1.0 if vanilla else 1.0 / keeps[0]
            A = A * draws.masks[0] * scale
    elif vanilla and keeps[0] < 1:
        A = A * keeps[0]
    inputs, pre = [A], []
    for layer, (_, act, _) in enumerate(model.hidden, start=1):
        Z = A @ coefs[layer - 1] + intercepts[layer - 1]
        pre.append(Z)
        A = activate(act, Z)
        keep = keeps[layer]
        if keep < 1:
            if draws is not None:
                A = A * draws.masks[layer] * (1.0 if vanilla else 1.0 / keep)
            elif vanilla:
                A = A * keep
        inputs.append(A)
    logits = A @ coefs[-1] + intercepts[-1]
    return inputs, pre, logits


def predict(model, coefs, intercepts, X):
    """The network's output for X at evaluation time."""
    return output_function(model.loss, forward(model, coefs, intercepts, X)[2])


def loss_and_gradient(model, coefs, intercepts, X, Y, sample_weight=None, draws=None):
    """Batch loss (with the L2 penalty) and its gradients, as in the specification.

    Returns
    -------
    loss : float
    grad_coefs, grad_intercepts : list of ndarray (float64)
    """
    coefs = [np.asarray(w, dtype=np.float64) for w in coefs]
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    S = w.sum()
    inputs, pre, logits = forward(model, coefs, intercepts, X, draws)
    values, dz = per_sample_loss(model.loss, logits, Y, model.label_smoothing)
    squares = sum(float((W * W).sum()) for W in coefs)
    loss = float((w * values).sum() / S + model.alpha / (2.0 * S) * squares)

    keeps = model.keeps
    vanilla = model.dropout_mode == "vanilla"
    delta = w[:, None] * dz / S
    n_layers = len(coefs)
    grad_coefs = [None] * n_layers
    grad_intercepts = [None] * n_layers
    for layer in range(n_layers - 1, -1, -1):
        grad_coefs[layer] = inputs[layer].T @ delta + (model.alpha / S) * coefs[layer]
        grad_intercepts[layer] = delta.sum(axis=0)
        if layer == 0:
            break
        # Through A_l = act(Z_{l-1}) * mask * scale.
        back = delta @ coefs[layer].T
        units, act, dropout = model.hidden[layer - 1]
        factor = activation_derivative(act, pre[layer - 1])
        keep = keeps[layer]
        if keep < 1:
            if draws is not None:
                factor = factor * draws.masks[layer] * (1.0 if vanilla else 1.0 / keep)
            elif vanilla:
                factor = factor * keep
        delta = back * factor
    return loss, grad_coefs, grad_intercepts


# ---------------------------------------------------------------------------- optimizers
class Optimizer:
    """Reference optimizer with the fused regularizers.

    Parameters
    ----------
    kind : {"sgd", "momentum", "nesterov", "adam"}
    learning_rate : float or callable(epoch) -> float
    momentum, beta1, beta2, epsilon : float
    weight_decay, l1, max_norm : float
        Decoupled decay rate, proximal L1 strength, max column norm (0: off).
    """

    def __init__(self, kind, learning_rate, *, momentum=0.0, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, weight_decay=0.0, l1=0.0, max_norm=0.0):
        self.kind = kind
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.l1 = l1
        self.max_norm = max_norm
        self.state = {}
        self.t = 0

    def rate(self, epoch):
        return self.learning_rate(epoch) if callable(self.learning_rate) else self.learning_rate

    def _direction(self, key, g, lr):
        if self.kind == "sgd":
            return -lr * g
        if self.kind in ("momentum", "nesterov"):
            v = self.momentum * self.state.get(key, 0.0) - lr * g
            self.state[key] = v
            return v if self.kind == "momentum" else self.momentum * v - lr * g
        if self.kind == "adam":
            m, s = self.state.get(key, (0.0, 0.0))
            m = self.beta1 * m + (1 - self.beta1) * g
            s = self.beta2 * s + (1 - self.beta2) * g * g
            self.state[key] = (m, s)
            t = self.t
            lr_t = lr * np.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)
            return -lr_t * m / (np.sqrt(s) + self.epsilon)
        raise ValueError(self.kind)

    def step(self, coefs, intercepts, grad_coefs, grad_intercepts, lr):
        """One update of all parameters (lists of float64 arrays, updated in place)."""
        self.t += 1
        for layer, (W, g) in enumerate(zip(coefs, grad_coefs)):
            d = self._direction(("W", layer), g, lr)
            W_new = W * (1.0 - lr * self.weight_decay) + d
            if self.l1 > 0:
                W_new = np.sign(W_new) * np.maximum(np.abs(W_new) - lr * self.l1, 0.0)
            if self.max_norm > 0:
                norms = np.sqrt((W_new ** 2).sum(axis=0))
                shrink = self.max_norm / np.where(norms > 0, norms, 1)
                factor = np.where(norms > self.max_norm, shrink, 1.0)
                W_new = W_new * factor
            W[...] = W_new
        for layer, (b, g) in enumerate(zip(intercepts, grad_intercepts)):
            b[...] = b + self._direction(("b", layer), g, lr)


# ---------------------------------------------------------------------------- training
def train(model, optimizer, coefs, intercepts, X, Y, sample_weight=None, *, epochs,
          batch_size, shuffle, draws_for, order_for, start_epoch=0, start_step=0):
    """Minibatch training, as specified; returns new weights and per-epoch losses.

    Parameters
    ----------
    draws_for : callable(step, n_rows) -> Draws
    order_for : callable(epoch, n_samples) -> ndarray of int
        The visiting order when shuffling.

    Returns
    -------
    coefs, intercepts : list of ndarray (float64 copies)
    losses : list of float
        Each epoch's loss: sum over batches of batch loss * n_batch / n_samples, the batch
        loss taken with the weights before that batch's step.
    step : int
        The step counter after training.
    """
    coefs = [np.array(W, dtype=np.float64) for W in coefs]
    intercepts = [np.array(b, dtype=np.float64) for b in intercepts]
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    batch_size = min(batch_size, n)
    step = start_step
    losses = []
    for epoch in range(start_epoch, start_epoch + epochs):
        lr = optimizer.rate(epoch)
        order = np.asarray(order_for(epoch, n)) if shuffle else np.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            sw = None if sample_weight is None else np.asarray(sample_weight)[idx]
            loss, gc, gi = loss_and_gradient(model, coefs, intercepts, X[idx], Y[idx], sw,
                                             draws_for(step, len(idx)))
            total += loss * len(idx)
            optimizer.step(coefs, intercepts, gc, gi, lr)
            step += 1
        losses.append(total / n)
    return coefs, intercepts, losses, step
