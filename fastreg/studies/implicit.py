"""Implicit regularization: batch size and learning rate of plain SGD against generalization.

The lecture's claim: small batches generalize better, because the noise of SGD's gradient
estimates regularizes; the scale of that noise is set by the ratio learning rate / batch
size (Smith & Le 2018: ``g = lr (N / B - 1) ~ lr N / B``). Keskar et al. (2017) report that
large batches converge to sharp minima with a larger generalization gap; Goyal et al. (2017)
keep the accuracy of large batches by scaling the learning rate with the batch (the linear
scaling rule), which keeps ``lr / B`` fixed.

The study trains the paper's MLP (40-100-100-10, ReLU, no explicit regularization) on
MNIST-1D with plain SGD (no momentum) for every batch size and learning rate, a few seeds
each, and measures the training and test accuracy in two regimes:

* **fixed epochs**: every batch size sees the data the same number of times, so large
  batches take far fewer steps (and may simply be undertrained);
* **fixed steps**: every batch size takes the same number of steps, so small batches see
  the data fewer times.

One run per (batch, learning rate, seed) gives both: it trains to the later of the two
checkpoints and measures the network at each.
"""
import math

import numpy as np

from fastreg.studies._runner import mnist1d, pyplot

#: From 16 to the full batch (MNIST-1D has 4000 training signals).
BATCH_SIZES = (16, 32, 64, 128, 256, 512, 1024, 4000)
#: Log-spaced by about 3x: the stable range of plain SGD spans orders of magnitude, and
#: the noise scale lr / B is a ratio, so equal steps on a log axis are equal steps of it.
LEARNING_RATES = (0.03, 0.1, 0.3, 1.0)
N_SEEDS = 3
EPOCHS = 100
STEPS = 1000
QUICK = {"batch_sizes": (16, 256, 4000), "learning_rates": (0.1, 1.0), "n_seeds": 1,
         "epochs": 3, "steps": 20}
REGIMES = ("fixed_epochs", "fixed_steps")
REGIME_TITLES = {"fixed_epochs": "fixed epochs", "fixed_steps": "fixed steps"}


