"""Early stopping: where each of Prechelt's criteria stops one long run, and what it costs.

Prechelt ("Early Stopping - But When?", 1998) compared stopping criteria of three classes,
``GL_alpha`` (generalization loss), ``PQ_alpha`` (generalization loss over training
progress) and ``UP_s`` (validation error rising over successive strips), on 1296 runs of
multi-layer perceptrons. He found that the slower criteria, which stop later, find slightly
better networks on average (test error lower by about 4%) for about four times the training.

The study trains the paper's MLP (40-100-100-10, ReLU, Adam 1e-2, batch 100, no
regularization: it overfits) on MNIST-1D for a few hundred epochs, with a validation split
carved from the 4000 training signals, and records after every epoch the training loss, the
validation loss and error rate and, for the report only, the test loss and error rate. Every
criterion of :mod:`fastreg.early_stopping` (Patience too) is then replayed on the recorded
curves through its own ``update(train_error, val_error)``, exactly as the
:class:`~fastreg.EarlyStopping` callback would feed it, without retraining: the epoch where
it stops, the best validation epoch up to there (whose weights the callback restores) and
that epoch's validation and test error.
"""
import math

import numpy as np

from fastreg.studies._runner import mnist1d, pyplot

EPOCHS = 300
N_SEEDS = 5
VALIDATION_SIZE = 1000
BATCH_SIZE = 100
LEARNING_RATE = 1e-2
QUICK = {"epochs": 30, "n_seeds": 1}
#: The signals the criteria can watch: ``E_va`` is the validation error rate (the main
#: table) or the validation loss (the second table); ``E_tr`` is always the training loss
#: of the epoch, as the EarlyStopping callback measures it.
SIGNALS = {"error_rate": "val_error", "loss": "val_loss"}
#: A couple of parameter values per class, from Prechelt's table (strips of 5 epochs).
CRITERIA = (
    ("Patience", {"patience": 5}), ("Patience", {"patience": 10}),
    ("Patience", {"patience": 20}),
    ("GeneralizationLoss", {"alpha": 1.0}), ("GeneralizationLoss", {"alpha": 2.0}),
    ("GeneralizationLoss", {"alpha": 5.0}),
    ("ProgressQuotient", {"alpha": 0.5}), ("ProgressQuotient", {"alpha": 1.0}),
    ("ProgressQuotient", {"alpha": 2.0}),
    ("UpStrips", {"strips": 2}), ("UpStrips", {"strips": 3}), ("UpStrips", {"strips": 4}),
)
SHORT_NAMES = {"Patience": "Patience", "GeneralizationLoss": "GL", "ProgressQuotient": "PQ",
               "UpStrips": "UP"}


def make_criterion(kind, parameters):
    """A fresh criterion of :mod:`fastreg.early_stopping` from its class name."""
    from fastreg import early_stopping

    return getattr(early_stopping, kind)(**parameters)


def criterion_label(kind, parameters):
    """``GL_2``, ``PQ_0.5``, ``UP_3``, ``Patience 10``: Prechelt's names."""
    value = next(iter(parameters.values()))
    if kind == "Patience":
        return f"Patience {value}"
    return f"{SHORT_NAMES[kind]}_{value:g}"


def split_training(seed):
    """The training signals without a validation split, and the split: ``(X_train,
    y_train, X_val, y_val, X_test, y_test)``, the split drawn from ``seed``."""
    X, y, X_test, y_test = mnist1d()
    order = np.random.default_rng(seed).permutation(len(y))
    train, validation = order[VALIDATION_SIZE:], order[:VALIDATION_SIZE]
    return X[train], y[train], X[validation], y[validation], X_test, y_test


def make_network(seed):
    """The paper's MLP with Adam 1e-2, on one engine thread."""
    from fastreg import Adam, Dense, Network

    return Network([Dense(100, "relu"), Dense(100, "relu"), Dense(10)],
                   optimizer=Adam(LEARNING_RATE), random_state=seed, n_threads=1)


