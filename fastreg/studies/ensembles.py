"""Ensembles: test accuracy on MNIST-1D against the number of members, by strategy.

Three ways of getting 16 members out of the paper's MLP (40-100-100-10, ReLU, Adam at
1e-2, batch 100, no penalty), each wrapped in :class:`fastreg.EnsembleClassifier`:

* ``seeds``: 16 runs of 150 epochs from different initializations and batch orders
  (the deep ensembles of Lakshminarayanan et al. 2017);
* ``bagging``: 16 runs, each on a bootstrap sample of the 4000 training signals and early
  stopped on the signals its sample left out;
* ``snapshot``: one run of 16 cosine cycles of 15 epochs, restarting at 1e-2, keeping the
  weights at the end of every cycle (Huang et al. 2017): the cost of 1.6 single runs.

Every fitted ensemble is scored three times, changing only its ``combine`` (the members
do not change; the rule acts at prediction time): mean probabilities, mean logits and
majority vote, for the first k = 1..16 members (:func:`fastreg.plot.ensemble_size_scores`).
The references are the best single member and the mean member (both on the test set:
the best member is an oracle's choice, an upper bound for a single model picked without
the test set).

Each (strategy, ensemble seed) is one task of ``context.map``: its members train one
after the other (``n_jobs=1`` inside the ensemble), each on one engine thread, with seeds
drawn up front from the task's seed, so the numbers do not depend on ``--jobs``. Three
ensemble seeds give the error bars (mean and standard deviation over the ensembles).
"""
import warnings

import numpy as np

from fastreg._extras import install_hint
from fastreg.studies._runner import mnist1d, pyplot

STRATEGIES = ("seeds", "bagging", "snapshot")
RULES = ("mean_proba", "mean_logits", "vote")
RULE_NAMES = {"mean_proba": "mean probabilities", "mean_logits": "mean logits",
              "vote": "majority vote"}
#: Test accuracy of the paper's MLP on MNIST-1D (Greydanus & Kobak 2020).
PUBLISHED_MLP = 0.68
TABLE_SIZES = (1, 4, 8, 16)


def _settings(quick):
    if quick:
        return {"n_members": 4, "epochs": 3, "cycle": 2, "n_ensembles": 1, "n_train": 1000}
    return {"n_members": 16, "epochs": 150, "cycle": 15, "n_ensembles": 3, "n_train": None}


def _disagreement(predictions):
    """Mean share of test signals on which two different members predict different
    classes (over all pairs): the diversity of the ensemble."""
    n_members = len(predictions)
    if n_members < 2:
        return 0.0
    pairs = [np.mean(predictions[i] != predictions[j])
             for i in range(n_members) for j in range(i + 1, n_members)]
    return float(np.mean(pairs))


def fit_ensemble(*, strategy, n_members, epochs, cycle, n_train, seed):
    """Fit one ensemble of ``n_members`` paper MLPs and score it on MNIST-1D's test set.

    Parameters
    ----------
    strategy : {'seeds', 'bagging', 'snapshot'}
        How the members are made.
    n_members : int
        Members of the ensemble.
    epochs : int
        Epochs of each member ('seeds', 'bagging': at most, as 'bagging' early-stops).
    cycle : int
        Epochs of one cosine cycle ('snapshot'; the run has ``n_members * cycle`` epochs).
    n_train : int or None
        Train on the first ``n_train`` training signals (None: all 4000).
    seed : int
        The ensemble's random_state: every member's seed and bootstrap sample.

    Returns
    -------
    dict
        ``curves`` (rule -> accuracy of the first k members, k = 1..n), ``members`` (each
        member's test accuracy), ``disagreement``, ``epochs`` (total epochs trained) and,
        for 'snapshot', ``snapshot_epochs``.
    """
    from fastreg import EnsembleClassifier, MLPClassifier
    from fastreg._threads import single_threaded_blas
    from fastreg.plot import ensemble_size_scores

    X, y, X_test, y_test = mnist1d()
    if n_train is not None:
        X, y = X[:n_train], y[:n_train]
    max_iter = n_members * cycle if strategy == "snapshot" else epochs
    # n_iter_no_change = max_iter: every run trains its epochs (the paper's fixed budget);
    # bagging's members still stop early on their out-of-bag signals (patience 10).
    member = MLPClassifier((100, 100), learning_rate_init=1e-2, batch_size=100, alpha=0.0,
                           max_iter=max_iter, tol=0.0,
                           n_iter_no_change=10 if strategy == "bagging" else max_iter,
                           n_threads=1)
    ensemble = EnsembleClassifier(member, n_estimators=n_members, strategy=strategy,
                                  random_state=seed, n_jobs=1)
    # BLAS on one thread for the predictions too: threads run side by side.
    with single_threaded_blas():
        ensemble.fit(X, y)
        curves = {}
        for rule in RULES:
            ensemble.set_params(combine=rule)  # a prediction-time choice: the members stay
            curves[rule] = ensemble_size_scores(ensemble, X_test, y_test).tolist()
        predictions = [m.predict(X_test) for m in ensemble.estimators_]
    result = {
        "strategy": strategy, "seed": seed,
        "curves": curves,
        "members": [float(np.mean(p == y_test)) for p in predictions],
        "disagreement": _disagreement(predictions),
        "epochs": int(sum(m.n_iter_ for m in ensemble.estimators_)
                      if strategy != "snapshot" else max_iter),
    }
    if strategy == "snapshot":
        result["snapshot_epochs"] = ensemble.snapshot_epochs_.tolist()
    return result


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def _pm(mean_key, sd_key):
    return lambda row: f"{row[mean_key]:.1%} ± {row[sd_key]:.1%}"


