"""The lecture's table: every regularizer alone on MNIST-1D, an MLP of fixed size, 5 seeds.

The model is the MNIST-1D paper's MLP (Greydanus & Kobak 2020): 40-100-100-10, ReLU,
Adam at learning rate 1e-2, batches of 100, a fixed budget of 150 epochs (the paper's
6000 steps), float32. Each row changes one thing:

* penalties and constraints: L2 (coupled, scikit-learn's ``alpha``), decoupled weight
  decay (:class:`fastreg.WeightDecay` with Adam, i.e. AdamW), L1 (proximal: exact zeros,
  whose fraction the table gives), elastic net, max-norm;
* dropout on the hidden units (inverted, and vanilla at the same rate), input dropout;
* noise: Gaussian input noise, weight noise, label smoothing, label noise;
* augmentation: random circular shifts and a random scaling in [0.8, 1.2]
  (:mod:`fastreg.augment`);
* early stopping with each of Prechelt's criteria (Patience 10, GL 5, PQ 0.5, UP 3; strips
  of 5 epochs) on the validation error rate, the best weights restored;
* weight averaging: EMA (of every step) and SWA (of the epochs' ends from a start epoch);
* ensembles of 5 (:class:`fastreg.EnsembleClassifier` around :class:`fastreg.MLPClassifier`
  with the same architecture and optimizer): seeds, bagging (each member early-stopped on
  its out-of-bag signals, patience 10) and snapshot (5 cosine cycles in one run of 150
  epochs);
* weight sharing: the paper's CNN (three Conv1D layers of 25 channels, then a dense layer);
* dropout with max-norm, the pairing Srivastava et al. recommend, at the two tuned strengths;
* the best combination of the rows above, chosen on the validation split.

Honest tuning: a validation split of 800 signals is carved (once, at random) from the 4000
training signals; the test set is never used to choose anything. Each strength is chosen
from a grid of 2-3 values by the validation accuracy of 1 seed, training on the other
3200 signals for the same 150 epochs. The chosen strength is then trained on all 4000
training signals with 5 new seeds and scored on the 1000 test signals. Early stopping needs
its validation split during the final fits too: its rows train on the 3200 signals, and the
row ``none, trained like early stopping`` is the plain MLP on the same 3200 signals, for a
fair comparison.
The elastic net is tuned after L1 and L2: its grid splits their tuned strengths in the
proportions 1:3, 1:1 and 3:1. The best combination is tuned last: the 2, 3 and 4 best
compatible rows of the first round, each at its own tuned strength, compared on validation.

Every network's seed (initial weights, batch order, noise, masks) is fixed before any
training starts, so the numbers do not depend on how many run at once.

Budget: 43 tuning runs, then 27 rows x 5 seeds (218 networks of 150 epochs with the
ensembles' members), about 600 s of CPU: 5 minutes on 2 idle cores. One tuning seed and
grids of 2-3 values keep it there (L2's runs cost 4 times a plain one: its decay leaves
subnormal floats). ``quick``: the rows of :data:`QUICK_ROWS`, 2 seeds, 5 epochs, 400
signals, grids of 2 values: seconds, and numbers that mean nothing.

Published reference: MNIST-1D test accuracy of the MLP 68% and of the CNN 94% (the paper's
notebooks print 65.1% and 92.3%); Srivastava et al. (2014, JMLR, Table 9) compare
regularizers the same way on MNIST with a 784-1024-1024-2048-10 ReLU network.
"""
import time
import warnings

import numpy as np

from fastreg.studies._runner import mnist1d, pyplot

#: The paper's MLP and optimizer.
HIDDEN = (100, 100)
LEARNING_RATE = 1e-2
BATCH_SIZE = 100
#: Published MNIST-1D test accuracies (Greydanus & Kobak 2020).
PUBLISHED = {"MLP": 0.68, "CNN": 0.94}
#: Srivastava et al. 2014, Table 9: test error (%) on MNIST of a 784-1024-1024-2048-10
#: ReLU network under each regularizer (hyperparameters tuned on a validation set).
SRIVASTAVA_TABLE_9 = {
    "L2": 1.62,
    "L2 + L1 applied towards the end of training": 1.60,
    "L2 + KL-sparsity": 1.55,
    "Max-norm": 1.35,
    "Dropout + L2": 1.25,
    "Dropout + Max-norm": 1.05,
}
#: Prechelt's criteria with his middle settings (strips of 5 epochs), not tuned.
STOPPING = {"es_patience": 10, "es_gl": 5.0, "es_pq": 0.5, "es_up": 3}
ENSEMBLE_SIZE = 5
AUGMENT_SCALE = (0.8, 1.2)

