"""fastreg.save / fastreg.load keep every constructor option and all of a model's state.

The cases are generated from the constructors' signatures: for every parameter of
Network, MLPClassifier, MLPRegressor, Conv1DClassifier, EnsembleClassifier and
EnsembleRegressor, VALUES below holds one or more non-default values (with the other
settings they need); a parameter without an entry fails ``test_every_option_has_a_value``
and its own case, so a new option cannot be left out of the files. Each case, in float32
and float64:

* the model, unfitted, is saved and loaded: every attribute equal, and fitted the same
  way the two give the same bits;
* fitted, it is saved and loaded: every attribute equal (arrays bit for bit, random
  generators in the same state, nested networks and members alike), the same predictions
  bit for bit, and after the same further training (more epochs, ``partial_fit``, a new
  ``fit``) the same weights and attributes, bit for bit, as the model never saved.

REFUSED holds the values a file cannot store (callables of the user's own, objects of
other libraries): save raises a ValueError that names the option and writes nothing.
"""
import copy
import inspect
import numbers
import threading
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402

import fastreg  # noqa: E402
from fastreg import (  # noqa: E402
    EMA,
    L1,
    L2,
    SGD,
    SWA,
    Adam,
    AdamW,
    Conv1D,
    Conv1DClassifier,
    Dense,
    ElasticNet,
    EnsembleClassifier,
    EnsembleRegressor,
    GeneralizationLoss,
    MaxNorm,
    MLPClassifier,
    MLPRegressor,
    Network,
    Patience,
    ProgressQuotient,
    UpStrips,
    WeightDecay,
)
from fastreg.augment import Compose, Jitter, RandomFlip, RandomScale, RandomShift  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------------- the table
class Value:
    """A non-default value of a parameter, with the other settings it needs to matter."""

    def __init__(self, value, **context):
        self.value, self.context = value, context

    def __repr__(self):
        context = "".join(f",{k}={v!r}" for k, v in self.context.items())
        return f"{self.value!r}{context}"[:60]


def _values(*values):
    return [v if isinstance(v, Value) else Value(v) for v in values]


SGD_ = {"solver": "sgd"}
MLP_VALUES = {
    "hidden_layer_sizes": _values((5, 4)),
    "activation": _values("tanh", "logistic"),
    "solver": _values("sgd", "lbfgs"),
    "alpha": _values(0.01),
    "batch_size": _values(7),
    "learning_rate": _values(Value("invscaling", **SGD_),
                             Value("adaptive", **SGD_, tol=0.5, n_iter_no_change=1)),
    "learning_rate_init": _values(0.02),
    "power_t": _values(Value(0.3, **SGD_, learning_rate="invscaling")),
    "max_iter": _values(6),
    "shuffle": _values(False),
    "random_state": _values(np.random.RandomState(3), None),
    "tol": _values(0.5),
    "verbose": _values(True),
    "warm_start": _values(True),
    "momentum": _values(Value(0.5, **SGD_)),
    "nesterovs_momentum": _values(Value(False, **SGD_)),
    "early_stopping": _values(True, Value(True, **SGD_)),
    "validation_fraction": _values(Value(0.25, early_stopping=True)),
    "beta_1": _values(0.8),
    "beta_2": _values(0.99),
    "epsilon": _values(1e-6),
    "n_iter_no_change": _values(Value(1, tol=0.5)),
    "max_fun": _values(Value(20, solver="lbfgs")),
    "dropout": _values(0.2, (0.1,)),
    "input_dropout": _values(0.1),
    "l1": _values(1e-3),
    "weight_decay": _values(0.01, Value(0.01, **SGD_)),
    "max_norm": _values(1.0),
    "input_noise": _values(0.1),
    "averaging": _values("ema", "swa"),
    "averaging_decay": _values(Value(0.9, averaging="ema")),
    "swa_start": _values(Value(1, averaging="swa")),
    "n_threads": _values(1),
    "stopping_criterion": _values(*(Value(c, early_stopping=True) for c in (
        UpStrips(2, 2), Patience(2, 0.01), GeneralizationLoss(1.0), ProgressQuotient(0.5, 2)))),
}

