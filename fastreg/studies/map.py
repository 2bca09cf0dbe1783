"""MAP: L2 and L1 as maximum a posteriori estimation under Gaussian and Laplace priors.

A softmax regression (one Dense layer, no hidden layer: a convex problem with one
optimum) on the first ``n`` rows of scikit-learn's digits (8x8 images, 10 classes; the
pixels that never vary dropped, the others standardized), trained by fastreg in float64
with the whole data set as its batch, against the maximizer of the log posterior
computed independently: the negative log posterior written in plain NumPy (the summed
cross-entropy of the softmax model plus the negative log prior), minimized by scipy's
L-BFGS-B, then polished by Newton's method to machine precision.

The mapping (fastreg's engine, as scikit-learn): a batch of S samples has the loss

    mean over the batch of the cross-entropy + alpha / (2 S) ||W||^2 + l1 ||W||_1

(biases are never penalized), the L1 part applied as a proximal step of threshold
``learning_rate * l1`` after each update. Multiplied by n, the whole-data objective is the
negative log posterior

    sum_i -log p(y_i | x_i, W) + ||W||^2 / (2 s^2) + ||W||_1 / b + const

of a Gaussian prior N(0, s^2) with ``s^2 = S / (n alpha)`` (``1 / alpha`` for the full
batch) and a Laplace prior of scale ``b = 1 / (n (1 - mu) l1)``, independent of S, where
mu is SGD's momentum (0 for plain SGD; with momentum the proximal threshold acts on a
step that the velocity multiplies by 1 / (1 - mu) at the fixed point). The biases have a
flat prior; as softmax is unchanged when the same constant is added to every bias, the
biases are compared after subtracting their mean.

Rows of the study: the two full-batch fits (the exact property: fastreg's weights are
the MAP weights), then three checks of the mapping, each compared with the MAP of the
mapping stated here and of the naive one: minibatch L2 (batch S: s^2 = S / (n alpha),
not 1 / alpha), minibatch L1 (b does not depend on S), and L1 under momentum (the
factor 1 - mu). Minibatch SGD ends near the optimum, not on it (its rate decays, but
not to 0 in finitely many epochs), so those rows show distances, not equality.
"""
from functools import lru_cache

import numpy as np

from fastreg._extras import install_hint
from fastreg.studies._runner import pyplot

MOMENTUM = 0.9


def _settings(quick):
    """Sizes, strengths and schedules; the minibatch rates decay as ``rate / (1 + epoch /
    half_life)`` (plain SGD for L2, momentum for L1, whose effective step is rate / (1 - mu))."""
    if quick:
        return {"n_samples": 200, "alpha": 10.0, "l1": 0.25, "epochs": 2500, "batch_size": 40,
                "minibatch_epochs": 300, "l2_rate": (0.2, 200.0), "l1_rate": (0.02, 200.0)}
    return {"n_samples": 500, "alpha": 10.0, "l1": 0.1, "epochs": 6000, "batch_size": 100,
            "minibatch_epochs": 1500, "l2_rate": (0.2, 200.0), "l1_rate": (0.05, 500.0)}