def _summary(results, settings):
    """One row per (strategy, rule): accuracy at the table's sizes, the references, gains."""
    n_members = settings["n_members"]
    sizes = [k for k in TABLE_SIZES if k <= n_members]
    rows = []
    for strategy in STRATEGIES:
        runs = [r for r in results if r["strategy"] == strategy]
        best = [max(r["members"]) for r in runs]
        mean_member = [float(np.mean(r["members"])) for r in runs]
        for rule in RULES:
            row = {"strategy": strategy, "rule": rule}
            for k in sizes:
                row[f"k{k}"], row[f"k{k}_sd"] = _mean_sd([r["curves"][rule][k - 1] for r in runs])
            full = [r["curves"][rule][-1] for r in runs]
            row["best_member"], row["best_member_sd"] = _mean_sd(best)
            row["mean_member"], row["mean_member_sd"] = _mean_sd(mean_member)
            row["gain_over_best"] = float(np.mean(np.subtract(full, best)))
            row["gain_over_mean"] = float(np.mean(np.subtract(full, mean_member)))
            row["disagreement"] = float(np.mean([r["disagreement"] for r in runs]))
            row["epochs"] = float(np.mean([r["epochs"] for r in runs]))
            rows.append(row)
    return rows, sizes


def _figure(results, settings):
    plt = pyplot()
    n_members = settings["n_members"]
    sizes = np.arange(1, n_members + 1)
    figure, axes = plt.subplots(1, len(STRATEGIES), figsize=(13.5, 4.2), sharey=True,
                                layout="constrained")
    styles = {"mean_proba": ("C0", "o-"), "mean_logits": ("C1", "s--"), "vote": ("C2", "^:")}
    for ax, strategy in zip(axes, STRATEGIES):
        runs = [r for r in results if r["strategy"] == strategy]
        for rule in RULES:
            curves = np.array([r["curves"][rule] for r in runs])
            color, style = styles[rule]
            sd = curves.std(axis=0, ddof=1) if len(runs) > 1 else None
            ax.errorbar(sizes, curves.mean(axis=0), yerr=sd, fmt=style, color=color,
                        markersize=3.5, capsize=2, linewidth=1.2, label=RULE_NAMES[rule])
        best = np.mean([max(r["members"]) for r in runs])
        mean_member = np.mean([np.mean(r["members"]) for r in runs])
        ax.axhline(best, color="C3", linewidth=1.2, label=f"best single member {best:.1%}")
        ax.axhline(mean_member, color="grey", linestyle="--", linewidth=1.2,
                   label=f"mean member {mean_member:.1%}")
        ax.axhline(PUBLISHED_MLP, color="black", linestyle=":", linewidth=1,
                   label="paper's MLP (68%)")
        epochs = np.mean([r["epochs"] for r in runs])
        ax.set_title(f"{strategy}: {epochs:.0f} epochs of training in all")
        ax.set_xlabel("number of members k (the first k combined)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    axes[0].set_ylabel("MNIST-1D test accuracy")
    n_ensembles = len(results) // len(STRATEGIES)
    figure.suptitle(f"Ensembles of the paper's MLP 40-100-100-10 on MNIST-1D "
                    f"(mean ± sd over {n_ensembles} ensemble{'s' if n_ensembles > 1 else ''})")
    return figure


def _require_scikit_learn():
    """ImportError with the install hint when scikit-learn (and so scipy) is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError as error:
        raise ImportError(f"The ensembles study needs scikit-learn: {install_hint('sklearn')}"
                          ) from error


def run(context):
    """Fit the ensembles, then write ``ensembles.png``, ``ensembles.md``, the JSON and CSV."""
    _require_scikit_learn()
    settings = _settings(context.quick)
    n_members = settings["n_members"]
    seeds = [context.seed * 1000 + i for i in range(settings["n_ensembles"])]
    # The long tasks first: the snapshot runs then fill the gaps at the end.
    tasks = [{"strategy": strategy, "n_members": n_members, "epochs": settings["epochs"],
              "cycle": settings["cycle"], "n_train": settings["n_train"], "seed": seed}
             for strategy in STRATEGIES for seed in seeds]
    from sklearn.exceptions import ConvergenceWarning

    # Set here, in the main thread, for the threads of context.map: catch_warnings is not
    # thread-safe. Every run trains its fixed epochs, which scikit-learn warns about; a
    # bootstrap sample may leave no signal out-of-bag for oob_score_.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*no out-of-bag prediction")
        results = context.map(fit_ensemble, tasks, label="ensembles")

    rows, sizes = _summary(results, settings)
    context.save_json("ensembles", {"settings": settings, "published_mlp": PUBLISHED_MLP,
                                    "results": results, "summary": rows})
    context.save_csv("ensembles", [
        {"strategy": r["strategy"], "seed": r["seed"], "rule": rule, "k": k + 1,
         "accuracy": accuracy}
        for r in results for rule in RULES for k, accuracy in enumerate(r["curves"][rule])
    ])
    columns = [("strategy", "strategy", ""), ("rule", "combine", "")]
    columns += [(f"k{k}", f"k = {k}", _pm(f"k{k}", f"k{k}_sd")) for k in sizes]
    columns += [
        ("best_member", "best member", _pm("best_member", "best_member_sd")),
        ("mean_member", "mean member", _pm("mean_member", "mean_member_sd")),
        ("gain_over_best", f"k = {n_members} − best", "{:+.1%}"),
        ("gain_over_mean", f"k = {n_members} − mean", "{:+.1%}"),
        ("disagreement", "disagreement", "{:.1%}"),
        ("epochs", "epochs", "{:.0f}"),
    ]
    context.table("ensembles", rows, columns,
                  title=f"MNIST-1D test accuracy of the first k members combined "
                        f"(mean ± sd over {len(seeds)} ensembles)",
                  notes=["disagreement: the mean share of test signals on which two members "
                         "disagree; epochs: the epochs trained for the whole ensemble.",
                         "best member: the member with the best test accuracy (an oracle's "
                         "choice); no strength was tuned (the paper's MLP and optimizer)."])
    context.figure("ensembles", _figure(results, settings))

    by = {(row["strategy"], row["rule"]): row for row in rows}
    k = n_members
    for strategy in STRATEGIES:
        row = by[(strategy, "mean_proba")]
        context.say(f"{strategy}: {k} members, mean probabilities {row[f'k{k}']:.1%} "
                    f"against the best member {row['best_member']:.1%} and the mean member "
                    f"{row['mean_member']:.1%} (members disagree on "
                    f"{row['disagreement']:.1%} of the test signals).")
    seeds_row, snapshot_row = by[("seeds", "mean_proba")], by[("snapshot", "mean_proba")]
    context.say(f"Lakshminarayanan et al. 2017: random initialization alone makes good "
                f"ensembles, bagging does not help. Here seeds "
                f"{seeds_row[f'k{k}']:.1%}, bagging {by[('bagging', 'mean_proba')][f'k{k}']:.1%}.")
    context.say(f"Huang et al. 2017: snapshots come for the cost of one run but are less "
                f"diverse than independent runs. Here the snapshot ensemble trained "
                f"{snapshot_row['epochs']:.0f} epochs against {seeds_row['epochs']:.0f}, its "
                f"members disagree on {snapshot_row['disagreement']:.1%} of the signals "
                f"against {seeds_row['disagreement']:.1%} for seeds.")
