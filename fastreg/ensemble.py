"""Ensembles of fastreg estimators: EnsembleClassifier and EnsembleRegressor.

Five ways of getting several models out of one estimator, and several ways of combining
their predictions:

* ``'seeds'``: the same model trained from different random initializations;
* ``'bagging'``: each member trains on a bootstrap sample and early-stops on the samples
  its bootstrap left out (its out-of-bag samples), which also give ``oob_score_``;
* ``'snapshot'``: one run with a cosine learning rate restarted ``n_estimators`` times,
  keeping the weights at the end of every cycle (Huang et al., "Snapshot Ensembles: Train
  1, get M for free", ICLR 2017);
* ``'checkpoints'``: one ordinary run, keeping the weights of its last epochs;
* ``'cv'``: one model per cross-validation fold, keeping the best on their held-out fold.

The members of 'seeds', 'bagging' and 'cv' are independent: they train concurrently with
``n_jobs`` through joblib, in threads by default (fastreg's engine releases the GIL for
whole epochs) or on a Dask cluster with ``backend="dask"``. Each member's random state is
drawn up front from the ensemble's ``random_state``, so the fitted ensemble does not depend
on ``n_jobs`` or on the backend.

This module needs scikit-learn (``pip install scikit-learn``, or the extra
``pip install "fastreg-nn[sklearn]"``).
"""
import copy
import inspect
import math
import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    clone,
    is_classifier,
)
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold, check_cv
from sklearn.utils import check_random_state, column_or_1d, get_tags
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

# isort: split
import joblib  # after scikit-learn: a missing scikit-learn is the error to report

from fastreg._sklearn_private import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from fastreg._threads import engine_thread_cap, single_threaded_blas
from fastreg._validation import sklearn_validate_data as validate_data
from fastreg.network import _checked_callbacks

STRATEGIES = ("seeds", "bagging", "snapshot", "checkpoints", "cv")

#: Strategies whose members train independently (and so in parallel).
INDEPENDENT_STRATEGIES = ("seeds", "bagging", "cv")

_MAX_SEED = np.iinfo(np.int32).max


def snapshot_learning_rate(epoch, max_iter, n_cycles, learning_rate_init):
    """Learning rate of ``epoch`` (1-based) in a snapshot ensemble's cosine schedule.

    ``lr(t) = lr0 / 2 * (cos(pi * ((t - 1) mod c) / c) + 1)`` with cycle length
    ``c = ceil(max_iter / n_cycles)``: every cycle starts at ``lr0`` and decays towards 0.

    Parameters
    ----------
    epoch : int
        Epoch number, from 1 to ``max_iter``.
    max_iter : int
        Epochs of the whole run (T).
    n_cycles : int
        Number of cosine cycles (M).
    learning_rate_init : float
        Rate at the start of every cycle (lr0).

    Returns
    -------
    float
    """
    cycle = math.ceil(max_iter / n_cycles)
    return learning_rate_init / 2.0 * (math.cos(math.pi * ((epoch - 1) % cycle) / cycle) + 1.0)


def _accepts_validation_data(estimator):
    """True when fit takes ``validation_data`` and the solver can use it."""
    if getattr(estimator, "solver", None) == "lbfgs":
        return False
    return "validation_data" in inspect.signature(estimator.fit).parameters


def _effective_thread_cap(n_jobs, backend):
    """1 when members may run side by side (their engines then get one thread each)."""
    if backend is not None and backend != "sequential":
        return 1
    if joblib.effective_n_jobs(n_jobs) != 1:
        return 1
    return None


def _member_callbacks(callbacks, member):
    """``callbacks`` for the member of index ``member``: each record gains ``member``."""
    def with_member(callback):
        return lambda estimator, record: callback(estimator, {**record, "member": member})

    return [with_member(callback) for callback in callbacks]


def _fit_member(estimator, X, y, sample_weight, train, validation, thread_cap, callbacks=()):
    """Fit one member on the rows ``train`` (None: all), validating on ``validation``.

    Runs in a joblib worker: a thread of this process, or a Dask worker. BLAS is held to one
    thread (process-wide, counted) and the engine to ``thread_cap`` threads (this thread
    only) for the duration.
    """
    fit_kwargs = {}
    if train is not None:
        X_train, y_train = X[train], y[train]
        if sample_weight is not None:
            fit_kwargs["sample_weight"] = sample_weight[train]
    else:
        X_train, y_train = X, y
        if sample_weight is not None:
            fit_kwargs["sample_weight"] = sample_weight
    if validation is not None:
        fit_kwargs["validation_data"] = (X[validation], y[validation])
    if callbacks:
        fit_kwargs["callbacks"] = callbacks
    with single_threaded_blas(), engine_thread_cap(thread_cap):
        return estimator.fit(X_train, y_train, **fit_kwargs)


