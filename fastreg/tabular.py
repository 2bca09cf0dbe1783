"""Tables in, predictions out: a fastreg estimator together with its preprocessing.

:class:`TabularModel` trains on a pandas DataFrame of named columns, numbers and text
mixed. It one-hot encodes the columns of text (or of a categorical dtype), standardizes
the numeric ones with the training rows' mean and standard deviation, and fits a fastreg
estimator (an MLPClassifier, an MLPRegressor or an ensemble of them) on the result. The
preprocessing is saved with the estimator in fastreg's file format (:func:`fastreg.save`,
:func:`fastreg.load`, no pickle), so a model trained on one table predicts on any other
with the same columns: the ``fastreg train``, ``predict`` and ``evaluate`` commands are
built on it.

This module needs scikit-learn, and pandas for its tables (``pip install
"fastreg-nn[cli]"``).
"""
import inspect
import math
import threading
import warnings

import joblib
import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from fastreg._extras import install_hint
from fastreg._sklearn_private import HasMethods, StrOptions, _fit_context

TASKS = ("classify", "regress")

#: Most distinct values of an integer-valued numeric target that ``task='auto'`` takes
#: for class labels; a target with more is regressed.
MAX_CLASS_VALUES = 20



def _pandas():
    try:
        import pandas
    except ImportError as error:
        raise ImportError(f"fastreg's tables need pandas: {install_hint('cli')}") from error
    return pandas


def _estimator_kinds():
    """(classifiers, regressors) a TabularModel may hold."""
    from fastreg.ensemble import EnsembleClassifier, EnsembleRegressor
    from fastreg.estimators import MLPClassifier, MLPRegressor

    return (MLPClassifier, EnsembleClassifier), (MLPRegressor, EnsembleRegressor)


def _names(values, what):
    """``values`` as a list of text, quoted and shortened for a message."""
    values = list(values)
    shown = ", ".join(repr(str(value)) for value in values[:10])
    return shown + (f" and {len(values) - 10} more" if len(values) > 10 else "") or what


def infer_task(y):
    """Whether a target column holds class labels or values to regress.

    Text, categories and booleans are class labels; so are numbers that are all integers
    and take at most ``MAX_CLASS_VALUES`` (20) distinct values. Any other numbers are
    regressed.

    Parameters
    ----------
    y : pandas.Series or array-like of shape (n_samples,)
        The target, without missing values.

    Returns
    -------
    task : {'classify', 'regress'}
    reason : str
        Why, in a few words (the command line prints it).
    """
    pandas = _pandas()
    y = y if isinstance(y, pandas.Series) else pandas.Series(np.asarray(y))
    kind = y.dtype.kind
    if kind not in "iuf" or isinstance(y.dtype, pandas.CategoricalDtype):
        return "classify", f"its values are {'booleans' if kind == 'b' else 'labels'}"
    values = y.to_numpy(dtype=np.float64)
    n_distinct = len(np.unique(values))
    integers = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if integers and n_distinct <= MAX_CLASS_VALUES:
        return "classify", f"it holds {n_distinct} distinct integer values"
    what = "integer" if integers else "numeric"
    return "regress", f"it holds {n_distinct} distinct {what} values"