class _CurveRecorder:
    """A ``fit`` callback that records the curves of every epoch and never stops training.

    The training loss is taken from the epoch's record as :class:`~fastreg.EarlyStopping`
    takes it; the test figures are measured for the report only, never for stopping.
    """

    def __init__(self, X_val, y_val, X_test, y_test):
        self.data = {"val": (X_val, y_val), "test": (X_test, y_test)}
        self.curves = {"train_loss": [], "val_loss": [], "val_error": [], "test_loss": [],
                       "test_error": []}

    def __call__(self, network, record):
        self.curves["train_loss"].append(float(record.get("data_loss", record["loss"])))
        for name, (X, y) in self.data.items():
            self.curves[f"{name}_loss"].append(float(network.evaluate(X, y)["data_loss"]))
            wrong = network.predict(X).argmax(axis=1) != y
            self.curves[f"{name}_error"].append(float(np.mean(wrong)))
        return False


def record_run(*, seed, epochs):
    """Train the MLP for ``epochs`` epochs and return its per-epoch curves (lists, entry
    ``t - 1`` for epoch ``t``): ``train_loss``, ``val_loss``, ``val_error``, ``test_loss``,
    ``test_error`` (error = misclassified fraction)."""
    X_train, y_train, X_val, y_val, X_test, y_test = split_training(seed)
    recorder = _CurveRecorder(X_val, y_val, X_test, y_test)
    network = make_network(seed)
    network.fit(X_train, y_train, epochs=epochs, batch_size=BATCH_SIZE, callbacks=recorder)
    return recorder.curves


def replay(criterion, train_errors, val_errors):
    """Feed a recorded run to ``criterion`` (reset first) epoch by epoch.

    Returns
    -------
    stop_epoch : int or None
        The first epoch where ``update`` returned True (None: it never did).
    restored_epoch : int
        The first epoch of lowest validation error up to the stop (or the run's end), the
        one whose weights :class:`~fastreg.EarlyStopping` would put back.
    """
    criterion.reset()
    stop_epoch = None
    for epoch, (train_error, val_error) in enumerate(zip(train_errors, val_errors), start=1):
        if criterion.update(train_error, val_error):
            stop_epoch = epoch
            break
    seen = len(val_errors) if stop_epoch is None else stop_epoch
    restored_epoch = int(np.argmin(val_errors[:seen])) + 1
    return stop_epoch, restored_epoch


def evaluate_criteria(curves, signal):
    """Every criterion of :data:`CRITERIA` replayed on one run, ``E_va`` taken from
    ``curves[SIGNALS[signal]]``; one dict per criterion."""
    val_errors = curves[SIGNALS[signal]]
    test_errors = np.asarray(curves["test_error"])
    n_epochs = len(val_errors)
    whole_run_best = int(np.argmin(val_errors))
    reference = {"min_test_error": float(test_errors.min()),
                 "best_val_test_error": float(test_errors[whole_run_best])}
    outcomes = []
    for kind, parameters in CRITERIA:
        stop_epoch, restored_epoch = replay(make_criterion(kind, parameters),
                                            curves["train_loss"], val_errors)
        test_error = float(test_errors[restored_epoch - 1])
        outcomes.append({
            "criterion": criterion_label(kind, parameters), "kind": kind,
            "parameters": parameters, "stop_epoch": stop_epoch,
            "epochs_used": n_epochs if stop_epoch is None else stop_epoch,
            "restored_epoch": restored_epoch,
            "val_error": float(curves["val_error"][restored_epoch - 1]),
            "val_loss": float(curves["val_loss"][restored_epoch - 1]),
            "test_error": test_error,
            "test_error_at_stop": float(test_errors[(stop_epoch or n_epochs) - 1]),
            "ratio_to_min_test": _ratio(test_error, reference["min_test_error"]),
            "ratio_to_best_val": _ratio(test_error, reference["best_val_test_error"]),
        })
    fastest = min(outcome["epochs_used"] for outcome in outcomes)
    for outcome in outcomes:
        outcome["time_to_fastest"] = outcome["epochs_used"] / fastest
    return outcomes, {**reference, "best_val_epoch": whole_run_best + 1,
                      "min_test_epoch": int(np.argmin(test_errors)) + 1}


def _ratio(value, reference):
    return value / reference if reference > 0 else math.nan