#: row -> (label, family, grid of strengths or None). Rows without a grid are not tuned
#: (early stopping uses Prechelt's settings; ``dropout_vanilla`` takes dropout's rate;
#: ``elastic_net`` and ``best`` have grids built from the first round of tuning).
ROWS = {
    "none": ("none", "baseline", None),
    "none_split": ("none, trained like early stopping", "baseline", None),
    "l2": ("L2", "penalty", (0.03, 0.1, 0.3)),
    "weight_decay": ("decoupled weight decay", "penalty", (0.01, 0.03, 0.1)),
    "l1": ("L1", "penalty", (3e-4, 1e-3, 3e-3)),
    "elastic_net": ("elastic net", "penalty", None),
    "max_norm": ("max-norm", "penalty", (2.0, 3.0, 4.0)),
    "dropout": ("dropout (inverted)", "dropout", (0.1, 0.3, 0.5)),
    "dropout_vanilla": ("dropout (vanilla)", "dropout", None),
    "input_dropout": ("input dropout", "dropout", (0.05, 0.1, 0.2)),
    "input_noise": ("input noise", "noise", (0.1, 0.2, 0.4)),
    "weight_noise": ("weight noise", "noise", (0.01, 0.02, 0.05)),
    "label_smoothing": ("label smoothing", "noise", (0.05, 0.1, 0.2)),
    "label_noise": ("label noise", "noise", (0.05, 0.1, 0.2)),
    "augmentation": ("augmentation (shift, scale)", "data", (2, 5, 8)),
    "es_patience": ("early stopping: Patience", "early stopping", None),
    "es_gl": ("early stopping: GL", "early stopping", None),
    "es_pq": ("early stopping: PQ", "early stopping", None),
    "es_up": ("early stopping: UP", "early stopping", None),
    "ema": ("EMA of the weights", "averaging", (0.99, 0.999)),
    "swa": ("SWA", "averaging", (0.5, 0.75)),
    "ensemble_seeds": ("ensemble of 5: seeds", "ensemble", None),
    "ensemble_bagging": ("ensemble of 5: bagging", "ensemble", None),
    "ensemble_snapshot": ("ensemble of 5: snapshot", "ensemble", None),
    "cnn": ("CNN (Conv1D, weight sharing)", "architecture", None),
    "dropout_max_norm": ("dropout + max-norm", "combination", None),
    "best": ("best combination", "combination", None),
}
FAMILIES = ("baseline", "penalty", "dropout", "noise", "data", "early stopping", "averaging",
            "ensemble", "architecture", "combination")
#: What each strength means, for the table.
STRENGTH_NAMES = {
    "l2": "alpha = {}", "weight_decay": "rate = {}", "l1": "l1 = {}", "max_norm": "c = {}",
    "dropout": "p = {}", "dropout_vanilla": "p = {} (dropout's)", "input_dropout": "p = {}",
    "input_noise": "sigma = {}", "weight_noise": "sigma = {}", "label_smoothing": "eps = {}",
    "label_noise": "p = {}", "augmentation": "shift <= {}, scale 0.8-1.2",
    "ema": "decay = {}", "swa": "from {:.0%} of the epochs",
}
#: Rows that can enter the best combination, and the settings each one occupies (two rows
#: that set the same thing cannot be combined).
COMBINABLE = {
    "l2": "alpha", "weight_decay": "decay", "l1": "l1", "max_norm": "max_norm",
    "dropout": "dropout", "input_dropout": "input_dropout", "input_noise": "input_noise",
    "weight_noise": "weight_noise", "label_smoothing": "targets", "label_noise": "targets",
    "augmentation": "augment", "ema": "averaging", "swa": "averaging",
}


#: The rows of the quick run: one of each kind of model the study trains.
QUICK_ROWS = ("none", "none_split", "l2", "l1", "elastic_net", "max_norm", "dropout",
              "dropout_vanilla", "es_gl", "swa", "ensemble_snapshot", "cnn", "dropout_max_norm",
              "best")


