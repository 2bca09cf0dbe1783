"""fastreg's own model files: NumPy arrays plus JSON metadata, never pickle.

A model file is an uncompressed ``.npz`` archive. Its ``metadata`` member is a JSON text
(a 0-d unicode array) naming the format, its version, the kind of model and every setting
needed to rebuild it; the other members are plain numeric or string arrays (weights,
biases, optimizer state, class labels). Loading reads the archive with
``allow_pickle=False``, accepts only the model kinds, optimizers and regularizers listed
here, passes every value through the constructors' own checks and compares every array
shape with the model it rebuilds. Nothing in a file is ever executed or imported; a
malformed or tampered file raises ValueError.

Saved: a :class:`~fastreg.Network` (layers, loss, optimizer with its state, regularizers,
seeds, weights, counters, history) or a fitted or unfitted :class:`~fastreg.MLPClassifier`
/ :class:`~fastreg.MLPRegressor` (its parameters, fitted attributes and network). A
``random_state`` that is a RandomState instance is saved as None.
"""
import dataclasses
import inspect
import json
import zipfile

import numpy as np

from fastreg.early_stopping import GeneralizationLoss, Patience, ProgressQuotient, UpStrips
from fastreg.layers import Dense
from fastreg.network import Network
from fastreg.optimizers import SGD, Adam, AdamW
from fastreg.regularizers import L1, L2, ElasticNet, MaxNorm, WeightDecay

FORMAT_NAME = "fastreg"
FORMAT_VERSION = 1
OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adam, AdamW)}
REGULARIZERS = {cls.__name__: cls for cls in (L2, L1, ElasticNet, WeightDecay, MaxNorm)}
CRITERIA = {cls.__name__: cls for cls in (Patience, GeneralizationLoss, ProgressQuotient, UpStrips)}
ESTIMATORS = ("MLPClassifier", "MLPRegressor")

#: Fitted attributes of the estimators stored in the JSON metadata.
ESTIMATOR_SCALARS = (
    "n_features_in_", "n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "loss_",
    "best_loss_", "best_validation_score_", "_no_improvement_count", "_learning_rate_now",
)
ESTIMATOR_LISTS = ("loss_curve_", "validation_scores_", "validation_loss_curve_", "feature_names_in_")


class _InvalidFile(ValueError):
    """Raised inside load for any inconsistency; load reports it with the file name."""