class _BaseEnsemble(MetaEstimatorMixin, BaseEstimator):
    """Training of the members; combination is left to the classifier and the regressor."""

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions(set(STRATEGIES))],
        "cv": ["cv_object"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "backend": [str, None],
    }

    # ------------------------------------------------------------------ fitting
    def _default_estimator(self):
        raise NotImplementedError

    def _fit(self, X, y, sample_weight, callbacks):
        callbacks = _checked_callbacks(callbacks, "callbacks")
        base = self._default_estimator() if self.estimator is None else self.estimator
        if callbacks and "callbacks" not in inspect.signature(base.fit).parameters:
            raise ValueError(f"callbacks need members whose fit takes callbacks (fastreg's "
                             f"MLPClassifier and MLPRegressor); {type(base).__name__}'s does not.")
        if callbacks and getattr(base, "solver", None) == "lbfgs":
            raise ValueError("callbacks need members with solver='sgd' or 'adam': solver='lbfgs' "
                             "has no epochs to report.")
        if "random_state" not in base.get_params():
            raise ValueError(f"The estimator must have a random_state parameter; "
                             f"{type(base).__name__} has none.")
        if is_classifier(self) != is_classifier(base):
            kind = "a classifier" if is_classifier(self) else "a regressor"
            raise ValueError(f"{type(self).__name__} needs {kind}, got {base!r}.")
        self.estimator_ = base
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        random_state = check_random_state(self.random_state)
        for name in ("estimators_samples_", "oob_score_", "oob_prediction_",
                     "oob_decision_function_", "cv_scores_", "selected_folds_", "learning_rates_",
                     "snapshot_epochs_"):
            self.__dict__.pop(name, None)
        sample_weight, member_params = self._class_weighted(base, y, sample_weight)
        if self.strategy in INDEPENDENT_STRATEGIES:
            self._fit_independent(X, y, sample_weight, random_state, member_params, callbacks)
        else:
            self._fit_one_run(X, y, sample_weight, random_state, member_params, callbacks)
        return self

    def _class_weighted(self, base, y, sample_weight):
        """``(sample_weight, member_params)``: a fastreg MLPClassifier's ``class_weight``
        turned into sample weights over the whole training set, its members then fit
        with ``class_weight=None``.

        'balanced' then counts the classes of all of y, not of a member's bootstrap sample
        or fold (which may lack a class of the dict), and 'snapshot' and 'checkpoints',
        which train by partial_fit, take 'balanced' too.
        """
        from fastreg.estimators import MLPClassifier, _class_weighted

        if (not is_classifier(self) or not isinstance(base, MLPClassifier)
                or base.class_weight is None):
            return sample_weight, {}
        base._validate_params()
        class_index = np.searchsorted(self.classes_, y)
        weights = _class_weighted(base.class_weight, self.classes_, class_index, sample_weight,
                                  np.float64)
        return weights, {"class_weight": None}

    def _member(self, seed, **params):
        return clone(self.estimator_).set_params(random_state=int(seed), **params)

    def _run_in_parallel(self, jobs):
        if self.backend is None:
            return Parallel(n_jobs=self.n_jobs, prefer="threads")(jobs)
        n_jobs = self.n_jobs
        if n_jobs is None and self.backend not in ("threading", "sequential"):
            n_jobs = -1  # a cluster backend: as many members at once as it has workers
        # parallel_config, unlike Parallel(backend=...), registers external backends (dask).
        with joblib.parallel_config(backend=self.backend):
            return Parallel(n_jobs=n_jobs)(jobs)

    def _fit_independent(self, X, y, sample_weight, random_state, member_params, callbacks):
        n_samples = X.shape[0]
        cap = _effective_thread_cap(self.n_jobs, self.backend)
        members, trains, validations = [], [], []
        if self.strategy == "seeds":
            seeds = random_state.randint(_MAX_SEED, size=self.n_estimators)
            members = [self._member(seed, **member_params) for seed in seeds]
            trains = validations = [None] * self.n_estimators
        elif self.strategy == "bagging":
            seeds = random_state.randint(_MAX_SEED, size=self.n_estimators)
            can_validate = _accepts_validation_data(self.estimator_)
            samples = []
            for seed in seeds:
                sample = random_state.randint(0, n_samples, size=n_samples)
                out_of_bag = self._validation_rows(y, sample) if can_validate else None
                params = {"early_stopping": True} if out_of_bag is not None else {}
                members.append(self._member(seed, **params, **member_params))
                samples.append(sample)
                trains.append(sample)
                validations.append(out_of_bag)
            self.estimators_samples_ = samples
        else:  # 'cv'
            splitter = self._splitter(random_state)
            folds = list(splitter.split(X, y))
            if len(folds) < self.n_estimators:
                raise ValueError(
                    f"strategy='cv' keeps the best n_estimators={self.n_estimators} of its folds, "
                    f"but cv gives only {len(folds)} folds."
                )
            seeds = random_state.randint(_MAX_SEED, size=len(folds))
            members = [self._member(seed, **member_params) for seed in seeds]
            trains = [train for train, _ in folds]
            validations = [None] * len(folds)
        fitted = self._run_in_parallel(
            delayed(_fit_member)(member, X, y, sample_weight, train, validation, cap,
                                 _member_callbacks(callbacks, index))
            for index, (member, train, validation) in enumerate(zip(members, trains, validations))
        )
        self.seeds_ = np.asarray(seeds)
        if self.strategy == "cv":
            scores = []
            for member, (_, held_out) in zip(fitted, folds):
                weight = None if sample_weight is None else sample_weight[held_out]
                scores.append(member.score(X[held_out], y[held_out], sample_weight=weight))
            self.cv_scores_ = np.asarray(scores)
            # A stable sort keeps the earlier fold among equal scores.
            best = np.argsort(-self.cv_scores_, kind="stable")[: self.n_estimators]
            self.selected_folds_ = np.sort(best)
            fitted = [fitted[i] for i in self.selected_folds_]
        self.estimators_ = list(fitted)
        if self.strategy == "bagging":
            self._set_oob_score(X, y)

    def _validation_rows(self, y, sample):
        """Out-of-bag rows of a bootstrap sample usable as the member's validation set."""
        out_of_bag = np.setdiff1d(np.arange(y.shape[0]), sample)
        return out_of_bag if out_of_bag.size else None

    def _splitter(self, random_state):
        cv = self.cv
        if isinstance(cv, Integral):
            kind = StratifiedKFold if is_classifier(self) else KFold
            return kind(n_splits=cv, shuffle=True, random_state=random_state.randint(_MAX_SEED))
        return check_cv(cv, classifier=is_classifier(self))

    def _fit_one_run(self, X, y, sample_weight, random_state, member_params, callbacks):
        """'snapshot' and 'checkpoints': epoch by epoch with partial_fit, copying members."""
        base = self.estimator_
        if not hasattr(base, "partial_fit"):
            raise ValueError(f"strategy={self.strategy!r} trains epoch by epoch and needs "
                             "a stochastic solver (partial_fit).")
        max_iter = int(base.get_params()["max_iter"])
        if max_iter < self.n_estimators:
            raise ValueError(
                f"strategy={self.strategy!r} needs the estimator's max_iter ({max_iter}) to be at "
                f"least n_estimators ({self.n_estimators})."
            )
        seed = random_state.randint(_MAX_SEED)
        # A RandomState object, not an int: partial_fit re-reads random_state at every call,
        # and an int would visit the samples in the same order every epoch.
        model = clone(base).set_params(random_state=np.random.RandomState(seed),
                                       early_stopping=False, warm_start=False, **member_params)
        self.seeds_ = np.asarray([seed])
        snapshot = self.strategy == "snapshot"
        lr0 = float(base.get_params()["learning_rate_init"])
        cycle = math.ceil(max_iter / self.n_estimators)
        if snapshot:
            keep = {t for t in range(1, max_iter + 1) if t % cycle == 0 or t == max_iter}
        else:
            keep = set(range(max_iter - self.n_estimators + 1, max_iter + 1))
        fit_kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        if is_classifier(self):
            fit_kwargs["classes"] = self.classes_
        # fastreg's estimators take each epoch's rate in partial_fit and report the rate the
        # epoch ran at; another estimator gets it as learning_rate_init (set back at the end).
        hook = "epoch_learning_rate" in inspect.signature(model.partial_fit).parameters
        members, rates, epochs = [], [], []
        for epoch in range(1, max_iter + 1):
            if snapshot:
                rate = snapshot_learning_rate(epoch, max_iter, self.n_estimators, lr0)
                if hook:
                    fit_kwargs["epoch_learning_rate"] = rate
                else:
                    model.set_params(learning_rate_init=rate)
            start = time.perf_counter()
            model.partial_fit(X, y, **fit_kwargs)
            if callbacks:
                self._report_run_epoch(model, epoch, callbacks, start)
            used = getattr(model, "epoch_learning_rate_", rate if snapshot else float("nan"))
            if snapshot and used != rate:
                raise RuntimeError(
                    f"The estimator trained epoch {epoch} at learning rate {used}, not the "
                    f"snapshot schedule's {rate}: its partial_fit did not run at the rate "
                    "it was given."
                )
            rates.append(used)
            if epoch in keep:
                members.append(copy.deepcopy(model))
                epochs.append(epoch)
            fit_kwargs.pop("classes", None)
        if snapshot and not hook:
            model.set_params(learning_rate_init=lr0)
            for member in members:
                member.set_params(learning_rate_init=lr0)
        self.estimators_ = members
        self.learning_rates_ = np.asarray(rates)
        self.snapshot_epochs_ = np.asarray(epochs)

    def _report_run_epoch(self, model, epoch, callbacks, start):
        """Call the callbacks with the one run's last epoch (member 0, no validation); a
        callback cannot stop it, as the strategy takes its members from every epoch."""
        record = {"epoch": epoch, "loss": model.loss_curve_[-1], "validation_score": math.nan,
                  "validation_loss": math.nan, "epoch_time": time.perf_counter() - start,
                  "member": 0}
        if any([bool(callback(model, dict(record))) for callback in callbacks]):
            raise ValueError(f"strategy={self.strategy!r} trains all max_iter epochs of its one "
                             "run to take its members: a callback cannot stop it.")

    # ------------------------------------------------------------------ helpers
    def _validate_X_predict(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), reset=False)

    def _oob_masks(self, n_samples):
        """(n_estimators, n_samples) bool: True where the member did not train on the sample."""
        masks = np.ones((len(self.estimators_), n_samples), dtype=bool)
        for mask, sample in zip(masks, self.estimators_samples_):
            mask[sample] = False
        return masks

    # ------------------------------------------------------------------ saving
    def save(self, path):
        """Write the ensemble to ``path`` in fastreg's own file format, without pickle.

        Read it back with :func:`fastreg.load`: the same members, predictions and fitted
        attributes. The estimator must be one of fastreg's, ``cv`` an int (or None).

        Parameters
        ----------
        path : str or path-like
            Destination file; it is written as given (no extension is added).
        """
        from fastreg.io import save

        save(self, path)

    def _save_state(self):
        """``(params, state)`` for :mod:`fastreg.io`: the parameters and, once fitted,
        every attribute fit set (the members among them); :meth:`_load_state` takes them
        back."""
        from fastreg import _state

        return _state.estimator_state(self, "estimators_")

    @classmethod
    def _load_state(cls, params, state):
        """The ensemble :meth:`_save_state` described, its members checked against it."""
        from fastreg import _state as check

        name = cls.__name__
        ensemble = check.new_estimator(cls, params)
        if state is None:
            return ensemble
        classifier = is_classifier(ensemble)
        required = {"estimator_", "estimators_", "seeds_", "n_features_in_"}
        required |= {"classes_", "n_classes_"} if classifier else set()
        optional = {"feature_names_in_", "estimators_samples_", "oob_score_", "oob_prediction_",
                    "oob_decision_function_", "cv_scores_", "selected_folds_", "learning_rates_",
                    "snapshot_epochs_"}
        check.keys(state, required | (optional & set(state)), f"the fitted attributes of {name}")
        from fastreg.estimators import MLPClassifier, MLPRegressor
        from fastreg.signal import Conv1DClassifier

        kinds = (MLPClassifier, Conv1DClassifier) if classifier else (MLPRegressor,)
        n_features = check.integer(state["n_features_in_"], "n_features_in_", 1)
        members = state["estimators_"]
        if not isinstance(members, list) or not members:
            raise check.InvalidState("estimators_ must be a non-empty list.")
        for i, member in enumerate(members + [state["estimator_"]]):
            what = "estimator_" if i == len(members) else f"estimators_[{i}]"
            if not isinstance(member, kinds):
                raise check.InvalidState(
                    f"{what} is not a fastreg {'classifier' if classifier else 'regressor'}."
                )
            if i < len(members) and getattr(member, "n_features_in_", None) != n_features:
                raise check.InvalidState(f"{what} is not fitted to {n_features} features.")
        if classifier:
            classes = check.array(state["classes_"], "classes_", kinds="biufUO")
            if (classes.ndim != 1 or len(classes) < 2
                    or not np.array_equal(np.unique(classes), classes)
                    or check.integer(state["n_classes_"], "n_classes_") != len(classes)):
                raise check.InvalidState("classes_ must be at least 2 distinct labels in "
                                         "increasing order, n_classes_ their number.")
            for i, member in enumerate(members):
                member_classes = np.asarray(member.classes_)
                if member_classes.ndim != 1 or not np.isin(member_classes, classes).all():
                    raise check.InvalidState(
                        f"estimators_[{i}] has classes that are not the ensemble's."
                    )
        elif len({getattr(member, "n_outputs_", None) for member in members}) != 1:
            raise check.InvalidState("the members do not have the same number of outputs.")
        integers, reals = "biu", "biuf"
        for key, kinds in (("seeds_", integers), ("selected_folds_", integers),
                           ("snapshot_epochs_", integers), ("cv_scores_", reals),
                           ("learning_rates_", reals), ("oob_prediction_", reals),
                           ("oob_decision_function_", reals)):
            if key in state:
                check.array(state[key], key, kinds=kinds)
        if "oob_score_" in state:
            check.real(state["oob_score_"], "oob_score_")
        if "estimators_samples_" in state:
            samples = state["estimators_samples_"]
            if not isinstance(samples, list) or len(samples) != len(members):
                raise check.InvalidState("estimators_samples_ must hold one sample per member.")
            for i, sample in enumerate(samples):
                check.array(sample, f"estimators_samples_[{i}]", kinds="iu")
                if sample.ndim != 1 or (sample.size and sample.min() < 0):
                    raise check.InvalidState(f"estimators_samples_[{i}] must be row indices.")
        if "feature_names_in_" in state:
            check.array(state["feature_names_in_"], "feature_names_in_", shape=(n_features,),
                        dtype=object)
        ensemble.__dict__.update(state)
        return ensemble

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        base = self.estimator if self.estimator is not None else self._default_estimator()
        tags.input_tags.sparse = get_tags(base).input_tags.sparse
        return tags