class _ProgressLines:
    """The training callback that prints one line per shown epoch of its records.

    ``members``: the fit trains that many independent runs, each counting its epochs from
    1 (an ensemble of seeds, bootstrap samples or folds), whose records carry ``member``;
    ``in_order``: they train one after the other, so a run has ended when the next
    starts. The members of an ensemble may train in threads: a lock keeps the lines whole.
    The last epoch of a run is shown even when the schedule of :func:`_shown` skips it:
    when the next run starts (in order) or in :meth:`close`.
    """

    def __init__(self, out, *, epochs, score_name, members=None, in_order=True):
        self.out = out
        self.epochs = epochs
        self.score_name = score_name
        self.members = members
        self.in_order = in_order
        self.lock = threading.Lock()
        self.unshown = {}  # run (its member index, or None) -> its last line, not shown

    def __call__(self, estimator, record):
        member = record.get("member") if self.members is not None else None
        epoch = record["epoch"]
        text = f"epoch {epoch:>{len(str(self.epochs))}}"
        if member is not None:
            text = f"member {member + 1}/{self.members}  " + text
        text += f"  loss {record['loss']:.5f}"
        if not math.isnan(record["validation_loss"]):
            text += f"  validation loss {record['validation_loss']:.5f}"
        if not math.isnan(record["validation_score"]):
            text += f"  validation {self.score_name} {record['validation_score']:.4f}"
        with self.lock:
            if self.in_order:
                self._show_unshown(but=(member,))
            if _shown(epoch, several=member is not None) or epoch == self.epochs:
                print(text, file=self.out)
                self.unshown.pop(member, None)
            else:
                self.unshown[member] = text

    def _show_unshown(self, but=()):
        """Show the unshown lines of every run but those of ``but``, in member order."""
        for run in sorted((run for run in self.unshown if run not in but),
                          key=lambda run: -1 if run is None else run):
            print(self.unshown.pop(run), file=self.out)

    def close(self):
        """Show the last epoch of every run whose last epoch was not shown."""
        with self.lock:
            self._show_unshown()


def _shown(epoch, several):
    """Whether the progress shows ``epoch``: epochs 1 to 10, then every 10th to 100, every
    100th to 1000 and so on (about ten lines a decade, however long training runs); for
    one of several runs, epochs 1, 10, 100, ... only."""
    step = 10 ** int(math.log10(epoch))
    if several:
        return epoch == step
    return epoch <= 10 or epoch % step == 0


