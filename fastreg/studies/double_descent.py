"""Model-wise double descent on MNIST-1D (Nakkiran et al. 2019), and how tuned L2 and early
stopping flatten its peak (Nakkiran et al. 2020).

Test error against the width of an MLP trained to interpolation without regularization,
with clean labels and with 15% of the training labels replaced by other classes. The
published MNIST-1D figure (the MNIST-1D paper's notebook, the "Understanding Deep
Learning" notebook 8.3) peaks at about 54% near width 47 with 15% label noise. Its
recipe, followed here: two ReLU hidden layers of ``width`` units each (the notebook's
``get_model``), PyTorch's default initialization, plain cross-entropy, SGD with learning
rate 0.01 and momentum 0.9, minibatches of 100; 300 epochs here (500 there). A
one-hidden-layer curve (the issue's wording) is added for comparison.
"""
import math
import time

import numpy as np

from fastreg import L2, SGD, Dense, EarlyStopping, Network, Patience
from fastreg._validation import check_integer, check_real
from fastreg.studies._runner import mnist1d, noisy_labels, pyplot

N_CLASSES = 10
NOISE = 0.15
LEARNING_RATE = 0.01
MOMENTUM = 0.9
BATCH_SIZE = 100
#: The published notebook trains 500 epochs; 300 keep a full run within minutes on two
#: shared cores, and the nets beyond the peak interpolate the noisy labels well before.
EPOCHS = 300
PUBLISHED_EPOCHS = 500
HIDDEN_LAYERS = 2
LARGEST_WIDTH = 256
N_WIDTHS = 26
#: Coupled L2 strengths (scikit-learn's alpha) tried on the validation split.
L2_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
#: The widths the L2 strength is tuned at: at the published peak and just above it.
L2_TUNING_WIDTHS = (46, 67)
#: Signals of the 4000 training signals held out to tune L2 and to stop early.
VALIDATION_SIZE = 800
PATIENCE = 25
PUBLISHED_PEAK_WIDTH = 47
PUBLISHED_PEAK_ERROR = 0.54

QUICK = {"widths": (2, 8, 32), "epochs": 4, "l2_grid": (1.0, 10.0), "l2_widths": (8,),
         "patience": 2}


def sweep_widths(count=N_WIDTHS, largest=LARGEST_WIDTH):
    """``count`` distinct integer widths from 1 to ``largest``, spaced evenly in log.

    Parameters
    ----------
    count : int, default=26
        How many widths (at most ``largest``).
    largest : int, default=256

    Returns
    -------
    ndarray of int
        Increasing, unique, starting at 1 and ending at ``largest``.
    """
    largest = check_integer(largest, "largest")
    count = check_integer(count, "count")
    if count > largest:
        raise ValueError(f"count must be at most largest ({largest}) distinct widths, "
                         f"got {count}.")
    points = count
    while True:
        widths = np.unique(np.round(np.geomspace(1, largest, points)).astype(int))
        if len(widths) >= count:
            break
        points += 1
    # The rounded grid repeats small widths; keep the log spacing among the distinct ones.
    chosen = np.round(np.linspace(0, len(widths) - 1, count)).astype(int)
    return widths[np.unique(chosen)]


def parameter_count(width, hidden_layers=HIDDEN_LAYERS, n_features=40, n_classes=N_CLASSES):
    """Weights and biases of the MLP ``n_features - width x hidden_layers - n_classes``."""
    width = check_integer(width, "width")
    hidden_layers = check_integer(hidden_layers, "hidden_layers")
    sizes = [n_features] + [width] * hidden_layers + [n_classes]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def torch_like_weights(width, hidden_layers, n_features, n_classes, seed):
    """PyTorch's default initialization of ``nn.Linear``: weights and biases uniform in
    ``+-1 / sqrt(fan_in)`` (the published notebook's), drawn from ``seed``.

    Returns
    -------
    coefs, intercepts : lists of float32 arrays, as :meth:`fastreg.Network.set_weights`
        takes them.
    """
    rng = np.random.default_rng(seed)
    sizes = [n_features] + [width] * hidden_layers + [n_classes]
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return coefs, intercepts