_PARAMETERS_DOC = """
    n_estimators : int, default=5
        Number of members. For 'snapshot' the number of cosine cycles, for 'checkpoints'
        the number of final epochs kept, for 'cv' the number of best folds kept.
    strategy : {{'seeds', 'bagging', 'snapshot', 'checkpoints', 'cv'}}, default='seeds'
        How the members are obtained:

        - 'seeds': clones of the estimator with random states drawn from ``random_state``,
          each trained on all of the data;
        - 'bagging': each member trains on a bootstrap sample (n draws with replacement)
          and, with a stochastic solver, early-stops on its out-of-bag samples (it is
          fitted with ``early_stopping=True`` and ``validation_data`` set to them);
        - 'snapshot': one run of ``max_iter`` epochs (T) whose learning rate follows
          ``lr0 / 2 (cos(pi mod(t - 1, c) / c) + 1)``, ``c = ceil(T / n_estimators)``, for
          epochs ``t = 1..T``, with ``lr0`` the estimator's ``learning_rate_init``; the
          weights at the end of every cycle (and at epoch T) are the members;
        - 'checkpoints': one run of ``max_iter`` epochs at the estimator's own learning
          rate; the weights after each of the last ``n_estimators`` epochs are the members;
        - 'cv': one member per fold of ``cv``, trained on the other folds; the
          ``n_estimators`` members with the best score on their held-out fold are kept.

        'snapshot' and 'checkpoints' train epoch by epoch with ``partial_fit`` and need a
        stochastic solver; they ignore the estimator's early stopping.
    combine : {combine_options}, default={combine_default!r}
        How members' predictions are combined: {combine_doc}
    cv : int, cross-validation generator or iterable, default=5
        Folds of the 'cv' strategy; an int k gives {cv_doc} with shuffled rows. Ignored by
        the other strategies.
    random_state : int, RandomState instance or None, default=None
        Draws the members' random states, the bootstrap samples and the folds. An int
        makes fit reproducible, whatever ``n_jobs`` and ``backend``.
    n_jobs : int or None, default=None
        Members trained at the same time ('seeds', 'bagging', 'cv'); -1: as many as the
        backend has workers. None means 1 unless a joblib ``parallel_config`` context says
        otherwise (with ``backend`` set to a cluster backend such as 'dask', None means -1).
        Members running side by side train with one engine thread and one BLAS thread each.
    backend : str or None, default=None
        joblib backend of the parallel members: None uses threads (fastreg's engine
        releases the GIL for whole epochs) unless a joblib ``parallel_config`` context
        chooses another backend; 'dask' runs them on the Dask cluster of the current
        ``distributed.Client``; any other joblib backend name is passed on."""

