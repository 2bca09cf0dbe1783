"""scikit-learn estimators on fastreg's engine: MLPClassifier and MLPRegressor.

Drop-in replacements for ``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``:
the same constructor parameters, defaults, fitted attributes and methods, and with
fastreg's extras off the same model. The weights are drawn with the same ``RandomState``
calls as scikit-learn's, the samples visit the same shuffled order and the validation split
is the same, so a given ``random_state`` gives scikit-learn's weights up to rounding.

The extras (dropout, input dropout, L1, decoupled weight decay, max-norm, label smoothing,
input noise) are off by default. They apply to the stochastic solvers ('sgd', 'adam');
'lbfgs' takes ``alpha`` and ``label_smoothing`` only.

This module needs scikit-learn (``pip install scikit-learn``, or the extra
``pip install "fastreg-nn[sklearn]"``).
"""
import copy
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted

from fastreg._init import glorot_uniform
from fastreg._sklearn_private import (
    LOSS_FUNCTIONS,
    Interval,
    Options,
    StrOptions,
    _check_optimize_result,
    _check_partial_fit_first_call,
    _check_sample_weight,
    _fit_context,
    _get_additional_lbfgs_options_dict,
)
from fastreg._validation import check_nonnegative_float, check_positive_finite, finite_as
from fastreg._validation import sklearn_validate_data as validate_data
from fastreg.averaging import EMA, SWA
from fastreg.early_stopping import BestWeights, StoppingCriterion
from fastreg.io import save
from fastreg.layers import Dense
from fastreg.network import DivergenceError, Network, _checked_callbacks
from fastreg.optimizers import SGD, Adam
from fastreg.regularizers import L1, L2, MaxNorm, WeightDecay

STOCHASTIC_SOLVERS = ("sgd", "adam")

#: Network loss of each output activation (classification) or regression loss.
NETWORK_LOSSES = {
    "softmax": "softmax_cross_entropy",
    "logistic": "logistic_cross_entropy",
    "squared_error": "squared_error",
    "poisson": "poisson",
}

#: Parameters the stochastic solvers take and 'lbfgs' does not.
STOCHASTIC_ONLY_EXTRAS = (
    "dropout", "input_dropout", "input_noise", "l1", "weight_decay", "max_norm", "averaging",
)

#: Smallest 'adaptive' learning rate: below it, training stops (as in scikit-learn).
MIN_ADAPTIVE_LEARNING_RATE = 1e-6

#: scikit-learn's error for a fit that produced non-finite weights, word for word.
NON_FINITE_WEIGHTS = (
    "Solver produced non-finite parameter weights. The input data may contain large values "
    "and need to be preprocessed."
)


