"""Plots of training runs and fitted models, drawn with matplotlib.

* :func:`learning_curves`: training and validation loss per epoch (and the validation
  accuracy or R^2 when recorded), with the best epoch and the last (or stopping) epoch
  marked; from a :class:`~fastreg.Network`, its ``history_``, an MLP estimator (fastreg's
  or scikit-learn's) or an :class:`~fastreg.EarlyStopping` callback;
* :func:`ensemble_members` and :func:`ensemble_size_curve`: the test score of each member
  of an :class:`~fastreg.EnsembleClassifier` or :class:`~fastreg.EnsembleRegressor`
  against the ensemble's, and the score of the ensemble of its first k members;
* :func:`weight_histograms`: the weights of every layer, with the share of exact zeros
  that L1 regularization leaves.

Every function draws into the Axes given as ``ax`` or, without one, into a new pyplot
figure, and returns the Axes (:func:`learning_curves`: the Axes of the losses;
:func:`weight_histograms`: the Figure of its panels). Epochs are counted from 1, as
``n_iter_`` and :class:`~fastreg.EarlyStopping` count them. NaN and infinite values in a
curve are left out as gaps.

This module needs matplotlib (``pip install matplotlib``, or the extra
``pip install "fastreg-nn[plot]"``); ``import fastreg`` does not import it.
"""
import math
import numbers
from dataclasses import dataclass

import numpy as np

from fastreg._extras import install_hint

try:
    from matplotlib.axes import Axes
    from matplotlib.ticker import MaxNLocator
except ImportError as _error:
    raise ImportError(f"fastreg.plot needs matplotlib: {install_hint('plot')}") from _error

from fastreg._validation import check_integer
from fastreg.early_stopping import EarlyStopping
from fastreg.network import Network

__all__ = [
    "ensemble_members",
    "ensemble_size_curve",
    "ensemble_size_scores",
    "learning_curves",
    "weight_histograms",
]

# One palette for every plot: what is measured on the training data, on held-out data, the
# score, and the two marked epochs.
TRAIN_COLOR = "tab:blue"
VALIDATION_COLOR = "tab:orange"
SCORE_COLOR = "tab:green"
BEST_COLOR = "tab:red"
STOP_COLOR = "0.4"
GRID_ALPHA = 0.3

#: The keys of ``Network.history_`` that learning_curves draws (the others are ignored).
HISTORY_TRAIN_LOSS, HISTORY_VAL_LOSS, HISTORY_VAL_ACCURACY = "loss", "val_loss", "val_accuracy"

_ERROR_LABELS = {"loss": "validation loss", "error_rate": "validation error rate"}