def training_split(noise, data_seed, validation_size):
    """The training signals and their labels (``noise`` of them replaced by another class),
    and, with ``validation_size`` > 0, a held-out part of them (labels as noisy).

    Returns
    -------
    X_train, y_train, X_val, y_val : arrays (the last two None without a split)
    """
    X, y, _, _ = mnist1d()
    y = noisy_labels(y, noise, N_CLASSES, data_seed) if noise > 0 else np.array(y)
    if validation_size == 0:
        return X, y, None, None
    order = np.random.default_rng([data_seed, 1]).permutation(len(y))
    held, kept = order[:validation_size], order[validation_size:]
    return X[kept], y[kept], X[held], y[held]


def _error(network, X, y):
    return float(np.mean(network.predict(X).argmax(axis=1) != y))


def train_width(*, width, hidden_layers=HIDDEN_LAYERS, noise=NOISE, alpha=0.0, epochs=EPOCHS,
                batch_size=BATCH_SIZE, validation_size=0, patience=0, seed=0, data_seed=0):
    """Train one MLP of the sweep (one engine thread) and measure it.

    Parameters
    ----------
    width : int
        Units of each hidden layer.
    hidden_layers : int, default=2
    noise : float, default=0.15
        Fraction of the training labels replaced by another class
        (:func:`fastreg.studies._runner.noisy_labels`, seeded by ``data_seed``).
    alpha : float, default=0.0
        Coupled L2 strength (:class:`fastreg.L2`); 0 trains without it.
    epochs, batch_size : int
    validation_size : int, default=0
        Training signals held out as a validation split (0: train on all 4000).
    patience : int, default=0
        With a validation split, stop when its loss has not improved for ``patience``
        epochs and restore the best weights (0: no early stopping).
    seed : int
        Seeds the initial weights and the shuffling.
    data_seed : int
        Seeds the label noise and the split (the same for every width and curve).

    Returns
    -------
    dict
        ``width``, ``parameters``, ``train_error`` (on the labels it was trained on, noisy
        ones included), ``test_error`` (the 1000 clean test signals), ``val_error`` (NaN
        without a split), ``epochs`` trained, ``best_epoch`` (early stopping) and
        ``seconds`` of training.
    """
    width = check_integer(width, "width")
    hidden_layers = check_integer(hidden_layers, "hidden_layers")
    check_real(noise, "noise", 0.0, 1.0)
    check_real(alpha, "alpha", 0.0, math.inf)
    epochs = check_integer(epochs, "epochs")
    validation_size = check_integer(validation_size, "validation_size", minimum=0)
    patience = check_integer(patience, "patience", minimum=0)
    if patience and not validation_size:
        raise ValueError("Early stopping (patience > 0) needs a validation split "
                         "(validation_size > 0).")
    X, y, X_val, y_val = training_split(noise, data_seed, validation_size)
    _, _, X_test, y_test = mnist1d()
    network = Network([Dense(width, "relu")] * hidden_layers + [Dense(N_CLASSES)],
                      optimizer=SGD(LEARNING_RATE, momentum=MOMENTUM),
                      regularizers=[L2(alpha)] if alpha > 0 else (),
                      random_state=seed, n_threads=1)
    network.set_weights(*torch_like_weights(width, hidden_layers, X.shape[1], N_CLASSES, seed))
    callbacks = []
    if patience:
        stopper = EarlyStopping(Patience(patience), validation_data=(X_val, y_val))
        callbacks.append(stopper)
    start = time.perf_counter()
    network.fit(X, y, epochs=epochs, batch_size=batch_size, callbacks=callbacks)
    seconds = time.perf_counter() - start
    return {
        "width": width,
        "parameters": parameter_count(width, hidden_layers, X.shape[1]),
        "train_error": _error(network, X, y),
        "test_error": _error(network, X_test, y_test),
        "val_error": _error(network, X_val, y_val) if validation_size else math.nan,
        "epochs": network.epochs_,
        "best_epoch": callbacks[0].best_epoch_ if patience else network.epochs_,
        "seconds": seconds,
    }