def _is_plain_dense(X, n_features):
    """True for a 2-D float ndarray with n_features columns: no conversion needed."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.shape[1] == n_features
        and (X.dtype == np.float64 or X.dtype == np.float32)
    )


def _class_weighted(class_weight, classes, class_index, sample_weight, dtype):
    """Each sample's weight ``class_weight[y_i] * sample_weight_i``, as ``dtype``.

    Parameters
    ----------
    class_weight : 'balanced' or dict
        'balanced': class k weighs ``total / (n_classes * total_k)``, the totals summing
        the sample weights (the sample counts without them), as scikit-learn's
        LogisticRegression counts them. A dict maps class labels to non-negative weights;
        classes it leaves out weigh 1.
    classes : ndarray of shape (n_classes,)
        The class labels, the dict's keys among them.
    class_index : ndarray of shape (n_samples,)
        Each sample's position in ``classes``.
    sample_weight : ndarray of shape (n_samples,) of float64, or None
    dtype : numpy dtype
        Of the result, rounded from the float64 product (so that the product of
        ``class_weight`` gives the same bits as passing ``w[y] * sample_weight`` yourself).

    Returns
    -------
    weights : ndarray of shape (n_samples,)
    """
    weights = np.ones(len(classes))
    if isinstance(class_weight, str):  # 'balanced' (the parameter checks name it)
        totals = np.bincount(class_index, weights=sample_weight, minlength=len(classes))
        np.divide(totals.sum(), len(classes) * totals, out=weights, where=totals > 0)
    else:
        position = {label: i for i, label in enumerate(np.asarray(classes).tolist())}
        unknown = [key for key in class_weight if key not in position]
        if unknown:
            raise ValueError(f"class_weight has keys that are not classes: {unknown}; the "
                             f"classes are {np.asarray(classes).tolist()}.")
        for key, value in class_weight.items():
            weights[position[key]] = check_nonnegative_float(value, f"class_weight[{key!r}]")
    effective = weights[class_index]
    if sample_weight is not None:
        effective *= sample_weight
    if not effective.sum() > 0:
        raise ValueError("class_weight (times sample_weight) gives every sample the weight 0.")
    return effective.astype(dtype)


class _BaseMLP(BaseEstimator):
    """Shared training and prediction of MLPClassifier and MLPRegressor."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu"})],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "input_dropout": [Interval(Real, 0, 1, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_norm": [None, Interval(Real, 0, None, closed="neither")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "averaging": [None, StrOptions({"ema", "swa"})],
        "averaging_decay": [Interval(Real, 0, 1, closed="left")],
        "swa_start": [Interval(Integral, 0, None, closed="left")],
        "n_threads": [None, Interval(Integral, 1, None, closed="left"), Options(Integral, {-1})],
        "stopping_criterion": [None, StoppingCriterion],
    }

    # ------------------------------------------------------------------ configuration
    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for size in sizes:
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, (Integral, np.integer)):
                raise ValueError(
                    f"hidden_layer_sizes must hold integers, got {self.hidden_layer_sizes!r}."
                )
            if size <= 0:
                raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(size) for size in sizes]

    def _hidden_dropouts(self, n_hidden):
        """One drop probability per hidden layer, from a float or a sequence."""
        if isinstance(self.dropout, Real) and not isinstance(self.dropout, bool):
            return [float(self.dropout)] * n_hidden
        dropouts = list(np.ravel(np.asarray(self.dropout, dtype=object)))
        if len(dropouts) != n_hidden:
            raise ValueError(
                f"dropout must be one float or one per hidden layer ({n_hidden}), "
                f"got {self.dropout!r}."
            )
        for p in dropouts:
            if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p < 1:
                raise ValueError(
                    f"dropout probabilities must be floats in [0, 1), got {self.dropout!r}."
                )
        return [float(p) for p in dropouts]

    def _uses_random_extras(self, dropouts):
        return any(p > 0 for p in dropouts) or self.input_dropout > 0 or self.input_noise > 0

    def _check_solver_extras(self, dropouts):
        if self.solver != "lbfgs":
            return
        used = [name for name in STOCHASTIC_ONLY_EXTRAS
                if name != "dropout" and getattr(self, name)]
        if any(p > 0 for p in dropouts):
            used.insert(0, "dropout")
        if used:
            raise ValueError(
                f"solver='lbfgs' does not support {', '.join(used)}: these act at every "
                "minibatch step. Use solver='sgd' or 'adam', or leave them off."
            )

    def _network_key(self, dropouts):
        """The settings a Network is built from: a new key needs a new Network."""
        return (
            self.activation, self.solver, tuple(dropouts), float(self.alpha), float(self.l1),
            float(self.weight_decay), self.max_norm, float(self.input_dropout),
            float(self.input_noise), float(self._label_smoothing()), self.out_activation_,
            float(self.momentum), bool(self.nesterovs_momentum), float(self.beta_1),
            float(self.beta_2), float(self.epsilon), self.averaging, float(self.averaging_decay),
            int(self.swa_start),
        )

    def _label_smoothing(self):
        return 0.0

    def _averaging(self):
        if self.averaging == "ema":
            return EMA(float(self.averaging_decay))
        if self.averaging == "swa":
            return SWA(int(self.swa_start))
        return None

    def _build_network(self, hidden, dropouts, dtype, seed):
        layers = [Dense(units, self.activation, dropout=p) for units, p in zip(hidden, dropouts)]
        layers.append(Dense(self.n_outputs_))
        if self.solver == "adam":
            optimizer = Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)
        else:  # 'sgd'; 'lbfgs' only evaluates losses and gradients
            momentum = self.momentum if self.solver == "sgd" else 0.0
            nesterov = bool(self.nesterovs_momentum and momentum > 0)
            optimizer = SGD(self.learning_rate_init, momentum, nesterov)
        regularizers = [L2(self.alpha)] if self.alpha > 0 else []
        if self.l1 > 0:
            regularizers.append(L1(self.l1))
        if self.weight_decay > 0:
            regularizers.append(WeightDecay(self.weight_decay))
        if self.max_norm is not None:
            regularizers.append(MaxNorm(self.max_norm))
        return Network(
            layers,
            loss=NETWORK_LOSSES[self.out_activation_ if is_classifier(self) else self.loss],
            optimizer=optimizer,
            regularizers=regularizers,
            input_dropout=self.input_dropout,
            input_noise=self.input_noise,
            averaging=self._averaging(),
            label_smoothing=self._label_smoothing(),
            n_threads=self.n_threads,
            dtype=dtype,
            random_state=seed,
        )

    # ------------------------------------------------------------------ weights
    def _initialize(self, Y, layer_units, dtype):
        """Fresh model: attributes, and weights drawn exactly as scikit-learn draws them."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            # Glorot uniform; sqrt(2/...) for logistic hidden units (scikit-learn's choice).
            factor = 2.0 if self.activation == "logistic" else 6.0
            weights, biases = glorot_uniform(
                self._random_state, (fan_in, fan_out), fan_in, fan_out, factor, dtype)
            coefs.append(weights)
            intercepts.append(biases)
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._best_coefs = [c.copy() for c in coefs]
        self._best_intercepts = [b.copy() for b in intercepts]
        if self.solver in STOCHASTIC_SOLVERS:
            self._reset_stochastic_records()
        self.__dict__.pop("_network", None)

    def _reset_stochastic_records(self):
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
            self.best_validation_score_ = None

    def _prepared_network(self, hidden, dropouts, dtype):
        """The Network to train, rebuilt when a training setting changed; holds coefs_."""
        key = self._network_key(dropouts)
        network = self.__dict__.get("_network")
        if network is not None and self._network_built_from == key:
            self._sync_network_weights()
            network.n_threads = self.n_threads
            return network
        expected = [self.n_features_in_] + hidden + [self.n_outputs_]
        shapes = [c.shape for c in self.coefs_]
        if shapes != list(zip(expected[:-1], expected[1:])):
            raise ValueError(
                f"The weights have shapes {shapes}, which do not match hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r}; fit with warm_start=False to start afresh."
            )
        if network is not None:
            dtype = network.dtype
        seed = (self._random_state.randint(np.iinfo(np.int32).max)
                if self._uses_random_extras(dropouts) else 0)
        network = self._build_network(hidden, dropouts, dtype, seed)
        network.initialize(self.n_features_in_)
        network.set_weights(self.coefs_, self.intercepts_)
        self.coefs_, self.intercepts_ = network.coefs_, network.intercepts_
        self._network = network
        self._network_built_from = key
        self.__dict__.pop("_learning_rate_now", None)  # a new network has a new optimizer
        return network

    def _sync_network_weights(self):
        """Copy into the network weights the user assigned to coefs_ / intercepts_ (lists
        or their items), checked by its set_weights."""
        network = self._network
        coefs, intercepts = self.coefs_, self.intercepts_
        if (coefs is network.coefs_ and intercepts is network.intercepts_
                and network._public_arrays_unchanged()):
            return
        if not isinstance(coefs, (list, tuple)) or not isinstance(intercepts, (list, tuple)):
            raise ValueError("coefs_ and intercepts_ must be lists of arrays.")
        network.set_weights(list(coefs), list(intercepts))
        self.coefs_, self.intercepts_ = network.coefs_, network.intercepts_

    # ------------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False, validation_data=None,
             epoch_learning_rate=None, callbacks=None):
        callbacks = _checked_callbacks(callbacks, "callbacks")
        if callbacks and self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(f"callbacks need solver='sgd' or 'adam': solver={self.solver!r} "
                             "has no epochs to report.")
        if epoch_learning_rate is not None:
            epoch_learning_rate = check_positive_finite(epoch_learning_rate, "epoch_learning_rate")
        hidden = self._hidden_layer_sizes()
        dropouts = self._hidden_dropouts(len(hidden))
        self._check_solver_extras(dropouts)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        sample_weight = self._checked_sample_weight(sample_weight, X, Y, incremental)
        self.n_outputs_ = Y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, X.dtype)
        network = self._prepared_network(hidden, dropouts, X.dtype)
        X = X.astype(network.dtype, copy=False)
        Y = Y.astype(network.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(network.dtype, copy=False)
        if self.solver in STOCHASTIC_SOLVERS:
            self._fit_stochastic(network, X, Y, sample_weight, incremental, validation_data,
                                 epoch_learning_rate, callbacks)
        else:
            if validation_data is not None:
                raise ValueError("validation_data needs solver='sgd' or 'adam'.")
            self._fit_lbfgs(network, X, Y, sample_weight)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError(NON_FINITE_WEIGHTS)
        return self

    def _checked_sample_weight(self, sample_weight, X, Y, incremental):
        """The weights each sample's loss takes, in X's dtype, or None."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=X.dtype)

    def _loss_for_sklearn(self, data_loss, penalty):
        """scikit-learn's loss_: its squared error is a mean over outputs, fastreg's a sum."""
        if self.out_activation_ == "identity":
            data_loss /= self.n_outputs_
        return data_loss + penalty

    def _fit_lbfgs(self, network, X, Y, sample_weight):
        if scipy.sparse.issparse(X):
            # The engine takes one dense batch per loss evaluation: densify once.
            X = X.toarray()
        arrays = network.coefs_ + network.intercepts_
        bounds = np.cumsum([0] + [a.size for a in arrays])
        weight_sum = (X.shape[0] if sample_weight is None
                      else float(np.sum(sample_weight, dtype=np.float64)))

        def unpack(packed):
            for array, start, stop in zip(arrays, bounds[:-1], bounds[1:]):
                array.reshape(-1)[:] = packed[start:stop]

        # scikit-learn's cross-entropy clips probabilities to [eps, 1 - eps], which bounds
        # the loss where the line search tries long steps; the engine's exact loss is not
        # bounded. Evaluating scikit-learn's loss function on the outputs keeps the line
        # search, and so the model, the same (the gradients are the same either way).
        clipped_loss = (self.out_activation_ in ("softmax", "logistic")
                        and self._label_smoothing() == 0)

        def loss_and_gradient(packed):
            if not np.isfinite(packed).all():
                # A step to non-finite weights: refuse it (the line search steps back)
                # rather than write them into the network.
                return np.inf, np.zeros_like(packed)
            unpack(packed)
            loss, grad_coefs, grad_intercepts = network.loss_gradient(X, Y,
                                                                      sample_weight=sample_weight)
            squares = sum(float(np.dot(c.ravel(), c.ravel())) for c in network.coefs_)
            penalty = 0.5 * self.alpha * squares / weight_sum
            if clipped_loss:
                loss_function = LOSS_FUNCTIONS[self._loss_function_name()]
                data_loss = loss_function(Y, network.predict(X), sample_weight)
            else:
                data_loss = self._loss_for_sklearn(loss - penalty, 0.0)
            gradient = np.concatenate([g.ravel() for g in grad_coefs + grad_intercepts])
            gradient = gradient.astype(np.float64)
            return data_loss + penalty, gradient

        iprint = 1 if self.verbose is True or self.verbose >= 1 else -1
        start = np.concatenate([a.ravel() for a in arrays]).astype(np.float64)
        result = scipy.optimize.minimize(
            loss_and_gradient,
            start,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
                **_get_additional_lbfgs_options_dict("iprint", iprint),
            },
        )
        self.n_iter_ = _check_optimize_result("lbfgs", result, self.max_iter)
        self.loss_ = result.fun
        if not np.isfinite(result.x).all():
            unpack(start)  # never leave the model with non-finite weights
            raise ValueError(f"{NON_FINITE_WEIGHTS} L-BFGS ended at non-finite weights; the "
                             "model keeps the weights it started from.")
        unpack(result.x)

    def _validation_split(self, X, Y, sample_weight, validation_data):
        """(X_train, Y_train, w_train, validation) with validation as (X, Y, labels, w) or None."""
        if validation_data is not None:
            X_val, y_val = self._validate_validation_data(validation_data)
            X_val = X_val.astype(self._network.dtype, copy=False)
            Y_val, y_val = self._validation_targets(y_val)
            return X, Y, sample_weight, (X_val, Y_val, y_val, None)
        if not self.early_stopping:
            return X, Y, sample_weight, None
        # Stratify only single-output classification, on the binarized targets as booleans,
        # as scikit-learn does: the same split, and its error names the same classes.
        stratify = Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        w_train, w_val = parts[4:] if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        return X_train, Y_train, w_train, (X_val, Y_val, self._labels_of(Y_val), w_val)

    def _validate_validation_data(self, validation_data):
        try:
            X_val, y_val = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (X_val, y_val).") from None
        X_val = validate_data(
            self, X_val, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32), reset=False
        )
        y_val = np.asarray(y_val)
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(
                f"validation_data: X_val has {X_val.shape[0]} samples "
                f"but y_val has {y_val.shape[0]}."
            )
        return X_val, y_val

    def _fit_stochastic(self, network, X, Y, sample_weight, incremental, validation_data,
                        epoch_learning_rate=None, callbacks=()):
        if not hasattr(self, "loss_curve_"):  # the previous fit used 'lbfgs'
            self._reset_stochastic_records()
        if not incremental or not hasattr(self, "_learning_rate_now"):
            network.reset_optimizer()
            self._learning_rate_now = float(self.learning_rate_init)
        if epoch_learning_rate is not None and self.solver == "sgd":
            self._learning_rate_now = epoch_learning_rate  # the running rate continues from it
        adam_rate = self.learning_rate_init if epoch_learning_rate is None else epoch_learning_rate
        if not incremental and network.averaging is not None:
            network.reset_average()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        X_train, Y_train, w_train, validation = self._validation_split(X, Y, sample_weight,
                                                                       validation_data)
        if validation is not None and self.validation_scores_ is None:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
        stop_on_validation = ((self.early_stopping or self.stopping_criterion is not None)
                              and validation is not None)
        criterion = None
        self.stopping_reason_ = None
        if self.stopping_criterion is not None and validation is None and not incremental:
            raise ValueError(
                "stopping_criterion needs a validation set: set early_stopping=True or pass "
                "validation_data=(X_val, y_val) to fit."
            )
        if self.stopping_criterion is not None and stop_on_validation:
            criterion = copy.deepcopy(self.stopping_criterion)
            criterion.reset()
        best = self._best_weights_tracker(criterion) if stop_on_validation else None
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            batch_size = min(self.batch_size, n_samples)
        sample_order = np.arange(n_samples)
        self.n_iter_ = 0
        diverged = None
        try:
            with network.training_session(X_train, Y_train, batch_size=batch_size,
                                          sample_weight=w_train) as session:
                for _ in range(self.max_iter):
                    start = time.perf_counter()
                    if self.shuffle:
                        # sklearn.utils.shuffle's own draw, without its input checks (12% of
                        # a small fit): a shuffled arange indexes the previous order.
                        permutation = np.arange(n_samples)
                        self._random_state.shuffle(permutation)
                        sample_order = sample_order[permutation]
                    learning_rate = self._learning_rate_now if self.solver == "sgd" else adam_rate
                    try:
                        if self.n_iter_ == 0:
                            record = session.run_epoch(
                                learning_rate=learning_rate, shuffle=False,
                                order=sample_order if self.shuffle else None
                            )
                        else:
                            # The same session, and a rate and order of the kind run_epoch
                            # checked in epoch one: its checks again would cost ~90 us an
                            # epoch, ~4% of a digits fit (see TrainingSession._train_epoch).
                            record = session._train_epoch(
                                float(learning_rate), False, sample_order if self.shuffle else None
                            )
                    except DivergenceError as error:
                        # The network is back at this epoch's start weights (finite).
                        diverged = error
                        self._record_divergence(error, n_samples, validation is not None, start)
                        # Training ends here whatever the callbacks answer.
                        self._callbacks_stop(callbacks, start, validation is not None)
                        break
                    self.n_iter_ += 1
                    self.t_ += n_samples
                    self.loss_ = self._loss_for_sklearn(record["data_loss"], record["penalty"])
                    self.loss_curve_.append(self.loss_)
                    if validation is not None:
                        self._record_validation(*validation)
                    if self.verbose:
                        self._print_epoch(time.perf_counter() - start, validation is not None)
                    self._update_no_improvement_count(stop_on_validation)
                    if best is not None:
                        monitored = (self.validation_loss_curve_ if criterion is not None
                                     else self.validation_scores_)
                        best.update(monitored[-1], self.coefs_, self.intercepts_, self.n_iter_)
                    if self.solver == "sgd" and self.learning_rate == "invscaling":
                        self._learning_rate_now = (self.learning_rate_init
                                                   / (self.t_ + 1) ** self.power_t)
                    if self._callbacks_stop(callbacks, start, validation is not None):
                        self.stopping_reason_ = (f"A callback stopped training after epoch "
                                                 f"{self.n_iter_}.")
                        break
                    if criterion is not None:
                        if self._criterion_stops(criterion):
                            break
                    elif (self._no_improvement_count > self.n_iter_no_change
                          and self._should_stop(stop_on_validation)):
                        break
                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        warnings.warn(
                            f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                            "reached and "
                            "the optimization hasn't converged yet.",
                            ConvergenceWarning,
                        )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if diverged is not None:
            self._end_diverged_fit(diverged, best, criterion)
        elif network.averaging is not None and not incremental:
            network.use_averaged_weights()
        elif best is not None:
            best.restore(network)

    def _callbacks_stop(self, callbacks, start, validated):
        """Call every callback with the last epoch's record; True when one says stop."""
        if not callbacks:
            return False
        record = {
            "epoch": self.n_iter_,
            "loss": self.loss_,
            "validation_score": self.validation_scores_[-1] if validated else math.nan,
            "validation_loss": self.validation_loss_curve_[-1] if validated else math.nan,
            "epoch_time": time.perf_counter() - start,
        }
        # Every callback sees every epoch (no short-circuit), each its own copy.
        return any([bool(callback(self, dict(record))) for callback in callbacks])

    def _best_weights_tracker(self, criterion):
        """The weights that early stopping keeps, as a BestWeights, also kept in
        ``_best_coefs`` / ``_best_intercepts`` (in place) for warm starts and saving.

        Without a criterion, scikit-learn's rule: the weights of the highest validation
        score, which must beat ``best_validation_score_`` of the earlier fits (warm start)
        and replace their best weights (the initial ones at first). With a criterion, the
        weights of this fit's lowest validation loss, starting from the weights it starts
        from.
        """
        if criterion is None:
            best = BestWeights("max").keep(self.best_validation_score_, self._best_coefs,
                                           self._best_intercepts)
        else:
            best = BestWeights("min").keep(math.inf, self.coefs_, self.intercepts_)
        self._best_coefs, self._best_intercepts = best.coefs_, best.intercepts_
        return best

    def _record_divergence(self, error, n_samples, validated, start):
        """The diverging epoch in the records, as scikit-learn records it (it trains on)."""
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = self._loss_for_sklearn(error.record["data_loss"], error.record["penalty"])
        self.loss_curve_.append(self.loss_)
        if validated:  # scikit-learn's score (and loss) of non-finite predictions
            self.validation_scores_.append(np.nan)
            self.validation_loss_curve_.append(np.nan)
        if self.verbose:
            self._print_epoch(time.perf_counter() - start, validated)

    def _end_diverged_fit(self, error, best, criterion):
        """After a diverging epoch: with early stopping, keep the best weights and warn (as
        scikit-learn finishes such a fit); without, raise scikit-learn's ValueError. The
        model has finite weights either way."""
        advice = "Lower learning_rate_init or scale the inputs (e.g. with StandardScaler)."
        if best is None:
            raise ValueError(
                f"{NON_FINITE_WEIGHTS} Training diverged at epoch {self.n_iter_} (loss "
                f"{self.loss_}); the model keeps the weights it had at the start of that epoch, "
                f"the last finite ones. {advice}"
            ) from error
        best.restore(self._network)
        what = "validation loss" if criterion is not None else "validation score"
        when = f"epoch {best.best_epoch_}" if best.best_epoch_ else "before this fit's first epoch"
        self.stopping_reason_ = (
            f"Training diverged at epoch {self.n_iter_} (loss {self.loss_}); the model keeps "
            f"the weights of the best {what} ({best.best_value_:.6g}, at {when}). {advice}"
        )
        if self.verbose:
            print(self.stopping_reason_)
        warnings.warn(self.stopping_reason_, ConvergenceWarning)

    def _criterion_stops(self, criterion):
        """Prechelt stopping: ask the criterion about the last validation loss."""
        validation_loss = self.validation_loss_curve_[-1]
        if math.isnan(validation_loss):  # non-finite predictions: the worst possible loss
            validation_loss = math.inf
        if criterion.update(self.loss_, validation_loss):
            self.stopping_reason_ = criterion.reason_
            if self.verbose:
                print(criterion.reason_)
            return True
        return False

    def _record_validation(self, X_val, Y_val, y_val, w_val):
        output = self._network.predict(X_val)
        if np.all(np.isfinite(output)):
            score = self._score_function(y_val, self._prediction_of(output), sample_weight=w_val)
            loss = LOSS_FUNCTIONS[self._loss_function_name()](Y_val, output, w_val)
        else:
            score = loss = np.nan
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(float(loss))
        if not self.early_stopping and score > self.best_validation_score_:
            # Monitoring only: the best weights are kept by early stopping alone.
            self.best_validation_score_ = score

    def _loss_function_name(self):
        if self.out_activation_ == "logistic":
            return "binary_log_loss"
        if self.out_activation_ == "softmax":
            return "log_loss"
        return self.loss

    def _print_epoch(self, seconds, validated):
        """scikit-learn's lines, as it prints them; fastreg's own figures at verbose >= 2."""
        print(f"Iteration {self.n_iter_:d}, loss = {self.loss_:.8f}")
        if validated:
            print(f"Validation score: {self.validation_scores_[-1]:f}")
        if self.verbose >= 2:
            line = f"Epoch time = {seconds:.4f}s"
            if validated:
                line += f", validation loss = {self.validation_loss_curve_[-1]:.8f}"
            print(line)

    def _update_no_improvement_count(self, stop_on_validation):
        if stop_on_validation:
            score = self.validation_scores_[-1]
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score  # the weights: _fit_stochastic's tracker
        else:
            if self.best_loss_ is None:  # early stopping was on in the previous fit
                self.best_loss_ = np.inf
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _should_stop(self, stop_on_validation):
        """No improvement for n_iter_no_change epochs: stop, or lower an adaptive rate."""
        what = "Validation score" if stop_on_validation else "Training loss"
        message = (f"{what} did not improve more than tol={self.tol:f} "
                   f"for {self.n_iter_no_change} consecutive epochs.")
        reason = None
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            reason = message + " Stopping."
        elif self._learning_rate_now <= MIN_ADAPTIVE_LEARNING_RATE:
            reason = message + " Learning rate too small. Stopping."
        if reason is not None:
            self.stopping_reason_ = reason
            if self.verbose:
                print(reason)
            return True
        self._learning_rate_now /= 5.0
        self._no_improvement_count = 0
        if self.verbose:
            print(message + f" Setting learning rate to {self._learning_rate_now:f}")
        return False

    # ------------------------------------------------------------------ prediction
    def save(self, path):
        """Write the estimator to ``path`` in fastreg's own format (no pickle).

        Read it back with :func:`fastreg.load`; see :mod:`fastreg.io`.

        Parameters
        ----------
        path : str or path-like
        """
        save(self, path)

    def _save_state(self):
        """``(params, state)`` for :mod:`fastreg.io`: the parameters and, once fitted,
        every attribute fitting set (the network, with its optimizer state, among them);
        :meth:`_load_state` takes them back. An estimator whose first fit failed is
        saved unfitted."""
        from fastreg import _state

        if "_network" in self.__dict__:
            self._sync_network_weights()
        excluded = ("_random_state", "coefs_", "intercepts_", "classes_", "_label_binarizer")
        params, state = _state.estimator_state(self, "_network", excluded)
        if state is None:
            return params, None
        if "_label_binarizer" in self.__dict__:
            binarizer = self._label_binarizer
            state["_label_binarizer"] = {"classes_": binarizer.classes_,
                                         "y_type_": binarizer.y_type_,
                                         "sparse_input_": binarizer.sparse_input_}
        return params, state

    @classmethod
    def _load_state(cls, params, state):
        """The estimator :meth:`_save_state` described, its parameters validated as fit
        validates them and its fitted attributes checked against its network."""
        from fastreg import _state as check

        estimator = check.new_estimator(cls, params)
        if state is None:
            return estimator
        classifier = is_classifier(estimator)
        required = {"n_features_in_", "n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                    "_network", "_network_built_from", "_best_coefs", "_best_intercepts"}
        required |= {"_label_binarizer"} if classifier else set()
        optional = {"feature_names_in_", "loss_", "best_loss_", "loss_curve_", "validation_scores_",
                    "validation_loss_curve_", "best_validation_score_", "stopping_reason_",
                    "_no_improvement_count", "_learning_rate_now", "_lowest_validation_loss"}
        check.keys(state, required | (optional & set(state)),
                   f"the fitted attributes of {cls.__name__}")
        network = check.instance(state["_network"], Network, "_network")
        if network.coefs_ is None or not all(isinstance(layer, Dense) for layer in network.layers):
            raise check.InvalidState("_network must be a network of Dense layers with weights.")
        for name in ("n_iter_", "t_", "_no_improvement_count"):
            if name in state:
                check.integer(state[name], name)
        if classifier:
            outputs = {"softmax": "softmax_cross_entropy", "logistic": "logistic_cross_entropy"}
        else:
            outputs = {"identity": "squared_error", "exp": "poisson"}
        check.text(state["out_activation_"], "out_activation_", outputs)
        if (check.integer(state["n_features_in_"], "n_features_in_", 1) != network.n_features_in_
                or check.integer(state["n_outputs_"], "n_outputs_", 1) != network.n_outputs
                or check.integer(state["n_layers_"], "n_layers_", 2) != len(network.layers) + 1
                or outputs[state["out_activation_"]] != network.loss):
            raise check.InvalidState("n_features_in_, n_outputs_, n_layers_ and out_activation_ "
                                     "do not match the network.")
        for name in ("loss_", "best_loss_", "best_validation_score_", "_lowest_validation_loss"):
            if name in state:
                check.real(state[name], name, none=True)
        if ("_learning_rate_now" in state
                and not 0 < check.real(state["_learning_rate_now"], "rate") < math.inf):
            raise check.InvalidState("_learning_rate_now must be a positive finite rate.")
        for name in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            if name in state:
                check.reals(state[name], name, none=name != "loss_curve_")
        check.text(state.get("stopping_reason_"), "stopping_reason_", none=True)
        check.instance(state["_network_built_from"], tuple, "_network_built_from")
        shapes = [w.shape for w in network.coefs_]
        state["_best_coefs"] = check.arrays(state["_best_coefs"], "_best_coefs", shapes,
                                            network.dtype)
        state["_best_intercepts"] = check.arrays(state["_best_intercepts"], "_best_intercepts",
                                                 [(s[1],) for s in shapes], network.dtype)
        if "feature_names_in_" in state:
            names = check.array(state["feature_names_in_"], "feature_names_in_",
                                shape=(network.n_features_in_,), dtype=object)
            check.instance(names[0] if len(names) else "", str, "feature_names_in_")
        if classifier:
            state["_label_binarizer"] = cls._checked_binarizer(state["_label_binarizer"], state)
            estimator.classes_ = state["_label_binarizer"].classes_
        estimator.__dict__.update(state)
        estimator.coefs_, estimator.intercepts_ = network.coefs_, network.intercepts_
        return estimator

    @staticmethod
    def _checked_binarizer(entry, state):
        """The classifier's LabelBinarizer from its stored classes and label type, checked
        against the outputs: each class needs its output (one for two classes)."""
        from fastreg import _state as check

        check.keys(entry, ("classes_", "y_type_", "sparse_input_"), "_label_binarizer")
        classes = check.array(entry["classes_"], "classes_", kinds="biufUO")
        kind = check.text(entry["y_type_"], "label type",
                          ("binary", "multiclass", "multilabel-indicator"))
        n_outputs = state["n_outputs_"]
        if classes.ndim != 1 or not np.array_equal(np.unique(classes), classes):
            raise check.InvalidState(
                "classes_ must be a vector of distinct labels in increasing order."
            )
        if classes.dtype == object and not all(isinstance(label, str) for label in classes):
            raise check.InvalidState("classes_ must be numbers or strings.")
        consistent = {
            "binary": (n_outputs == 1 and 1 <= len(classes) <= 2
                       and state["out_activation_"] == "logistic"),
            "multiclass": n_outputs == len(classes) >= 2 and state["out_activation_"] == "softmax",
            "multilabel-indicator": (n_outputs == len(classes)
                                     and np.array_equal(classes, np.arange(n_outputs))
                                     and state["out_activation_"] == "logistic"),
        }[kind]
        if not consistent:
            raise check.InvalidState(f"{len(classes)} classes of label type {kind} do not fit "
                                     f"a network of {n_outputs} {state['out_activation_']} "
                                     "outputs.")
        binarizer = LabelBinarizer()
        binarizer.classes_, binarizer.y_type_ = classes, kind
        binarizer.sparse_input_ = check.instance(entry["sparse_input_"], bool, "sparse_input_")
        return binarizer

    def __setstate__(self, state):
        super().__setstate__(state)
        network = self.__dict__.get("_network")
        if network is not None:
            # The network hands out new views of its weights: coefs_ becomes them again.
            self._sync_network_weights()

    def __sklearn_is_fitted__(self):
        return "_network" in self.__dict__

    def _output(self, X):
        """The network's output for X: probabilities or values, shape (n, n_outputs_)."""
        network = self.__dict__.get("_network")
        if network is None:
            check_is_fitted(self)
        plain = _is_plain_dense(X, self.n_features_in_) and "feature_names_in_" not in self.__dict__
        if (plain and self.coefs_ is network.coefs_ and self.intercepts_ is network.intercepts_
                and X.dtype == network.dtype and X.flags.c_contiguous and X.shape[0] > 0):
            # A sum that overflows only sends X down the thorough path below.
            if math.isfinite(X.sum()):
                output = network._predict_checked(X)
                # Non-finite outputs take the thorough path too, which names non-finite
                # weights (written into coefs_ in place) instead of returning NaN.
                if output is not None and math.isfinite(output.sum()):
                    return output
        if not plain:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32),
                              reset=False)
        self._sync_network_weights()
        return network.predict(X)

    @property
    def epoch_learning_rate_(self):
        """The learning rate the last stochastic epoch ran at.

        The rate the engine used, as recorded by the network: ``learning_rate_init`` for
        'adam'; for 'sgd' the running rate of ``learning_rate`` ('invscaling', 'adaptive');
        or the ``epoch_learning_rate`` given to :meth:`partial_fit`. Read-only; an
        AttributeError before the first epoch of 'sgd' or 'adam'.
        """
        network = self.__dict__.get("_network")
        if network is None or not network.history_["learning_rate"]:
            raise AttributeError(
                "epoch_learning_rate_ exists after an epoch of solver 'sgd' or 'adam'."
            )
        return network.history_["learning_rate"][-1]

    def _has_stochastic_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_PARAMETERS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        Width of each hidden layer, in order.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Function of the hidden units: x, 1 / (1 + exp(-x)), tanh(x) or max(x, 0).
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'sgd': minibatch gradient descent with optional (Nesterov) momentum; 'adam': Adam;
        'lbfgs': scipy's L-BFGS-B on the whole training set, with fastreg's compiled loss
        and gradient (sparse X is then densified once).
    alpha : float, default=0.0001
        L2 penalty: each batch's loss gains ``alpha / (2 S) * sum ||W||^2`` (S: the batch
        size, or its sum of sample weights).
    batch_size : int or 'auto', default='auto'
        Minibatch size of the stochastic solvers; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver: constant ``learning_rate_init``; after each epoch
        ``learning_rate_init / (t + 1) ** power_t`` (t: samples seen); or divided by 5 each
        time the loss (or validation score) stalls, stopping below 1e-6.
    learning_rate_init : float, default=0.001
        Step size of 'sgd' and 'adam'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of 'lbfgs'.
    shuffle : bool, default=True
        Visit the samples in a new random order every epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights, the validation split, the epoch orders and (when dropout
        or noise is on) the seed of their random streams. An int makes fit reproducible.
    tol : float, default=1e-4
        Improvement of the loss or validation score below which an epoch does not count as
        progress; for 'lbfgs', the gradient tolerance.
    verbose : bool or int, default=False
        Print scikit-learn's lines every epoch, as it prints them: ``Iteration n, loss =
        ...`` and, with a validation set, ``Validation score: ...`` on a line of its own;
        from 2 on, also fastreg's own figures: ``Epoch time = ...s, validation loss = ...``.
    warm_start : bool, default=False
        Continue from the current weights when fit is called again.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's form of the momentum update.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for single-output
        classification), stop when its score has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the weights of the best validation score
        (accuracy or R^2, as scikit-learn does; with ``stopping_criterion``, those of the
        lowest validation loss). With ``validation_data`` given to fit, that set is used
        instead of a split.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's denominator offset.
    n_iter_no_change : int, default=10
        Epochs without progress (see ``tol``) before stopping or, with 'adaptive', lowering
        the learning rate.
    max_fun : int, default=15000
        Most loss evaluations of 'lbfgs'.
    dropout : float or sequence of float, default=0.0
        Probability of dropping each hidden unit while training (inverted dropout): one
        value for every hidden layer or one per hidden layer, in [0, 1).
    input_dropout : float, default=0.0
        Probability of dropping each input feature while training, in [0, 1).
    l1 : float, default=0.0
        L1 penalty applied as a proximal step after each update,
        ``W := sign(W) max(|W| - lr * l1, 0)``: weights become exact zeros.
    weight_decay : float, default=0.0
        Decoupled weight decay: ``W := W (1 - lr * weight_decay)`` at every update (with
        'adam' this is AdamW). Needs ``learning_rate * weight_decay < 1``.
    max_norm : float or None, default=None
        After each update, rescale every unit's incoming weight vector longer than this.
    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs while training.
    averaging : {None, "ema", "swa"}, default=None
        Keep a running average of the weights during ``fit`` ('sgd' and 'adam') and make
        it the model's weights at the end: "ema", an exponential moving average updated
        every step; "swa", stochastic weight averaging of the weights at the end of every
        epoch from ``swa_start`` on. The average replaces restoring the best weights of
        early stopping. ``partial_fit`` trains the raw weights.
    averaging_decay : float, default=0.999
        Decay of "ema": ``avg := decay * avg + (1 - decay) * w``.
    swa_start : int, default=0
        First epoch (0-based) whose end weights enter the "swa" average.
    n_threads : int or None, default=None
        Threads of fastreg's engine while training. None: the available cores, at most
        ``OMP_NUM_THREADS`` (joblib sets 1 in the worker processes of ``n_jobs``, so
        that a parallel grid search does not oversubscribe the cores); -1: every
        available core. The fitted model does not depend on it.
    stopping_criterion : StoppingCriterion, optional
        With ``early_stopping=True`` (or ``validation_data``), stop by one of Prechelt's
        criteria (``fastreg.Patience``, ``GeneralizationLoss``, ``ProgressQuotient``,
        ``UpStrips``) on the validation loss ``E_va`` and the training loss ``E_tr``
        instead of ``n_iter_no_change``/``tol``; the weights of the epoch with the lowest
        validation loss are restored, and ``stopping_reason_`` says why training stopped."""

_ATTRIBUTES_DOC = """
    loss_ : float
        Loss of the last epoch (or the final 'lbfgs' objective), penalty included, in
        scikit-learn's terms: a mean over samples (and over outputs for squared error).
    best_loss_ : float or None
        Lowest training loss reached (stochastic solvers; None with early stopping).
    loss_curve_ : list of float
        Training loss of every epoch (stochastic solvers).
    epoch_learning_rate_ : float
        The learning rate the last epoch ran at (stochastic solvers; read-only).
    validation_scores_ : list of float or None
        Validation score of every epoch, when there is a validation set.
    validation_loss_curve_ : list of float or None
        Validation data loss (no penalty) of every epoch, when there is a validation set.
    best_validation_score_ : float or None
        Best validation score reached.
    stopping_reason_ : str or None
        Why the last fit stopped early: scikit-learn's sentence when the loss or the
        validation score stalled for ``n_iter_no_change`` epochs, the sentence of
        ``stopping_criterion``, that a callback of ``fit`` stopped it (it returned True), or, when
        an epoch diverged under early stopping, which best weights were kept (that epoch
        counts in ``n_iter_``, with NaN validation scores; without early stopping it
        raises scikit-learn's ``ValueError``, the model keeping the weights of its start).
    t_ : int
        Training samples seen by the stochastic solvers.
    coefs_ : list of ndarray of shape (fan_in, fan_out)
        Weight matrices, layer by layer, in the dtype of the first training data.
    intercepts_ : list of ndarray of shape (fan_out,)
        Bias vectors, layer by layer.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names seen during fit, when X had string column names.
    n_iter_ : int
        Epochs (or 'lbfgs' iterations) run by the last fit.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output units.
    out_activation_ : str
        Output function: 'softmax', 'logistic', 'identity' or 'exp'."""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron classifier trained by fastreg's compiled engine.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier` (same
    parameters, attributes and methods; with the extras off, the same model) that trains
    several times faster and adds dropout, input dropout, L1, decoupled weight decay,
    max-norm, label smoothing and input noise. Binary and multilabel targets get one
    logistic output per label, multiclass targets a softmax; dense or sparse X in float32
    trains in float32, anything else in float64.

    Parameters
    ----------{_PARAMETERS_DOC}
    label_smoothing : float, default=0.0
        Cross-entropy targets become ``(1 - eps) y + eps / K`` while training (K classes;
        2 per logistic output), in [0, 1).
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, binary and multiclass targets (not multilabel ones):
        sample i's loss is weighted by ``class_weight[y_i] * sample_weight_i``, exactly as
        if that product had been passed as ``sample_weight`` (the L2 penalty's scale, the
        early-stopping split and its weighted validation score included). A dict maps
        class labels to non-negative weights; classes it leaves out weigh 1, a key that is
        not a class is an error. 'balanced' weighs class k by ``n_samples / (n_classes *
        n_k)`` over the data ``fit`` is given, ``n_samples`` and ``n_k`` summing the
        sample weights when there are some (scikit-learn's LogisticRegression convention;
        SGDClassifier counts samples regardless of their weights). ``partial_fit`` takes a
        dict only: it refuses 'balanced' at every call (SGDClassifier at its first call,
        balancing each later chunk on its own), as one chunk cannot estimate the class
        frequencies of the stream.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels (for multilabel targets: the label indices).{_ATTRIBUTES_DOC}

    See Also
    --------
    MLPRegressor : The regression counterpart.
    fastreg.Network : The underlying model, for full control over layers and optimizers.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastreg import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), dropout=0.1, max_iter=300,
    ...                     random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "class_weight": [None, StrOptions({"balanced"}), dict],
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        input_dropout=0.0,
        l1=0.0,
        weight_decay=0.0,
        max_norm=None,
        label_smoothing=0.0,
        input_noise=0.0,
        averaging=None,
        averaging_decay=0.999,
        swa_start=0,
        n_threads=None,
        stopping_criterion=None,
        class_weight=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.l1 = l1
        self.weight_decay = weight_decay
        self.max_norm = max_norm
        self.label_smoothing = label_smoothing
        self.input_noise = input_noise
        self.averaging = averaging
        self.averaging_decay = averaging_decay
        self.swa_start = swa_start
        self.n_threads = n_threads
        self.stopping_criterion = stopping_criterion
        self.class_weight = class_weight

    def _label_smoothing(self):
        return self.label_smoothing

    def _check_class_weight_target(self, y, incremental):
        """Refuse, before fitting changes anything, what class_weight does not support."""
        if self.class_weight is None:
            return
        if incremental and isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one call sees one "
                "chunk of the data, not the class frequencies of the whole stream. Compute "
                "them with sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) on all the targets (or a large sample of them) and "
                "pass class_weight=dict(zip(classes, weights))."
            )
        if type_of_target(y).startswith("multilabel"):
            raise ValueError(
                "class_weight supports binary and multiclass targets, not multilabel ones; "
                "pass sample_weight instead (for example from "
                "sklearn.utils.class_weight.compute_sample_weight)."
            )

    def _checked_sample_weight(self, sample_weight, X, Y, incremental):
        if self.class_weight is None:
            return super()._checked_sample_weight(sample_weight, X, Y, incremental)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        # Y is the binarized target: one 0/1 column (binary) or one-hot rows (multiclass).
        class_index = (Y[:, 0] if Y.shape[1] == 1 else Y.argmax(axis=1)).astype(np.intp)
        return _class_weighted(self.class_weight, self.classes_, class_index, sample_weight,
                               X.dtype)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        Y = self._label_binarizer.transform(y)
        return X, Y.astype(X.dtype)

    def _save_state(self):
        params, state = super()._save_state()
        if isinstance(params["class_weight"], dict):
            # A file's dicts have text keys, and class labels may be numbers: store pairs.
            params["class_weight"] = tuple(params["class_weight"].items())
        return params, state

    @classmethod
    def _load_state(cls, params, state):
        if isinstance(params, dict) and isinstance(params.get("class_weight"), tuple):
            params = {**params, "class_weight": cls._stored_class_weight(params["class_weight"])}
        return super()._load_state(params, state)

    @staticmethod
    def _stored_class_weight(pairs):
        """The class_weight dict a file stores as (label, weight) pairs, checked."""
        from fastreg import _state as check

        class_weight = {}
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise check.InvalidState("class_weight must be stored as (label, weight) pairs.")
            label, weight = pair
            check.instance(label, (bool, int, float, str), "a class_weight label")
            if label in class_weight:
                raise check.InvalidState(f"class_weight has the label {label!r} twice.")
            class_weight[label] = check.real(weight, f"class_weight[{label!r}]")
        return class_weight

    def _validation_targets(self, y_val):
        y_val = column_or_1d(y_val, warn=True) if y_val.ndim == 2 and y_val.shape[1] == 1 else y_val
        if self._label_binarizer.y_type_ != "multilabel-indicator":
            unknown = np.setdiff1d(unique_labels(y_val), self.classes_)
            if len(unknown):
                raise ValueError(
                    f"validation_data: y_val has classes not in `self.classes_`: {unknown}."
                )
        Y_val = self._label_binarizer.transform(y_val).astype(self._network.dtype)
        return Y_val, y_val

    def _labels_of(self, Y):
        return self._label_binarizer.inverse_transform(Y)

    def _prediction_of(self, output):
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    @staticmethod
    def _score_function(y, prediction, sample_weight=None):
        return accuracy_score(y, prediction, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None):
        """Train the classifier on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a binary indicator matrix for multilabel classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: each batch's loss is their weighted mean. Multiplied by
            the weights of ``class_weight``, when it is set.
        validation_data : tuple (X_val, y_val), default=None
            A validation set of your own. Its accuracy and loss are recorded every epoch
            (``validation_scores_``, ``validation_loss_curve_``); with
            ``early_stopping=True`` it replaces the held-out split.
        callbacks : callable or list of callables, default=None
            Each is called after every epoch of 'sgd' and 'adam' as
            ``callback(estimator, record)``, ``record`` a dict of ``epoch`` (1-based, the
            ``n_iter_`` of that epoch), ``loss``, ``validation_score`` and
            ``validation_loss`` (NaN without a validation set) and ``epoch_time``
            (seconds, validation included): the entries of ``loss_curve_``,
            ``validation_scores_`` and ``validation_loss_curve_`` as they are appended.
            A callback that returns True stops training after that epoch
            (``stopping_reason_`` says so; early stopping still keeps its best weights).
            An epoch that diverges is reported too, its return value ignored. 'lbfgs' has
            no epochs: callbacks with it raise a ValueError.

        Returns
        -------
        self : MLPClassifier
            The fitted classifier.
        """
        self._check_class_weight_target(y, incremental=False)
        return self._fit(X, y, sample_weight=sample_weight, validation_data=validation_data,
                         callbacks=callbacks)

    @available_if(lambda est: est._has_stochastic_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, epoch_learning_rate=None):
        """Train for one epoch over ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights, multiplied by those of a ``class_weight`` dict.
        classes : array-like of shape (n_classes,), default=None
            Every class of the whole training stream: required on the first call, ignored
            afterwards. ``y`` need not contain them all.
        epoch_learning_rate : float, default=None
            Run this epoch at this learning rate instead of the estimator's own: the hook
            for a per-epoch schedule (the snapshot ensembles' cosine, for one). For 'sgd'
            the running rate continues from it (``learning_rate='invscaling'`` or
            'adaptive' update it after the epoch); for 'adam' it replaces
            ``learning_rate_init`` for this epoch only. ``epoch_learning_rate_`` reads back
            the rate the epoch ran at.

        Returns
        -------
        self : MLPClassifier
            The updated classifier.
        """
        self._check_class_weight_target(y, incremental=True)
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         epoch_learning_rate=epoch_learning_rate)

    def predict(self, X):
        """Predicted class labels (or label indicator rows, for multilabel targets).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return self._prediction_of(self._output(X))

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            For binary targets: ``[1 - p, p]``; for multilabel targets: each label's own
            probability.
        """
        output = self._output(X)
        if self.n_outputs_ > 1:
            return output
        proba = np.empty((output.shape[0], 2), dtype=output.dtype)
        proba[:, 1] = output[:, 0]
        np.subtract(1, output[:, 0], out=proba[:, 0])
        return proba

    def predict_log_proba(self, X):
        """Natural logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by fastreg's compiled engine.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor` (same
    parameters, attributes and methods; with the extras off, the same model) that trains
    several times faster and adds dropout, input dropout, L1, decoupled weight decay,
    max-norm and input noise. Single- and multi-output targets; float32 X trains in float32.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        Half squared error with identity output, or half Poisson deviance with an
        exponential output (targets must be non-negative).{_PARAMETERS_DOC}

    Attributes
    ----------{_ATTRIBUTES_DOC}

    See Also
    --------
    MLPClassifier : The classification counterpart.
    fastreg.Network : The underlying model, for full control over layers and optimizers.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from fastreg import MLPRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> reg = MLPRegressor(max_iter=500, learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        input_dropout=0.0,
        l1=0.0,
        weight_decay=0.0,
        max_norm=None,
        input_noise=0.0,
        averaging=None,
        averaging_decay=0.999,
        swa_start=0,
        n_threads=None,
        stopping_criterion=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.l1 = l1
        self.weight_decay = weight_decay
        self.max_norm = max_norm
        self.input_noise = input_noise
        self.averaging = averaging
        self.averaging_decay = averaging_decay
        self.swa_start = swa_start
        self.n_threads = n_threads
        self.stopping_criterion = stopping_criterion

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.min(y) < 0:
            raise ValueError("loss='poisson' requires non-negative targets y.")
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, finite_as(Y.astype(np.float64), "y", X.dtype)  # a copy: float32 may overflow

    def _validation_targets(self, y_val):
        y_val = column_or_1d(y_val, warn=True) if y_val.ndim == 2 and y_val.shape[1] == 1 else y_val
        Y_val = np.asarray(y_val, dtype=np.float64).reshape(y_val.shape[0], -1)
        if Y_val.shape[1] != self.n_outputs_:
            raise ValueError(f"validation_data: y_val has {Y_val.shape[1]} outputs; "
                             f"expected {self.n_outputs_}.")
        return finite_as(Y_val, "validation_data: y_val", self._network.dtype), y_val

    def _labels_of(self, Y):
        return Y.ravel() if Y.shape[1] == 1 else Y

    def _prediction_of(self, output):
        return output.ravel() if output.shape[1] == 1 else output

    @staticmethod
    def _score_function(y, prediction, sample_weight=None):
        return r2_score(y, prediction, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, validation_data=None, callbacks=None):
        """Train the regressor on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: each batch's loss is their weighted mean.
        validation_data : tuple (X_val, y_val), default=None
            A validation set of your own. Its R^2 and loss are recorded every epoch
            (``validation_scores_``, ``validation_loss_curve_``); with
            ``early_stopping=True`` it replaces the held-out split.
        callbacks : callable or list of callables, default=None
            Each is called after every epoch of 'sgd' and 'adam' as
            ``callback(estimator, record)``, ``record`` a dict of ``epoch`` (1-based, the
            ``n_iter_`` of that epoch), ``loss``, ``validation_score`` and
            ``validation_loss`` (NaN without a validation set) and ``epoch_time``
            (seconds, validation included): the entries of ``loss_curve_``,
            ``validation_scores_`` and ``validation_loss_curve_`` as they are appended.
            A callback that returns True stops training after that epoch
            (``stopping_reason_`` says so; early stopping still keeps its best weights).
            An epoch that diverges is reported too, its return value ignored. 'lbfgs' has
            no epochs: callbacks with it raise a ValueError.

        Returns
        -------
        self : MLPRegressor
            The fitted regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight, validation_data=validation_data,
                         callbacks=callbacks)

    @available_if(lambda est: est._has_stochastic_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, *, epoch_learning_rate=None):
        """Train for one epoch over ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative sample weights.
        epoch_learning_rate : float, default=None
            Run this epoch at this learning rate instead of the estimator's own: see
            :meth:`MLPClassifier.partial_fit`.

        Returns
        -------
        self : MLPRegressor
            The updated regressor.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True,
                         epoch_learning_rate=epoch_learning_rate)

    def predict(self, X):
        """Predicted values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._prediction_of(self._output(X))