class TabularModel(BaseEstimator):
    """A fastreg estimator with the preprocessing of the table it was trained on.

    Fit it on a pandas DataFrame of features and a target column: it one-hot encodes the
    feature columns of text or of a categorical dtype (one 0/1 column per value seen in
    training), standardizes the numeric columns (bool included) with the training rows'
    mean and standard deviation (a regression target too), and trains the estimator on the
    result. Prediction takes a DataFrame holding at least the same feature columns, by
    name, in any order (other columns are ignored) and returns the original class labels
    or values. Save and load it with :func:`fastreg.save` / :func:`fastreg.load`,
    preprocessing included.

    Parameters
    ----------
    estimator : fastreg estimator or None, default=None
        An unfitted MLPClassifier, MLPRegressor, EnsembleClassifier or EnsembleRegressor,
        cloned by fit. None: ``MLPClassifier()`` or ``MLPRegressor()`` by ``task``, with
        scikit-learn's defaults.
    task : {'auto', 'classify', 'regress'}, default='auto'
        What the target is. 'auto': the estimator's kind when one is given, otherwise
        :func:`infer_task` of the target (labels, or at most 20 distinct integers:
        classify; other numbers: regress).
    categorical : {'onehot', 'refuse'}, default='onehot'
        What to do with feature columns that are not numeric: one-hot encode them, or
        refuse them with a ValueError that names them.
    dtype : {'float64', 'float32'}, default='float64'
        Precision of the encoded features, hence of the estimator's training (fastreg
        trains float32 data in float32).

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator, on the encoded features.
    task_ : {'classify', 'regress'}
        The task it was trained for.
    task_reason_ : str
        Why that task (the estimator's kind, the ``task`` given, or :func:`infer_task`'s
        reason); not saved.
    target_name_ : str
        Name of the target column (of ``y``, "target" when it had none).
    feature_names_in_ : ndarray of str
        The feature columns, in the order of the training table.
    n_features_in_ : int
        Their number.
    numeric_features_ : ndarray of str
        The numeric ones, standardized, in that order.
    categorical_features_ : ndarray of str
        The one-hot encoded ones, in that order.
    categories_ : list of ndarray of str
        The values of each categorical feature seen in training, sorted (values are
        compared as text).
    mean_, scale_ : ndarray of float64 of shape (n_numeric,)
        Each numeric feature's training mean and standard deviation (1 where that is 0).
    target_mean_, target_scale_ : float or None
        Regression: the target's training mean and standard deviation. The estimator
        learns the standardized target, and predictions are scaled back.
    classes_ : ndarray
        The class labels (classification).

    Examples
    --------
    >>> import pandas as pd
    >>> from fastreg import MLPClassifier
    >>> from fastreg.tabular import TabularModel
    >>> table = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0] * 10,
    ...                       "color": ["red", "blue"] * 20,
    ...                       "kind": ["a", "a", "b", "b"] * 10})
    >>> model = TabularModel(MLPClassifier(max_iter=50, random_state=0))
    >>> model = model.fit(table[["size", "color"]], table["kind"])
    >>> list(model.encoded_feature_names_)
    ['size', 'color=blue', 'color=red']
    >>> model.predict(table.head(2)).shape
    (2,)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "task": [StrOptions({"auto", *TASKS})],
        "categorical": [StrOptions({"onehot", "refuse"})],
        "dtype": [StrOptions({"float64", "float32"})],
    }

    def __init__(self, estimator=None, *, task="auto", categorical="onehot", dtype="float64"):
        self.estimator = estimator
        self.task = task
        self.categorical = categorical
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, *, validation_data=None, progress=None):
        """Learn the preprocessing from ``X`` and train the estimator.

        Parameters
        ----------
        X : pandas.DataFrame of shape (n_samples, n_features)
            The feature columns (names are taken as text). No missing values.
        y : pandas.Series or array-like of shape (n_samples,)
            The target; its name, if it has one, is kept as ``target_name_``.
        validation_data : tuple (X_val, y_val), optional
            A validation table of the same columns: an MLP estimator records its loss
            and score every epoch and, with ``early_stopping=True``, stops on it instead
            of holding out part of ``X``. Ensembles take their validation from ``X``.
        progress : text stream, optional
            Where to print training progress, one line per epoch (the loss, and the
            validation loss and score when there is a validation set) for epochs 1 to 10,
            every 10th to 100, every 100th to 1000, ..., and the last (for the members of
            an ensemble: epochs 1, 10, 100, ... and the last), then why training stopped
            early when it did (``stopping_reason_``). The lines come from the estimator's
            ``callbacks`` (members training in threads print whole lines); an estimator
            with solver 'lbfgs' has no epochs to show.

        Returns
        -------
        self : TabularModel

        Raises
        ------
        ValueError
            When ``X`` or ``y`` is empty, has missing or infinite values, a column name
            twice, columns of an unsupported dtype (dates, say), or text columns while
            ``categorical='refuse'`` (each message names the columns); when the target
            does not suit the task.
        TypeError
            When ``X`` is not a DataFrame or the estimator not one of fastreg's.
        """
        pandas = _pandas()
        X = self._frame(X, "X")
        y = self._target(y, X.shape[0], "y")
        classifiers, regressors = _estimator_kinds()
        if self.estimator is not None and not isinstance(self.estimator, classifiers + regressors):
            raise TypeError("estimator must be a fastreg MLPClassifier, MLPRegressor, "
                            f"EnsembleClassifier or EnsembleRegressor, got {self.estimator!r}.")
        self.task_, self.task_reason_ = self._resolve_task(y, classifiers)
        self.target_name_ = str(y.name) if y.name is not None else "target"
        numeric, categorical, unsupported = [], [], []
        for name in X.columns:
            kind = _column_kind(X[name], pandas)
            {"numeric": numeric, "categorical": categorical, None: unsupported}[kind].append(name)
        if unsupported:
            raise ValueError(
                f"The column(s) {_names(unsupported, '')} have a dtype fastreg cannot encode "
                f"({', '.join(sorted({str(X[n].dtype) for n in unsupported}))}); drop them or "
                "convert them to numbers or text."
            )
        if categorical and self.categorical == "refuse":
            raise ValueError(f"The column(s) {_names(categorical, '')} are not numeric "
                             "(categorical='refuse'); drop them or allow one-hot encoding.")
        _refuse_missing(X, "X")
        values = X[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(X), 0))
        _refuse_infinite(values, numeric, "X")
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        self.n_features_in_ = len(X.columns)
        self.numeric_features_ = np.array(numeric, dtype=object)
        self.categorical_features_ = np.array(categorical, dtype=object)
        self.mean_ = values.mean(axis=0) if len(values) else np.zeros(0)
        scale = values.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.categories_ = [np.array(sorted(set(X[name].astype(str))), dtype=object)
                            for name in categorical]
        features = self.transform(X)
        estimator = self.estimator
        if estimator is None:
            estimator = (classifiers if self.task_ == "classify" else regressors)[0]()
        estimator = clone(estimator)
        target = self._target_values(y)
        self.target_mean_ = self.target_scale_ = None
        if self.task_ == "regress":
            scale = float(np.std(target))
            self.target_mean_ = float(np.mean(target))
            self.target_scale_ = scale if scale > 0 else 1.0
            target = (target - self.target_mean_) / self.target_scale_
        fit_kwargs = {}
        if validation_data is not None:
            if not hasattr(estimator, "early_stopping"):
                raise ValueError("validation_data needs an MLPClassifier or MLPRegressor; an "
                                 "ensemble takes its members' validation from X.")
            try:
                X_val, y_val = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (X_val, y_val).") from None
            X_val = self.transform(X_val)
            y_val = self._target_values(self._target(y_val, X_val.shape[0], "y_val"))
            if self.task_ == "regress":
                y_val = (y_val - self.target_mean_) / self.target_scale_
            fit_kwargs["validation_data"] = (X_val, y_val)
        self.estimator_ = estimator
        if progress is None:
            estimator.fit(features, target, **fit_kwargs)
            return self
        self._fit_with_progress(features, target, fit_kwargs, progress)
        return self

    def _fit_with_progress(self, features, target, fit_kwargs, progress):
        estimator = self.estimator_
        ensemble = "estimator" in estimator.get_params(deep=False)
        base = estimator.estimator if ensemble else estimator
        base = base if base is not None else estimator._default_estimator()
        if ensemble and estimator.estimator is None:
            estimator.set_params(estimator=base)
        if (base.solver == "lbfgs"
                or "callbacks" not in inspect.signature(base.fit).parameters):
            estimator.fit(features, target, **fit_kwargs)  # no epochs to show
            return
        independent = ensemble and estimator.strategy in ("seeds", "bagging", "cv")
        members = None
        if independent:
            members = estimator.n_estimators
            if estimator.strategy == "cv" and isinstance(estimator.cv, int):
                members = estimator.cv
        in_order = not independent or (estimator.backend in (None, "sequential")
                                       and joblib.effective_n_jobs(estimator.n_jobs) == 1)
        lines = _ProgressLines(progress, epochs=base.max_iter,
                               score_name="accuracy" if self.task_ == "classify" else "R^2",
                               members=members, in_order=in_order)
        try:
            estimator.fit(features, target, callbacks=lines, **fit_kwargs)
        finally:
            lines.close()
        if not ensemble and estimator.stopping_reason_:
            print(estimator.stopping_reason_, file=progress)

    def _resolve_task(self, y, classifiers):
        if self.estimator is not None:
            task = "classify" if isinstance(self.estimator, classifiers) else "regress"
            if self.task not in ("auto", task):
                raise ValueError(f"task={self.task!r} does not suit the estimator "
                                 f"{type(self.estimator).__name__}.")
            return task, f"the estimator is a {type(self.estimator).__name__}"
        if self.task != "auto":
            return self.task, "as asked"
        return infer_task(y)

    def _target_values(self, y):
        """The target as the estimator takes it: labels, or finite floats."""
        if self.task_ == "classify":
            values = y.to_numpy()
            if values.dtype.kind not in "biuf":
                values = values.astype(str).astype(object)
            return values
        if y.dtype.kind not in "biuf":
            raise ValueError(f"The target {self.target_name_!r} must be numeric for "
                             f"regression, got dtype {y.dtype}.")
        values = y.to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"The target {self.target_name_!r} has infinite values.")
        return values

    @staticmethod
    def _frame(X, what):
        pandas = _pandas()
        if not isinstance(X, pandas.DataFrame):
            raise TypeError(f"{what} must be a pandas DataFrame, got {type(X).__name__}.")
        if X.shape[0] == 0:
            raise ValueError(f"{what} has no rows.")
        if X.shape[1] == 0:
            raise ValueError(f"{what} has no columns.")
        names = [str(name) for name in X.columns]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{what} has the column name(s) {_names(repeated, '')} twice.")
        return X.set_axis(names, axis=1)

    @staticmethod
    def _target(y, n_samples, what):
        pandas = _pandas()
        y = y if isinstance(y, pandas.Series) else pandas.Series(np.asarray(y))
        if y.ndim != 1 or len(y) != n_samples:
            raise ValueError(f"{what} must have one value per row ({n_samples}), "
                             f"got {len(y)}.")
        missing = int(y.isna().sum())
        if missing:
            raise ValueError(f"{what} has {missing} missing value(s).")
        return y.reset_index(drop=True)

    # ------------------------------------------------------------------ preprocessing
    @property
    def encoded_feature_names_(self):
        """The estimator's input columns: each numeric feature, then ``name=value`` for
        each value of each categorical feature."""
        check_is_fitted(self, "estimator_")
        names = list(self.numeric_features_)
        for name, categories in zip(self.categorical_features_, self.categories_):
            names += [f"{name}={value}" for value in categories]
        return np.array(names, dtype=object)

    def transform(self, X):
        """The encoded features of a table: standardized numbers, one-hot categories.

        Parameters
        ----------
        X : pandas.DataFrame
            Holds every column of ``feature_names_in_``, by name; other columns are
            ignored. No missing values.

        Returns
        -------
        ndarray of shape (n_samples, len(encoded_feature_names_)), of ``dtype``
            A value of a categorical feature not seen in training encodes as zeros in
            all of that feature's columns (with a warning that counts them).
        """
        check_is_fitted(self, "mean_")
        X = self._frame(X, "X")
        missing = [name for name in self.feature_names_in_ if name not in X.columns]
        if missing:
            raise ValueError(
                f"The table lacks the column(s) {_names(missing, '')} the model was trained on "
                f"(it has {_names(X.columns, 'none')})."
            )
        X = X[list(self.feature_names_in_)]
        _refuse_missing(X, "X")
        numeric = list(self.numeric_features_)
        wrong = [name for name in numeric if X[name].dtype.kind not in "biuf"]
        if wrong:
            raise ValueError(f"The column(s) {_names(wrong, '')} were numeric in training but "
                             f"are not here (dtype {X[wrong[0]].dtype}).")
        values = X[numeric].to_numpy(dtype=np.float64) if numeric else np.zeros((len(X), 0))
        _refuse_infinite(values, numeric, "X")
        blocks = [(values - self.mean_) / self.scale_]
        for name, categories in zip(self.categorical_features_, self.categories_):
            text = X[name].astype(str).to_numpy(dtype=object)
            position = np.searchsorted(categories, text)
            known = position < len(categories)
            known[known] = categories[position[known]] == text[known]
            block = np.zeros((len(X), len(categories)))
            block[np.flatnonzero(known), position[known]] = 1.0
            if not known.all():
                warnings.warn(f"Column {name!r} has {int((~known).sum())} value(s) not seen in "
                              "training, encoded as zeros in all of its one-hot columns.")
            blocks.append(block)
        return np.ascontiguousarray(np.hstack(blocks), dtype=self.dtype)

    # ------------------------------------------------------------------ prediction
    @property
    def classes_(self):
        """The class labels, in the order of :meth:`predict_proba`'s columns."""
        check_is_fitted(self, "estimator_")
        if self.task_ != "classify":
            raise AttributeError("classes_ exists for classification models only.")
        return self.estimator_.classes_

    def predict(self, X):
        """Predicted class labels or values.

        Parameters
        ----------
        X : pandas.DataFrame
            The feature columns (see :meth:`transform`).

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._predicted(self.transform(X))

    def _predicted(self, features):
        """The estimator's predictions, regressed values back in the target's units."""
        predicted = self.estimator_.predict(features)
        if self.task_ == "regress":
            return np.asarray(predicted, dtype=np.float64) * self.target_scale_ + self.target_mean_
        return predicted

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_`` (classification).

        Parameters
        ----------
        X : pandas.DataFrame
            The feature columns (see :meth:`transform`).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimator_")
        if self.task_ != "classify":
            raise AttributeError("predict_proba exists for classification models only.")
        return self.estimator_.predict_proba(self.transform(X))

    def evaluate(self, X, y):
        """The model's metrics on a table and its true targets.

        Parameters
        ----------
        X : pandas.DataFrame
            The feature columns (see :meth:`transform`).
        y : pandas.Series or array-like of shape (n_samples,)
            The true class labels or values.

        Returns
        -------
        dict
            Classification: ``accuracy``, ``balanced_accuracy`` and ``log_loss`` (None
            when ``y`` holds labels the model does not know). Regression: ``r2`` (None for
            a single row), ``mae`` and ``rmse``.
        """
        from sklearn import metrics

        check_is_fitted(self, "estimator_")
        X = self._frame(X, "X")
        y = self._target_values(self._target(y, X.shape[0], "y"))
        features = self.transform(X)
        if self.task_ == "regress":
            predicted = self._predicted(features)
            return {"r2": float(metrics.r2_score(y, predicted)) if len(y) > 1 else None,
                    "mae": float(metrics.mean_absolute_error(y, predicted)),
                    "rmse": float(np.sqrt(metrics.mean_squared_error(y, predicted)))}
        if self.estimator_.classes_.dtype.kind in "OU":
            y = y.astype(str).astype(object)
        predicted = self.estimator_.predict(features)
        proba = np.asarray(self.estimator_.predict_proba(features), dtype=np.float64)
        proba /= proba.sum(axis=1, keepdims=True)  # float32 rows sum to 1 within 1e-7 only
        known = bool(np.isin(y, self.estimator_.classes_).all())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # classes absent from y: well defined here
            balanced = metrics.balanced_accuracy_score(y, predicted)
        log_loss = (float(metrics.log_loss(y, proba, labels=self.estimator_.classes_))
                    if known else None)
        return {"accuracy": float(metrics.accuracy_score(y, predicted)),
                "balanced_accuracy": float(balanced), "log_loss": log_loss}

    # ------------------------------------------------------------------ saving
    def save(self, path):
        """Write the model, preprocessing included, to ``path`` in fastreg's own format.

        Read it back with :func:`fastreg.load`.

        Parameters
        ----------
        path : str or path-like
        """
        from fastreg.io import save

        save(self, path)

    _STATE = ("estimator_", "task_", "target_name_", "feature_names_in_", "numeric_features_",
              "categorical_features_", "categories_", "mean_", "scale_", "target_mean_",
              "target_scale_")

    def _save_state(self):
        """``(params, state)`` for :mod:`fastreg.io`: the parameters and, once fitted, the
        preprocessing and the fitted estimator."""
        params = self.get_params(deep=False)
        if "estimator_" not in self.__dict__:
            return params, None
        return params, {name: getattr(self, name) for name in self._STATE}

    @classmethod
    def _load_state(cls, params, state):
        """The model :meth:`_save_state` described, every part of its preprocessing checked
        against the others and against the estimator's inputs."""
        from fastreg import _state as check

        model = check.new_estimator(cls, params)
        classifiers, regressors = _estimator_kinds()
        check.instance(model.estimator, classifiers + regressors, "estimator", none=True)
        if state is None:
            return model
        check.keys(state, cls._STATE, "the fitted attributes of TabularModel")
        task = check.text(state["task_"], "task_", TASKS)
        check.text(state["target_name_"], "target_name_")
        features = _text_array(state["feature_names_in_"], "feature_names_in_", distinct=True)
        numeric = _text_array(state["numeric_features_"], "numeric_features_", distinct=True)
        categorical = _text_array(state["categorical_features_"], "categorical_features_",
                                  distinct=True)
        if (len(features) == 0 or len(numeric) + len(categorical) != len(features)
                or set(numeric) | set(categorical) != set(features)):
            raise check.InvalidState("numeric_features_ and categorical_features_ must divide "
                                     "feature_names_in_ (at least one feature) between them.")
        for name in ("mean_", "scale_"):
            check.array(state[name], name, shape=(len(numeric),), dtype=np.float64, finite=True)
        if not np.all(state["scale_"] > 0):
            raise check.InvalidState("scale_ must be positive.")
        regress = task == "regress"
        for name in ("target_mean_", "target_scale_"):
            value = check.real(state[name], name, none=not regress)
            if value is not None and (not regress or not math.isfinite(value)):
                raise check.InvalidState(f"{name} must be a finite number for regression, "
                                         "None for classification.")
        if regress and not state["target_scale_"] > 0:
            raise check.InvalidState("target_scale_ must be positive.")
        categories = state["categories_"]
        if not isinstance(categories, list) or len(categories) != len(categorical):
            raise check.InvalidState("categories_ must be a list of one array per categorical "
                                     "feature.")
        for i, values in enumerate(categories):
            values = _text_array(values, f"categories_[{i}]", distinct=True)
            if len(values) == 0 or list(values) != sorted(values):
                raise check.InvalidState(f"categories_[{i}] must be distinct values in "
                                         "increasing order, at least one.")
        kind = "classifier" if task == "classify" else "regressor"
        estimator = check.instance(state["estimator_"],
                                   classifiers if task == "classify" else regressors,
                                   f"estimator_ (a fastreg {kind})")
        n_encoded = len(numeric) + sum(len(values) for values in categories)
        if getattr(estimator, "n_features_in_", None) != n_encoded:
            raise check.InvalidState(
                f"estimator_ must be fitted to the {n_encoded} encoded features.")
        if getattr(estimator, "n_outputs_", 1) != 1 and task == "regress":
            raise check.InvalidState("estimator_ must have one output.")
        model.__dict__.update(state)
        model.n_features_in_ = len(features)
        model.task_reason_ = "as saved"
        return model