_ATTRIBUTES_DOC = """
    estimator_ : estimator
        The estimator the members were cloned from.
    estimators_ : list of estimators
        The fitted members.
    seeds_ : ndarray of int
        Random state of each trained member ('snapshot', 'checkpoints': of the one run;
        'cv': of every fold's member, kept or not).
    estimators_samples_ : list of ndarray of int
        'bagging' only: each member's bootstrap sample (row indices, with repeats). Its
        out-of-bag samples are the rows not in it.
    oob_score_ : float
        'bagging' only: {oob_score_doc} of the out-of-bag predictions, each row predicted
        by the combination of the members that did not train on it (rows that every
        member saw are left out).
    cv_scores_ : ndarray of float
        'cv' only: every fold member's score on its held-out fold.
    selected_folds_ : ndarray of int
        'cv' only: the folds whose members were kept, in fold order.
    learning_rates_ : ndarray of float
        'snapshot' and 'checkpoints': the learning rate of every epoch of the run.
    snapshot_epochs_ : ndarray of int
        'snapshot' and 'checkpoints': the epoch (1-based) after which each member was copied.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit, when X had string column names."""


_CLASSIFIER_PARAMETERS_DOC = _PARAMETERS_DOC.format(
    combine_options="{'mean_proba', 'mean_logits', 'vote'}",
    combine_default="mean_proba",
    combine_doc=(
        "'mean_proba' averages the class probabilities;\n"
        "        'mean_logits' averages the log-probabilities and applies the softmax to the mean\n"
        "        (log-probabilities differ from a softmax's logits by a per-row constant, so\n"
        "        this is the softmax of the mean logits; for two classes it is the sigmoid of the\n"
        "        mean ``log(p / (1 - p))``); 'vote' takes each member's predicted class and\n"
        "        predicts the most frequent, ties going to the class that comes first in\n"
        "        ``classes_`` (``predict_proba`` then gives the share of votes)."
    ),
    cv_doc="StratifiedKFold",
)
_REGRESSOR_PARAMETERS_DOC = _PARAMETERS_DOC.format(
    combine_options="{'mean', 'median'}",
    combine_default="mean",
    combine_doc="the mean or the median of the members' predictions, output by output.",
    cv_doc="KFold",
)