def _settings(quick):
    """Sizes of the run: the full study, or a tiny one that checks the pipeline."""
    if quick:
        return {"rows": QUICK_ROWS, "epochs": 5, "seeds": 2, "tuning_seeds": 1, "grid_size": 2,
                "n_train": 400, "n_validation": 100}
    return {"rows": tuple(ROWS), "epochs": 150, "seeds": 5, "tuning_seeds": 1,
            "grid_size": None, "n_train": 4000, "n_validation": 800}


def _split(n_train, n_validation, seed):
    """Training and validation rows of the first ``n_train`` training signals."""
    order = np.random.default_rng([seed, 12]).permutation(n_train)
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def _mlp(dropout=0.0):
    from fastreg import Dense

    return [Dense(units, "relu", dropout=dropout) for units in HIDDEN] + [Dense(10)]


def _cnn():
    from fastreg import Conv1D, Dense

    return [Conv1D(25, 5, stride=2, padding=1), Conv1D(25, 3, stride=2, padding=1),
            Conv1D(25, 3, stride=2, padding=1), Dense(10)]


def network_settings(row, strength, epochs):
    """The layers and the ``Network`` keyword arguments of a single-network row.

    Parameters
    ----------
    row : str
        A key of :data:`ROWS` trained as one network (not an ensemble nor early stopping,
        which add to these settings); ``"best"`` takes a dict ``{row: strength}``.
    strength : float, list or dict
        The row's strength (see :data:`STRENGTH_NAMES`); ignored where the row has none.
    epochs : int
        The length of the run (SWA's start is a fraction of it).

    Returns
    -------
    layers : list
    options : dict
        Keyword arguments of :class:`fastreg.Network` (without ``random_state``).
    """
    from fastreg import EMA, L1, L2, SWA, Adam, ElasticNet, MaxNorm, WeightDecay
    from fastreg.augment import Compose, RandomScale, RandomShift

    if row in ("best", "dropout_max_norm"):
        if not isinstance(strength, dict) or not strength:
            raise ValueError(f"A combination needs a dict {{row: strength}}, got "
                             f"{strength!r}.")
        layers, options = _mlp(), {}
        for part, value in strength.items():
            if part not in COMBINABLE:
                raise ValueError(f"Row {part!r} cannot enter a combination; the rows that "
                                 f"can are: {', '.join(COMBINABLE)}.")
            part_layers, part_options = network_settings(part, value, epochs)
            if part == "dropout":
                layers = part_layers
            regularizers = options.get("regularizers", ()) + part_options.pop("regularizers", ())
            options.update(part_options)
            if regularizers:
                options["regularizers"] = regularizers
        return layers, options
    if row not in ROWS:
        raise ValueError(f"Unknown row {row!r}; the rows are: {', '.join(ROWS)}.")
    options = {"optimizer": Adam(learning_rate=LEARNING_RATE)}
    if row == "cnn":
        return _cnn(), options
    if row in ("dropout", "dropout_vanilla"):
        options["dropout_mode"] = "inverted" if row == "dropout" else "vanilla"
        return _mlp(dropout=float(strength)), options
    regularizer = {
        "l2": lambda s: L2(float(s)),
        "weight_decay": lambda s: WeightDecay(float(s)),
        "l1": lambda s: L1(float(s)),
        "elastic_net": lambda s: ElasticNet(l1=float(s[0]), alpha=float(s[1])),
        "max_norm": lambda s: MaxNorm(float(s)),
    }.get(row)
    if regularizer is not None:
        options["regularizers"] = (regularizer(strength),)
    elif row in ("input_dropout", "input_noise", "weight_noise", "label_smoothing",
                 "label_noise"):
        options[row] = float(strength)
    elif row == "augmentation":
        options["augment"] = Compose([RandomShift(int(strength)), RandomScale(*AUGMENT_SCALE)])
    elif row == "ema":
        options["averaging"] = EMA(decay=float(strength))
    elif row == "swa":
        options["averaging"] = SWA(start=int(round(float(strength) * epochs)))
    return _mlp(), options


def _accuracy(model, X, y):
    """Accuracy of a Network (argmax of its probabilities) or of a scikit-learn classifier."""
    if hasattr(model, "predict_proba"):
        return float(np.mean(model.predict(X) == y))
    return float(np.mean(model.predict(X).argmax(axis=1) == y))