# ---------------------------------------------------------------------- shared helpers
def _new_axes(ax, figsize=(6.4, 4.2)):
    """``ax`` after checking it is an Axes, or the Axes of a new pyplot figure."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
        return ax
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
    return ax


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def _curve(values, name):
    """A curve as a 1-D float array, non-finite values turned into NaN gaps."""
    try:
        curve = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of real numbers.") from None
    if curve.ndim != 1:
        raise ValueError(f"{name} must be one value per epoch (1-D), got shape {curve.shape}.")
    curve[~np.isfinite(curve)] = np.nan
    return curve


def _present(curve):
    """The curve if it has at least one finite value, else None (a curve that is absent)."""
    if curve is None or not np.isfinite(curve).any():
        return None
    return curve


def _is_mlp_estimator(obj):
    """An MLPClassifier/MLPRegressor of fastreg or scikit-learn (or one like them)."""
    get_params = getattr(obj, "get_params", None)
    if not callable(get_params):
        return False
    try:
        return "hidden_layer_sizes" in get_params(deep=False)
    except Exception:  # a failing get_params: not an estimator we know
        return False


# ---------------------------------------------------------------------- learning curves
@dataclass
class _Curves:
    """What learning_curves draws; every curve has one value per epoch (NaN: none)."""

    train: np.ndarray
    validation: np.ndarray | None = None
    validation_label: str = "validation loss"
    score: np.ndarray | None = None
    score_label: str = "validation accuracy"
    best_epoch: int | None = None
    stop_epoch: int | None = None
    stopped_early: bool = False


def _history_curves(history, name):
    """Curves of a ``history_``-like dict: "loss", and "val_loss"/"val_accuracy" if any."""
    if HISTORY_TRAIN_LOSS not in history:
        raise ValueError(f'{name} has no "{HISTORY_TRAIN_LOSS}" key (keys: {sorted(history)}).')
    train = _curve(history[HISTORY_TRAIN_LOSS], f'{name}["{HISTORY_TRAIN_LOSS}"]')
    if train.size == 0:
        raise ValueError(f"{name} is empty: no epoch has been trained (fit the network first).")
    curves = _Curves(train=train)
    for key in (HISTORY_VAL_LOSS, HISTORY_VAL_ACCURACY):
        if key not in history:
            continue
        curve = _curve(history[key], f'{name}["{key}"]')
        if curve.shape != train.shape:
            raise ValueError(f'{name}["{key}"] has {curve.size} values but {name}'
                             f'["{HISTORY_TRAIN_LOSS}"] has {train.size}: one per epoch each.')
        if key == HISTORY_VAL_LOSS:
            curves.validation = _present(curve)
        else:
            curves.score = _present(curve)
    if curves.validation is not None:
        curves.best_epoch = int(np.nanargmin(curves.validation)) + 1  # ties: the first
    curves.stop_epoch = train.size
    return curves


def _add_early_stopping(curves, stopper):
    """Take the best and stopping epochs (and, without a validation loss in the history,
    the validation errors) from the EarlyStopping callback of the history's last epochs."""
    n_epochs, n_seen = curves.train.size, len(stopper.val_errors_)
    if n_seen == 0:
        raise ValueError("early_stopping has seen no epoch: pass the callback given to fit.")
    if n_seen > n_epochs:
        raise ValueError(
            f"early_stopping has seen {n_seen} epochs but the history has {n_epochs}: it was "
            "not the callback of this training."
        )
    offset = n_epochs - n_seen  # epochs trained before the callback's first one
    if curves.validation is None:
        errors = _curve(stopper.val_errors_, "early_stopping.val_errors_")
        curves.validation = np.concatenate([np.full(offset, np.nan), errors])
        curves.validation_label = _ERROR_LABELS.get(stopper.error, "validation error")
    curves.best_epoch = offset + stopper.best_epoch_ if stopper.best_epoch_ else None
    if stopper.stopped_epoch_ is not None:
        curves.stop_epoch = offset + stopper.stopped_epoch_
        curves.stopped_early = True
    return curves


def _early_stopping_curves(stopper):
    if not stopper.val_errors_:
        raise ValueError("The EarlyStopping callback has seen no epoch: pass it to fit first.")
    curves = _Curves(train=_curve(stopper.train_errors_, "early_stopping.train_errors_"))
    curves.stop_epoch = curves.train.size
    return _add_early_stopping(curves, stopper)


def _estimator_curves(estimator):
    """Curves of an MLP estimator: ``loss_curve_``, ``validation_loss_curve_`` (fastreg's)
    and ``validation_scores_``; the best epoch is the one whose weights early stopping
    keeps: the lowest validation loss with a ``stopping_criterion``, else the highest
    validation score (scikit-learn's rule)."""
    name = type(estimator).__name__
    loss_curve = getattr(estimator, "loss_curve_", None)
    if loss_curve is None and hasattr(estimator, "n_iter_"):
        raise ValueError(f"This {name} has no loss_curve_: the 'lbfgs' solver records no "
                         "curve (fit it with 'adam' or 'sgd').")
    if loss_curve is None:
        raise ValueError(f"This {name} is not fitted: call its fit first.")
    curves = _Curves(train=_curve(loss_curve, "loss_curve_"))
    n_epochs = curves.train.size
    if n_epochs == 0:
        raise ValueError(f"This {name} has an empty loss_curve_: fit it first.")

    def aligned(attribute):
        # Epochs of partial_fit without validation data have no validation record: a
        # shorter validation curve belongs to the last epochs.
        values = getattr(estimator, attribute, None)
        if values is None:
            return None
        curve = _curve(values, attribute)[-n_epochs:]
        return _present(np.concatenate([np.full(n_epochs - curve.size, np.nan), curve]))

    curves.validation = aligned("validation_loss_curve_")
    curves.score = aligned("validation_scores_")
    classifier = hasattr(estimator, "classes_")
    curves.score_label = "validation accuracy" if classifier else "validation R²"
    if getattr(estimator, "stopping_criterion", None) is not None and curves.validation is not None:
        curves.best_epoch = int(np.nanargmin(curves.validation)) + 1
    elif curves.score is not None:
        curves.best_epoch = int(np.nanargmax(curves.score)) + 1
    elif curves.validation is not None:
        curves.best_epoch = int(np.nanargmin(curves.validation)) + 1
    curves.stop_epoch = n_epochs
    max_iter, n_iter = getattr(estimator, "max_iter", None), getattr(estimator, "n_iter_", None)
    curves.stopped_early = (getattr(estimator, "stopping_reason_", None) is not None or (
        isinstance(max_iter, numbers.Integral) and isinstance(n_iter, numbers.Integral)
        and n_iter < max_iter))
    return curves