# ---------------------------------------------------------------------- saving
def _plain(value, what):
    """A JSON-ready copy of value: None, bool, int, float, str, or lists of them."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item, what) for item in value]
    raise ValueError(f"{what} = {value!r} cannot be saved in a fastreg file.")


def _network_metadata(network, arrays, prefix):
    if callable(network.optimizer.learning_rate):
        raise ValueError("A network with a learning-rate schedule (a callable) cannot be saved.")
    meta = {
        "layers": [[layer.units, layer.activation, layer.dropout] for layer in network.layers],
        "loss": network.loss,
        "optimizer": [type(network.optimizer).__name__, dataclasses.asdict(network.optimizer)],
        "regularizers": [[type(reg).__name__, dataclasses.asdict(reg)] for reg in network.regularizers],
        "input_dropout": network.input_dropout,
        "input_noise": network.input_noise,
        "dropout_mode": network.dropout_mode,
        "label_smoothing": network.label_smoothing,
        "dtype": np.dtype(network.dtype).name,
        "n_threads": network.n_threads,
        "seed": network._seed,
        "n_features_in": network.n_features_in_,
        "epochs": network.epochs_,
        "steps": network.steps_,
        "history": _plain(network.history_["loss"], "history"),
        "history_learning_rate": _plain(network.history_["learning_rate"], "history"),
        "history_epoch_time": _plain(network.history_["epoch_time"], "history"),
    }
    if network.coefs_ is not None:
        for i, (coef, intercept) in enumerate(zip(network.coefs_, network.intercepts_)):
            arrays[f"{prefix}coefs_{i}"] = coef
            arrays[f"{prefix}intercepts_{i}"] = intercept
        for i, state in enumerate(network._optimizer_state):
            for k, array in enumerate(state):
                if array is not None:
                    arrays[f"{prefix}state_{i}_{k}"] = array
    return meta


def _criterion_metadata(criterion):
    """A stopping criterion as its class name and constructor arguments."""
    if criterion is None:
        return None
    if type(criterion).__name__ not in CRITERIA:
        raise ValueError(f"stopping_criterion = {criterion!r} cannot be saved in a fastreg file.")
    names = inspect.signature(type(criterion)).parameters
    return {"class": type(criterion).__name__,
            "params": {name: _plain(getattr(criterion, name), name) for name in names}}


def _load_criterion(entry):
    if entry is None:
        return None
    if not isinstance(entry, dict) or set(entry) != {"class", "params"}:
        raise _InvalidFile("stopping_criterion must be a class name and its parameters.")
    if entry["class"] not in CRITERIA or not isinstance(entry["params"], dict):
        raise _InvalidFile(f"unknown stopping criterion {entry['class']!r}.")
    values = entry["params"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values()):
        raise _InvalidFile("stopping criterion parameters must be numbers.")
    try:
        return CRITERIA[entry["class"]](**values)
    except (TypeError, ValueError) as error:
        raise _InvalidFile(f"invalid stopping criterion: {error}") from None


def _estimator_metadata(estimator, arrays):
    params = {name: _plain(value, name) for name, value in estimator.get_params(deep=False).items()
              if name not in ("random_state", "stopping_criterion")}
    params["stopping_criterion"] = _criterion_metadata(estimator.stopping_criterion)
    random_state = estimator.random_state
    params["random_state"] = random_state if isinstance(random_state, (int, np.integer)) else None
    params["random_state"] = _plain(params["random_state"], "random_state")
    meta = {"class": type(estimator).__name__, "params": params, "fitted": None}
    if "_network" not in estimator.__dict__:
        return meta
    estimator._sync_network_weights()
    fitted = {name: _plain(getattr(estimator, name), name)
              for name in ESTIMATOR_SCALARS + ESTIMATOR_LISTS if hasattr(estimator, name)}
    fitted["network"] = _network_metadata(estimator._network, arrays, "network_")
    for i, (coef, intercept) in enumerate(zip(estimator._best_coefs, estimator._best_intercepts)):
        arrays[f"best_coefs_{i}"] = coef
        arrays[f"best_intercepts_{i}"] = intercept
    if hasattr(estimator, "classes_"):
        classes = np.asarray(estimator.classes_)
        if classes.dtype == object:
            if not all(isinstance(label, str) for label in classes):
                raise ValueError("Only numeric or string class labels can be saved.")
            classes = classes.astype(str)
            fitted["classes_object"] = True
        arrays["classes"] = classes
        fitted["label_type"] = estimator._label_binarizer.y_type_
    meta["fitted"] = fitted
    return meta


def save(model, path):
    """Write a Network or a fastreg estimator to ``path`` in fastreg's own format.

    Parameters
    ----------
    model : Network, MLPClassifier or MLPRegressor
        Fitted or not.
    path : str or path-like
        Destination file; it is written as given (no extension is added).
    """
    arrays = {}
    if isinstance(model, Network):
        meta = {"kind": "Network", "network": _network_metadata(model, arrays, "")}
    elif type(model).__name__ in ESTIMATORS and type(model).__module__ == "fastreg.estimators":
        meta = {"kind": "estimator", "estimator": _estimator_metadata(model, arrays)}
    else:
        raise TypeError(f"save takes a fastreg Network, MLPClassifier or MLPRegressor, got {type(model).__name__}.")
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **meta}
    for name, array in arrays.items():
        if array.dtype == object:
            raise ValueError(f"{name} holds Python objects and cannot be saved.")
    with open(path, "wb") as file:
        np.savez(file, metadata=np.array(json.dumps(meta, allow_nan=True)), **arrays)


# ---------------------------------------------------------------------- loading
def _field(mapping, key, kinds):
    if not isinstance(mapping, dict) or key not in mapping:
        raise _InvalidFile(f"missing entry {key!r}.")
    value = mapping[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _InvalidFile(f"entry {key!r} has the wrong type ({type(value).__name__}).")
    return value


def _array(arrays, name, shape=None, dtype=None):
    if name not in arrays:
        raise _InvalidFile(f"missing array {name!r}.")
    array = arrays.pop(name)
    if shape is not None and array.shape != tuple(shape):
        raise _InvalidFile(f"array {name!r} has shape {array.shape}; expected {tuple(shape)}.")
    if dtype is not None and array.dtype != dtype:
        raise _InvalidFile(f"array {name!r} has dtype {array.dtype}; expected {np.dtype(dtype).name}.")
    return array


def _settings(entry, registry, what):
    """A class from `registry` built from ``[class name, {field: value}]``."""
    if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], dict)):
        raise _InvalidFile(f"malformed {what} entry.")
    name, fields = entry
    if name not in registry:
        raise _InvalidFile(f"unknown {what} {name!r}.")
    cls = registry[name]
    allowed = {field.name for field in dataclasses.fields(cls)}
    if set(fields) != allowed:
        raise _InvalidFile(f"{what} {name} must have the fields {sorted(allowed)}.")
    for value in fields.values():
        if not isinstance(value, (int, float, bool)):
            raise _InvalidFile(f"{what} {name} has a non-numeric field.")
    return cls(**fields)


def _load_network(meta, arrays, prefix):
    layers = []
    for entry in _field(meta, "layers", (list,)):
        if not (isinstance(entry, list) and len(entry) == 3):
            raise _InvalidFile("malformed layer entry.")
        layers.append(Dense(*entry))
    regularizers = [_settings(entry, REGULARIZERS, "regularizer") for entry in _field(meta, "regularizers", (list,))]
    network = Network(
        layers,
        loss=_field(meta, "loss", (str,)),
        optimizer=_settings(_field(meta, "optimizer", (list,)), OPTIMIZERS, "optimizer"),
        regularizers=regularizers,
        input_dropout=_field(meta, "input_dropout", (int, float)),
        input_noise=_field(meta, "input_noise", (int, float)),
        dropout_mode=_field(meta, "dropout_mode", (str,)),
        label_smoothing=_field(meta, "label_smoothing", (int, float)),
        dtype=_field(meta, "dtype", (str,)),
        n_threads=_field(meta, "n_threads", (int, type(None))),
    )
    seed = _field(meta, "seed", (int,))
    if not 0 <= seed < 2**63:
        raise _InvalidFile("seed out of range.")
    network._seed = seed
    n_features = _field(meta, "n_features_in", (int, type(None)))
    if n_features is not None:
        network.initialize(n_features)
        coefs = [_array(arrays, f"{prefix}coefs_{i}", c.shape, network.dtype) for i, c in enumerate(network.coefs_)]
        intercepts = [_array(arrays, f"{prefix}intercepts_{i}", b.shape, network.dtype)
                      for i, b in enumerate(network.intercepts_)]
        network.set_weights(coefs, intercepts)
        for i, state in enumerate(network._optimizer_state):
            for k, target in enumerate(state):
                if target is not None:
                    values = _array(arrays, f"{prefix}state_{i}_{k}", target.shape, network.dtype)
                    if not np.isfinite(values).all():
                        raise _InvalidFile("optimizer state contains NaN or infinity.")
                    np.copyto(target, values)
    counters = {name: _field(meta, name, (int,)) for name in ("epochs", "steps")}
    if min(counters.values()) < 0:
        raise _InvalidFile("negative epoch or step count.")
    network.epochs_, network.steps_ = counters["epochs"], counters["steps"]
    for key, entry in (("loss", "history"), ("learning_rate", "history_learning_rate"),
                       ("epoch_time", "history_epoch_time")):
        values = _field(meta, entry, (list,))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise _InvalidFile(f"{entry} must hold numbers.")
        network.history_[key] = [float(v) for v in values]
    return network


def _load_estimator(meta, arrays):
    from fastreg import estimators

    name = _field(meta, "class", (str,))
    if name not in ESTIMATORS:
        raise _InvalidFile(f"unknown estimator class {name!r}.")
    cls = getattr(estimators, name)
    params = _field(meta, "params", (dict,))
    if set(params) != set(cls().get_params(deep=False)):
        raise _InvalidFile(f"the parameters of {name} do not match this version of fastreg.")
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    params["stopping_criterion"] = _load_criterion(params["stopping_criterion"])
    estimator = cls(**params)
    estimator._validate_params()
    fitted = _field(meta, "fitted", (dict, type(None)))
    if fitted is None:
        return estimator
    network = _load_network(_field(fitted, "network", (dict,)), arrays, "network_")
    if network.coefs_ is None:
        raise _InvalidFile("a fitted estimator without weights.")
    for key, value in fitted.items():
        if key in ESTIMATOR_SCALARS:
            if value is not None and not isinstance(value, (int, float, str)):
                raise _InvalidFile(f"entry {key!r} has the wrong type.")
            setattr(estimator, key, value)
        elif key in ESTIMATOR_LISTS:
            if value is not None and not (isinstance(value, list) and all(
                    isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value)):
                raise _InvalidFile(f"entry {key!r} has the wrong type.")
            setattr(estimator, key, value)
    if isinstance(getattr(estimator, "feature_names_in_", None), list):
        estimator.feature_names_in_ = np.asarray(estimator.feature_names_in_, dtype=object)
    estimator._best_coefs = [_array(arrays, f"best_coefs_{i}", c.shape, network.dtype)
                             for i, c in enumerate(network.coefs_)]
    estimator._best_intercepts = [_array(arrays, f"best_intercepts_{i}", b.shape, network.dtype)
                                  for i, b in enumerate(network.intercepts_)]
    if name == "MLPClassifier":
        _restore_classes(estimator, fitted, arrays)
    _attach_network(estimator, network)
    return estimator


def _restore_classes(estimator, fitted, arrays):
    from sklearn.preprocessing import LabelBinarizer

    classes = _array(arrays, "classes")
    if classes.ndim != 1 or classes.dtype.kind not in "biufU":
        raise _InvalidFile("classes must be a vector of numbers or strings.")
    if _field(fitted, "classes_object", (bool,)) if "classes_object" in fitted else False:
        classes = classes.astype(object)
    label_type = _field(fitted, "label_type", (str,))
    if label_type == "multilabel-indicator":
        if not np.array_equal(classes, np.arange(len(classes))) or len(classes) < 2:
            raise _InvalidFile("multilabel classes must be 0..n_labels-1.")
        binarizer = LabelBinarizer().fit(np.array([[0] * len(classes), [1] * len(classes)]))
    else:
        binarizer = LabelBinarizer().fit(classes)
    if binarizer.y_type_ != label_type or len(binarizer.classes_) != len(classes):
        raise _InvalidFile("the classes do not match their label type.")
    estimator._label_binarizer = binarizer
    estimator.classes_ = binarizer.classes_


def _attach_network(estimator, network):
    """Make `network` the estimator's, after checking it is the one its parameters build."""
    hidden = estimator._hidden_layer_sizes()
    dropouts = estimator._hidden_dropouts(len(hidden))
    expected_units = [estimator.n_features_in_] + hidden + [estimator.n_outputs_]
    if [network.n_features_in_] + [layer.units for layer in network.layers] != expected_units:
        raise _InvalidFile("the network's layers do not match the estimator's parameters.")
    if estimator.n_layers_ != len(expected_units):
        raise _InvalidFile("n_layers_ does not match the layers.")
    expected = estimator._build_network(hidden, dropouts, network.dtype, 0)
    described = [(net.layers, net.loss, type(net.optimizer), net.regularizers, net.input_dropout,
                  net.input_noise, net.label_smoothing) for net in (network, expected)]
    if described[0] != described[1]:
        raise _InvalidFile("the network does not match the estimator's parameters.")
    estimator._network = network
    estimator._network_built_from = estimator._network_key(dropouts)
    estimator.coefs_, estimator.intercepts_ = network.coefs_, network.intercepts_