@lru_cache(maxsize=4)
def digits(n_samples):
    """The first ``n_samples`` of scikit-learn's digits, made once per size.

    Parameters
    ----------
    n_samples : int
        Rows to keep (at most 1797).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        The pixels that vary in these rows, standardized (mean 0, variance 1); read-only.
    y : ndarray of shape (n_samples,), int64
        The digits, 0 to 9; read-only.
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:n_samples].astype(np.float64), y[:n_samples].astype(np.int64)
    X = X[:, X.std(axis=0) > 0]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    for array in (X, y):
        array.setflags(write=False)
    return X, y


# ---------------------------------------------------------------------- the reference
def _log_softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def negative_log_likelihood(W, b, X, y):
    """The summed cross-entropy of a softmax regression, and its gradients.

    Parameters
    ----------
    W : ndarray of shape (n_features, n_classes)
    b : ndarray of shape (n_classes,)
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Class indices.

    Returns
    -------
    value : float
        ``sum_i -log softmax(x_i W + b)[y_i]``.
    grad_W : ndarray of shape (n_features, n_classes)
    grad_b : ndarray of shape (n_classes,)
    """
    log_p = _log_softmax(X @ W + b)
    rows = np.arange(len(y))
    residual = np.exp(log_p)
    residual[rows, y] -= 1.0
    return -log_p[rows, y].sum(), X.T @ residual, residual.sum(axis=0)


def negative_log_posterior(W, b, X, y, *, s2=None, scale=None):
    """The negative log posterior ``-log p(W, b | X, y)``, up to a constant.

    Parameters
    ----------
    W, b, X, y
        As in :func:`negative_log_likelihood`.
    s2 : float, optional
        Variance of a Gaussian prior N(0, s2) on each weight: adds ``||W||^2 / (2 s2)``.
    scale : float, optional
        Scale of a Laplace prior on each weight: adds ``||W||_1 / scale``.

    Returns
    -------
    float
        The summed cross-entropy plus the prior's term (none: a flat prior).
    """
    value = negative_log_likelihood(W, b, X, y)[0]
    if s2 is not None:
        value += np.sum(W * W) / (2.0 * s2)
    if scale is not None:
        value += np.sum(np.abs(W)) / scale
    return float(value)


def _hessian(W, b, X):
    """Hessian of the negative log-likelihood in the parameters ``[W; b]`` (rows of
    features then the bias row; columns the classes), as a square matrix."""
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    p = np.exp(_log_softmax(X @ W + b))
    n_rows, n_classes = X1.shape[1], p.shape[1]
    hessian = np.empty((n_rows, n_classes, n_rows, n_classes))
    for k in range(n_classes):
        for m in range(k, n_classes):
            curvature = p[:, k] * ((k == m) - p[:, m])
            block = X1.T @ (X1 * curvature[:, None])
            hessian[:, k, :, m] = block
            hessian[:, m, :, k] = block
    return hessian.reshape(n_rows * n_classes, n_rows * n_classes)


def _newton_polish(W, b, X, y, free, penalty_gradient, penalty_curvature, steps=8):
    """Newton steps on the parameters ``free`` (a mask of ``[W; b]``), the others held.

    The Hessian is singular along the softmax's shift of all biases; the least-squares
    step leaves that direction alone.
    """
    d, n_classes = W.shape
    theta = np.vstack([W, b[None, :]])
    for _ in range(steps):
        _, grad_W, grad_b = negative_log_likelihood(theta[:d], theta[d], X, y)
        gradient = np.vstack([grad_W, grad_b[None, :]]) + penalty_gradient(theta)
        hessian = _hessian(theta[:d], theta[d], X) + np.diag(penalty_curvature.ravel())
        index = np.flatnonzero(free.ravel())
        step = np.linalg.lstsq(hessian[np.ix_(index, index)], gradient.ravel()[index],
                               rcond=None)[0]
        flat = theta.ravel()
        flat[index] -= step
        theta = flat.reshape(d + 1, n_classes)
        if np.abs(step).max() <= 1e-15 * max(1.0, np.abs(flat).max()):
            break
    return theta[:d], theta[d]


def map_gaussian(X, y, s2):
    """The MAP weights of a softmax regression under the prior N(0, s2 I) on W (flat on b).

    scipy's L-BFGS-B on the negative log posterior written in NumPy, then Newton's method.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Class indices 0 to n_classes - 1.
    s2 : float
        The prior's variance.

    Returns
    -------
    W : ndarray of shape (n_features, n_classes)
    b : ndarray of shape (n_classes,)
        Defined up to a common shift (softmax ignores it).
    residual : float
        The largest entry of the negative log posterior's gradient at (W, b).
    """
    from scipy.optimize import minimize

    d, n_classes = X.shape[1], int(y.max()) + 1
    size = d * n_classes

    def objective(theta):
        W, b = theta[:size].reshape(d, n_classes), theta[size:]
        value, grad_W, grad_b = negative_log_likelihood(W, b, X, y)
        return (value + np.sum(W * W) / (2 * s2),
                np.concatenate([(grad_W + W / s2).ravel(), grad_b]))

    result = minimize(objective, np.zeros(size + n_classes), jac=True, method="L-BFGS-B",
                      options={"maxiter": 20000, "ftol": 0.0, "gtol": 1e-12, "maxcor": 30})
    W, b = result.x[:size].reshape(d, n_classes), result.x[size:]
    weight_rows = np.vstack([np.full((d, n_classes), 1.0 / s2), np.zeros((1, n_classes))])
    W, b = _newton_polish(W, b, X, y, np.ones((d + 1, n_classes), dtype=bool),
                          lambda theta: weight_rows * theta, weight_rows)
    _, grad_W, grad_b = negative_log_likelihood(W, b, X, y)
    residual = max(np.abs(grad_W + W / s2).max(), np.abs(grad_b).max())
    return W, b, float(residual)


def map_laplace(X, y, scale):
    """The MAP weights of a softmax regression under a Laplace prior on each weight.

    The non-smooth posterior is made smooth by writing W = U - V with U, V >= 0 (the
    penalty is then linear, ``sum(U + V) / scale``) for scipy's L-BFGS-B with bounds;
    Newton's method then polishes the nonzero weights with their signs fixed. The
    optimality conditions: the log-likelihood's gradient is ``sign(w) / scale`` on the
    nonzero weights and at most ``1 / scale`` in size on the zero ones, 0 on the biases.

    Parameters
    ----------
    X, y
        As in :func:`map_gaussian`.
    scale : float
        The prior's scale b (density ``exp(-|w| / b) / (2 b)``); biases have a flat prior.

    Returns
    -------
    W : ndarray of shape (n_features, n_classes)
        With exact zeros.
    b : ndarray of shape (n_classes,)
    residual : float
        :func:`laplace_optimality` at (W, b).
    """
    from scipy.optimize import minimize

    d, n_classes = X.shape[1], int(y.max()) + 1
    size = d * n_classes

    def objective(z):
        U, V, b = z[:size], z[size:2 * size], z[2 * size:]
        value, grad_W, grad_b = negative_log_likelihood((U - V).reshape(d, n_classes), b, X, y)
        grad_W = grad_W.ravel()
        return (value + (U.sum() + V.sum()) / scale,
                np.concatenate([grad_W + 1 / scale, -grad_W + 1 / scale, grad_b]))

    bounds = [(0.0, None)] * (2 * size) + [(None, None)] * n_classes
    result = minimize(objective, np.zeros(2 * size + n_classes), jac=True, method="L-BFGS-B",
                      bounds=bounds, options={"maxiter": 20000, "maxfun": 40000, "ftol": 0.0,
                                              "gtol": 1e-12, "maxcor": 30})
    z = result.x
    W = (z[:size] - z[size:2 * size]).reshape(d, n_classes)
    b = z[2 * size:]
    free = np.vstack([W != 0, np.ones((1, n_classes), dtype=bool)])
    signs = np.vstack([np.sign(W), np.zeros((1, n_classes))])
    W, b = _newton_polish(W, b, X, y, free, lambda theta: signs / scale,
                          np.zeros((d + 1, n_classes)))
    W = np.where(free[:d], W, 0.0)
    return W, b, laplace_optimality(W, b, X, y, scale)


def laplace_optimality(W, b, X, y, scale):
    """The largest violation of the optimality conditions of the Laplace MAP at (W, b).

    Parameters
    ----------
    W, b, X, y
        As in :func:`negative_log_likelihood`.
    scale : float
        The Laplace prior's scale.

    Returns
    -------
    float
        0 exactly at the MAP: the largest of ``|g + sign(w) / scale|`` over the nonzero
        weights, ``|g| - 1 / scale`` (when positive) over the zero weights and ``|g_b|``,
        g the cross-entropy's gradient.
    """
    _, grad_W, grad_b = negative_log_likelihood(W, b, X, y)
    nonzero = W != 0
    on_support = np.abs(grad_W[nonzero] + np.sign(W[nonzero]) / scale).max(initial=0.0)
    off_support = np.maximum(np.abs(grad_W[~nonzero]) - 1 / scale, 0.0).max(initial=0.0)
    return float(max(on_support, off_support, np.abs(grad_b).max()))


# ---------------------------------------------------------------------- fastreg's side
class DecayingRate:
    """The learning rate ``rate / (1 + epoch / half_life)``: the decay that takes
    minibatch SGD to the optimum rather than to a cloud around it (a picklable callable,
    for Dask).

    Parameters
    ----------
    rate : float
        The rate of epoch 0.
    half_life : float
        The epoch at which the rate is halved.
    """

    def __init__(self, rate, half_life):
        self.rate, self.half_life = rate, half_life

    def __call__(self, epoch):
        return self.rate / (1.0 + epoch / self.half_life)


def train_softmax(*, n_samples, penalty, strength, momentum, learning_rate, batch_size,
                  epochs, seed, half_life=None, dtype="float64"):
    """Train fastreg's softmax regression on the digits (one engine thread).

    Parameters
    ----------
    n_samples : int
        The first rows of the digits.
    penalty : {'l2', 'l1'}
        ``L2(alpha=strength)`` or ``L1(strength)``.
    strength : float
    momentum : float
        SGD's momentum (0: plain SGD).
    learning_rate : float
        The rate (of the first epoch, when it decays).
    batch_size : int
        ``n_samples``: full batch, the samples in their order; less: reshuffled batches.
    epochs : int
    seed : int
        The initial weights and the epochs' orders.
    half_life : float or None, default=None
        Decay the rate as ``learning_rate / (1 + epoch / half_life)`` (None: constant).
    dtype : {'float64', 'float32'}, default='float64'
        The network's arithmetic.

    Returns
    -------
    dict
        ``W`` and ``b`` as nested lists.
    """
    from fastreg import L1, L2, SGD, Dense, Network

    X, y = digits(n_samples)
    regularizer = L2(strength) if penalty == "l2" else L1(strength)
    if half_life is not None:
        learning_rate = DecayingRate(learning_rate, half_life)
    network = Network([Dense(int(y.max()) + 1)], optimizer=SGD(learning_rate, momentum=momentum),
                      regularizers=regularizer, dtype=dtype, random_state=seed, n_threads=1)
    network.fit(X.astype(dtype), y, epochs=epochs, batch_size=batch_size,
                shuffle=batch_size < n_samples)
    return {"W": network.coefs_[0].tolist(), "b": network.intercepts_[0].tolist()}


# ---------------------------------------------------------------------- the study
def _centered(b):
    b = np.asarray(b, dtype=float)
    return b - b.mean()


def _rows_and_tasks(settings, X, seed):
    """The study's rows: what fastreg trains, the prior it should match, the naive one."""
    n = settings["n_samples"]
    alpha, l1, S = settings["alpha"], settings["l1"], settings["batch_size"]
    # A full step of plain gradient descent at 1 / L (L: the Lipschitz constant of the
    # mean cross-entropy's gradient, at most half the top eigenvalue of X^T X / n, plus
    # the penalty's); momentum 0.9 takes the same fixed point, in fewer epochs.
    lipschitz = 0.5 * np.linalg.eigvalsh(X.T @ X / n).max() + alpha / n
    rate = 1.0 / lipschitz
    full = {"n_samples": n, "momentum": MOMENTUM, "learning_rate": rate, "batch_size": n,
            "epochs": settings["epochs"], "seed": seed}
    mini = {"n_samples": n, "batch_size": S, "epochs": settings["minibatch_epochs"],
            "seed": seed + 1}
    l2_rate, l2_half_life = settings["l2_rate"]
    l1_rate, l1_half_life = settings["l1_rate"]
    rows = [
        {"row": "L2, full batch", "prior": "gaussian", "penalty": "l2", "strength": alpha,
         "momentum": MOMENTUM, "batch": n, "s2": 1 / alpha, "naive": n / alpha,
         "naive_rule": "s² = n/α", "exact": True, "task": dict(full, penalty="l2",
                                                                strength=alpha)},
        {"row": "L1, full batch", "prior": "laplace", "penalty": "l1", "strength": l1,
         "momentum": MOMENTUM, "batch": n, "scale": 1 / (n * (1 - MOMENTUM) * l1),
         "naive": 1 / (n * l1), "naive_rule": "b = 1/(n l1)", "exact": True,
         "task": dict(full, penalty="l1", strength=l1)},
        {"row": f"L2, minibatch S = {S}", "prior": "gaussian", "penalty": "l2",
         "strength": alpha, "momentum": 0.0, "batch": S, "s2": S / (n * alpha),
         "naive": 1 / alpha, "naive_rule": "s² = 1/α", "exact": False,
         "task": dict(mini, penalty="l2", strength=alpha, momentum=0.0,
                                   learning_rate=l2_rate, half_life=l2_half_life)},
        {"row": f"L1, minibatch S = {S}", "prior": "laplace", "penalty": "l1",
         "strength": l1, "momentum": MOMENTUM, "batch": S,
         "scale": 1 / (n * (1 - MOMENTUM) * l1),
         "naive": S / (n * (1 - MOMENTUM) * l1), "naive_rule": "b = S/(n (1−μ) l1)",
         "exact": False, "task": dict(mini, penalty="l1", strength=l1, momentum=MOMENTUM,
                                      learning_rate=l1_rate, half_life=l1_half_life)},
    ]
    return rows