def zero_fraction(coefs):
    """The fraction of exact zeros among all the weights (not the biases) of ``coefs``."""
    return float(np.mean(np.concatenate([np.ravel(c) for c in coefs]) == 0))


def _stopper(row, validation_data):
    from fastreg import (
        EarlyStopping,
        GeneralizationLoss,
        Patience,
        ProgressQuotient,
        UpStrips,
    )

    criterion = {
        "es_patience": lambda: Patience(patience=STOPPING["es_patience"]),
        "es_gl": lambda: GeneralizationLoss(alpha=STOPPING["es_gl"]),
        "es_pq": lambda: ProgressQuotient(alpha=STOPPING["es_pq"], strip=5),
        "es_up": lambda: UpStrips(strips=STOPPING["es_up"], strip=5),
    }[row]()
    return EarlyStopping(criterion, validation_data=validation_data, error="error_rate")


def _fit_ensemble(row, X, y, epochs, seed):
    """An EnsembleClassifier of 5 paper MLPs (one thread, members one after the other)."""
    from fastreg import EnsembleClassifier, MLPClassifier  # ImportError with the hint

    # isort: split
    from sklearn.exceptions import ConvergenceWarning

    strategy = row.removeprefix("ensemble_")
    # n_iter_no_change = epochs: every member trains the fixed budget; bagging's members
    # stop early on their out-of-bag signals (patience 10), as EnsembleClassifier intends.
    member = MLPClassifier(HIDDEN, learning_rate_init=LEARNING_RATE, batch_size=BATCH_SIZE,
                           alpha=0.0, max_iter=epochs, tol=0.0,
                           n_iter_no_change=10 if strategy == "bagging" else epochs,
                           n_threads=1)
    ensemble = EnsembleClassifier(member, n_estimators=ENSEMBLE_SIZE, strategy=strategy,
                                  random_state=seed, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*no out-of-bag prediction")
        ensemble.fit(X, y)
    trained = (epochs if strategy == "snapshot"
               else int(sum(member.n_iter_ for member in ensemble.estimators_)))
    return ensemble, trained


def fit_row(*, row, strength, seed, stage, epochs, n_train, n_validation, split_seed):
    """Train one model of a row and score it.

    Parameters
    ----------
    row : str
        A key of :data:`ROWS`.
    strength : float, list, dict or None
        The row's strength (see :func:`network_settings`).
    seed : int
        The model's random_state (weights, batch order, masks, noise, bootstrap samples).
    stage : {"tune", "test"}
        "tune": train on the training part of the split, score on its validation part.
        "test": train on all ``n_train`` signals (early stopping and ``none_split``: on the
        training part, stopping on the validation part), score on the test set.
    epochs : int
        Epochs of training (at most, for early stopping).
    n_train, n_validation : int
        The first ``n_train`` training signals are used, ``n_validation`` of them held out.
    split_seed : int
        Seeds the validation split.

    Returns
    -------
    dict
        ``accuracy`` (validation or test), ``train_accuracy`` (on the signals trained on,
        without noise), ``seconds`` (of training), ``zero_fraction`` (of the weights; NaN
        for ensembles), ``epochs`` (trained; the sum over members for ensembles) and
        ``best_epoch`` (early stopping; else NaN).
    """
    import fastreg

    if row not in ROWS:
        raise ValueError(f"Unknown row {row!r}; the rows are: {', '.join(ROWS)}.")
    if stage not in ("tune", "test"):
        raise ValueError(f"stage must be 'tune' or 'test', got {stage!r}.")
    X_all, y_all, X_test, y_test = mnist1d()
    X_all, y_all = X_all[:n_train], y_all[:n_train]
    train, validation = _split(n_train, n_validation, split_seed)
    on_split = stage == "tune" or row == "none_split" or row.startswith("es_")
    X, y = (X_all[train], y_all[train]) if on_split else (X_all, y_all)
    X_eval, y_eval = ((X_all[validation], y_all[validation]) if stage == "tune"
                      else (X_test, y_test))
    result = {"zero_fraction": float("nan"), "best_epoch": float("nan")}
    start = time.perf_counter()
    if row.startswith("ensemble_"):
        model, result["epochs"] = _fit_ensemble(row, X, y, epochs, seed)
    else:
        layers, options = network_settings("none" if row == "none_split" or row.startswith(
            "es_") else row, strength, epochs)
        model = fastreg.Network(layers, random_state=seed, n_threads=1, **options)
        callbacks = None
        if row.startswith("es_"):
            callbacks = [_stopper(row, (X_all[validation], y_all[validation]))]
        model.fit(X, y, epochs=epochs, batch_size=BATCH_SIZE, callbacks=callbacks)
        if options.get("averaging") is not None:
            model.use_averaged_weights()
        result["epochs"] = model.epochs_
        if callbacks:
            result["best_epoch"] = callbacks[0].best_epoch_
        result["zero_fraction"] = zero_fraction(model.coefs_)
    result["seconds"] = time.perf_counter() - start
    result["accuracy"] = _accuracy(model, X_eval, y_eval)
    result["train_accuracy"] = _accuracy(model, X, y)
    return result


def _grid(row, settings):
    grid = ROWS[row][2]
    return grid if settings["grid_size"] is None else grid[: settings["grid_size"]]


def _tune(context, settings, rows_and_grids, common, label):
    """Fit every (row, strength) on the split with the tuning seeds; the validation
    accuracies, and each row's strength of the best mean."""
    seeds = [context.seed * 1000 + 500 + i for i in range(settings["tuning_seeds"])]
    tasks = [dict(common, row=row, strength=strength, seed=seed, stage="tune")
             for row, grid in rows_and_grids for strength in grid for seed in seeds]
    results = context.map(fit_row, tasks, label=label)
    trials, chosen = [], {}
    for row, grid in rows_and_grids:
        scores = []
        for strength in grid:
            accuracies = [r["accuracy"] for t, r in zip(tasks, results)
                          if t["row"] == row and t["strength"] == strength]
            scores.append(float(np.mean(accuracies)))
            trials.append({"row": row, "strength": strength, "validation_accuracy": scores[-1],
                           "seeds": len(accuracies)})
        chosen[row] = grid[int(np.argmax(scores))]  # ties: the first (weakest) value
    return trials, chosen


def _combinations(trials, chosen):
    """The 2, 3 and 4 best compatible rows of the first round (each at its strength)."""
    best_score = {}
    for trial in trials:
        if trial["row"] in COMBINABLE and trial["strength"] == chosen[trial["row"]]:
            best_score[trial["row"]] = trial["validation_accuracy"]
    ranked, used = [], set()
    for row in sorted(best_score, key=lambda r: -best_score[r]):
        if COMBINABLE[row] not in used:
            ranked.append(row)
            used.add(COMBINABLE[row])
    return [{row: chosen[row] for row in ranked[:k]} for k in (2, 3, 4) if k <= len(ranked)]


def _strength_text(row, strength):
    """The strength of a row in words ("" for a row without one)."""
    if strength is None and not row.startswith("es_"):
        return ""
    if row == "elastic_net":
        return f"l1 = {strength[0]:g}, alpha = {strength[1]:g}"
    if row in ("best", "dropout_max_norm"):
        return " + ".join(f"{ROWS[part][0]} ({_strength_text(part, value)})"
                          for part, value in strength.items())
    if row.startswith("es_"):
        name = {"es_patience": "patience", "es_gl": "GL", "es_pq": "PQ", "es_up": "UP"}[row]
        return f"{name} {STOPPING[row]:g} (Prechelt's), best of <= {{epochs}} epochs"
    if row in STRENGTH_NAMES:
        value = strength if row == "swa" else f"{strength:g}"
        return STRENGTH_NAMES[row].format(value)
    return ""


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    if values.size == 0 or np.all(np.isnan(values)):
        return float("nan"), float("nan")
    return float(np.nanmean(values)), float(np.nanstd(values, ddof=1)) if values.size > 1 else 0.0


def _summary(records, chosen, settings):
    rows = []
    for row in settings["rows"]:
        label, family, _ = ROWS[row]
        runs = [r for r in records if r["row"] == row]
        summary = {"row": row, "label": label, "family": family, "fits": len(runs),
                   "strength": _strength_text(row, chosen.get(row)).format(
                       epochs=settings["epochs"])}
        grid = _grid(row, settings) if ROWS[row][2] else ()
        if len(grid) > 1 and chosen.get(row) in (grid[0], grid[-1]):
            # The best value may lie beyond the grid.
            summary["strength"] += " (grid's " + ("lowest)" if chosen[row] == grid[0]
                                                   else "highest)")
        for key in ("test_accuracy", "train_accuracy", "gap", "seconds", "zero_fraction",
                    "epochs"):
            summary[key], summary[key + "_sd"] = _mean_sd([r[key] for r in runs])
        rows.append(summary)
    return rows


def _figure(rows, settings):
    plt = pyplot()
    order = sorted(rows, key=lambda r: (FAMILIES.index(r["family"]), -r["test_accuracy"]))
    positions = np.arange(len(order))[::-1]
    colors = {family: f"C{i}" for i, family in enumerate(FAMILIES)}
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.34 * len(order) + 1.8),
                                         sharey=True, layout="constrained",
                                         gridspec_kw={"width_ratios": [3, 2]})
    for axis, key, sd_key in ((left, "test_accuracy", "test_accuracy_sd"),
                              (right, "gap", "gap_sd")):
        for family in FAMILIES:
            chosen = [(p, r) for p, r in zip(positions, order) if r["family"] == family]
            if not chosen:
                continue
            axis.errorbar([r[key] for _, r in chosen], [p for p, _ in chosen],
                          xerr=[r[sd_key] for _, r in chosen], fmt="o", color=colors[family],
                          capsize=2.5, markersize=5, label=family)
        axis.grid(axis="x", alpha=0.3)
    baseline = next(r for r in rows if r["row"] == "none")
    left.axvline(baseline["test_accuracy"], color="grey", linestyle="--", linewidth=1.2,
                 label=f"none: {baseline['test_accuracy']:.1%}")
    left.axvline(PUBLISHED["MLP"], color="black", linestyle=":", linewidth=1.2,
                 label="published MLP (68%)")
    left.axvline(PUBLISHED["CNN"], color="black", linestyle="-.", linewidth=1.2,
                 label="published CNN (94%)")
    right.axvline(baseline["gap"], color="grey", linestyle="--", linewidth=1.2)
    from matplotlib.ticker import PercentFormatter

    left.set_yticks(positions, [r["label"] for r in order])
    for axis in (left, right):
        axis.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    left.set_xlabel("MNIST-1D test accuracy (mean ± sd over seeds)")
    right.set_xlabel("generalization gap: train - test accuracy (points)")
    left.set_title("Test accuracy")
    right.set_title("Train - test gap (dashed: none)")
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=7, fontsize="small")
    figure.suptitle(f"Each regularizer alone on the MLP 40-100-100-10 (Adam 1e-2, batch "
                    f"{BATCH_SIZE}, {settings['epochs']} epochs), {settings['seeds']} seeds; "
                    "strengths tuned on a validation split")
    return figure