def peak(rows, threshold=None):
    """The double-descent peak of a curve, and a summary of it.

    The peak is the highest test error at the widths from the classical sweet spot on:
    the width of lowest test error among those narrower than ``threshold`` (the
    interpolation threshold); without a threshold, or when no width is narrower, the
    highest test error of the whole curve. This skips the underfitting of the narrowest
    nets, whose error is high for another reason.

    Returns
    -------
    dict
        ``sweet_width`` and ``sweet_error`` (the classical sweet spot), ``peak_width``,
        ``peak_error``, ``last_width``, ``last_error`` (the largest width), ``min_width``
        and ``min_error`` (the lowest test error of the curve).
    """
    errors = [row["test_error"] for row in rows]
    below = [i for i, row in enumerate(rows) if threshold is not None
             and row["width"] < threshold]
    sweet = min(below, key=lambda i: errors[i]) if below else 0
    top = max(range(sweet, len(rows)), key=lambda i: errors[i])
    low = int(np.argmin(errors))
    return {"sweet_width": rows[sweet]["width"], "sweet_error": errors[sweet],
            "peak_width": rows[top]["width"], "peak_error": errors[top],
            "last_width": rows[-1]["width"], "last_error": errors[-1],
            "min_width": rows[low]["width"], "min_error": errors[low]}


def interpolation_threshold(rows, tolerance=0.01):
    """The smallest width from which every wider net has training error <= ``tolerance``
    (None if the widest does not)."""
    threshold = None
    for row in reversed(rows):
        if row["train_error"] > tolerance:
            break
        threshold = row["width"]
    return threshold


def _width_for_parameters(target, hidden_layers):
    """The (real) width at which the MLP has ``target`` parameters."""
    low, high = 1.0, 1e6
    for _ in range(100):
        middle = math.sqrt(low * high)
        sizes = [40] + [middle] * hidden_layers + [N_CLASSES]
        count = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
        low, high = (middle, high) if count < target else (low, middle)
    return low


def run(context):
    """Run the double-descent study into ``context`` (see :mod:`fastreg.studies`)."""
    quick = context.quick
    widths = [int(w) for w in (QUICK["widths"] if quick else sweep_widths())]
    epochs = QUICK["epochs"] if quick else EPOCHS
    grid = QUICK["l2_grid"] if quick else L2_GRID
    tuning_widths = QUICK["l2_widths"] if quick else L2_TUNING_WIDTHS
    patience = QUICK["patience"] if quick else PATIENCE
    data_seed = context.seed
    mnist1d()  # made once here, not by every thread at once
    common = {"epochs": epochs, "data_seed": data_seed}

    def seed_of(width):  # the same initial weights for a width on every curve
        return context.seed * 100_003 + width

    curves = {
        "0% noise": {"noise": 0.0},
        "15% noise": {"noise": NOISE},
        "15% noise, 1 hidden layer": {"noise": NOISE, "hidden_layers": 1},
        "15% noise, early stopping": {"noise": NOISE, "validation_size": VALIDATION_SIZE,
                                      "patience": patience},
    }
    tuning = [{"width": w, "noise": NOISE, "alpha": a, "validation_size": VALIDATION_SIZE,
               "seed": seed_of(w), **common} for a in grid for w in tuning_widths]
    tasks = [{"width": w, "seed": seed_of(w), **settings, **common}
             for settings in curves.values() for w in widths]
    results = context.map(train_width, tuning + tasks, label="networks (L2 tuning, 4 curves)")
    tuned, results = results[:len(tuning)], results[len(tuning):]
    validation = {a: float(np.mean([r["val_error"] for r, t in zip(tuned, tuning)
                                    if t["alpha"] == a])) for a in grid}
    best_alpha = min(grid, key=lambda a: (validation[a], a))
    l2_rows = context.map(train_width, [{"width": w, "seed": seed_of(w), "noise": NOISE,
                                         "alpha": best_alpha, **common} for w in widths],
                          label="networks (15% noise + L2)")
    by_curve = {name: results[i * len(widths):(i + 1) * len(widths)]
                for i, name in enumerate(curves)}
    by_curve = {**{k: by_curve[k] for k in ("0% noise", "15% noise")},
                f"15% noise + L2 (alpha {best_alpha:g})": l2_rows,
                **{k: by_curve[k] for k in list(curves)[2:]}}
    report(context, widths, by_curve, validation, best_alpha, epochs, tuning_widths)


