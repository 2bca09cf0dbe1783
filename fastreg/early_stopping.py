"""Early stopping: when to end training, from the validation and training error curves.

The stopping criteria follow L. Prechelt, "Early Stopping - But When?", in *Neural
Networks: Tricks of the Trade*, Springer LNCS 1524 (1998). Each one watches two numbers
after every epoch ``t = 1, 2, ...``:

* ``E_va(t)``, the error on held-out validation data (the quantity we really care about);
* ``E_tr(t)``, the error on the training data, as measured while training that epoch.

A criterion is a small object with a pure ``update(train_error, val_error) -> bool``
("stop now?") and ``reset()``: it knows nothing about networks, so any training loop
(the core :class:`~fastreg.Network`, an estimator, a user's own loop) can feed it.
:class:`EarlyStopping` plugs criteria into ``Network.fit(..., callbacks=...)``: it measures
both errors, keeps a copy of the best weights and puts them back when it stops.
:class:`BestWeights` is that copy on its own: the one place where fastreg keeps the weights
of a best epoch (the callback, the estimators' early stopping and the ensembles' bagged
members all use it).

Criteria
--------
:class:`Patience`
    ``patience`` epochs in a row without improving ``E_va`` by more than ``min_delta``.
:class:`GeneralizationLoss` (Prechelt's ``GL_alpha``)
    The validation error has risen more than ``alpha`` percent above its best so far.
:class:`ProgressQuotient` (``PQ_alpha``)
    The generalization loss is large compared with the training progress of the last
    strip of epochs.
:class:`UpStrips` (``UP_s``)
    The validation error rose over ``s`` successive strips of epochs.
"""
import math
import numbers
from collections import deque

import numpy as np

from fastreg._validation import check_integer

__all__ = [
    "BestWeights",
    "EarlyStopping",
    "GeneralizationLoss",
    "Patience",
    "ProgressQuotient",
    "StoppingCriterion",
    "UpStrips",
]