def _learning_curves_of(source, early_stopping):
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError("early_stopping must be a fastreg.EarlyStopping or None, got "
                        f"{type(early_stopping).__name__}.")
    if isinstance(source, EarlyStopping):
        if early_stopping is not None and early_stopping is not source:
            raise ValueError("source is an EarlyStopping already: leave early_stopping None.")
        return _early_stopping_curves(source)
    if isinstance(source, Network):
        if source.epochs_ == 0 or not source.history_.get(HISTORY_TRAIN_LOSS):
            raise ValueError("The network is not fitted: its history_ has no epoch yet.")
        curves = _history_curves(source.history_, "history_")
    elif isinstance(source, dict):
        curves = _history_curves(source, "source")
    elif hasattr(source, "loss_curve_") or _is_mlp_estimator(source):
        if early_stopping is not None:
            raise ValueError("early_stopping is for a Network or its history: an estimator "
                             "records its own validation curves.")
        return _estimator_curves(source)
    else:
        raise TypeError(
            "source must be a fastreg.Network, a history dict, an MLP estimator or a "
            f"fastreg.EarlyStopping, got {type(source).__name__}."
        )
    if early_stopping is not None:
        _add_early_stopping(curves, early_stopping)
    return curves


def _learning_curve_axes(ax, with_score):
    """``(loss_ax, score_ax, twin)``: a new figure's Axes (two panels sharing the epochs when
    there is a score), the pair given, or the Axes given and, for a score, its twin at the
    right (``twin`` True)."""
    if ax is None:
        import matplotlib.pyplot as plt

        if not with_score:
            _, loss_ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
            return loss_ax, None, False
        _, (loss_ax, score_ax) = plt.subplots(2, 1, sharex=True, figsize=(6.4, 5.6),
                                              height_ratios=(3, 2), layout="constrained")
        return loss_ax, score_ax, False
    if isinstance(ax, Axes):
        return ax, (ax.twinx() if with_score else None), with_score
    if (isinstance(ax, (list, tuple, np.ndarray)) and len(ax) == 2
            and all(isinstance(a, Axes) for a in ax)):
        return ax[0], ax[1], False
    raise TypeError("ax must be None, a matplotlib Axes or a pair of Axes (loss, score), got "
                    f"{type(ax).__name__}.")


def _mark_epochs(ax, curves, *, labelled):
    """The best epoch (red, dotted) and the last or stopping epoch (grey, dash-dotted)."""
    if curves.best_epoch is not None:
        best = ax.axvline(curves.best_epoch, color=BEST_COLOR, linestyle=":", linewidth=1.5,
                          label=f"best epoch ({curves.best_epoch})" if labelled else None)
        best.set_gid("best_epoch")
    what = "stopped" if curves.stopped_early else "last epoch"
    stop = ax.axvline(curves.stop_epoch, color=STOP_COLOR, linestyle="-.", linewidth=1.2,
                      label=f"{what} ({curves.stop_epoch})" if labelled else None)
    stop.set_gid("stop_epoch")


def _dot_at_best(ax, curves, curve):
    if curves.best_epoch is not None and np.isfinite(curve[curves.best_epoch - 1]):
        ax.plot([curves.best_epoch], [curve[curves.best_epoch - 1]], "o", color=BEST_COLOR,
                markersize=5, zorder=3)