VALUES = {
    Network: {
        "layers": _values(
            [Conv1D(2, 3, stride=2, padding=1, activation="tanh", dropout=0.1),
             Dense(5, "logistic", dropout=0.2), Dense(3)],
            [Conv1D(3, 2), Conv1D(2, 3, stride=2, activation="identity"), Dense(3)]),
        "loss": _values("logistic_cross_entropy", "squared_error", "poisson"),
        "optimizer": _values(Adam(0.01, 0.8, 0.99, 1e-6), AdamW(0.01, weight_decay=0.1),
                             SGD(0.05, 0.9, True), SGD(0.05, 0.5)),
        "regularizers": _values([L2(1e-2), L1(1e-3), MaxNorm(1.0)],
                                (ElasticNet(1e-3, 1e-2), WeightDecay(0.1))),
        "input_dropout": _values(0.2),
        "input_noise": _values(0.1),
        "weight_noise": _values(0.1),
        "label_noise": _values(0.2),
        "augment": _values(Jitter(0.1), RandomShift(2, mode="pad", fill_value=0.5),
                           RandomScale(0.9, 1.1), Compose([RandomShift(1), Jitter(0.05)]),
                           RandomFlip((2, 4), vertical=True, p=0.3)),
        "averaging": _values(EMA(0.9), SWA(start=1, every=2)),
        "dropout_mode": _values(Value("vanilla", layers=[Dense(6, "relu", dropout=0.3), Dense(3)])),
        "label_smoothing": _values(0.1),
        "dtype": _values("float64"),
        "random_state": _values(7, np.random.Generator(np.random.MT19937(3)), None),
        "n_threads": _values(1),
    },
    MLPClassifier: {**MLP_VALUES, "label_smoothing": _values(0.1),
                    "class_weight": _values("balanced", {"bee": 2.0, "cat": 0.5})},
    MLPRegressor: {**MLP_VALUES, "loss": _values("poisson")},
    Conv1DClassifier: {
        "conv_layers": _values(((3, 3, 2, 1), (2, 2, 1, 0))),
        "hidden_layer_sizes": _values((4,)),
        "learning_rate_init": _values(0.02),
        "batch_size": _values(7),
        "max_iter": _values(3),
        "weight_decay": _values(0.01),
        "dropout": _values(0.1),
        "label_smoothing": _values(0.1),
        "max_shift": _values(2),
        "random_state": _values(np.random.RandomState(3), None),
        "n_threads": _values(1),
    },
    EnsembleClassifier: {
        "estimator": _values(Conv1DClassifier(conv_layers=((2, 3, 1, 0),), max_iter=2,
                                              batch_size=10),
                             MLPClassifier(hidden_layer_sizes=(3,), solver="sgd", dropout=0.1,
                                           max_iter=3),
                             MLPClassifier(hidden_layer_sizes=(3,), max_iter=3,
                                           class_weight={"ant": 3.0})),
        "n_estimators": _values(3),
        "strategy": _values("bagging", "snapshot", "checkpoints", "cv"),
        "combine": _values("mean_logits", "vote"),
        "cv": _values(Value(3, strategy="cv")),
        "random_state": _values(np.random.RandomState(3), None),
        "n_jobs": _values(2),
        "backend": _values("threading"),
    },
    EnsembleRegressor: {
        "estimator": _values(MLPRegressor(hidden_layer_sizes=(3,), solver="sgd", max_iter=3,
                                          learning_rate_init=0.01)),
        "n_estimators": _values(3),
        "strategy": _values("bagging", "snapshot", "checkpoints", "cv"),
        "combine": _values("median"),
        "cv": _values(Value(3, strategy="cv")),
        "random_state": _values(np.random.RandomState(3), None),
        "n_jobs": _values(2),
        "backend": _values("threading"),
    },
}