class EnsembleClassifier(ClassifierMixin, _BaseEnsemble):
    __doc__ = f"""An ensemble of fastreg classifiers, trained by one of five strategies.

    A scikit-learn meta-estimator: it clones ``estimator`` into members, trains them (in
    parallel where they are independent) and combines their class probabilities or votes.
    Binary and multiclass targets; members that never saw a class (in a bootstrap sample or
    a fold) give it probability 0.

    Parameters
    ----------
    estimator : classifier, default=None
        The fastreg classifier to ensemble; it must have a ``random_state`` parameter.
        None means ``fastreg.MLPClassifier()``.{_CLASSIFIER_PARAMETERS_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_classes_ : int
        Number of classes.{_ATTRIBUTES_DOC.format(oob_score_doc="accuracy")}
    oob_decision_function_ : ndarray of shape (n_samples, n_classes)
        'bagging' only: the combined out-of-bag probabilities of every training row (NaN
        for rows without an out-of-bag member).

    See Also
    --------
    EnsembleRegressor : The regression counterpart.
    fastreg.MLPClassifier : The default member.

    References
    ----------
    G. Huang, Y. Li, G. Pleiss, Z. Liu, J. E. Hopcroft, K. Q. Weinberger, "Snapshot
    Ensembles: Train 1, get M for free", ICLR 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastreg import EnsembleClassifier, MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> member = MLPClassifier(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01)
    >>> ensemble = EnsembleClassifier(member, n_estimators=10, strategy="bagging",
    ...                               random_state=0, n_jobs=2).fit(X, y)
    >>> ensemble.predict(X[:3])
    array([0, 0, 0])
    >>> len(ensemble.estimators_), ensemble.score(X, y) > 0.9
    (10, True)
    """

    _parameter_constraints: dict = {
        **_BaseEnsemble._parameter_constraints,
        "combine": [StrOptions({"mean_proba", "mean_logits", "vote"})],
    }

    def __init__(self, estimator=None, *, n_estimators=5, strategy="seeds", combine="mean_proba",
                 cv=5, random_state=None, n_jobs=None, backend=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.strategy = strategy
        self.combine = combine
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.backend = backend

    def _default_estimator(self):
        from fastreg.estimators import MLPClassifier

        return MLPClassifier()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, *, callbacks=None):
        """Train the members on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels (binary or multiclass).
        sample_weight : array-like of shape (n_samples,), default=None
            Passed on to each member's fit (restricted to its rows). When the estimator
            is a fastreg MLPClassifier with a ``class_weight``, the ensemble computes
            ``class_weight[y_i] * sample_weight_i`` once over all of ``(X, y)`` ('balanced'
            counting every class of y, as a bootstrap sample or fold may lack one) and its
            members train on these weights with ``class_weight=None``; they then also weigh
            'cv''s held-out scores, and 'snapshot' and 'checkpoints' accept 'balanced'.
        callbacks : callable or list of callables, default=None
            Passed on to each member's fit (fastreg's MLPClassifier and MLPRegressor, with
            solver 'sgd' or 'adam'; ValueError otherwise): ``callback(member, record)``
            after every epoch, the record of
            :meth:`MLPClassifier.fit <fastreg.MLPClassifier.fit>` with ``member``, the index
            of the member (for 'cv', of its fold, before the best folds are kept). With
            ``n_jobs``, members train in threads (or on Dask workers) and the callbacks may
            be called from several threads at once: guard any state they share (a
            ``threading.Lock``). A callback that returns True stops that member. 'snapshot'
            and 'checkpoints' train one run: the callbacks see its epochs as member 0,
            without validation figures, and a callback that returns True raises a
            ValueError naming the strategy (its members are taken from every epoch).

        Returns
        -------
        self : EnsembleClassifier
            The fitted ensemble.
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"EnsembleClassifier supports binary and multiclass targets, got {kind!r}."
            )
        self.classes_ = np.unique(y)
        self.n_classes_ = len(self.classes_)
        if self.n_classes_ < 2:
            raise ValueError(f"EnsembleClassifier needs at least 2 classes; "
                             f"y has one class only ({self.classes_[0]}).")
        return self._fit(X, y, sample_weight, callbacks)

    def _validation_rows(self, y, sample):
        """Out-of-bag rows whose class the bootstrap sample contains.

        A member cannot be validated on a class it never saw (the estimator refuses it), so
        the rows of such classes are left out of its early stopping. They still count in
        ``oob_score_``, where the member gives them probability 0.
        """
        out_of_bag = np.setdiff1d(np.arange(y.shape[0]), sample)
        out_of_bag = out_of_bag[np.isin(y[out_of_bag], y[sample])]
        return out_of_bag if out_of_bag.size else None

    # ------------------------------------------------------------------ members' outputs
    def _member_probabilities(self, member, X):
        """The member's probabilities in the columns of the ensemble's ``classes_``."""
        proba = member.predict_proba(X)
        member_classes = np.asarray(member.classes_)
        if len(member_classes) == self.n_classes_:
            return proba
        if proba.shape[1] != len(member_classes):
            # A member whose sample held one class only: it can predict nothing else.
            proba = np.ones((proba.shape[0], 1), dtype=proba.dtype)
        aligned = np.zeros((proba.shape[0], self.n_classes_), dtype=proba.dtype)
        aligned[:, np.searchsorted(self.classes_, member_classes)] = proba
        return aligned

    def _member_outputs(self, X):
        """(n_estimators, n_samples, n_classes): probabilities, or one-hot votes for 'vote'."""
        if self.combine == "vote":
            outputs = np.zeros((len(self.estimators_), X.shape[0], self.n_classes_))
            rows = np.arange(X.shape[0])
            for output, member in zip(outputs, self.estimators_):
                output[rows, np.searchsorted(self.classes_, member.predict(X))] = 1.0
            return outputs
        return np.stack([self._member_probabilities(member, X) for member in self.estimators_])

    def _combined(self, outputs, masks=None):
        """Combine the members' outputs into probabilities; ``masks`` selects members per row."""
        if masks is None:
            masks = np.ones(outputs.shape[:2], dtype=bool)
        weights = masks[:, :, None].astype(outputs.dtype)
        counts = weights.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            if self.combine == "mean_logits":
                tiny = np.finfo(outputs.dtype).tiny
                log_proba = np.log(np.maximum(outputs, tiny))
                logits = (log_proba * weights).sum(axis=0) / counts
                logits -= logits.max(axis=1, keepdims=True)
                proba = np.exp(logits)
                return proba / proba.sum(axis=1, keepdims=True)
            # 'mean_proba' averages probabilities, 'vote' one-hot votes (the shares of votes).
            return (outputs * weights).sum(axis=0) / counts

    def _set_oob_score(self, X, y):
        masks = self._oob_masks(X.shape[0])
        proba = self._combined(self._member_outputs(X), masks)
        covered = masks.any(axis=0)
        if not covered.all():
            warnings.warn(
                f"{int((~covered).sum())} samples were in every bootstrap sample and have no "
                "out-of-bag prediction; oob_score_ leaves them out. Use more estimators.",
                UserWarning,
            )
        self.oob_decision_function_ = proba
        predicted = self.classes_[np.argmax(proba[covered], axis=1)]
        self.oob_score_ = accuracy_score(y[covered], predicted) if covered.any() else np.nan

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X):
        """Combined class probabilities (for ``combine='vote'``: the share of votes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        X = self._validate_X_predict(X)
        return self._combined(self._member_outputs(X))

    def predict_log_proba(self, X):
        """Natural logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Class with the highest combined probability (or most votes; ties: first class).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