def learning_curves(source, *, ax=None, early_stopping=None, yscale="linear", title=None):
    """Plot the training and validation loss per epoch, with the best and last epochs.

    The training loss is drawn in blue, the validation loss (or error) in orange and,
    when recorded, the validation accuracy (R^2 for a regressor) in green on a second
    panel below, sharing the epochs. A red dotted line marks the best epoch (the lowest
    validation loss, or the one an early stopping kept) and a grey dash-dotted line the
    last epoch, labelled "stopped" when training ended early.

    Parameters
    ----------
    source : Network, dict, estimator or EarlyStopping
        What to plot:

        - a :class:`~fastreg.Network`: its ``history_`` (epochs over the network's life),
          ``"loss"`` and, when present, ``"val_loss"`` and ``"val_accuracy"``;
        - a dict of lists in the same form (``Network.history_``, or what ``fit``
          returns);
        - a fitted ``MLPClassifier`` or ``MLPRegressor``, fastreg's or scikit-learn's:
          ``loss_curve_``, fastreg's ``validation_loss_curve_`` and
          ``validation_scores_``. The best epoch is the one early stopping keeps: the
          lowest validation loss with a ``stopping_criterion``, else the highest
          validation score;
        - a :class:`~fastreg.EarlyStopping` callback after training: its training and
          validation errors, best epoch and stopping epoch.
    ax : matplotlib Axes or pair of Axes, optional
        Where to draw. None makes a new figure (with a second panel for the accuracy when
        there is one); a pair ``(loss_ax, score_ax)`` takes the losses and the accuracy;
        a single Axes takes the losses, and the accuracy goes to its twin at the right.
    early_stopping : EarlyStopping, optional
        With a Network or a history: the callback of its last training, whose epochs are
        the history's last ones. Its best and stopping epochs are marked, and its
        validation errors drawn when the history has no validation loss.
    yscale : {"linear", "log"}, default="linear"
        Scale of the loss axis.
    title : str, optional
        The title above the losses; None: "Learning curves".

    Returns
    -------
    ax : matplotlib Axes
        The Axes of the losses, epochs from 1 on its x axis: its first line is the
        training loss, the second the validation loss (when there is one). The accuracy's
        Axes is the second panel of a new figure (``ax.figure.axes[1]``), or the one given.

    Raises
    ------
    TypeError
        ``source``, ``early_stopping`` or ``ax`` is of the wrong type.
    ValueError
        ``source`` has no epoch yet (an unfitted model), or its curves do not match.

    Examples
    --------
    >>> stopper = fastreg.EarlyStopping(fastreg.Patience(5), (X_val, y_val))
    >>> net.fit(X, y, epochs=100, callback=stopper)                 # doctest: +SKIP
    >>> fastreg.plot.learning_curves(net, early_stopping=stopper)   # doctest: +SKIP
    """
    if yscale not in ("linear", "log"):
        raise ValueError(f'yscale must be "linear" or "log", got {yscale!r}.')
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}.")
    curves = _learning_curves_of(source, early_stopping)
    ax, score_ax, twin = _learning_curve_axes(ax, curves.score is not None)
    epochs = np.arange(1, curves.train.size + 1)
    ax.plot(epochs, curves.train, color=TRAIN_COLOR, label="training loss")
    if curves.validation is not None:
        ax.plot(epochs, curves.validation, color=VALIDATION_COLOR, label=curves.validation_label,
                marker="." if np.isnan(curves.validation).any() else None)
        _dot_at_best(ax, curves, curves.validation)
    _mark_epochs(ax, curves, labelled=True)
    ax.set_yscale(yscale)
    measured = curves.validation_label == "validation loss" or curves.validation is None
    ax.set_ylabel("loss" if measured else "loss; validation error")
    ax.set_title("Learning curves" if title is None else title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=GRID_ALPHA)
    handles, labels = ax.get_legend_handles_labels()
    if score_ax is None:
        ax.set_xlabel("epoch")
        ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.9)
        return ax
    score_ax.plot(epochs, curves.score, color=SCORE_COLOR, label=curves.score_label,
                  marker="." if np.isnan(curves.score).any() else None)
    _dot_at_best(score_ax, curves, curves.score)
    score_ax.set_ylabel(curves.score_label.removeprefix("validation "))
    if twin:  # one legend for both Axes, drawn above the lines of both
        ax.set_xlabel("epoch")
        score_ax.yaxis.label.set_color(SCORE_COLOR)
        score_ax.tick_params(axis="y", colors=SCORE_COLOR)
        more_handles, more_labels = score_ax.get_legend_handles_labels()
        score_ax.legend(handles + more_handles, labels + more_labels, loc="best",
                        fontsize="small", framealpha=0.9)
        return ax
    _mark_epochs(score_ax, curves, labelled=False)
    score_ax.set_xlabel("epoch")
    score_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    score_ax.grid(alpha=GRID_ALPHA)
    ax.legend(handles, labels, loc="best", fontsize="small", framealpha=0.9)
    score_ax.legend(loc="best", fontsize="small", framealpha=0.9)
    return ax