def _mean_rows(per_seed):
    """Per criterion, the means over the seeds (and how many seeds it stopped in)."""
    rows = []
    for index in range(len(CRITERIA)):
        outcomes = [outcomes_of_seed[index] for outcomes_of_seed in per_seed]
        row = {"criterion": outcomes[0]["criterion"],
               "stopped": sum(outcome["stop_epoch"] is not None for outcome in outcomes),
               "seeds": len(outcomes)}
        for key in ("epochs_used", "restored_epoch", "val_error", "val_loss", "test_error",
                    "ratio_to_min_test", "ratio_to_best_val", "time_to_fastest"):
            row[key] = float(np.mean([outcome[key] for outcome in outcomes]))
        row["test_error_sd"] = float(np.std([outcome["test_error"] for outcome in outcomes],
                                            ddof=1)) if len(outcomes) > 1 else 0.0
        rows.append(row)
    return rows


def _draw(curves, outcomes, reference, settings):
    from fastreg.plot import BEST_COLOR, GRID_ALPHA, TRAIN_COLOR, VALIDATION_COLOR

    plt = pyplot()
    figure, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(14, 5.2))
    epochs = np.arange(1, len(curves["val_error"]) + 1)
    test_color = "tab:purple"
    loss_ax.plot(epochs, curves["train_loss"], color=TRAIN_COLOR, label="training loss")
    loss_ax.plot(epochs, curves["val_loss"], color=VALIDATION_COLOR, label="validation loss")
    loss_ax.plot(epochs, curves["test_loss"], color=test_color, lw=1, alpha=0.7,
                 label="test loss (report only)")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("cross-entropy (log scale)")
    loss_ax.set_title("losses")
    error_ax.plot(epochs, curves["val_error"], color=VALIDATION_COLOR,
                  label="validation error (E_va)")
    error_ax.plot(epochs, curves["test_error"], color=test_color, lw=1, alpha=0.8,
                  label="test error (report only)")
    error_ax.set_ylabel("misclassified fraction")
    error_ax.set_title("error rates; markers: where each criterion stops (on E_va)")
    markers = {"Patience": "s", "GeneralizationLoss": "v", "ProgressQuotient": "D",
               "UpStrips": "^"}
    colors = pyplot().get_cmap("tab20")(np.linspace(0, 1, len(outcomes)))
    for outcome, color in zip(outcomes, colors):
        epoch = outcome["epochs_used"]
        label = outcome["criterion"] + ("" if outcome["stop_epoch"] else " (never)")
        error_ax.scatter([epoch], [curves["val_error"][epoch - 1]], marker=markers[
            outcome["kind"]], color=color, edgecolor="k", s=46, zorder=5, label=label)
    best = reference["best_val_epoch"]
    for ax in (loss_ax, error_ax):
        ax.axvline(best, color=BEST_COLOR, ls="--", lw=1,
                   label=f"best validation error epoch ({best})")
        ax.set_xscale("log")
        ax.set_xlabel("epoch (log scale)")
        ax.grid(alpha=GRID_ALPHA)
    error_ax.axhline(reference["min_test_error"], color=test_color, ls=":", lw=1,
                     label=f"min test error {reference['min_test_error']:.1%}")
    loss_ax.legend(fontsize=8)
    error_ax.legend(fontsize=7, ncol=2, loc="upper right")
    figure.suptitle(f"Early stopping on MNIST-1D: MLP 40-100-100-10, Adam {LEARNING_RATE:g}, "
                    f"batch {BATCH_SIZE}, {settings['epochs']} epochs, 3000 train / "
                    f"{VALIDATION_SIZE} validation signals (seed {settings['seeds'][0]})")
    figure.tight_layout()
    return figure