#: The settings every case starts from (fast to train); VALUES change one of them.
BASE = {
    Network: dict(layers=[Dense(6, "relu"), Dense(3)], optimizer=SGD(0.05, 0.9), random_state=0),
    MLPClassifier: dict(hidden_layer_sizes=(6,), max_iter=4, learning_rate_init=0.01,
                        random_state=0),
    MLPRegressor: dict(hidden_layer_sizes=(6,), max_iter=4, learning_rate_init=0.01,
                       random_state=0),
    Conv1DClassifier: dict(conv_layers=((2, 3, 1, 0),), max_iter=2, batch_size=10, random_state=0),
    EnsembleClassifier: dict(estimator=MLPClassifier(hidden_layer_sizes=(4,), max_iter=3,
                                                     learning_rate_init=0.01),
                             n_estimators=2, random_state=0),
    EnsembleRegressor: dict(estimator=MLPRegressor(hidden_layer_sizes=(4,), max_iter=3,
                                                   learning_rate_init=0.01),
                            n_estimators=2, random_state=0),
}


class OwnCriterion(Patience):
    """A stopping criterion of the user's own: its code cannot go into a file."""


#: Values a file cannot hold: save names the option and writes nothing.
REFUSED = {
    Network: {"augment": [lambda X, rng: X, Compose([Jitter(0.1), lambda X, rng: X])],
              "optimizer": [SGD(lambda epoch: 0.1 / (1 + epoch))]},
    MLPClassifier: {"stopping_criterion": [OwnCriterion()]},
    MLPRegressor: {"stopping_criterion": [OwnCriterion()]},
    EnsembleClassifier: {"estimator": [LogisticRegression()], "cv": [KFold(3)]},
    EnsembleRegressor: {"estimator": [Ridge()], "cv": [KFold(3)]},
}

CLASSES = list(VALUES)


def _cases():
    for cls in CLASSES:
        for name in inspect.signature(cls).parameters:
            for value in VALUES[cls].get(name, [None]):
                yield pytest.param(cls, name, value, id=f"{cls.__name__}-{name}-{value!r}")


def test_every_option_has_a_value():
    for cls in CLASSES:
        missing = set(inspect.signature(cls).parameters) - set(VALUES[cls])
        assert not missing, (f"{cls.__name__}: add a non-default value of {sorted(missing)} "
                             f"to VALUES in {__file__}")
        defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
        defaults.update(BASE[cls])
        for name, values in VALUES[cls].items():
            for value in values:
                assert repr(value.value) != repr(defaults[name]), (
                    f"{cls.__name__}.{name}: {value} is the base value")


# ---------------------------------------------------------------------- data and training
def _data(cls, dtype, loss=None):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(dtype)
    labels = np.arange(40) % 3
    if cls is Network:
        if loss in ("squared_error", "poisson"):
            return X, np.abs(X[:, :3] + 0.1).astype(dtype)
        if loss == "logistic_cross_entropy":
            return X, (X[:, :3] > 0).astype(dtype)
        return X, labels
    if cls in (MLPRegressor, EnsembleRegressor):
        return X, np.abs(X[:, 0] + X[:, 1])
    return X, np.array(["ant", "bee", "cat"])[labels]


def _build(cls, name, value, dtype):
    params = dict(BASE[cls])
    if cls is Network:
        params["dtype"] = dtype
    params.update(copy.deepcopy(value.context))
    params[name] = copy.deepcopy(value.value)
    return cls(**params)


def _fit(model, X, y):
    np.random.seed(0)  # random_state=None draws from NumPy's global generator
    if isinstance(model, Network):
        model.fit(X, y, epochs=2, batch_size=8)
    else:
        model.fit(X, y)