# ---------------------------------------------------------------------- ensembles
def _check_ensemble(ensemble):
    """The ensemble's kind ("classifier" or "regressor") after checking it is fitted."""
    try:
        from fastreg import ensemble as ensembles
    except ImportError:  # no scikit-learn: there can be no ensemble either
        ensembles = None
    kinds = () if ensembles is None else (ensembles.EnsembleClassifier,
                                          ensembles.EnsembleRegressor)
    if not isinstance(ensemble, kinds):
        raise TypeError("ensemble must be a fastreg EnsembleClassifier or EnsembleRegressor, "
                        f"got {type(ensemble).__name__}.")
    if not hasattr(ensemble, "estimators_"):
        raise ValueError(f"This {type(ensemble).__name__} is not fitted: call its fit first.")
    return "classifier" if isinstance(ensemble, ensembles.EnsembleClassifier) else "regressor"


def _score_name(kind):
    return "accuracy" if kind == "classifier" else "R²"


def _score(kind, y, prediction):
    from sklearn.metrics import accuracy_score, r2_score

    return float(accuracy_score(y, prediction) if kind == "classifier"
                 else r2_score(y, prediction))


def _checked_targets(X, y):
    y = np.asarray(y)
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    if y.ndim == 0 or y.shape[0] != n_rows:
        raise ValueError(f"y must have one target per row of X ({n_rows}), got shape {y.shape}.")
    return y


def ensemble_size_scores(ensemble, X, y):
    """Score of the ensemble of the first k members on ``(X, y)``, for k = 1..n.

    The members' outputs are combined as the ensemble combines them (its ``combine``:
    mean probabilities, mean logits or votes; the mean or median of the regressors), by
    the ensemble's own combination code, so k = n gives ``ensemble.score(X, y)``.

    Parameters
    ----------
    ensemble : EnsembleClassifier or EnsembleRegressor
        A fitted fastreg ensemble.
    X : array-like or sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    scores : ndarray of shape (n_members,)
        Accuracy (classifiers) or R^2 (regressors); entry ``k - 1`` is the first k
        members' score.
    """
    kind = _check_ensemble(ensemble)
    X = ensemble._validate_X_predict(X)
    y = _checked_targets(X, y)
    n_members = len(ensemble.estimators_)
    if kind == "classifier":
        outputs = ensemble._member_outputs(X)
        predictions = (ensemble.classes_[np.argmax(ensemble._combined(outputs[:k]), axis=1)]
                       for k in range(1, n_members + 1))
    else:
        outputs = ensemble._member_predictions(X)
        predictions = (ensemble._combined(outputs[:k]) for k in range(1, n_members + 1))
    return np.array([_score(kind, y, prediction) for prediction in predictions])