def report(context, widths, by_curve, validation, best_alpha, epochs, tuning_widths):
    """Write the table, the per-width CSV, the JSON, the figure and the comparison."""
    summary = []
    # The peaks of every curve are looked for past the same sweet spot boundary: where
    # the unregularized 15% noise curve starts to interpolate.
    threshold = interpolation_threshold(by_curve["15% noise"])
    for name, rows in by_curve.items():
        summary.append({"curve": name, **peak(rows, threshold),
                        "interpolation": interpolation_threshold(rows),
                        "seconds": sum(row["seconds"] for row in rows)})
    percent = "{:.1%}"
    context.table("double_descent", summary, [
        ("curve", "curve", ""),
        ("sweet_error", "sweet spot", lambda r: f"{r['sweet_error']:.1%} (width "
                                                 f"{r['sweet_width']})"),
        ("peak_width", "peak width", ""),
        ("peak_error", "peak test error", percent),
        ("last_error", f"error at width {widths[-1]}", percent),
        ("min_error", "min test error", percent),
        ("min_width", "at width", ""),
        ("interpolation", "train error <= 1% from width",
         lambda row: "never" if row["interpolation"] is None else row["interpolation"]),
        ("seconds", "fit time (s, summed)", "{:.0f}"),
    ], title=f"Double descent on MNIST-1D: MLP {HIDDEN_LAYERS} x width (one curve 1 x width), "
             f"SGD {LEARNING_RATE} momentum {MOMENTUM}, batch {BATCH_SIZE}, {epochs} epochs",
       notes=["Peak: the highest test error at the widths from the sweet spot on (the sweet "
              "spot: the lowest test error below the width where the 15% noise curve "
              f"interpolates, {threshold})."
              f" Test error on MNIST-1D's 1000 test signals (+-1.6% standard error).",
              f"Published (MNIST-1D / UDL 8.3, 15% noise): peak about "
              f"{PUBLISHED_PEAK_ERROR:.0%} near width {PUBLISHED_PEAK_WIDTH}.",
              "L2 alpha tuned on a validation split of the noisy training set "
              f"({VALIDATION_SIZE} signals) at widths {', '.join(map(str, tuning_widths))}: "
              + ", ".join(f"{a:g}: {e:.1%}" for a, e in validation.items())
              + f" -> {best_alpha:g}.",
              f"Early stopping: Patience on the validation loss of the same split, best "
              f"weights restored, training on the other {4000 - VALIDATION_SIZE} signals."])
    rows = []
    for i, width in enumerate(widths):
        row = {"width": width, "parameters": parameter_count(width)}
        for name, curve in by_curve.items():
            key = name.split(" (")[0]
            row[f"{key} test"] = curve[i]["test_error"]
            row[f"{key} train"] = curve[i]["train_error"]
            if "early" in name:
                row[f"{key} best epoch"] = curve[i]["best_epoch"]
        rows.append(row)
    context.save_csv("double_descent", rows)
    context.save_json("double_descent", {
        "widths": widths, "epochs": epochs, "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE, "momentum": MOMENTUM, "noise": NOISE,
        "hidden_layers": HIDDEN_LAYERS, "l2_validation_error": validation,
        "l2_alpha": best_alpha, "summary": summary, "curves": by_curve,
        "published": {"peak_width": PUBLISHED_PEAK_WIDTH, "peak_error": PUBLISHED_PEAK_ERROR}})
    figure(context, widths, by_curve)
    noisy = next(s for s in summary if s["curve"] == "15% noise")
    n_train = 4000
    context.say(f"15% noise: peak {noisy['peak_error']:.1%} at width {noisy['peak_width']} "
                f"(published about {PUBLISHED_PEAK_ERROR:.0%} near {PUBLISHED_PEAK_WIDTH}); "
                f"{noisy['last_error']:.1%} at width {noisy['last_width']}.")
    context.say(f"Parameters = training signals ({n_train}) at width "
                f"{_width_for_parameters(n_train, HIDDEN_LAYERS):.0f}; = signals x classes "
                f"({n_train * N_CLASSES}) at width "
                f"{_width_for_parameters(n_train * N_CLASSES, HIDDEN_LAYERS):.0f}; the 15% "
                f"curve interpolates (train error <= 1%) from width "
                f"{noisy['interpolation'] or 'none of the sweep'}.")
    for entry in summary[2:]:
        context.say(f"{entry['curve']}: peak {entry['peak_error']:.1%} at width "
                    f"{entry['peak_width']}, {entry['last_error']:.1%} at width "
                    f"{entry['last_width']}.")