def _more_training(model, X, y):
    """The further training both models get: each step's outcome (None, or the error)."""
    steps = []
    if isinstance(model, Network):
        steps.append(lambda: model.fit(X, y, epochs=3, batch_size=8))
        steps.append(lambda: model.fit(X, y, epochs=1, batch_size=40, shuffle=False))
    elif isinstance(model, Conv1DClassifier):
        steps.append(lambda: model.network_.fit(X, np.searchsorted(model.classes_, y), epochs=2,
                                                batch_size=8))
        steps.append(lambda: model.fit(X, y))
    elif isinstance(model, (MLPClassifier, MLPRegressor)):
        warm_start = model.warm_start
        # on from the state loaded
        steps.append(lambda: model.set_params(warm_start=True).fit(X, y))
        steps.append(lambda: model.partial_fit(X, y))
        steps.append(lambda: model.set_params(warm_start=warm_start).fit(X, y))
    else:  # the ensembles: their members train on, then the ensemble fits anew
        for member in model.estimators_:
            steps.append(lambda member=member: member.partial_fit(X, y))
        steps.append(lambda: model.fit(X, y))
    outcomes = []
    for step in steps:
        np.random.seed(1)
        try:
            step()
            outcomes.append(None)
        except (ValueError, AttributeError) as error:  # partial_fit with early stopping or lbfgs
            outcomes.append((type(error), str(error)))
    return outcomes


# ---------------------------------------------------------------------- comparison
#: Attributes that are not the model's state: the engine (rebuilt at the next fit), a
#: lock, the bookkeeping of the views handed out, and the estimators' per-fit generator.
TRANSIENT = {"_engine", "_call_lock", "_published", "_random_state"}


def assert_same(a, b, where="model", timed=True):
    """a and b equal all the way down: arrays bit for bit, generators in the same state
    (the epochs' durations too, unless ``timed`` is False: models trained apart)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype == object:
            assert a.tolist() == b.tolist(), where
        else:
            assert a.tobytes() == b.tobytes(), f"{where}: the arrays differ"
    elif isinstance(a, np.random.Generator):
        assert type(b) is np.random.Generator, where
        assert_same(a.bit_generator.state, b.bit_generator.state, f"{where}.state")
    elif isinstance(a, np.random.RandomState):
        assert type(b) is np.random.RandomState, where
        assert_same(a.get_state(legacy=False), b.get_state(legacy=False), f"{where}.state")
    elif (isinstance(a, numbers.Number) and not isinstance(a, bool)
          and isinstance(b, numbers.Number)):
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", timed)
    elif isinstance(a, dict):
        assert type(b) is dict and set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            if timed or key != "epoch_time":
                assert_same(a[key], b[key], f"{where}.{key}", timed)
    elif (hasattr(a, "__dict__") and not isinstance(a, type)
          and not callable(getattr(a, "__func__", None))):
        assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
        own = {k: v for k, v in vars(a).items() if k not in TRANSIENT}
        other = {k: v for k, v in vars(b).items() if k not in TRANSIENT}
        assert_same(own, other, where, timed)
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def _predictions(model, X):
    if isinstance(model, Network):
        return [model.predict(X)]
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out.append(model.predict_proba(X))
    return out


def _round_trip(model, path):
    model.save(path)
    return fastreg.load(path)


# ---------------------------------------------------------------------- the round trip
@pytest.mark.parametrize("cls, name, value", list(_cases()))
def test_every_option_round_trips(cls, name, value, dtype, tmp_path):
    assert value is not None, (f"{cls.__name__}({name}=...) is a constructor option "
                               f"without a value in VALUES ({__file__}): "
                               "add one, and make save/load keep it")
    model = _build(cls, name, value, dtype)
    X, y = _data(cls, dtype, getattr(model, "loss", None))
    # Unfitted: the same object back, which fits to the same bits.
    loaded = _round_trip(model, tmp_path / "unfitted.fastreg")
    assert_same(model, loaded)
    _fit(model, X, y)
    _fit(loaded, X, y)
    assert_same(model, loaded, timed=False)
    # Fitted: the same state, predictions and further training as the model never saved.
    loaded = _round_trip(model, tmp_path / "fitted.fastreg")
    assert_same(model, loaded)
    for ours, theirs in zip(_predictions(model, X), _predictions(loaded, X)):
        assert_same(ours, theirs, "prediction")
    assert _more_training(model, X, y) == _more_training(loaded, X, y)
    assert_same(model, loaded, timed=False)
    if isinstance(model, Network) or hasattr(model, "coefs_"):
        weights = model.coefs_ + model.intercepts_
        assert all(np.isfinite(w).all() for w in weights)


@pytest.mark.parametrize("cls, name, value", [
    pytest.param(cls, name, value, id=f"{cls.__name__}-{name}-{i}")
    for cls, options in REFUSED.items() for name, values in options.items()
    for i, value in enumerate(values)])
def test_save_names_what_it_cannot_store(cls, name, value, tmp_path):
    params = dict(BASE[cls])
    params[name] = value
    model = cls(**params)
    path = tmp_path / "model.fastreg"
    with pytest.raises(ValueError, match=rf"\.{name}\b.* cannot be saved"):
        model.save(path)
    assert not path.exists()


def test_loaded_settings_are_the_given_ones(tmp_path):
    """The issue's cases, read attribute by attribute: nothing becomes a default."""
    net = Network([Conv1D(2, 3), Dense(4, "relu"), Dense(3)], weight_noise=0.1, label_noise=0.2,
                  averaging=EMA(0.9), augment=Compose([Jitter(0.1), RandomShift(2)]),
                  random_state=0)
    X, y = _data(Network, "float32")
    net.fit(X, y, epochs=2)
    net.save(tmp_path / "net")
    loaded = fastreg.load(tmp_path / "net")
    assert (loaded.weight_noise, loaded.label_noise, loaded.averaging) == (0.1, 0.2, EMA(0.9))
    assert [type(a) for a in loaded.augment.augmentations] == [Jitter, RandomShift]
    assert loaded.augment.augmentations[1].max_shift == 2
    for ours, theirs in zip(net.averaged_coefs_, loaded.averaged_coefs_):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.layers == net.layers