def _percent(key):
    def cell(row):
        if np.isnan(row[key]):
            return ""
        return f"{row[key]:.1%} ± {row[key + '_sd']:.1%}"
    return cell


def run(context):
    """Tune, fit every row with 5 seeds, then write the table, figure, JSON and CSV."""
    settings = _settings(context.quick)
    (context.out / "report.md").unlink(missing_ok=True)  # say() appends: a rerun starts anew
    common = {"epochs": settings["epochs"], "n_train": settings["n_train"],
              "n_validation": settings["n_validation"], "split_seed": context.seed}
    context.say(f"MNIST-1D, MLP 40-100-100-10, Adam {LEARNING_RATE:g}, batch {BATCH_SIZE}, "
                f"{settings['epochs']} epochs; validation split of {settings['n_validation']} "
                f"of the {settings['n_train']} training signals; {settings['seeds']} seeds a row.")

    # First round: every row with a grid, alone.
    first = [(row, _grid(row, settings)) for row in settings["rows"] if ROWS[row][2]]
    trials, chosen = _tune(context, settings, first, common, "tuning fits")
    if "dropout" in chosen:
        chosen["dropout_vanilla"] = chosen["dropout"]
    if "dropout" in chosen and "max_norm" in chosen:
        chosen["dropout_max_norm"] = {"dropout": chosen["dropout"],
                                      "max_norm": chosen["max_norm"]}
    # Second round: the elastic net from L1's and L2's strengths, and the combinations.
    l1, alpha = chosen["l1"], chosen["l2"]
    second = [("elastic_net", [[share * l1, (1 - share) * alpha] for share in (0.25, 0.5, 0.75)]
               [: settings["grid_size"]]),
              ("best", _combinations(trials, chosen))]
    more_trials, more_chosen = _tune(context, settings, second, common, "second tuning fits")
    trials += more_trials
    chosen.update(more_chosen)
    for row, value in chosen.items():
        context.say(f"tuned on validation: {ROWS[row][0]}: {_strength_text(row, value)}")

    # The final fits: the slow ones first, so that the quick ones fill the gaps at the end.
    seeds = [context.seed * 1000 + i for i in range(settings["seeds"])]
    slow_first = sorted(settings["rows"], key=lambda r: (not r.startswith("ensemble_"), r != "cnn"))
    tasks = [dict(common, row=row, strength=chosen.get(row), seed=seed, stage="test")
             for row in slow_first for seed in seeds]
    results = context.map(fit_row, tasks, label="models")
    records = []
    for task, result in zip(tasks, results):
        records.append({"row": task["row"], "label": ROWS[task["row"]][0],
                        "family": ROWS[task["row"]][1], "seed": task["seed"],
                        "strength": _strength_text(task["row"], task["strength"]).format(
                            epochs=settings["epochs"]),
                        "test_accuracy": result["accuracy"],
                        "train_accuracy": result["train_accuracy"],
                        "gap": result["train_accuracy"] - result["accuracy"],
                        "seconds": result["seconds"], "zero_fraction": result["zero_fraction"],
                        "epochs": result["epochs"], "best_epoch": result["best_epoch"]})
    records.sort(key=lambda r: (list(ROWS).index(r["row"]), r["seed"]))
    rows = _summary(records, chosen, settings)

    context.save_csv("regularizers", records)
    context.save_json("regularizers", {
        "settings": dict(settings, hidden=HIDDEN, learning_rate=LEARNING_RATE,
                         batch_size=BATCH_SIZE, seed=context.seed, stopping=STOPPING,
                         ensemble_size=ENSEMBLE_SIZE),
        "published": PUBLISHED, "srivastava_table_9_error_percent": SRIVASTAVA_TABLE_9,
        "chosen": chosen, "tuning": trials, "summary": rows, "records": records})
    context.figure("regularizers", _figure(rows, settings))
    _table(context, rows, settings)
    _compare(context, rows)