def load(path):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network, MLPClassifier or MLPRegressor
        The model as it was saved (an estimator needs scikit-learn installed).

    Raises
    ------
    ValueError
        When the file is not a fastreg model file of a supported format version, or any
        of its content is malformed or inconsistent.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        if not all(isinstance(array, np.ndarray) for array in arrays.values()):
            raise ValueError("it holds members that are not NumPy arrays")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError, KeyError) as error:
        raise ValueError(f"{path} is not a fastreg model file: {error}") from None
    try:
        metadata = _array(arrays, "metadata", shape=())
        if metadata.dtype.kind != "U":
            raise _InvalidFile("the metadata is not text.")
        meta = json.loads(str(metadata))
        if _field(meta, "format", (str,)) != FORMAT_NAME:
            raise _InvalidFile("not a fastreg model file.")
        version = _field(meta, "format_version", (int,))
        if version != FORMAT_VERSION:
            raise _InvalidFile(f"format version {version} is not supported (this fastreg reads {FORMAT_VERSION}).")
        kind = _field(meta, "kind", (str,))
        if kind == "Network":
            model = _load_network(_field(meta, "network", (dict,)), arrays, "")
        elif kind == "estimator":
            model = _load_estimator(_field(meta, "estimator", (dict,)), arrays)
        else:
            raise _InvalidFile(f"unknown model kind {kind!r}.")
        if arrays:
            raise _InvalidFile(f"unexpected arrays {sorted(arrays)}.")
    except (_InvalidFile, ValueError, TypeError, KeyError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path} is not a valid fastreg model file: {error}") from None
    return model
