"""fastreg.tabular.TabularModel: the preprocessing against scikit-learn's own encoders, the
task it infers, saving and loading (hostile files included, in a child process), and the
progress lines against the estimator's records."""
import io
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

from sklearn.datasets import load_diabetes, load_wine  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, r2_score  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

import fastreg  # noqa: E402
from fastreg import EnsembleClassifier, MLPClassifier, MLPRegressor  # noqa: E402
from fastreg.tabular import TabularModel, infer_task  # noqa: E402

REGIONS = np.array(["north", "south", "east"])


def wine_table():
    """scikit-learn's wine data, with a text column (cycling through three regions)."""
    table = load_wine(as_frame=True).frame
    table.insert(3, "region", REGIONS[np.arange(len(table)) % 3])
    return table


def _classifier(epochs=20, dtype="float64", **params):
    estimator = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=epochs,
                              random_state=0, **params)
    return TabularModel(estimator, dtype=dtype)


def _quiet_fit(model, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        return model.fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def wine():
    table = wine_table()
    return table.drop(columns="target"), table["target"]


@pytest.fixture(scope="module")
def fitted(wine):
    return _quiet_fit(_classifier(), *wine)


def test_encoding_is_scikit_learns_scaler_and_one_hot_encoder(wine, fitted):
    """Standardized numeric columns (population standard deviation, as StandardScaler), then
    the one-hot columns of each text column in sorted order (as OneHotEncoder)."""
    X, _ = wine
    numeric = [name for name in X.columns if name != "region"]
    expected = np.hstack([StandardScaler().fit_transform(X[numeric]),
                          OneHotEncoder(sparse_output=False).fit_transform(X[["region"]])])
    np.testing.assert_allclose(fitted.transform(X), expected, rtol=1e-12, atol=1e-12)
    assert list(fitted.encoded_feature_names_) == numeric + [
        "region=east", "region=north", "region=south"]
    assert list(fitted.numeric_features_) == numeric
    assert list(fitted.feature_names_in_) == list(X.columns)
    # Columns by name: another order and extra columns change nothing.
    shuffled = X[X.columns[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(fitted.transform(shuffled), fitted.transform(X))


def test_float32_encoding_is_the_float64_one_rounded(wine):
    X, y = wine
    model32 = _quiet_fit(_classifier(dtype="float32"), X, y)
    model64 = _quiet_fit(_classifier(dtype="float64"), X, y)
    encoded = model32.transform(X)
    assert encoded.dtype == np.float32 and model64.transform(X).dtype == np.float64
    np.testing.assert_array_equal(encoded, model64.transform(X).astype(np.float32))
    assert model32.estimator_._network.dtype == np.float32
    # The same data and seed: both precisions learn the same classes.
    assert accuracy_score(model64.predict(X), model32.predict(X)) > 0.97


def test_unknown_category_encodes_as_zeros_with_a_warning(wine, fitted):
    X, _ = wine
    changed = X.head(4).copy()
    changed.loc[changed.index[1], "region"] = "west"
    with pytest.warns(UserWarning, match="'region' has 1 value"):
        encoded = fitted.transform(changed)
    assert encoded[1, -3:].tolist() == [0, 0, 0]
    assert encoded[[0, 2, 3], -3:].sum(axis=1).tolist() == [1, 1, 1]


@pytest.mark.parametrize("values, task", [
    (["a", "b", "a"], "classify"),
    ([True, False, True], "classify"),
    ([0, 1, 2, 1], "classify"),
    ([1.0, 2.0, 1.0], "classify"),
    (np.arange(21), "regress"),
    ([0.5, 1.0, 2.0], "regress"),
])
def test_infer_task(values, task):
    assert infer_task(pd.Series(values))[0] == task


def test_classifier_metrics_are_scikit_learns(wine, fitted):
    X, y = wine
    metrics = fitted.evaluate(X, y)
    assert metrics["accuracy"] == accuracy_score(y, fitted.predict(X))
    assert metrics["log_loss"] == pytest.approx(log_loss(y, fitted.predict_proba(X)), rel=1e-12)
    assert list(fitted.classes_) == [0, 1, 2]
    # Labels the model never saw: log-loss is undefined, accuracy is not.
    unknown = fitted.evaluate(X.head(3), [0, 7, 0])
    assert unknown["log_loss"] is None and 0 <= unknown["accuracy"] <= 1


def test_regression_target_is_standardized_and_predictions_come_back_in_its_units():
    data = load_diabetes(as_frame=True, scaled=False).frame
    X, y = data.drop(columns="target"), data["target"]
    model = _quiet_fit(TabularModel(MLPRegressor(hidden_layer_sizes=(16,), max_iter=30,
                                                 learning_rate_init=0.01, random_state=0)), X, y)
    assert model.task_ == "regress"
    assert model.target_mean_ == pytest.approx(y.mean()) and model.target_scale_ == pytest.approx(
        y.std(ddof=0))
    raw = model.estimator_.predict(model.transform(X))
    predicted = model.predict(X)
    np.testing.assert_allclose(predicted, raw * y.std(ddof=0) + y.mean(), rtol=1e-12)
    metrics = model.evaluate(X, y)
    assert metrics["r2"] == pytest.approx(r2_score(y, predicted), rel=1e-12)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, predicted), rel=1e-12)
    assert metrics["r2"] > 0.3


@pytest.mark.parametrize("model_kind", ["mlp", "ensemble"])
def test_save_and_load_predict_the_same(wine, dtype, model_kind, tmp_path):
    X, y = wine
    if model_kind == "mlp":
        model = _classifier(dtype=dtype)
    else:
        model = TabularModel(EnsembleClassifier(MLPClassifier(hidden_layer_sizes=(8,), max_iter=5),
                                                n_estimators=2, random_state=0), dtype=dtype)
    _quiet_fit(model, X, y)
    path = tmp_path / "model.fastreg"
    fastreg.save(model, path)
    loaded = fastreg.load(path)
    assert isinstance(loaded, TabularModel)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.predict_proba(X).dtype == np.dtype(dtype)
    for name in ("mean_", "scale_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert [list(c) for c in loaded.categories_] == [list(c) for c in model.categories_]
    unfitted = tmp_path / "unfitted.fastreg"
    fastreg.save(TabularModel(task="regress"), unfitted)
    assert fastreg.load(unfitted).get_params()["task"] == "regress"


def test_text_labels_come_back(wine, tmp_path):
    X, y = wine
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    model = _quiet_fit(_classifier(), X, pd.Series(names, name="cultivar"))
    assert model.target_name_ == "cultivar" and model.task_ == "classify"
    assert set(model.predict(X)) <= set(names)
    fastreg.save(model, tmp_path / "m.fastreg")
    np.testing.assert_array_equal(fastreg.load(tmp_path / "m.fastreg").predict(X),
                                  model.predict(X))


def test_progress_prints_the_estimators_records(wine):
    """One line per shown epoch, its numbers those the estimator recorded."""
    X, y = wine
    out = io.StringIO()
    held_out = np.arange(len(X)) % 3 == 0
    model = _quiet_fit(_classifier(epochs=5), X[~held_out], y[~held_out],
                       validation_data=(X[held_out], y[held_out]), progress=out)
    lines = out.getvalue().splitlines()
    estimator = model.estimator_
    assert len(lines) == 5
    for epoch, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {epoch}")
        assert f"loss {estimator.loss_curve_[epoch - 1]:.5f}" in line
        assert f"validation loss {estimator.validation_loss_curve_[epoch - 1]:.5f}" in line
        assert f"validation accuracy {estimator.validation_scores_[epoch - 1]:.4f}" in line
    assert estimator.verbose is False  # set back after the fit


def test_bad_tables_are_named(wine, fitted):
    X, y = wine
    with pytest.raises(TypeError, match="DataFrame"):
        TabularModel().fit(X.to_numpy(), y)
    holes = X.copy()
    holes.loc[[2, 5], "ash"] = np.nan
    with pytest.raises(ValueError, match=r"missing values in 2 row\(s\), in the column\(s\) 'ash'"):
        _classifier().fit(holes, y)
    with pytest.raises(ValueError, match="'region' are not numeric"):
        TabularModel(categorical="refuse").fit(X, y)
    with pytest.raises(ValueError, match="lacks the column\\(s\\) 'ash', 'hue'"):
        fitted.predict(X.drop(columns=["ash", "hue"]))
    with pytest.raises(ValueError, match="'alcohol' were numeric"):
        fitted.predict(X.assign(alcohol="high"))
    with pytest.raises(ValueError, match="does not suit"):
        TabularModel(MLPClassifier(), task="regress").fit(X, y)
    with pytest.raises(ValueError, match="no rows"):
        TabularModel().fit(X.iloc[:0], y.iloc[:0])


# ---------------------------------------------------------------------- hostile files
LOAD_TABULAR = r'''
import fastreg.tabular
for case, path in CASES:
    outcome, _ = attempt(lambda: fastreg.load(path))
    emit("loaded", case=case, outcome=outcome)
'''


@pytest.mark.slow
def test_hostile_tabular_files_are_refused(wine, tmp_path):
    """Edited model files: each part of the preprocessing is checked against the others and
    against the estimator's inputs, so that no file can make transform index out of bounds
    or compute with NaN; each load is a ValueError naming the file and the problem."""
    from test_hostile import records, run_checked
    from test_io_hostile import edited, read_file

    X, y = wine
    good = tmp_path / "good.fastreg"
    fastreg.save(_quiet_fit(_classifier(epochs=2), X, y), good)
    regressor = tmp_path / "regressor.fastreg"
    data = load_diabetes(as_frame=True).frame
    fastreg.save(_quiet_fit(TabularModel(MLPRegressor(hidden_layer_sizes=(4,), max_iter=2)),
                            data.drop(columns="target"), data["target"]), regressor)

    def state(meta):
        return meta["model"]["state"]

    def array(name, value):
        return lambda m, a: a.update({f"TabularModel.{name}": value})

    cases = {}

    def case(name, message, edit, source=good):
        cases[name] = (edited(source, tmp_path / f"{name}.fastreg", edit), message)

    n_numeric = X.shape[1] - 1
    case("mean_short", f"mean_ has shape (3,); expected ({n_numeric},)",
         array("mean_", np.zeros(3)))
    case("mean_nan", "mean_ contains NaN", array("mean_", np.full(n_numeric, np.nan)))
    case("scale_zero", "scale_ must be positive", array("scale_", np.zeros(n_numeric)))
    case("scale_ints", "scale_ has dtype int64", array("scale_", np.ones(n_numeric, np.int64)))
    case("extra_category", "fitted to the 17 encoded features",
         array("categories_.0", np.array(["east", "north", "south", "west"])))
    case("unsorted_categories", "distinct values in increasing order",
         array("categories_.0", np.array(["south", "north", "east"])))
    case("repeated_category", "holds a name twice",
         array("categories_.0", np.array(["east", "east", "north"])))
    case("no_categories_list", "one array per categorical feature",
         lambda m, a: state(m).update(categories_=[]))
    case("names_repeated", "feature_names_in_ holds a name twice",
         array("feature_names_in_", np.array(["alcohol"] * X.shape[1])))
    case("names_not_divided", "must divide feature_names_in_",
         array("categorical_features_", np.array(["alcohol"])))
    def names_as_numbers(meta, arrays):
        state(meta).update(feature_names_in_={"array": "numbers"})
        arrays.pop("TabularModel.feature_names_in_")
        arrays["numbers"] = np.arange(X.shape[1])

    case("names_as_numbers", "feature_names_in_ has dtype int64", names_as_numbers)
    case("task_unknown", "task_ must be one of", lambda m, a: state(m).update(task_="cluster"))
    case("task_regress_with_a_classifier", "estimator_ (a fastreg regressor) has the wrong type",
         lambda m, a: state(m).update(task_="regress", target_mean_=0.0, target_scale_=1.0))
    case("target_scale_for_a_classifier", "target_scale_ must be a finite number for regression",
         lambda m, a: state(m).update(target_scale_=2.0))
    case("target_scale_nan", "target_scale_ must be a finite number",
         lambda m, a: state(m).update(target_scale_=float("nan")), regressor)
    case("target_scale_negative", "target_scale_ must be positive",
         lambda m, a: state(m).update(target_scale_=-1.0), regressor)
    case("target_name_number", "target_name_ must be a string",
         lambda m, a: state(m).update(target_name_=3))
    case("missing_state", "missing ['mean_']", lambda m, a: state(m).pop("mean_")
         or a.pop("TabularModel.mean_"))
    network = tmp_path / "network.fastreg"
    fastreg.save(fastreg.Network([fastreg.Dense(3)]), network)
    network_entry = read_file(network)[0]["model"]
    case("estimator_param_network", "estimator has the wrong type (Network)",
         lambda m, a: m["model"]["params"].update(estimator={"model": network_entry}))
    out = run_checked(f"CASES = {[(c, str(p)) for c, (p, _) in cases.items()]!r}\n" + LOAD_TABULAR)
    outcomes = {r["case"]: r["outcome"] for r in records(out, "loaded")}
    failures = []
    for name, (path, message) in cases.items():
        outcome = outcomes.get(name)
        if (outcome is None or outcome["status"] != "raised" or outcome["type"] != "ValueError"
                or message not in outcome["message"] or str(path) not in outcome["message"]):
            failures.append(f"{name}: {outcome}")
    assert not failures, "\n".join(failures)
    # The files the hostile ones were edited from load and predict.
    assert fastreg.load(good).predict(X).shape == (len(X),)


@pytest.mark.slow
def test_damaged_tabular_files_load_or_raise_value_error(wine, tmp_path):
    """Bytes changed in a TabularModel's file: load reads a model or raises ValueError,
    never anything else, never a crash (test_io_hostile's fuzzing, on this class)."""
    from test_hostile import records, run_checked
    from test_io_hostile import FUZZ

    X, y = wine
    good = tmp_path / "good.fastreg"
    fastreg.save(_quiet_fit(_classifier(epochs=2), X, y), good)
    out = run_checked(f"GOOD = {str(good)!r}\nPATH = {str(tmp_path / 'damaged')!r}\n"
                      "TRIALS = 300\nimport fastreg.tabular\n" + FUZZ, timeout=300)
    assert records(out, "done"), out[-2000:]
    assert not records(out, "escaped"), records(out, "escaped")[:5]


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_progress_of_ensemble_members_comes_whole_from_every_member(wine, n_jobs):
    """Members training one after the other or in threads: whole lines, the numbers each
    member recorded, epochs 1, 10 and the last of every member; the process's standard
    output untouched (nothing is redirected)."""
    import contextlib
    import re

    X, y = wine
    out, stdout = io.StringIO(), io.StringIO()
    ensemble = EnsembleClassifier(MLPClassifier(hidden_layer_sizes=(8,), max_iter=12,
                                                learning_rate_init=0.01),
                                  n_estimators=3, random_state=0, n_jobs=n_jobs)
    with contextlib.redirect_stdout(stdout):
        model = _quiet_fit(TabularModel(ensemble), X, y, progress=out)
    assert stdout.getvalue() == ""
    lines = out.getvalue().splitlines()
    pattern = re.compile(r"member (\d)/3  epoch +(\d+)  loss (\d+\.\d{5})")
    shown = {}
    for line in lines:
        match = pattern.fullmatch(line)
        assert match, line
        member, epoch = int(match[1]) - 1, int(match[2])
        curve = model.estimator_.estimators_[member].loss_curve_
        assert match[3] == f"{curve[epoch - 1]:.5f}"
        shown.setdefault(member, []).append(epoch)
    assert {member: sorted(epochs) for member, epochs in shown.items()} == {
        member: [1, 10, 12] for member in range(3)}
    if n_jobs is None:  # one member after the other
        assert [int(line[7]) for line in lines] == [1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_progress_ends_with_why_training_stopped(wine):
    X, y = wine
    out = io.StringIO()
    criterion = fastreg.Patience(2, min_delta=0.01)
    model = _quiet_fit(_classifier(epochs=200, stopping_criterion=criterion, early_stopping=True),
                       X, y, progress=out)
    estimator = model.estimator_
    assert estimator.n_iter_ < 200 and estimator.stopping_reason_
    lines = out.getvalue().splitlines()
    assert lines[-1] == estimator.stopping_reason_
    assert lines[-2].startswith(f"epoch {estimator.n_iter_:>3}")