def test_public_arrays_put_in_place_are_saved(tmp_path):
    """coefs_ the user replaced (not yet adopted by a fit) are what the file holds."""
    X, y = _data(Network, "float64")
    net = Network([Dense(4, "relu"), Dense(3)], dtype="float64", random_state=0)
    net.fit(X, y)
    replaced = [np.full(c.shape, 0.5) for c in net.coefs_]
    net.coefs_ = replaced
    net.save(tmp_path / "net")
    loaded = fastreg.load(tmp_path / "net")
    for ours, theirs in zip(replaced, loaded.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_non_finite_weights_are_not_saved(tmp_path):
    X, y = _data(Network, "float32")
    net = Network([Dense(4, "relu"), Dense(3)], random_state=0)
    net.fit(X, y)
    net.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.save(tmp_path / "net")
    assert not (tmp_path / "net").exists()


def test_save_takes_only_fastreg_models(tmp_path):
    with pytest.raises(TypeError, match="save takes a fastreg"):
        fastreg.save(LogisticRegression(), tmp_path / "model")


def test_a_network_training_in_another_thread_is_not_saved(tmp_path):
    """Saving while another thread trains the network would tear its state: save raises."""
    X, y = _data(Network, "float32")
    net = Network([Dense(4, "relu"), Dense(3)], random_state=0)
    started, release = threading.Event(), threading.Event()

    def pause(network, record):
        started.set()
        release.wait(30)
        return True

    thread = threading.Thread(target=lambda: net.fit(X, y, epochs=5, callback=pause))
    thread.start()
    try:
        assert started.wait(30)
        with pytest.raises(RuntimeError, match="another thread"):
            net.save(tmp_path / "net")
        assert not (tmp_path / "net").exists()
    finally:
        release.set()
        thread.join()
    net.save(tmp_path / "net")
    assert fastreg.load(tmp_path / "net").epochs_ == 1