def figure(context, widths, by_curve):
    """Test error (thick) and training error (thin) against width, log x."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 6.4))
    colors = ["tab:blue", "tab:red", "tab:green", "tab:gray", "tab:orange"]
    for (name, rows), color in zip(by_curve.items(), colors):
        style = "--" if "1 hidden" in name else "-"
        ax.plot(widths, [r["test_error"] for r in rows], style, color=color, lw=2,
                marker="o", ms=3, label=f"{name}: test")
        ax.plot(widths, [r["train_error"] for r in rows], style, color=color, lw=0.8,
                alpha=0.7, label=f"{name}: train")
    ax.plot([PUBLISHED_PEAK_WIDTH], [PUBLISHED_PEAK_ERROR], "k*", ms=14,
            label=f"published peak ({PUBLISHED_PEAK_ERROR:.0%} near width "
                  f"{PUBLISHED_PEAK_WIDTH}, 15% noise)")
    for target, text in ((4000, "parameters = n"), (40000, "parameters = n x classes")):
        width = _width_for_parameters(target, HIDDEN_LAYERS)
        if widths[0] <= width <= widths[-1]:
            ax.axvline(width, color="k", lw=0.8, ls=":")
            ax.text(width, 0.02, f" {text}", rotation=90, va="bottom", fontsize=8)
    noisy = by_curve["15% noise"]
    threshold = interpolation_threshold(noisy)
    if threshold is not None:
        ax.axvline(threshold, color="tab:red", lw=0.8, ls="-.")
        ax.text(threshold, 0.75, " 15% noise interpolates", rotation=90, fontsize=8,
                color="tab:red")
    ax.set_xscale("log")
    ticks = [tick for tick in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if tick <= widths[-1]]
    ax.set_xticks(ticks, [str(tick) for tick in ticks])
    ax.minorticks_off()
    ax.set_xlabel(f"hidden width (units per layer; {HIDDEN_LAYERS} hidden layers, dashed: one)")
    ax.set_ylabel("error")
    ax.set_ylim(0, 1)
    ax.set_title("Model-wise double descent on MNIST-1D (test: thick, train: thin)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13),
              frameon=False)
    context.figure("double_descent", fig)