def _table(context, rows, settings):
    columns = [
        ("label", "row", None),
        ("family", "family", None),
        ("test_accuracy", "test accuracy", _percent("test_accuracy")),
        ("train_accuracy", "train accuracy", _percent("train_accuracy")),
        ("gap", "gap", lambda r: f"{r['gap']:+.1%}"),
        ("seconds", "fit time", lambda r: f"{r['seconds']:.1f} s"),
        ("strength", "tuned strength", None),
        ("zero_fraction", "zero weights",
         lambda r: f"{r['zero_fraction']:.1%}" if r["row"] in ("l1", "elastic_net")
         or (r["row"] == "best" and r["zero_fraction"] > 0) else ""),
    ]
    tuning_seeds = settings["tuning_seeds"]
    notes = [
        f"Mean ± sd over {settings['seeds']} seeds; test accuracy on MNIST-1D's "
        f"{1000} test signals; train accuracy on the signals the model trained on (noise, "
        "dropout and augmentation off); fit time is wall-clock seconds of one model (a "
        "whole ensemble) on one engine thread, measured with other fits running beside it.",
        f"Tuning: each strength was chosen from its grid by the mean validation accuracy of "
        f"{tuning_seeds} seed{'s' if tuning_seeds > 1 else ''} (training on "
        f"{settings['n_train'] - settings['n_validation']} signals, validating on the other "
        f"{settings['n_validation']}, {settings['epochs']} epochs), then retrained on all "
        f"{settings['n_train']} training signals; the test set chose nothing. Grids: "
        + "; ".join(f"{ROWS[row][0]} {list(_grid(row, settings))}"
                    for row in settings["rows"] if ROWS[row][2]) + ".",
        "Vanilla dropout uses inverted dropout's tuned rate; the elastic net splits the "
        "tuned L1 and L2 strengths 1:3, 1:1 or 3:1; dropout + max-norm (Srivastava et al.'s "
        "pairing) takes both tuned strengths as they are; the best combination is the best "
        "on validation of the 2, 3 and 4 best compatible rows, each at its own strength.",
        f"Early stopping (and 'none, trained like early stopping') trains on the "
        f"{settings['n_train'] - settings['n_validation']} signals of the split (early "
        f"stopping: stopping on the validation error rate of the other "
        f"{settings['n_validation']}, restoring the best epoch's weights; Prechelt's settings, "
        "not tuned). Ensembles: EnsembleClassifier around "
        "MLPClassifier (same layers, Adam 1e-2, batch 100, no penalty); seeds: 5 runs of "
        f"{settings['epochs']} epochs; bagging: bootstrap samples, each member early-stopped "
        "on its out-of-bag signals (patience 10); snapshot: one run of "
        f"{settings['epochs']} epochs in 5 cosine cycles. CNN: the paper's (Conv1D 25 k5 s2, "
        "25 k3 s2, 25 k3 s2, dense 10), same optimizer and epochs.",
    ]
    context.table("regularizers", rows, columns,
                  title="Regularizers alone on MNIST-1D's MLP 40-100-100-10", notes=notes)