class EnsembleRegressor(RegressorMixin, _BaseEnsemble):
    __doc__ = f"""An ensemble of fastreg regressors, trained by one of five strategies.

    A scikit-learn meta-estimator: it clones ``estimator`` into members, trains them (in
    parallel where they are independent) and averages (or takes the median of) their
    predictions. Single- and multi-output targets.

    Parameters
    ----------
    estimator : regressor, default=None
        The fastreg regressor to ensemble; it must have a ``random_state`` parameter.
        None means ``fastreg.MLPRegressor()``.{_REGRESSOR_PARAMETERS_DOC}

    Attributes
    ----------{_ATTRIBUTES_DOC.format(oob_score_doc="R^2")}
    oob_prediction_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        'bagging' only: the combined out-of-bag prediction of every training row (NaN for
        rows without an out-of-bag member).

    See Also
    --------
    EnsembleClassifier : The classification counterpart.
    fastreg.MLPRegressor : The default member.

    Examples
    --------
    >>> import numpy as np
    >>> from fastreg import EnsembleRegressor, MLPRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X[:, 0] - 2 * X[:, 1]
    >>> member = MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, learning_rate_init=0.01)
    >>> ensemble = EnsembleRegressor(member, n_estimators=3, strategy="snapshot",
    ...                              random_state=0).fit(X, y)
    >>> len(ensemble.estimators_), ensemble.predict(X[:2]).shape
    (3, (2,))
    """

    _parameter_constraints: dict = {
        **_BaseEnsemble._parameter_constraints,
        "combine": [StrOptions({"mean", "median"})],
    }

    def __init__(self, estimator=None, *, n_estimators=5, strategy="seeds", combine="mean", cv=5,
                 random_state=None, n_jobs=None, backend=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.strategy = strategy
        self.combine = combine
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.backend = backend

    def _default_estimator(self):
        from fastreg.estimators import MLPRegressor

        return MLPRegressor()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, *, callbacks=None):
        """Train the members on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed on to each member's fit (restricted to its rows).
        callbacks : callable or list of callables, default=None
            Passed on to each member's fit (fastreg's MLPClassifier and MLPRegressor, with
            solver 'sgd' or 'adam'; ValueError otherwise): ``callback(member, record)``
            after every epoch, the record of
            :meth:`MLPClassifier.fit <fastreg.MLPClassifier.fit>` with ``member``, the index
            of the member (for 'cv', of its fold, before the best folds are kept). With
            ``n_jobs``, members train in threads (or on Dask workers) and the callbacks may
            be called from several threads at once: guard any state they share (a
            ``threading.Lock``). A callback that returns True stops that member. 'snapshot'
            and 'checkpoints' train one run: the callbacks see its epochs as member 0,
            without validation figures, and a callback that returns True raises a
            ValueError naming the strategy (its members are taken from every epoch).

        Returns
        -------
        self : EnsembleRegressor
            The fitted ensemble.
        """
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return self._fit(X, y, sample_weight, callbacks)

    def _combined(self, predictions, masks=None):
        """Mean or median over members (axis 0); ``masks`` selects members per row."""
        if masks is None:
            if self.combine == "mean":
                return np.mean(predictions, axis=0)
            return np.median(predictions, axis=0)
        included = masks.reshape(masks.shape + (1,) * (predictions.ndim - 2))
        masked = np.where(included, predictions, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # rows without any member: NaN
            if self.combine == "mean":
                return np.nanmean(masked, axis=0)
            return np.nanmedian(masked, axis=0)

    def _member_predictions(self, X):
        return np.stack([member.predict(X) for member in self.estimators_])

    def _set_oob_score(self, X, y):
        masks = self._oob_masks(X.shape[0])
        prediction = self._combined(self._member_predictions(X), masks)
        covered = masks.any(axis=0)
        if not covered.all():
            warnings.warn(
                f"{int((~covered).sum())} samples were in every bootstrap sample and have no "
                "out-of-bag prediction; oob_score_ leaves them out. Use more estimators.",
                UserWarning,
            )
        self.oob_prediction_ = prediction
        self.oob_score_ = r2_score(y[covered], prediction[covered]) if covered.sum() > 1 else np.nan

    def predict(self, X):
        """Combined prediction of the members.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        X = self._validate_X_predict(X)
        return self._combined(self._member_predictions(X))