def steps_per_epoch(n_samples, batch_size):
    """Optimizer steps in one epoch (the last batch may be smaller)."""
    return -(-n_samples // min(batch_size, n_samples))


def epochs_for_steps(steps, n_samples, batch_size):
    """The whole number of epochs (at least 1) whose step count is nearest ``steps``."""
    return max(1, int(round(steps / steps_per_epoch(n_samples, batch_size))))


def _measure(network, X_train, y_train, X_test, y_test):
    train_accuracy = float(np.mean(network.predict(X_train).argmax(axis=1) == y_train))
    test_accuracy = float(np.mean(network.predict(X_test).argmax(axis=1) == y_test))
    return {
        "epochs": network.epochs_,
        "steps": network.steps_,
        "train_loss": float(network.evaluate(X_train, y_train)["data_loss"]),
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "gap": train_accuracy - test_accuracy,
    }


def train_checkpoints(*, batch_size, learning_rate, seed, epochs, steps):
    """Train the MLP with plain SGD and measure it after ``epochs`` epochs and after the
    epochs nearest ``steps`` steps.

    Returns
    -------
    dict
        ``fixed_epochs`` and ``fixed_steps``: each the ``epochs``, ``steps``,
        ``train_loss``, ``train_accuracy``, ``test_accuracy`` and ``gap`` (train minus test
        accuracy) there, all NaN after a divergence; ``diverged``.
    """
    from fastreg import SGD, Dense, DivergenceError, Network

    X_train, y_train, X_test, y_test = mnist1d()
    targets = {"fixed_epochs": epochs,
               "fixed_steps": epochs_for_steps(steps, len(y_train), batch_size)}
    network = Network([Dense(100, "relu"), Dense(100, "relu"), Dense(10)],
                      optimizer=SGD(learning_rate), random_state=seed, n_threads=1)
    result = {"diverged": False}
    for regime, target in sorted(targets.items(), key=lambda item: item[1]):
        try:
            if target > network.epochs_:
                network.fit(X_train, y_train, epochs=target - network.epochs_,
                            batch_size=batch_size)
        except DivergenceError:
            result["diverged"] = True
        if result["diverged"]:
            result[regime] = {"epochs": target, "steps": math.nan, "train_loss": math.nan,
                              "train_accuracy": math.nan, "test_accuracy": math.nan,
                              "gap": math.nan}
        else:
            result[regime] = _measure(network, X_train, y_train, X_test, y_test)
    return result


def _summarize(runs, batch_sizes, learning_rates):
    """One row per (regime, batch, learning rate): means and sds over the seeds."""
    rows = []
    for regime in REGIMES:
        for batch_size in batch_sizes:
            for learning_rate in learning_rates:
                group = [run[regime] for run in runs
                         if run["batch_size"] == batch_size
                         and run["learning_rate"] == learning_rate]
                row = {"regime": regime, "batch_size": batch_size,
                       "learning_rate": learning_rate,
                       "lr_over_batch": learning_rate / batch_size,
                       "epochs": group[0]["epochs"], "steps": group[0]["steps"],
                       "seeds": len(group)}
                for key in ("train_loss", "train_accuracy", "test_accuracy", "gap"):
                    values = np.array([entry[key] for entry in group], dtype=float)
                    row[key] = float(np.mean(values))
                    row[key + "_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
                rows.append(row)
    return rows


def _draw(rows, batch_sizes, learning_rates, settings):
    plt = pyplot()
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(learning_rates)))
    for column, regime in enumerate(REGIMES):
        budget = (f"{settings['epochs']} epochs" if regime == "fixed_epochs"
                  else f"~{settings['steps']} steps")
        for row_index, (key, label) in enumerate((("gap", "train - test accuracy"),
                                                  ("test_accuracy", "test accuracy"))):
            ax = axes[row_index, column]
            for color, learning_rate in zip(colors, learning_rates):
                chosen = [row for row in rows if row["regime"] == regime
                          and row["learning_rate"] == learning_rate]
                ax.errorbar([row["batch_size"] for row in chosen],
                            [row[key] for row in chosen],
                            yerr=[row[key + "_sd"] for row in chosen], color=color,
                            marker="o", ms=4, capsize=2, label=f"lr {learning_rate:g}")
            ax.set_xscale("log", base=2)
            ax.set_xticks(batch_sizes)
            ax.set_xticklabels([str(size) for size in batch_sizes], fontsize=8)
            ax.set_xlabel("batch size (log scale; 4000 = full batch)")
            ax.set_ylabel(label)
            ax.set_title(f"{label}, {REGIME_TITLES[regime]} ({budget})")
            ax.grid(alpha=0.3)
            if key == "test_accuracy":
                ax.axhline(0.68, color="0.5", ls="--", lw=1,
                           label="paper's MLP, Adam (68%)")
            ax.legend(fontsize=8, title=f"plain SGD, {settings['n_seeds']} seeds",
                      title_fontsize=8)
    for row_index, regime in enumerate(REGIMES):
        ax = axes[row_index, 2]
        chosen = [row for row in rows if row["regime"] == regime]
        points = ax.scatter([row["lr_over_batch"] for row in chosen],
                            [row["test_accuracy"] for row in chosen],
                            c=[math.log2(row["batch_size"]) for row in chosen],
                            cmap="plasma", s=28)
        for learning_rate, marker_color in zip(learning_rates, colors):
            line = sorted((row["lr_over_batch"], row["test_accuracy"]) for row in chosen
                          if row["learning_rate"] == learning_rate)
            ax.plot(*zip(*line), color=marker_color, lw=0.8, alpha=0.6)
        bar = figure.colorbar(points, ax=ax)
        bar.set_label("log2 batch size")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate / batch size (noise scale / N)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"test accuracy vs lr/B, {REGIME_TITLES[regime]} (lines: same lr)")
        ax.grid(alpha=0.3)
    figure.suptitle("Implicit regularization of SGD on MNIST-1D: MLP 40-100-100-10, "
                    "plain SGD, no explicit regularizer")
    figure.tight_layout()
    return figure