#: Srivastava et al.'s rows and the nearest row of this study (None: no counterpart).
SRIVASTAVA_COUNTERPARTS = {
    "L2": "l2",
    "L2 + L1 applied towards the end of training": "elastic_net",
    "L2 + KL-sparsity": None,
    "Max-norm": "max_norm",
    "Dropout + L2": "dropout",
    "Dropout + Max-norm": "dropout_max_norm",
}


def _compare(context, rows):
    """The table beside Srivastava et al.'s Table 9, and the published MNIST-1D figures."""
    by_row = {r["row"]: r for r in rows}
    none = by_row["none"]
    context.say(f"none: {none['test_accuracy']:.1%} test accuracy against the published MLP's "
                f"{PUBLISHED['MLP']:.0%} (the paper's notebook prints 65.1%).")
    if "cnn" in by_row:
        cnn = by_row["cnn"]
        context.say(f"CNN: {cnn['test_accuracy']:.1%} against the published CNN's "
                    f"{PUBLISHED['CNN']:.0%} (the paper's notebook prints 92.3%): weight "
                    f"sharing gives {cnn['test_accuracy'] - none['test_accuracy']:+.1%} over "
                    "the plain MLP.")
    singles = [r for r in rows if r["family"] not in ("baseline", "architecture", "combination")]
    if singles:
        best = max(singles, key=lambda r: r["test_accuracy"])
        worst = min(singles, key=lambda r: r["test_accuracy"])
        context.say(f"best row alone: {best['label']} {best['test_accuracy']:.1%} "
                    f"({best['test_accuracy'] - none['test_accuracy']:+.1%} over none); "
                    f"worst: {worst['label']} {worst['test_accuracy']:.1%} "
                    f"({worst['test_accuracy'] - none['test_accuracy']:+.1%}).")
    if "best" in by_row:
        context.say(f"best combination ({by_row['best']['strength']}): "
                    f"{by_row['best']['test_accuracy']:.1%}.")
    for row in ("l1", "elastic_net"):
        if row in by_row:
            context.say(f"{by_row[row]['label']} left {by_row[row]['zero_fraction']:.1%} of "
                        "the weights exactly zero.")
    reference = by_row.get("l2")
    lines = []
    for method, error in SRIVASTAVA_TABLE_9.items():
        line = {"method": method, "mnist_error": error,
                "mnist_relative": error / SRIVASTAVA_TABLE_9["L2"] - 1}
        ours = by_row.get(SRIVASTAVA_COUNTERPARTS[method])
        if ours is not None:
            line["ours"] = ours["label"]
            line["error"] = 1 - ours["test_accuracy"]
            if reference is not None:
                line["relative"] = line["error"] / (1 - reference["test_accuracy"]) - 1
        lines.append(line)
    columns = [("method", "Srivastava et al. 2014, Table 9", None),
               ("mnist_error", "MNIST test error", "{:.2f}%"),
               ("mnist_relative", "vs L2", "{:+.0%}"),
               ("ours", "nearest row here", None),
               ("error", "MNIST-1D test error", "{:.1%}"),
               ("relative", "vs L2", "{:+.0%}")]
    context.table("srivastava", lines, columns,
                  title="Beside Srivastava et al. 2014, Table 9 (MNIST, 784-1024-1024-2048-10)",
                  notes=["'vs L2': the error relative to that of the L2 row of the same table. "
                         "fastreg has no KL-sparsity penalty; its elastic net applies L1 and L2 "
                         "from the start, Srivastava et al. added L1 towards the end; the "
                         "dropout row here has no L2."])