def ensemble_members(ensemble, X, y, *, ax=None, title=None):
    """Plot each member's score against the ensemble's, on test data.

    A dot per member, sorted by score (the best at the top, labelled by its index in
    ``estimators_``), and vertical lines at the ensemble's score (red), the best member's
    (green, dotted) and the mean member score (grey, dashed): how much the combination
    gains over its members.

    Parameters
    ----------
    ensemble : EnsembleClassifier or EnsembleRegressor
        A fitted fastreg ensemble.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Test inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    ax : matplotlib Axes, optional
        Where to draw; None makes a new figure.
    title : str, optional
        The Axes' title; None names the strategy and the combination.

    Returns
    -------
    ax : matplotlib Axes
        Scores on the x axis (accuracy for a classifier, R^2 for a regressor). Its first
        line holds the members' scores in increasing order.

    Raises
    ------
    TypeError
        ``ensemble`` is not a fastreg ensemble, or ``ax`` not an Axes.
    ValueError
        The ensemble is not fitted, or ``X`` and ``y`` do not match it.

    Examples
    --------
    >>> ensemble = fastreg.EnsembleClassifier(member, n_estimators=8).fit(X, y)  # doctest: +SKIP
    >>> fastreg.plot.ensemble_members(ensemble, X_test, y_test)                 # doctest: +SKIP
    """
    kind = _check_ensemble(ensemble)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}.")
    y = _checked_targets(X, y)
    members = np.array([member.score(X, y) for member in ensemble.estimators_], dtype=float)
    ensemble_score = float(ensemble.score(X, y))
    order = np.argsort(members, kind="stable")
    n_members = members.size
    ax = _new_axes(ax, figsize=(6.4, max(3.0, 1.2 + 0.28 * n_members)))
    positions = np.arange(n_members)
    ax.plot(members[order], positions, "o", color=TRAIN_COLOR, label="members")
    ax.axvline(members.mean(), color=STOP_COLOR, linestyle="--",
               label=f"mean member: {members.mean():.4f}").set_gid("mean_member")
    ax.axvline(members.max(), color=SCORE_COLOR, linestyle=":", linewidth=1.5,
               label=f"best member: {members.max():.4f}").set_gid("best_member")
    gain = ensemble_score - members.max()
    ax.axvline(ensemble_score, color=BEST_COLOR, linewidth=2,
               label=f"ensemble: {ensemble_score:.4f} ({gain:+.4f} over the best)",
               ).set_gid("ensemble")
    if n_members <= 30:
        ax.set_yticks(positions, [f"member {i}" for i in order])
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{n_members} members, sorted")
    ax.set_ylim(-0.7, n_members - 0.3)
    ax.set_xlabel(f"test {_score_name(kind)}")
    if title is None:
        title = (f"Ensemble of {n_members} members\n"
                 f"strategy {ensemble.strategy!r}, combine {ensemble.combine!r}")
    ax.set_title(title)
    ax.grid(axis="x", alpha=GRID_ALPHA)
    ax.margins(x=0.08)
    ax.legend(loc="best", fontsize="small", framealpha=0.9)
    return ax


def ensemble_size_curve(ensemble, X, y, *, ax=None, title=None):
    """Plot the test score of the ensemble of its first k members, k = 1..n.

    The members are taken in the order of ``estimators_`` (the order of the epochs for
    'snapshot' and 'checkpoints') and combined as the ensemble combines them (see
    :func:`ensemble_size_scores`). A dashed line marks the best single member.

    Parameters
    ----------
    ensemble : EnsembleClassifier or EnsembleRegressor
        A fitted fastreg ensemble.
    X : array-like or sparse matrix of shape (n_samples, n_features)
        Test inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their targets.
    ax : matplotlib Axes, optional
        Where to draw; None makes a new figure.
    title : str, optional
        The Axes' title; None: "Ensemble size".

    Returns
    -------
    ax : matplotlib Axes
        Its first line is the curve: x the number of members, y the scores.

    Raises
    ------
    TypeError
        ``ensemble`` is not a fastreg ensemble, or ``ax`` not an Axes.
    ValueError
        The ensemble is not fitted, or ``X`` and ``y`` do not match it.

    Examples
    --------
    >>> fastreg.plot.ensemble_size_curve(ensemble, X_test, y_test)  # doctest: +SKIP
    """
    kind = _check_ensemble(ensemble)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}.")
    scores = ensemble_size_scores(ensemble, X, y)
    best_member = max(float(member.score(X, y)) for member in ensemble.estimators_)
    ax = _new_axes(ax)
    sizes = np.arange(1, scores.size + 1)
    ax.plot(sizes, scores, "o-", color=BEST_COLOR, label="first k members combined")
    ax.axhline(best_member, color=SCORE_COLOR, linestyle="--",
               label=f"best single member: {best_member:.4f}").set_gid("best_member")
    ax.set_xlabel("number of members k")
    ax.set_ylabel(f"test {_score_name(kind)}")
    ax.set_title("Ensemble size" if title is None else title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=GRID_ALPHA)
    ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    return ax