def run(context):
    """Record the runs, replay every criterion, write the figure, tables and numbers."""
    settings = dict(QUICK) if context.quick else {"epochs": EPOCHS, "n_seeds": N_SEEDS}
    settings["seeds"] = [context.seed * 1000 + seed for seed in range(settings["n_seeds"])]
    settings.update(batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                    validation_size=VALIDATION_SIZE)
    runs = context.map(record_run, [{"seed": seed, "epochs": settings["epochs"]}
                                    for seed in settings["seeds"]], label="runs")
    results = {}
    for signal in SIGNALS:
        evaluated = [evaluate_criteria(curves, signal) for curves in runs]
        results[signal] = {"per_seed": [outcomes for outcomes, _ in evaluated],
                           "reference": [reference for _, reference in evaluated],
                           "summary": _mean_rows([outcomes for outcomes, _ in evaluated])}
    context.save_json("early_stopping", {
        "settings": settings, "signals": SIGNALS,
        "criteria": [{"kind": kind, "parameters": parameters} for kind, parameters in CRITERIA],
        "runs": [{"seed": seed, "curves": curves}
                 for seed, curves in zip(settings["seeds"], runs)],
        "results": results})
    context.save_csv("early_stopping", [
        {"signal": signal, "seed": seed, **{key: value for key, value in outcome.items()
                                            if key != "parameters"}}
        for signal in SIGNALS
        for seed, outcomes in zip(settings["seeds"], results[signal]["per_seed"])
        for outcome in outcomes])
    for signal, name in (("error_rate", "early_stopping"), ("loss", "early_stopping_loss")):
        _table(context, name, signal, results[signal], settings)
    context.figure("early_stopping", _draw(runs[0], results["error_rate"]["per_seed"][0],
                                           results["error_rate"]["reference"][0], settings))
    _report(context, results)


def _table(context, name, signal, result, settings):
    references = result["reference"]
    mean_min = np.mean([reference["min_test_error"] for reference in references])
    mean_best = np.mean([reference["best_val_test_error"] for reference in references])
    mean_best_epoch = np.mean([reference["best_val_epoch"] for reference in references])
    watched = "validation error rate" if signal == "error_rate" else "validation loss"
    percent = "{:.1%}"
    context.table(
        name, result["summary"],
        [("criterion", "criterion", "{}"),
         ("stopped", "stopped (seeds)", lambda row: f"{row['stopped']}/{row['seeds']}"),
         ("epochs_used", "epochs used", "{:.1f}"),
         ("time_to_fastest", "time / fastest", "{:.2f}"),
         ("restored_epoch", "best epoch restored", "{:.1f}"),
         ("val_error", "validation error", percent),
         ("test_error", "test error", lambda row: f"{row['test_error']:.1%} ± "
                                                  f"{row['test_error_sd']:.1%}"),
         ("ratio_to_min_test", "/ min test error", "{:.3f}"),
         ("ratio_to_best_val", "/ test error at best val epoch", "{:.3f}")],
        title=(f"Stopping criteria replayed on {settings['n_seeds']} runs of "
               f"{settings['epochs']} epochs, E_va = {watched}; means over the seeds"),
        notes=[f"Best possible, mean over the seeds: minimum test error over the run "
               f"{mean_min:.1%}; test error at the whole run's best {watched} epoch "
               f"{mean_best:.1%} (epoch {mean_best_epoch:.0f}). A criterion that never "
               f"stops uses the whole run and restores its best epoch. Test errors are "
               f"those of the restored weights."])


def _report(context, results):
    for signal, watched in (("error_rate", "validation error rate"),
                            ("loss", "validation loss")):
        summary = results[signal]["summary"]
        fast = min(summary, key=lambda row: row["epochs_used"])
        slow = max(summary, key=lambda row: row["epochs_used"])
        context.say(
            f"E_va = {watched}: the fastest criterion ({fast['criterion']}) stops after "
            f"{fast['epochs_used']:.1f} epochs with test error {fast['test_error']:.1%}; the "
            f"slowest ({slow['criterion']}) after {slow['epochs_used']:.1f} epochs "
            f"({slow['epochs_used'] / fast['epochs_used']:.1f}x) with "
            f"{slow['test_error']:.1%} ({slow['test_error'] / fast['test_error'] - 1:+.1%} "
            "relative).")
    context.say("Prechelt 1998: over 1296 runs, slower criteria found networks with about 4% "
                "lower test error on average, for about 4 times the training time. See "
                "docs/studies/early-stopping.md.")