def _reference(X, y, row, which):
    """The MAP of the row's prior (``which='map'``) or of its naive mapping."""
    if row["prior"] == "gaussian":
        s2 = row["s2"] if which == "map" else row["naive"]
        W, b, residual = map_gaussian(X, y, s2)
        return W, b, residual, {"s2": s2}
    scale = row["scale"] if which == "map" else row["naive"]
    W, b, residual = map_laplace(X, y, scale)
    return W, b, residual, {"scale": scale}


def _figure(rows, settings):
    plt = pyplot()
    figure, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
    for ax, row in zip(axes[0], rows[:2]):
        W_map, W_fast = np.asarray(row["W_map"]).ravel(), np.asarray(row["W_fastreg"]).ravel()
        zeros = W_map == 0
        ax.plot(W_map[~zeros], W_fast[~zeros], "o", markersize=3, alpha=0.6, color="C0",
                label="nonzero weights")
        if zeros.any():
            ax.plot(W_map[zeros], W_fast[zeros], "x", markersize=5, color="C3",
                    label=f"exact zeros of the MAP ({int(zeros.sum())})")
        low, high = float(min(W_map.min(), W_fast.min())), float(max(W_map.max(), W_fast.max()))
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="y = x")
        prior = (f"Gaussian prior, s² = 1/α = {row['s2']:.3g}" if row["prior"] == "gaussian"
                 else f"Laplace prior, b = {row['scale']:.3g}")
        ax.set_title(f"{row['row']}: {prior}\nmax |w_fastreg − w_MAP| = {row['max_dw']:.1e}")
        ax.set_xlabel("MAP weight (NumPy + scipy L-BFGS-B + Newton)")
        ax.set_ylabel("fastreg's weight (full-batch SGD, float64)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    ax = axes[1, 0]
    gaussian, laplace = rows[0], rows[1]
    grid = np.linspace(-1.5, 1.5, 601)
    s = np.sqrt(gaussian["s2"])
    ax.plot(grid, np.exp(-grid ** 2 / (2 * s * s)) / (s * np.sqrt(2 * np.pi)), color="C0",
            label=f"Gaussian N(0, s² = {gaussian['s2']:.3g}): L2, α = {gaussian['strength']:g}")
    scale = laplace["scale"]
    ax.plot(grid, np.exp(-np.abs(grid) / scale) / (2 * scale), color="C3",
            label=f"Laplace(b = {scale:.3g}): L1 = {laplace['strength']:g}, μ = {MOMENTUM}")
    ax.hist(np.asarray(gaussian["W_map"]).ravel(), bins=50, density=True, alpha=0.3,
            color="C0", label="the L2 MAP weights")
    nonzero = np.asarray(laplace["W_map"]).ravel()
    ax.hist(nonzero[nonzero != 0], bins=50, density=True, alpha=0.3, color="C3",
            label="the L1 MAP's nonzero weights")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("weight")
    ax.set_ylabel("density")
    ax.set_title(f"The priors (n = {settings['n_samples']} samples)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="x-small")
    ax = axes[1, 1]
    positions = np.arange(len(rows))
    ax.bar(positions - 0.2, [row["max_dw"] for row in rows], width=0.4, color="C2",
           label="to the MAP of the stated mapping")
    ax.bar(positions + 0.2, [row["naive_dw"] for row in rows], width=0.4, color="grey",
           label="to the MAP of the naive mapping")
    ax.set_yscale("log")
    ax.set_xticks(positions, [row["row"].replace(", ", "\n") + f"\nnaive: {row['naive_rule']}"
                              for row in rows], fontsize="x-small")
    ax.set_ylabel("max |w_fastreg − w_MAP|")
    ax.set_title("Which prior fastreg's weights are the MAP of")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper left", fontsize="small")
    figure.suptitle("L2 and L1 as MAP estimates: softmax regression on scikit-learn's digits")
    return figure


def _require_scikit_learn():
    """ImportError with the install hint when scikit-learn (and so scipy) is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(f"The map study needs scikit-learn: {install_hint('sklearn')}"
                          ) from error


def run(context):
    """Train, compute the MAP references, then write ``map.png``, ``map.md`` and the JSON."""
    from fastreg._threads import single_threaded_blas

    _require_scikit_learn()
    settings = _settings(context.quick)
    X, y = digits(settings["n_samples"])
    rows = _rows_and_tasks(settings, X, context.seed)
    trained = context.map(train_softmax, [row.pop("task") for row in rows], label="fits")
    with single_threaded_blas():  # NumPy's small products: faster on one thread, shared cores
        for row, weights in zip(rows, trained):
            W_fast, b_fast = np.asarray(weights["W"]), np.asarray(weights["b"])
            W_map, b_map, residual, prior = _reference(X, y, row, "map")
            W_naive, _, _, _ = _reference(X, y, row, "naive")
            objective = {"s2": prior.get("s2"), "scale": prior.get("scale")}
            row.update({
                "W_fastreg": W_fast.tolist(), "W_map": W_map.tolist(),
                "max_dw": float(np.abs(W_fast - W_map).max()),
                "max_db": float(np.abs(_centered(b_fast) - _centered(b_map)).max()),
                "naive_dw": float(np.abs(W_fast - W_naive).max()),
                "objective_fastreg": negative_log_posterior(W_fast, b_fast, X, y, **objective),
                "objective_map": negative_log_posterior(W_map, b_map, X, y, **objective),
                "map_residual": residual,
                "zeros_fastreg": int(np.count_nonzero(W_fast == 0)),
                "zeros_map": int(np.count_nonzero(W_map == 0)),
                "zeros_mismatched": int(np.count_nonzero((W_fast == 0) != (W_map == 0))),
                "n_weights": int(W_fast.size),
            })
            if row["prior"] == "laplace":
                row["fastreg_residual"] = laplace_optimality(W_fast, b_fast, X, y,
                                                             prior["scale"])
    context.save_json("map", {"settings": settings, "momentum": MOMENTUM,
                              "n_features": X.shape[1], "rows": rows})
    keys = ["s2", "scale", "fastreg_residual"]
    table_rows = [{**dict.fromkeys(keys), **{key: value for key, value in row.items()
                                             if not key.startswith("W_")}} for row in rows]
    context.save_csv("map", table_rows)

    def prior_text(row):
        if row["prior"] == "gaussian":
            return f"Gaussian, s² = {row['s2']:.4g}"
        return f"Laplace, b = {row['scale']:.4g}"

    def setting_text(row):
        name = "α" if row["penalty"] == "l2" else "l1"
        return f"{name} = {row['strength']:g}, μ = {row['momentum']:g}, S = {row['batch']}"

    def zeros_text(row):
        if row["prior"] == "gaussian":
            return f"{row['zeros_fastreg']} / {row['zeros_map']}"
        return (f"{row['zeros_fastreg']} / {row['zeros_map']} "
                f"({row['zeros_mismatched']} differ)")

    columns = [
        ("row", "fit", ""), ("setting", "fastreg", setting_text),
        ("prior", "prior (stated mapping)", prior_text),
        ("max_dw", "max abs Δw", "{:.1e}"), ("max_db", "max abs Δb", "{:.1e}"),
        ("objective_fastreg", "−log posterior, fastreg", "{:.10f}"),
        ("objective_map", "−log posterior, MAP", "{:.10f}"),
        ("zeros", "zeros fastreg / MAP", zeros_text),
        ("naive_dw", "max abs Δw, naive mapping", lambda row: (
            f"{row['naive_dw']:.1e} ({row['naive_rule']})")),
    ]
    n = settings["n_samples"]
    context.table("map", table_rows, columns,
                  title=f"fastreg's weights against the MAP weights: softmax regression, "
                        f"digits, n = {n}, {X.shape[1]} features, float64",
                  notes=["L2: s² = S/(n α) (full batch S = n: 1/α). L1 with SGD momentum μ: "
                         "b = 1/(n (1 − μ) l1), whatever S. Δb: biases centred (softmax "
                         "ignores a common shift). Minibatch rows: SGD with a decaying rate "
                         "ends near the optimum, not on it."])
    context.figure("map", _figure(rows, settings))
    for row in rows[:2]:
        context.say(f"{row['row']}: fastreg's weights are the MAP weights of the {prior_text(row)} "
                    f"prior to {row['max_dw']:.1e} (largest difference; the naive mapping "
                    f"{row['naive_rule']} misses by {row['naive_dw']:.1e}).")
    for row in rows[2:]:
        context.say(f"{row['row']}: {row['max_dw']:.1e} from the MAP of the {prior_text(row)} "
                    f"prior, {row['naive_dw']:.1e} from the naive {row['naive_rule']}.")
