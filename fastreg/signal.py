"""A scikit-learn classifier for 1-D signals: 1-D convolutions, then dense layers.

Each row of X is one signal (its samples in order, one channel). The model is fastreg's
Network of :class:`~fastreg.Conv1D` layers (weights shared along the signal), optional
hidden :class:`~fastreg.Dense` layers, and a softmax output, trained by Adam.
"""
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from fastreg._sklearn_private import Interval, _fit_context
from fastreg.augment import RandomShift
from fastreg.layers import Conv1D, Dense
from fastreg.network import Network
from fastreg.optimizers import Adam, AdamW


class Conv1DClassifier(ClassifierMixin, BaseEstimator):
    """Convolutional classifier of 1-D signals (weight sharing), trained by fastreg's engine.

    Parameters
    ----------
    conv_layers : sequence of tuple, default=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))
        ``(channels, kernel_size, stride, padding)`` of each convolution, in order. The
        default is the CNN of the MNIST-1D paper.
    hidden_layer_sizes : sequence of int, default=()
        Dense ReLU layers between the convolutions and the output.
    learning_rate_init : float, default=0.01
        Adam's learning rate.
    batch_size : int, default=100
    max_iter : int, default=150
        Epochs.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW).
    dropout : float, default=0.0
        Dropout on the convolutions' and hidden layers' outputs.
    label_smoothing : float, default=0.0
    max_shift : int, default=0
        Augmentation: shift every training signal by a random number of samples in
        ``-max_shift .. max_shift`` (circularly) at each step.
    random_state : int, RandomState instance or None, default=None
    n_threads : int or None, default=None
        Engine threads while training; the model does not depend on it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Length of the signals.
    network_ : Network
        The trained network.
    loss_curve_ : list of float
        Training loss of each epoch.
    n_iter_ : int
        Epochs trained.
    """

    _parameter_constraints = {
        "conv_layers": ["array-like"],
        "hidden_layer_sizes": ["array-like"],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "max_shift": [Interval(Integral, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        conv_layers=((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1)),
        hidden_layer_sizes=(),
        *,
        learning_rate_init=0.01,
        batch_size=100,
        max_iter=150,
        weight_decay=0.0,
        dropout=0.0,
        label_smoothing=0.0,
        max_shift=0,
        random_state=None,
        n_threads=None,
    ):
        self.conv_layers = conv_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.label_smoothing = label_smoothing
        self.max_shift = max_shift
        self.random_state = random_state
        self.n_threads = n_threads

    def _network(self, n_classes, dtype):
        layers = []
        for spec in self.conv_layers:
            if len(spec) != 4:
                raise ValueError(
                    "conv_layers entries are (channels, kernel_size, stride, padding), "
                    f"got {spec!r}."
                )
            channels, kernel_size, stride, padding = (int(v) for v in spec)
            layers.append(Conv1D(channels, kernel_size, stride=stride, padding=padding,
                                 dropout=self.dropout))
        layers += [Dense(int(units), "relu", dropout=self.dropout)
                   for units in self.hidden_layer_sizes]
        layers.append(Dense(n_classes))
        if self.weight_decay > 0:
            optimizer = AdamW(self.learning_rate_init, weight_decay=self.weight_decay)
        else:
            optimizer = Adam(self.learning_rate_init)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return Network(
            layers,
            optimizer=optimizer,
            augment=RandomShift(self.max_shift) if self.max_shift > 0 else None,
            label_smoothing=self.label_smoothing,
            dtype=dtype,
            random_state=seed,
            n_threads=self.n_threads,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train on signals ``X`` (n_samples, length) with class labels ``y``."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"Classifier can't train when only one class is present: {self.classes_}."
            )
        self.network_ = self._network(len(self.classes_), X.dtype)
        history = self.network_.fit(X, encoder.transform(y), epochs=self.max_iter,
                                    batch_size=min(self.batch_size, X.shape[0]))
        self.loss_curve_ = history["loss"]
        self.n_iter_ = len(self.loss_curve_)
        return self

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.network_.predict(X.astype(self.network_.dtype, copy=False))

    def predict(self, X):
        """The most probable class of each signal."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def save(self, path):
        """Write the classifier to ``path`` in fastreg's own file format, without pickle.

        Read it back with :func:`fastreg.load`: the same predictions, and the same network
        to train on (``network_``, with its optimizer state and random streams).

        Parameters
        ----------
        path : str or path-like
            Destination file; it is written as given (no extension is added).
        """
        from fastreg.io import save

        save(self, path)

    def _save_state(self):
        """``(params, state)`` for :mod:`fastreg.io`: the parameters and, once fitted,
        every attribute fit set; :meth:`_load_state` takes them back."""
        from fastreg import _state

        return _state.estimator_state(self, "network_")

    @classmethod
    def _load_state(cls, params, state):
        """The classifier :meth:`_save_state` described, its attributes checked against its
        network."""
        from fastreg import _state as check

        model = check.new_estimator(cls, params)
        if state is None:
            return model
        check.keys(state, {"classes_", "n_features_in_", "network_", "loss_curve_", "n_iter_"}
                   | ({"feature_names_in_"} & set(state)),
                   "the fitted attributes of Conv1DClassifier")
        network = check.instance(state["network_"], Network, "network_")
        classes = check.array(state["classes_"], "classes_", kinds="biufUO")
        if (network.coefs_ is None or network.loss != "softmax_cross_entropy"
                or classes.ndim != 1 or len(classes) != network.n_outputs or len(classes) < 2
                or not np.array_equal(np.unique(classes), classes)):
            raise check.InvalidState("classes_ must be the distinct labels, in increasing order, "
                                     "of the network's softmax outputs.")
        if check.integer(state["n_features_in_"], "n_features_in_", 1) != network.n_features_in_:
            raise check.InvalidState("n_features_in_ does not match the network.")
        check.integer(state["n_iter_"], "n_iter_")
        check.reals(state["loss_curve_"], "loss_curve_")
        if "feature_names_in_" in state:
            check.array(state["feature_names_in_"], "feature_names_in_",
                        shape=(network.n_features_in_,), dtype=object)
        model.__dict__.update(state)
        return model