# ---------------------------------------------------------------------- weights
def _weights_of(model):
    """The weight matrices of a Network, a fitted estimator, or a model holding a Network
    in ``network_`` (Conv1DClassifier)."""
    network = getattr(model, "network_", None)
    if isinstance(network, Network):
        model = network
    if isinstance(model, Network):
        if model.coefs_ is None:
            raise ValueError("The network is not fitted: it has no weights yet.")
        return list(model.coefs_)
    if hasattr(model, "coefs_"):
        coefs = model.coefs_
        if not isinstance(coefs, (list, tuple)) or not coefs:
            raise ValueError(f"{type(model).__name__}.coefs_ must be a non-empty list of arrays.")
        return list(coefs)
    if _is_mlp_estimator(model) or callable(getattr(model, "fit", None)):
        raise ValueError(f"This {type(model).__name__} is not fitted: it has no coefs_ yet.")
    raise TypeError("model must be a fastreg.Network or a fitted estimator with coefs_, got "
                    f"{type(model).__name__}.")


def _panel_axes(ax, n_panels):
    """One Axes per panel: a new figure's, or the ones given."""
    if ax is None:
        import matplotlib.pyplot as plt

        n_cols = min(n_panels, 4)
        n_rows = math.ceil(n_panels / n_cols)
        figure, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, 3.0 * n_rows),
                                    layout="constrained", squeeze=False)
        axes = axes.ravel()
        for unused in axes[n_panels:]:
            unused.set_visible(False)
        return list(axes[:n_panels])
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if not all(isinstance(a, Axes) for a in axes):
        raise TypeError("ax must be None, a matplotlib Axes or a sequence of Axes.")
    if len(axes) != n_panels:
        raise ValueError(f"ax must hold one Axes per layer ({n_panels}), got {len(axes)}.")
    return axes


def weight_histograms(model, *, ax=None, bins=40, log=False):
    """Plot a histogram of every layer's weights, with its share of exact zeros.

    One panel per weight matrix (``coefs_``), titled with the layer's shape and how many
    of its weights are exactly 0 (the weights that L1 regularization has removed); biases
    are left out.

    Parameters
    ----------
    model : Network or estimator
        A fitted :class:`~fastreg.Network`, an estimator with ``coefs_`` (fastreg's or
        scikit-learn's MLPs), or a Conv1DClassifier (its ``network_``).
    ax : matplotlib Axes or sequence of Axes, optional
        One Axes per layer; None makes a new figure with up to 4 panels a row.
    bins : int, default=40
        Number of bins of each histogram.
    log : bool, default=False
        Logarithmic counts: shows the few large weights next to a spike at 0.

    Returns
    -------
    figure : matplotlib Figure
        The figure of the panels (``figure.axes``, in the order of the layers).

    Raises
    ------
    TypeError
        ``model``, ``ax`` or ``log`` is of the wrong type.
    ValueError
        The model is not fitted, ``bins`` is not a positive integer, or ``ax`` does not
        hold one Axes per layer.

    Examples
    --------
    >>> net = fastreg.Network([fastreg.Dense(32, "relu"), fastreg.Dense(10)],
    ...                       regularizers=fastreg.L1(1e-3))               # doctest: +SKIP
    >>> net.fit(X, y, epochs=20)                                            # doctest: +SKIP
    >>> fastreg.plot.weight_histograms(net, log=True)                       # doctest: +SKIP
    """
    bins = check_integer(bins, "bins")
    log = _check_bool(log, "log")
    coefs = _weights_of(model)
    axes = _panel_axes(ax, len(coefs))
    for layer, (panel, coef) in enumerate(zip(axes, coefs), start=1):
        values = np.asarray(coef).ravel()
        is_zero = values == 0
        n_zeros = int(np.count_nonzero(is_zero))
        # The exact zeros stacked in red on the bin that holds 0: L1's spike stands out.
        edges = np.histogram_bin_edges(values, bins=bins)
        panel.hist([values[~is_zero], values[is_zero]], bins=edges, stacked=True, log=log,
                   color=[TRAIN_COLOR, BEST_COLOR], label=["nonzero", "exactly 0"],
                   edgecolor="white", linewidth=0.4)
        shape = " × ".join(str(size) for size in np.shape(coef))
        panel.set_title(f"layer {layer}: {shape}\n{n_zeros} of {values.size} weights are 0 "
                        f"({n_zeros / values.size:.1%})", fontsize="medium")
        panel.set_xlabel("weight value")
        panel.set_ylabel("number of weights")
        panel.grid(alpha=GRID_ALPHA)
        if n_zeros:
            panel.legend(fontsize="small", framealpha=0.9)
    figure = axes[0].figure
    if ax is None:
        figure.suptitle("Weights per layer")
    return figure