def _text_array(value, what, *, distinct=False):
    """A 1-D array of str (an object array, as fastreg.io reads strings)."""
    from fastreg import _state as check

    check.array(value, what, dtype=object)
    if value.ndim != 1 or not all(isinstance(item, str) for item in value):
        raise check.InvalidState(f"{what} must be a vector of text.")
    if distinct and len(set(value)) != len(value):
        raise check.InvalidState(f"{what} holds a name twice.")
    return value


def _column_kind(column, pandas):
    """'numeric', 'categorical' or None (a dtype fastreg does not encode)."""
    if isinstance(column.dtype, pandas.CategoricalDtype):
        return "categorical"
    kind = column.dtype.kind
    if kind in "biuf":
        return "numeric"
    if kind in "OUS" or pandas.api.types.is_string_dtype(column.dtype):
        return "categorical"
    return None


def _refuse_missing(X, what):
    counts = X.isna().sum()
    counts = counts[counts > 0]
    if len(counts):
        rows = int(X.isna().any(axis=1).sum())
        listed = ", ".join(f"{name!r} ({count})" for name, count in counts.items())
        raise ValueError(f"{what} has missing values in {rows} row(s), in the column(s) "
                         f"{listed}; drop or fill those rows.")


def _refuse_infinite(values, names, what):
    infinite = ~np.isfinite(values)
    if infinite.any():
        columns = [names[j] for j in np.flatnonzero(infinite.any(axis=0))]
        raise ValueError(f"{what} has infinite values in the column(s) {_names(columns, '')}.")