def run(context):
    """Train every (batch size, learning rate, seed), write the figure, table and numbers."""
    settings = dict(QUICK) if context.quick else {
        "batch_sizes": BATCH_SIZES, "learning_rates": LEARNING_RATES, "n_seeds": N_SEEDS,
        "epochs": EPOCHS, "steps": STEPS}
    batch_sizes, learning_rates = settings["batch_sizes"], settings["learning_rates"]
    tasks = [{"batch_size": batch_size, "learning_rate": learning_rate,
              "seed": context.seed * 1000 + seed, "epochs": settings["epochs"],
              "steps": settings["steps"]}
             for seed in range(settings["n_seeds"])
             for batch_size in batch_sizes for learning_rate in learning_rates]
    # The full-batch runs are the slowest: start them first so the threads end together.
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i]["batch_size"])
    results = context.map(train_checkpoints, [tasks[i] for i in order], label="networks")
    runs = [None] * len(tasks)
    for index, result in zip(order, results):
        runs[index] = {**tasks[index], **result}
    rows = _summarize(runs, batch_sizes, learning_rates)
    context.save_json("implicit", {"settings": settings, "runs": runs, "summary": rows})
    context.save_csv("implicit", rows)

    merged = []
    for batch_size in batch_sizes:
        for learning_rate in learning_rates:
            pair = {row["regime"]: row for row in rows if row["batch_size"] == batch_size
                    and row["learning_rate"] == learning_rate}
            merged.append({"batch_size": batch_size, "learning_rate": learning_rate,
                           "lr_over_batch": learning_rate / batch_size,
                           **{f"{regime}_{key}": pair[regime][key] for regime in REGIMES
                              for key in ("epochs", "steps", "train_accuracy",
                                          "test_accuracy", "test_accuracy_sd", "gap")}})
    percent = "{:.1%}"

    def test_cell(regime):
        return lambda row: (f"{row[regime + '_test_accuracy']:.1%} "
                            f"± {row[regime + '_test_accuracy_sd']:.1%}")

    columns = [("batch_size", "batch", "{}"), ("learning_rate", "lr", "{:g}"),
               ("lr_over_batch", "lr/B", "{:.1e}")]
    for regime, short in (("fixed_epochs", "E"), ("fixed_steps", "S")):
        columns += [(f"{regime}_steps", f"{short}: steps", "{:.0f}"),
                    (f"{regime}_train_accuracy", f"{short}: train", percent),
                    (f"{regime}_test_accuracy", f"{short}: test", test_cell(regime)),
                    (f"{regime}_gap", f"{short}: gap", "{:+.1%}")]
    context.table(
        "implicit", merged, columns,
        title=(f"Plain SGD on MNIST-1D, MLP 40-100-100-10: E = {settings['epochs']} epochs, "
               f"S = about {settings['steps']} steps (whole epochs); mean of "
               f"{settings['n_seeds']} seeds (test: ± sd); gap = train - test accuracy"),
        notes=["Test accuracy on MNIST-1D's 1000 test signals; nothing was tuned (every "
               "batch size and learning rate of the grid is shown)."])
    context.figure("implicit", _draw(rows, batch_sizes, learning_rates, settings))
    _report(context, rows, batch_sizes, learning_rates)


def _best(rows, regime):
    chosen = [row for row in rows if row["regime"] == regime
              and math.isfinite(row["test_accuracy"])]
    return max(chosen, key=lambda row: row["test_accuracy"]) if chosen else None


def _report(context, rows, batch_sizes, learning_rates):
    smallest, largest = batch_sizes[0], batch_sizes[-1]
    for regime in REGIMES:
        best = _best(rows, regime)
        if best is None:
            continue
        context.say(f"{REGIME_TITLES[regime]}: best test accuracy {best['test_accuracy']:.1%} "
                    f"at batch {best['batch_size']}, lr {best['learning_rate']:g} (lr/B "
                    f"{best['lr_over_batch']:.1e}, train {best['train_accuracy']:.1%}).")
        for learning_rate in learning_rates:
            ends = {row["batch_size"]: row for row in rows if row["regime"] == regime
                    and row["learning_rate"] == learning_rate}
            small, large = ends[smallest], ends[largest]
            context.say(f"  lr {learning_rate:g}: batch {smallest} test "
                        f"{small['test_accuracy']:.1%} (gap {small['gap']:+.1%}), batch "
                        f"{largest} test {large['test_accuracy']:.1%} (gap "
                        f"{large['gap']:+.1%}).")
    context.say("Published: Keskar et al. 2017 find a lower test accuracy for large batches "
                "(10% of the data) than for small ones (256) at similar training accuracy; "
                "Smith & Le 2018 find an optimal batch proportional to the learning rate "
                "(noise scale g ~ lr N / B); Goyal et al. 2017 keep accuracy up to batch 8192 "
                "on ImageNet by scaling lr with B. Compare the panels: see "
                "docs/studies/implicit-regularization.md.")