# ---------------------------------------------------------------------- parameter checks
def _check_threshold(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (0 <= value < math.inf)  # also rejects NaN
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def _check_error(value, name, nonnegative):
    """An error value as a float: a real number, not NaN nor -inf (+inf is allowed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if math.isnan(value) or value == -math.inf:
        raise ValueError(f"{name} must be a number or +inf, got {value!r}.")
    if nonnegative and value < 0:
        raise ValueError(
            f"{name} must be >= 0 for this criterion (it divides errors), got {value!r}."
        )
    return value


def _fmt(value):
    return f"{value:.6g}"


# ---------------------------------------------------------------------- shared formulas
def generalization_loss(val_error, best_val_error):
    """``GL = 100 * (E_va / E_opt - 1)``, in percent, with ``E_opt <= E_va``.

    Defined as 0 when ``E_va == E_opt`` (including ``0 / 0`` and ``inf / inf``) and as
    ``+inf`` when ``E_opt == 0 < E_va``: any rise from a perfect validation error is an
    infinitely large relative loss.
    """
    if val_error == best_val_error:
        return 0.0
    if best_val_error == 0:
        return math.inf
    return 100.0 * (val_error / best_val_error - 1.0)


def training_progress(strip):
    """``P_k = 1000 * (sum(strip) / (k * min(strip)) - 1)``, in per mille, for k >= 2 errors.

    Defined as 0 when the strip is constant (no progress, including all zeros) and as
    ``+inf`` when its minimum is 0 but not all of it is (the error fell to exactly 0).
    """
    low, high = min(strip), max(strip)
    if low == high:
        return 0.0
    if low == 0:
        return math.inf
    return max(0.0, 1000.0 * (math.fsum(strip) / (len(strip) * low) - 1.0))


# ---------------------------------------------------------------------- criteria
class StoppingCriterion:
    """Base class of the stopping criteria: bookkeeping shared by all of them.

    Subclasses implement ``_check(train_error, val_error)``, called once the epoch count
    and the best validation error include the new epoch, returning None (go on) or a
    sentence explaining why training should stop now.

    Attributes
    ----------
    epoch_ : int
        Number of updates since the last reset: the current epoch ``t``.
    best_val_error_ : float
        ``E_opt(t)``, the lowest validation error seen (``inf`` before the first update).
    best_epoch_ : int
        First epoch at which ``best_val_error_`` was reached (0 before the first update).
    stopped_epoch_ : int or None
        First epoch at which :meth:`update` returned True.
    reason_ : str or None
        Why it returned True then, naming the criterion and the values involved.
    last_reason_ : str or None
        The same for the last update (None if it returned False).
    """

    #: Whether ``update`` needs the training error (else it may be None).
    uses_train_error = False
    #: Whether errors must be >= 0 (criteria built on ratios of errors).
    nonnegative_errors = False

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget every update: the next one is epoch 1 again. Returns self."""
        self.epoch_ = 0
        self.best_val_error_ = math.inf
        self.best_epoch_ = 0
        self.stopped_epoch_ = None
        self.reason_ = None
        self.last_reason_ = None
        self._reset_state()
        return self

    def _reset_state(self):
        pass

    def update(self, train_error, val_error):
        """Record the errors of the next epoch; return True when training should stop.

        Parameters
        ----------
        train_error : float or None
            ``E_tr(t)``; None is accepted by the criteria that do not use it.
        val_error : float
            ``E_va(t)``; lower is better. NaN is rejected, ``+inf`` accepted.

        Returns
        -------
        bool
            True when the criterion holds after this epoch. Further updates keep
            evaluating it; ``stopped_epoch_`` and ``reason_`` keep the first time.
        """
        if train_error is None:
            if self.uses_train_error:
                raise ValueError(f"{type(self).__name__} needs the training error, got None.")
        else:
            train_error = _check_error(train_error, "train_error", self.nonnegative_errors)
        val_error = _check_error(val_error, "val_error", self.nonnegative_errors)
        self.epoch_ += 1
        if val_error < self.best_val_error_:
            self.best_val_error_ = val_error
            self.best_epoch_ = self.epoch_
        reason = self._check(train_error, val_error)
        self.last_reason_ = reason
        if reason is None:
            return False
        if self.stopped_epoch_ is None:
            self.stopped_epoch_ = self.epoch_
            self.reason_ = reason
        return True

    def _check(self, train_error, val_error):
        raise NotImplementedError

    def _best(self):
        return f"best {_fmt(self.best_val_error_)} at epoch {self.best_epoch_}"


class Patience(StoppingCriterion):
    """Stop after ``patience`` epochs in a row without a real improvement of ``E_va``.

    An epoch improves when ``E_va(t) < E_ref - min_delta``, where ``E_ref`` is the
    validation error of the last epoch that improved (``+inf`` at the start, so epoch 1
    always improves). Training stops at the first epoch ending a run of ``patience``
    epochs that did not improve: with ``min_delta = 0``, ``patience`` epochs after the
    best one.

    The reference only moves on a real improvement, so a slow but steady descent (less
    than ``min_delta`` per epoch, more over a few) still counts as progress. This is
    Keras's rule; scikit-learn's ``n_iter_no_change``/``tol`` compares with the running
    minimum instead (and stops one epoch later).

    Parameters
    ----------
    patience : int, default=10
        Number of epochs without improvement to wait, >= 1.
    min_delta : float, default=0.0
        How much ``E_va`` must drop below the reference to count, >= 0.

    Attributes
    ----------
    wait_ : int
        Epochs since the last improvement.
    reference_ : float
        ``E_ref``.
    """

    def __init__(self, patience=10, min_delta=0.0):
        self.patience = check_integer(patience, "patience", minimum=1)
        self.min_delta = _check_threshold(min_delta, "min_delta")
        super().__init__()

    def __repr__(self):
        return f"Patience(patience={self.patience}, min_delta={self.min_delta})"

    def _reset_state(self):
        self.wait_ = 0
        self.reference_ = math.inf

    def _check(self, train_error, val_error):
        if val_error < self.reference_ - self.min_delta:
            self.reference_ = val_error
            self.wait_ = 0
        else:
            self.wait_ += 1
        if self.wait_ < self.patience:
            return None
        by = f" by more than {_fmt(self.min_delta)}" if self.min_delta > 0 else ""
        return (
            f"Patience({self.patience}): the validation error has not improved{by} for "
            f"{self.wait_} epochs (now {_fmt(val_error)}, reference "
            f"{_fmt(self.reference_)}, {self._best()})."
        )


class GeneralizationLoss(StoppingCriterion):
    """Prechelt's ``GL_alpha``: stop when the generalization loss exceeds ``alpha`` percent.

    With ``E_opt(t) = min_{t' <= t} E_va(t')``, the generalization loss is::

        GL(t) = 100 * (E_va(t) / E_opt(t) - 1)

    the relative rise of the validation error above its best, in percent. Training
    stops at the first ``t`` with ``GL(t) > alpha``.

    Errors must be >= 0. ``GL`` is 0 when ``E_va(t) = E_opt(t)`` (even if both are 0)
    and ``+inf`` when ``E_opt(t) = 0 < E_va(t)``: after a perfect validation error, any
    rise stops training.

    Parameters
    ----------
    alpha : float, default=5.0
        Threshold in percent, >= 0 (0: stop at the first epoch that is not a best).

    Attributes
    ----------
    generalization_loss_ : float
        ``GL`` of the last epoch.
    """

    nonnegative_errors = True

    def __init__(self, alpha=5.0):
        self.alpha = _check_threshold(alpha, "alpha")
        super().__init__()

    def __repr__(self):
        return f"GeneralizationLoss(alpha={self.alpha})"

    def _reset_state(self):
        self.generalization_loss_ = 0.0

    def _check(self, train_error, val_error):
        gl = generalization_loss(val_error, self.best_val_error_)
        self.generalization_loss_ = gl
        if not gl > self.alpha:
            return None
        return (
            f"GL_{_fmt(self.alpha)}: generalization loss GL = {_fmt(gl)} % > "
            f"{_fmt(self.alpha)} % (validation error {_fmt(val_error)}, {self._best()})."
        )


class ProgressQuotient(StoppingCriterion):
    """Prechelt's ``PQ_alpha``: stop when ``GL / P_k`` exceeds ``alpha`` at a strip end.

    A training strip of length ``k`` is the epochs ``t - k + 1 .. t`` with ``t``
    divisible by ``k``. Its training progress, in per mille, is::

        P_k(t) = 1000 * (sum_{t'=t-k+1..t} E_tr(t') / (k * min_{t'=t-k+1..t} E_tr(t')) - 1)

    how much larger the strip's mean training error is than its minimum: large while
    training still makes progress, near 0 once it has converged. Training stops at the
    first strip end with ``GL(t) / P_k(t) > alpha`` (``GL`` as in
    :class:`GeneralizationLoss`): the validation error may rise while training still
    progresses fast, but not once progress has slowed down. Epochs that are not strip
    ends never stop training.

    Errors must be >= 0. Limits, where the formulas divide by zero:

    * a constant strip (``P_k = 0``, no progress, including all-zero training errors)
      gives an infinite quotient when ``GL > 0``: training has stalled while the
      validation error is above its best, so stop;
    * ``GL = 0`` gives a quotient of 0 whatever ``P_k``: never stop at a best epoch;
    * a strip whose minimum is 0 but not all of it has ``P_k = +inf`` and a quotient of
      0, unless ``GL = +inf`` (see :class:`GeneralizationLoss`), which stops.

    Parameters
    ----------
    alpha : float, default=0.5
        Threshold of the quotient, >= 0.
    strip : int, default=5
        Strip length ``k``, >= 2 (``P_1`` is always 0).

    Attributes
    ----------
    generalization_loss_ : float
        ``GL`` of the last epoch.
    progress_ : float or None
        ``P_k`` at the last strip end (None before the first one).
    quotient_ : float or None
        ``GL / P_k`` at the last strip end.
    """

    uses_train_error = True
    nonnegative_errors = True

    def __init__(self, alpha=0.5, strip=5):
        self.alpha = _check_threshold(alpha, "alpha")
        self.strip = check_integer(strip, "strip", minimum=2)
        super().__init__()

    def __repr__(self):
        return f"ProgressQuotient(alpha={self.alpha}, strip={self.strip})"

    def _reset_state(self):
        self._train_errors = deque(maxlen=self.strip)
        self.generalization_loss_ = 0.0
        self.progress_ = None
        self.quotient_ = None

    def _check(self, train_error, val_error):
        self._train_errors.append(train_error)
        gl = generalization_loss(val_error, self.best_val_error_)
        self.generalization_loss_ = gl
        if self.epoch_ % self.strip != 0:
            return None
        progress = training_progress(self._train_errors)
        if gl == 0:
            quotient = 0.0
        elif progress == 0 or gl == math.inf:
            quotient = math.inf
        else:
            quotient = gl / progress
        self.progress_, self.quotient_ = progress, quotient
        if not quotient > self.alpha:
            return None
        return (
            f"PQ_{_fmt(self.alpha)}: GL / P_{self.strip} = {_fmt(gl)} / {_fmt(progress)} = "
            f"{_fmt(quotient)} > {_fmt(self.alpha)} at the end of a strip (validation error "
            f"{_fmt(val_error)}, {self._best()})."
        )


class UpStrips(StoppingCriterion):
    """Prechelt's ``UP_s``: stop when ``E_va`` rose at the end of ``s`` strips in a row.

    At each strip end ``t`` (``t`` divisible by the strip length ``k``), the validation
    error rose if ``E_va(t) > E_va(t - k)``. Training stops at the strip end completing
    ``s`` consecutive rises; a strip end without a rise starts the count again. The first
    strip end (``t = k``) has nothing to compare with and is not a rise; epochs between
    strip ends are ignored.

    Parameters
    ----------
    strips : int, default=3
        ``s``, the number of successive rises, >= 1.
    strip : int, default=5
        Strip length ``k``, >= 1.

    Attributes
    ----------
    rises_ : int
        Consecutive strip ends with a rise, up to the last one.
    """

    def __init__(self, strips=3, strip=5):
        self.strips = check_integer(strips, "strips", minimum=1)
        self.strip = check_integer(strip, "strip", minimum=1)
        super().__init__()

    def __repr__(self):
        return f"UpStrips(strips={self.strips}, strip={self.strip})"

    def _reset_state(self):
        self.rises_ = 0
        self._last_strip_error = None

    def _check(self, train_error, val_error):
        if self.epoch_ % self.strip != 0:
            return None
        previous = self._last_strip_error
        self._last_strip_error = val_error
        if previous is None:
            return None
        self.rises_ = self.rises_ + 1 if val_error > previous else 0
        if self.rises_ < self.strips:
            return None
        return (
            f"UP_{self.strips}: the validation error rose at the end of {self.rises_} "
            f"successive strips of {self.strip} epochs (last {_fmt(previous)} -> "
            f"{_fmt(val_error)}, {self._best()})."
        )


# ---------------------------------------------------------------------- the best weights
class BestWeights:
    """A copy of a model's weights at the best value of one monitored quantity.

    Call :meth:`update` after every epoch with the monitored value (a validation loss, an
    error rate, a score) and the weights: it copies them when the value is a new best.
    :meth:`restore` puts the copy back into a network. It is the one tracker of best
    weights in fastreg: :class:`EarlyStopping` keeps its best weights in one, and so do
    ``MLPClassifier`` / ``MLPRegressor`` with ``early_stopping=True`` (and through them
    the bagged members of the ensembles, early-stopped on their out-of-bag rows).

    A value is a new best when it is strictly better than the best so far (ties keep the
    earlier epoch), or when nothing is kept yet; NaN is never a best. The copy is made
    once and then overwritten in place, so tracking costs one model-sized buffer.

    Parameters
    ----------
    mode : {"min", "max"}, default="min"
        "min": lower is better (a loss, an error); "max": higher is better (a score).

    Attributes
    ----------
    best_value_ : float
        The best value so far (``+inf`` for "min", ``-inf`` for "max" before any).
    best_epoch_ : int
        The epoch given with it (0 before any, or as given to :meth:`keep`).
    coefs_, intercepts_ : list of ndarray or None
        The copy of the weights at ``best_epoch_`` (None before any).

    Examples
    --------
    >>> best = BestWeights("min")
    >>> for epoch in range(1, 11):
    ...     net.fit(X, y)                                         # doctest: +SKIP
    ...     best.update(net.evaluate(X_val, y_val)["data_loss"],
    ...                 net.coefs_, net.intercepts_, epoch)       # doctest: +SKIP
    >>> best.restore(net)                                         # doctest: +SKIP
    """

    def __init__(self, mode="min"):
        if mode not in ("min", "max"):
            raise ValueError(f'mode must be "min" or "max", got {mode!r}.')
        self.mode = mode
        self.reset()

    def __repr__(self):
        return f"BestWeights({self.mode!r})"

    def reset(self):
        """Forget the best value, its epoch and the copy. Returns self."""
        self.best_value_ = math.inf if self.mode == "min" else -math.inf
        self.best_epoch_ = 0
        self.coefs_ = None
        self.intercepts_ = None
        return self

    def improves(self, value):
        """Whether ``value`` would be a new best (see the class description)."""
        value = float(value)
        if math.isnan(value):
            return False
        if self.coefs_ is None:
            return True
        return value < self.best_value_ if self.mode == "min" else value > self.best_value_

    def update(self, value, coefs, intercepts, epoch):
        """Copy ``coefs`` and ``intercepts`` if ``value`` is a new best.

        Parameters
        ----------
        value : float
            The monitored quantity after ``epoch``.
        coefs, intercepts : list of ndarray
            The model's weights after ``epoch`` (``coefs_`` and ``intercepts_``).
        epoch : int
            The label stored in ``best_epoch_``.

        Returns
        -------
        bool
            Whether the weights were copied.
        """
        if not self.improves(value):
            return False
        self.keep(value, coefs, intercepts, epoch)
        return True

    def keep(self, value, coefs, intercepts, epoch=0):
        """Copy the weights as the best so far, whatever their value (a starting point
        that later epochs must beat, as scikit-learn keeps the initial weights).

        Returns self.
        """
        self.coefs_ = self._copied(self.coefs_, coefs)
        self.intercepts_ = self._copied(self.intercepts_, intercepts)
        self.best_value_ = float(value)
        self.best_epoch_ = epoch
        return self

    @staticmethod
    def _copied(buffers, arrays):
        """``arrays`` copied into ``buffers`` when they match, else into new arrays."""
        arrays = [np.asarray(a) for a in arrays]
        if buffers is None or len(buffers) != len(arrays) or any(
                b.shape != a.shape or b.dtype != a.dtype for b, a in zip(buffers, arrays)):
            return [a.copy() for a in arrays]
        for buffer, array in zip(buffers, arrays):
            np.copyto(buffer, array)
        return buffers

    def restore(self, network):
        """Load the kept weights into ``network`` (``network.set_weights``). Returns it."""
        if self.coefs_ is None:
            raise RuntimeError("No epoch has been seen yet: there are no best weights.")
        network.set_weights(self.coefs_, self.intercepts_)
        return network


# ---------------------------------------------------------------------- the fit callback
def _validation_loss(network, X, y, sample_weight=None):
    """Mean data loss of the network on ``(X, y)``, without the L2 penalty.

    The penalty ``alpha / (2 S) ||W||^2`` depends on the size S of the validation set, not
    on how well the network generalizes, so it is left out.
    """
    return float(network.evaluate(X, y, sample_weight=sample_weight)["data_loss"])


def _n_rows(array):
    shape = getattr(array, "shape", None)  # arrays and scipy.sparse matrices
    return shape[0] if shape else len(array)


def _wrong_labels(network, X, y):
    """Per sample and label, whether the network predicts it wrong: shape (n_samples, 1)
    for softmax (the argmax class), (n_samples, n_outputs) for logistic (each output at
    0.5); None for the regression losses."""
    proba = network.predict(X)
    y = np.asarray(y)
    if network.loss == "softmax_cross_entropy":
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        return (proba.argmax(axis=1) != truth)[:, None]
    if network.loss == "logistic_cross_entropy":
        truth = y.reshape(proba.shape) > 0.5
        return (proba > 0.5) != truth
    return None


def _error_rate(network, X, y):
    """Fraction of misclassified samples (softmax) or of wrong labels (logistic)."""
    wrong = _wrong_labels(network, X, y)
    if wrong is None:
        raise ValueError(
            f'error="error_rate" needs a classification loss, not {network.loss!r}; use "loss" '
            "or a callable."
        )
    return float(np.mean(wrong))


def _accuracy(network, X, y, sample_weight=None):
    """Fraction of the samples whose every label is right (exact match, as scikit-learn's
    ``accuracy_score`` counts multilabel targets), weighted by ``sample_weight``; NaN for
    the regression losses."""
    wrong = _wrong_labels(network, X, y)
    if wrong is None:
        return math.nan
    return float(np.average(~wrong.any(axis=1), weights=sample_weight))


class EarlyStopping:
    """``Network.fit`` callback that stops training by a criterion and keeps the best weights.

    After every epoch ``t`` (counted from 1 since creation or :meth:`reset`) it

    1. measures ``E_va(t)`` on ``validation_data`` and takes ``E_tr(t)`` from the epoch
       record: the epoch's mean training data loss (measured during training, with its
       dropout and noise, and without the penalty);
    2. copies ``coefs_`` and ``intercepts_`` when ``E_va(t)`` is the lowest so far (ties
       keep the earlier epoch);
    3. feeds both errors to every criterion and, if any of them says stop, loads the best
       weights back (``restore_best``) and returns True, which ends ``fit``.

    ::

        stopper = EarlyStopping(GeneralizationLoss(5.0), validation_data=(X_val, y_val))
        net.fit(X, y, epochs=1000, callbacks=[stopper])
        stopper.best_epoch_, stopper.stopped_epoch_, stopper.reason_

    If ``fit`` runs out of epochs before any criterion holds, it calls
    :meth:`on_train_end`, which loads the best weights too (``restore_best``); if an epoch
    diverges, ``fit`` loads them before it raises :class:`~fastreg.DivergenceError`. With
    ``restore_best=False`` the network keeps its last weights; :meth:`restore_best` loads
    the best ones on demand. To reuse a stopper for a new run, call :meth:`reset` first
    (it also resets the criteria).

    Parameters
    ----------
    criterion : StoppingCriterion, or a list or tuple of them
        Training stops at the first epoch where any of them holds.
    validation_data : tuple (X_val, y_val)
        Held-out data, in the format ``fit`` takes.
    error : {"loss", "error_rate"} or callable, default="loss"
        ``E_va``: "loss" is the network's mean loss on the validation data (as
        ``Network.evaluate`` computes it, dropout off, without the L2 penalty
        term, whose size depends on the number of validation samples); "error_rate" is
        the fraction of misclassified samples (softmax: argmax of ``predict``; logistic:
        the fraction of wrong labels at 0.5); a callable ``error(network, X_val, y_val)
        -> float`` is any lower-is-better measure (the ratio criteria need it >= 0).
        A NaN error counts as ``+inf``.
    restore_best : bool, default=True
        Load the best weights into the network when stopping.

    Attributes
    ----------
    criteria : tuple of StoppingCriterion
    train_errors_, val_errors_ : list of float
        ``E_tr`` and ``E_va`` of every epoch seen; entry ``t - 1`` is epoch ``t``.
    best_weights_ : BestWeights
        The copy of the weights with the lowest validation error, and its epoch.
    best_epoch_ : int
        Epoch of the lowest validation error (0 before the first epoch).
    best_val_error_ : float
    best_coefs_, best_intercepts_ : list of ndarray or None
        Copies of the weights at ``best_epoch_`` (those of ``best_weights_``).
    stopped_epoch_ : int or None
        Epoch after which training was stopped (None while it goes on).
    reason_ : str or None
        The sentence of each criterion that stopped it.
    restored_ : bool
        Whether the best weights have been loaded back.
    """

    def __init__(self, criterion, validation_data, *, error="loss", restore_best=True):
        if isinstance(criterion, StoppingCriterion):
            criteria = (criterion,)
        elif isinstance(criterion, (list, tuple)):
            criteria = tuple(criterion)
        else:
            criteria = ()
        if not criteria or not all(isinstance(c, StoppingCriterion) for c in criteria):
            raise TypeError(
                "criterion must be a stopping criterion (Patience, GeneralizationLoss, "
                f"ProgressQuotient, UpStrips) or a non-empty sequence of them, got {criterion!r}."
            )
        self.criteria = criteria
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (X_val, y_val).")
        X_val, y_val = validation_data
        n_x, n_y = _n_rows(X_val), _n_rows(y_val)
        if n_x != n_y:
            raise ValueError(f"X_val has {n_x} samples but y_val has {n_y}.")
        self.validation_data = (X_val, y_val)
        if callable(error):
            self._measure = error
        elif error == "loss":
            self._measure = _validation_loss
        elif error == "error_rate":
            self._measure = _error_rate
        else:
            raise ValueError(f'error must be "loss", "error_rate" or a callable, got {error!r}.')
        self.error = error
        if not isinstance(restore_best, (bool, np.bool_)):
            raise TypeError(f"restore_best must be True or False, got {restore_best!r}.")
        self.restore_best_weights = bool(restore_best)
        self.reset()

    def __repr__(self):
        criteria = self.criteria[0] if len(self.criteria) == 1 else list(self.criteria)
        return f"EarlyStopping({criteria!r}, error={self.error!r})"

    def reset(self):
        """Forget the curves, best weights and decisions, and reset the criteria."""
        for criterion in self.criteria:
            criterion.reset()
        self.train_errors_ = []
        self.val_errors_ = []
        self.best_weights_ = BestWeights("min")
        self.stopped_epoch_ = None
        self.reason_ = None
        self.restored_ = False
        return self

    @property
    def best_epoch_(self):
        return self.best_weights_.best_epoch_

    @property
    def best_val_error_(self):
        return self.best_weights_.best_value_

    @property
    def best_coefs_(self):
        return self.best_weights_.coefs_

    @property
    def best_intercepts_(self):
        return self.best_weights_.intercepts_

    def validation_error(self, network):
        """``E_va`` of the network's current weights."""
        value = float(self._measure(network, *self.validation_data))
        return math.inf if math.isnan(value) else value

    def __call__(self, network, record):
        train_error = float(record.get("data_loss", record["loss"]))
        val_error = self.validation_error(network)
        self.train_errors_.append(train_error)
        self.val_errors_.append(val_error)
        self.restored_ = False
        epoch = len(self.val_errors_)
        self.best_weights_.update(val_error, network.coefs_, network.intercepts_, epoch)
        # Every criterion sees every epoch (no short-circuit).
        decisions = [c.update(train_error, val_error) for c in self.criteria]
        reasons = [c.last_reason_ for c, stop in zip(self.criteria, decisions) if stop]
        if not reasons:
            return False
        self.stopped_epoch_ = epoch
        self.reason_ = " ".join(reasons)
        if self.restore_best_weights:
            self.restore_best(network)
        return True

    def on_train_end(self, network):
        """Called by ``Network.fit`` when training stops: restore the best weights (if
        ``restore_best``) also when the epochs ran out before a criterion held."""
        if self.restore_best_weights and self.best_coefs_ is not None and not self.restored_:
            self.restore_best(network)

    def restore_best(self, network):
        """Load the weights of ``best_epoch_`` into ``network``. Returns the network."""
        self.best_weights_.restore(network)
        self.restored_ = True
        return network

