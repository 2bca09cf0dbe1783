"""The command line: ``fastreg train / predict / evaluate`` on tables of scikit-learn's data
sets checked against the model loaded in Python and scikit-learn's metrics, one clear line
for every bad input, and ``demo``, ``info``, ``--help`` and ``--version``.

The commands run as ``python -m fastreg`` in a child process whose PYTHONPATH puts the
fastreg under test first (the bad inputs run in-process too, which is quicker).
"""
import io
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import fastreg
from fastreg import cli

ROOT = str(Path(fastreg.__file__).parents[1])
REGIONS = np.array(["north", "south", "east"])


def run(*args, cwd, prelude=None):
    """``python -m fastreg *args`` in ``cwd`` (or ``python -c`` running ``prelude`` and then
    the command line), with the tested fastreg first on the path."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "fastreg", *args]
    if prelude is not None:
        command = [sys.executable, "-c", prelude + "\nimport sys\nfrom fastreg.cli import main\n"
                   f"sys.exit(main({list(args)!r}))"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result, status, *fragments):
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def table_value(out, label, column=0):
    """The number in ``column`` of the metrics table row ``label``."""
    for line in out.splitlines():
        if line.startswith(label + "  "):
            return float(line[len(label):].split()[column])
    raise AssertionError(f"no row {label!r} in:\n{out}")


# ---------------------------------------------------------------------- data
def wine_table():
    """scikit-learn's wine data with a text column, to be one-hot encoded."""
    from sklearn.datasets import load_wine

    table = load_wine(as_frame=True).frame
    table.insert(3, "region", REGIONS[np.arange(len(table)) % 3])
    return table


@pytest.fixture(scope="module")
def wine_dir(tmp_path_factory):
    """A folder with wine.csv and the model ``fastreg train`` made of it (its output too)."""
    pytest.importorskip("sklearn")
    pytest.importorskip("pandas")
    folder = tmp_path_factory.mktemp("wine")
    wine_table().to_csv(folder / "wine.csv", index=False)
    result = run("train", "wine.csv", "--target", "target", "--epochs", "20",
                 "--learning-rate", "0.01", "--hidden", "32", "--seed", "3", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_train_reports_the_split_the_encoding_and_the_metrics(wine_dir):
    """The train table's validation accuracy is the model's on the split the command
    describes: stratified, seeded, 20% (recomputed here with scikit-learn)."""
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.model_selection import train_test_split

    folder, result = wine_dir
    out = result.stdout
    assert "Task: classify 'target' (it holds 3 distinct integer values" in out
    assert "13 numeric (standardized), 1 one-hot encoded: 'region' (3 values)" in out
    assert "Validation: 36 rows held out (stratified" in out
    assert len(re.findall(r"^epoch +\d+  loss \d", out, flags=re.M)) >= 10
    assert "Saved the model and its preprocessing to wine.fastreg." in out
    assert result.stderr == ""
    model = fastreg.load(folder / "wine.fastreg")
    table = wine_table()
    X, y = table.drop(columns="target"), table["target"]
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.2, random_state=3,
                                                      stratify=y)
    assert model.estimator_.n_iter_ == 20 and model.estimator_.hidden_layer_sizes == (32,)
    assert table_value(out, "accuracy", 1) == round(accuracy_score(y_val, model.predict(X_val)), 4)
    assert table_value(out, "accuracy", 0) == round(
        accuracy_score(y_train, model.predict(X_train)), 4)
    assert table_value(out, "log-loss", 1) == pytest.approx(
        log_loss(y_val, model.predict_proba(X_val)), abs=5e-5)


def test_predict_writes_what_the_loaded_model_predicts(wine_dir):
    pd = pytest.importorskip("pandas")
    folder, _ = wine_dir
    result = run("predict", "wine.fastreg", "wine.csv", "--proba", cwd=folder)
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(io.StringIO(result.stdout))
    model = fastreg.load(folder / "wine.fastreg")
    table = pd.read_csv(folder / "wine.csv")
    assert list(written.columns) == ["target", "proba_0", "proba_1", "proba_2"]
    np.testing.assert_array_equal(written["target"], model.predict(table))
    # CSV holds each float64 exactly (shortest repr).
    np.testing.assert_array_equal(written.iloc[:, 1:].to_numpy(), model.predict_proba(table))


def test_evaluate_prints_scikit_learns_metrics_of_the_predictions(wine_dir):
    pd = pytest.importorskip("pandas")
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss

    folder, _ = wine_dir
    result = run("evaluate", "wine.fastreg", "wine.csv", cwd=folder)
    assert result.returncode == 0, result.stderr
    model = fastreg.load(folder / "wine.fastreg")
    table = pd.read_csv(folder / "wine.csv")
    predicted = model.predict(table)
    y = table["target"]
    assert table_value(result.stdout, "accuracy") == round(accuracy_score(y, predicted), 4)
    assert table_value(result.stdout, "balanced accuracy") == round(
        balanced_accuracy_score(y, predicted), 4)
    assert table_value(result.stdout, "log-loss") == pytest.approx(
        log_loss(y, model.predict_proba(table)), abs=5e-5)


@pytest.mark.slow
def test_regression_with_early_stopping(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    table = load_diabetes(as_frame=True, scaled=False).frame
    table.to_csv(tmp_path / "diabetes.csv", index=False)
    result = run("train", "diabetes.csv", "--target", "target", "--hidden", "32,32",
                 "--learning-rate", "0.01", "--early-stopping", "patience:5", "--epochs", "300",
                 "--quiet", "--out", "d.fastreg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Task: regress 'target' (it holds 214 distinct integer values" in result.stdout
    assert "stopped early" in result.stdout and "epoch " not in result.stdout  # --quiet
    model = fastreg.load(tmp_path / "d.fastreg")
    assert model.estimator_.n_iter_ < 300 and model.estimator_.stopping_reason_
    assert isinstance(model.estimator_.stopping_criterion, fastreg.Patience)
    evaluated = run("evaluate", "d.fastreg", "diabetes.csv", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    predicted = model.predict(pd.read_csv(tmp_path / "diabetes.csv"))
    y = table["target"]
    assert table_value(evaluated.stdout, "R^2") == round(r2_score(y, predicted), 4)
    assert table_value(evaluated.stdout, "MAE") == round(mean_absolute_error(y, predicted), 4)
    assert table_value(evaluated.stdout, "RMSE") == round(
        float(np.sqrt(mean_squared_error(y, predicted))), 4)


@pytest.mark.slow
def test_npz_npy_and_parquet_tables(tmp_path, wine_dir):
    """An .npz of X and y trains (float32, an ensemble); a .npy of the features alone
    predicts column by column; a Parquet table evaluates as its CSV does."""
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "iris.npz", X=X, y=y)
    np.save(tmp_path / "features.npy", X[::7])
    result = run("train", "iris.npz", "--target", "y", "--ensemble", "seeds:2", "--float32",
                 "--epochs", "30", "--learning-rate", "0.01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "member 2/2  epoch 30" in result.stdout
    model = fastreg.load(tmp_path / "iris.fastreg")
    assert isinstance(model.estimator_, fastreg.EnsembleClassifier)
    assert model.estimator_.estimators_[0]._network.dtype == np.float32
    predicted = run("predict", "iris.fastreg", "features.npy", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    frame = pd.DataFrame(X[::7], columns=[str(i) for i in range(4)])
    np.testing.assert_array_equal(pd.read_csv(io.StringIO(predicted.stdout))["y"],
                                  model.predict(frame))
    pytest.importorskip("pyarrow")
    folder, _ = wine_dir
    pd.read_csv(folder / "wine.csv").to_parquet(tmp_path / "wine.parquet")
    from_parquet = run("evaluate", str(folder / "wine.fastreg"), "wine.parquet", cwd=tmp_path)
    from_csv = run("evaluate", "wine.fastreg", "wine.csv", cwd=folder)
    assert from_parquet.returncode == 0, from_parquet.stderr
    for label in ("accuracy", "balanced accuracy", "log-loss"):
        assert table_value(from_parquet.stdout, label) == table_value(from_csv.stdout, label)


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    """A folder of bad inputs, and a good model (trained in Python) to misuse."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes

    from fastreg.tabular import TabularModel

    folder = tmp_path_factory.mktemp("bad")
    table = wine_table()
    table.to_csv(folder / "wine.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "header.csv").write_text(",".join(table.columns) + "\n")
    holes = table.copy()
    holes.loc[[3, 5], "ash"] = np.nan
    holes.loc[7, "hue"] = np.nan
    holes.to_csv(folder / "holes.csv", index=False)
    table.drop(columns="target").to_csv(folder / "features.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(folder / "diabetes.csv", index=False)
    (folder / "garbage.npy").write_text("not an array")
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.assign(target="high").to_csv(folder / "text_target.csv", index=False)
    diabetes.assign(bmi=diabetes["bmi"].astype(str) + "?").to_csv(folder / "text_bmi.csv",
                                                                  index=False)
    model = TabularModel(fastreg.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(table.drop(columns="target"), table["target"])
    fastreg.save(model, folder / "wine.fastreg")
    fastreg.save(fastreg.Network([fastreg.Dense(3)]).initialize(4), folder / "network.fastreg")
    regressor = TabularModel(fastreg.MLPRegressor(hidden_layer_sizes=(4,), max_iter=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor.fit(pd.read_csv(folder / "diabetes.csv").drop(columns="target"),
                      pd.read_csv(folder / "diabetes.csv")["target"])
    fastreg.save(regressor, folder / "regressor.fastreg")
    return folder


#: (command line, exit status, fragments of the one line on stderr)
BAD_INPUTS = {
    "missing_file": (["train", "nope.csv", "--target", "x"], 2, ["nope.csv: no such file"]),
    "missing_target": (["train", "wine.csv", "--target", "grape"], 2,
                       ["'grape' is not a column of wine.csv", "alcohol, malic_acid"]),
    "empty_file": (["train", "empty.csv", "--target", "x"], 2, ["empty.csv is empty"]),
    "header_only": (["train", "header.csv", "--target", "target"], 2,
                    ["header.csv has a header but no rows"]),
    "text_refused": (["train", "wine.csv", "--target", "target", "--no-onehot"], 2,
                     ["'region' are not numeric"]),
    "missing_values": (["train", "holes.csv", "--target", "target"], 2,
                       ["3 row(s) with missing values", "'ash' (2), 'hue' (1)", "--drop-na"]),
    "bad_hidden": (["train", "wine.csv", "--target", "target", "--hidden", "10,x"], 2,
                   ["argument --hidden", "'10,x'"]),
    "bad_ensemble": (["train", "wine.csv", "--target", "target", "--ensemble", "forest:3"], 2,
                     ["argument --ensemble", "seeds, bagging, snapshot", "'forest:3'"]),
    "bad_stopping": (["train", "wine.csv", "--target", "target", "--early-stopping", "gl:-1"], 2,
                     ["argument --early-stopping", "patience:N", "alpha must be"]),
    "bad_stopping_name": (["train", "wine.csv", "--target", "target", "--early-stopping", "soon"],
                          2, ["argument --early-stopping", "'soon'"]),
    "snapshot_stopping": (["train", "wine.csv", "--target", "target", "--ensemble", "snapshot:3",
                           "--early-stopping", "up:2"], 2, ["does not apply to --ensemble"]),
    "not_a_model": (["predict", "wine.csv", "wine.csv"], 2,
                    ["wine.csv is not a fastreg model file", "a text file"]),
    "not_a_tabular_model": (["predict", "network.fastreg", "wine.csv"], 2,
                            ["network.fastreg holds a fastreg Network", "fastreg train"]),
    "columns_differ": (["predict", "wine.fastreg", "diabetes.csv"], 2,
                       ["diabetes.csv lacks 14 column(s)", "'alcohol', 'malic_acid'"]),
    "evaluate_without_target": (["evaluate", "wine.fastreg", "features.csv"], 2,
                                ["lacks the target column 'target'", "alcohol"]),
    "predict_missing_values": (["predict", "wine.fastreg", "holes.csv"], 2,
                               ["3 row(s) with missing values"]),
    "proba_of_a_regressor": (["predict", "regressor.fastreg", "diabetes.csv", "--proba"], 2,
                             ["--proba needs a classification model"]),
    "garbage_npy": (["train", "garbage.npy", "--target", "0"], 2, ["garbage.npy is not a .npy"]),
    "text_target_for_a_regressor": (["evaluate", "regressor.fastreg", "text_target.csv"], 2,
                                    ["'target' must be numeric for regression"]),
    "text_in_a_numeric_column": (["predict", "regressor.fastreg", "text_bmi.csv"], 2,
                                 ["'bmi' were numeric in training"]),
    "no_command": ([], 2, ["required: COMMAND"]),
    "demo_epochs": (["demo", "--epochs", "0"], 2, ["argument --epochs", "'0'"]),
    "missing_model_file": (["evaluate", "gone.fastreg", "wine.csv"], 2,
                           ["MODEL gone.fastreg: no such file"]),
}

#: Missing optional packages, simulated in the child: (prelude, command line, fragments).
MISSING_PACKAGES = {
    "pandas": ("import sys; sys.modules['pandas'] = None",
               ["train", "wine.csv", "--target", "target"], ["needs pandas", "fastreg-nn[cli]"]),
    "pyarrow": ("import sys; sys.modules['pyarrow'] = sys.modules['fastparquet'] = None",
                ["train", "wine.parquet", "--target", "target"], ["Parquet needs pyarrow"]),
    "mnist1d": ("import sys; sys.modules['mnist1d'] = sys.modules['mnist1d.data'] = None",
                ["demo", "--epochs", "2"],
                ["needs the mnist1d package", "fastreg-nn[demo]"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line(case, bad_files, monkeypatch, capsys):
    """In-process: the exit status and the one line naming the problem."""
    argv, status, fragments = BAD_INPUTS[case]
    monkeypatch.chdir(bad_files)
    try:
        returned = cli.main(argv)
    except SystemExit as exit:  # argparse's errors
        returned = exit.code
    captured = capsys.readouterr()
    assert returned == status, captured
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_train_drops_missing_rows_and_trains_in_float32(bad_files, tmp_path, monkeypatch,
                                                       capsys):
    """In-process: --drop-na says what it dropped, --float32 trains in float32 and --quiet
    prints no epochs; the saved model predicts what the model trained on the same rows in
    Python predicts."""
    pd = pytest.importorskip("pandas")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", str(bad_files / "holes.csv"), "--target", "target", "--drop-na",
                     "--float32", "--epochs", "3", "--quiet", "--hidden", "8",
                     "--validation-fraction", "0"]) == 0
    out = capsys.readouterr().out
    assert "Dropped 3 of 178 rows with missing values (--drop-na)." in out
    assert "Trained in" in out and "epoch " not in out and "validation" not in out
    model = fastreg.load(tmp_path / "holes.fastreg")
    assert model.dtype == "float32" and model.estimator_._network.dtype == np.float32
    table = pd.read_csv(bad_files / "holes.csv").dropna().reset_index(drop=True)
    X, y = table.drop(columns="target"), table["target"]
    import warnings

    from fastreg.tabular import TabularModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twin = TabularModel(fastreg.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                                  random_state=0), dtype="float32").fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), twin.predict_proba(X))


@pytest.mark.parametrize("package", sorted(MISSING_PACKAGES))
def test_missing_package_is_one_line_with_the_install_hint(package, bad_files, monkeypatch,
                                                           capsys):
    prelude, argv, fragments = MISSING_PACKAGES[package]
    monkeypatch.chdir(bad_files)
    (bad_files / "wine.parquet").write_bytes(b"PAR1")
    for name in re.findall(r"sys\.modules\['([\w.]+)'\]", prelude):
        monkeypatch.setitem(sys.modules, name, None)
    assert cli.main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and all(fragment in lines[0] for fragment in fragments), lines


@pytest.mark.slow
def test_bad_input_in_a_process_of_its_own(bad_files):
    """The real processes: exit status, one line on stderr, no traceback."""
    (bad_files / "wine.parquet").write_bytes(b"PAR1")
    cases = [(argv, status, fragments, None) for argv, status, fragments in BAD_INPUTS.values()]
    cases += [(argv, 1, fragments, prelude)
              for prelude, argv, fragments in MISSING_PACKAGES.values()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda c: run(*c[0], cwd=bad_files, prelude=c[3]), cases))
    for (_, status, fragments, _), result in zip(cases, results):
        assert_one_line_error(result, status, *fragments)


def test_demo_without_mnist1d_is_one_line(tmp_path):
    result = run("demo", "--epochs", "2", cwd=tmp_path,
                 prelude="import sys; sys.modules['mnist1d'] = None")
    assert_one_line_error(result, 1, "fastreg demo:", "pip install mnist1d", "fastreg-nn[demo]")
    assert result.stdout == ""


# ---------------------------------------------------------------------- help, version, info
def test_help_is_plain_text_with_an_example_per_command(tmp_path):
    commands = ["train", "predict", "evaluate", "demo", "info"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda args: run(*args, cwd=tmp_path),
                                [["--help"]] + [[name, "--help"] for name in commands]))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "``" not in result.stdout and ":class:" not in result.stdout
    top = results[0].stdout
    assert all(re.search(rf"^    {name} ", top, flags=re.M) for name in commands), top
    for name, result in zip(commands, results[1:]):
        assert re.search(rf"^examples?:\n  fastreg {name}", result.stdout, flags=re.M), name


def test_version(tmp_path):
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"fastreg {fastreg.__version__} (distribution fastreg-nn)"


def test_info_says_what_is_known_and_never_none(tmp_path):
    from fastreg._threads import resolve_n_threads

    result = run("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "None" not in out
    threads = resolve_n_threads(None)
    assert f"engine: {threads} thread{'s' if threads != 1 else ''} by default" in out
    assert f"fastreg {fastreg.__version__}" in out
    from fastreg import _blas

    kernels = _blas.product_kernels()
    assert (f"products: fastreg's {kernels} kernels for the small ones" if kernels != "blas"
            else "products: all by BLAS") in out
    threadpoolctl = pytest.importorskip("threadpoolctl")
    assert f"threadpoolctl {threadpoolctl.__version__}" in out
    pools = [line for line in out.splitlines() if re.search(r"threads?: /", line)]
    assert pools, out
    if any(pool["user_api"] == "openmp" for pool in threadpoolctl.threadpool_info()):
        assert any(line.startswith("OpenMP (") for line in pools), pools


def test_info_pool_line_without_version_or_architecture():
    line = cli._pool_line({"user_api": "openmp", "internal_api": "openmp", "prefix": "libgomp",
                           "num_threads": 2, "filepath": "/lib/libgomp.so.1", "version": None})
    assert line == "OpenMP (libgomp), 2 threads: /lib/libgomp.so.1"


# ---------------------------------------------------------------------- demo
def _table(out):
    """The demo's table rows: name -> (train accuracy, test accuracy, seconds) as printed."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"(plain|regularized|scikit-learn)\s.*?\s(\d+\.\d)%\s+(\d+\.\d)%\s+"
                         r"(\d+\.\d+)s$", line)
        if match:
            rows[match[1]] = (float(match[2]) / 100, float(match[3]) / 100, float(match[4]))
    return rows


def test_demo_runs_and_reports_all_models(capsys):
    """Two epochs already learn: every model is far above chance (0.1 on ten classes;
    2 epochs with seed 1 reach 0.42-0.46 test accuracy), the table prints the accuracies
    the demo returns, and the speed line the ratio of the two plain fits' times."""
    pytest.importorskip("mnist1d")
    pytest.importorskip("sklearn")
    results = cli.demo(epochs=2, seed=1)
    out = capsys.readouterr().out
    table = _table(out)
    assert set(results) == set(table) == {"plain", "regularized", "scikit-learn"}
    for name, (train_acc, test_acc, seconds) in results.items():
        assert test_acc > 0.3 and train_acc > 0.3 and seconds > 0, (name, results[name])
        assert table[name][:2] == pytest.approx((train_acc, test_acc), abs=0.0005)
    ratio = results["scikit-learn"][2] / results["plain"][2]
    assert f"fastreg trains the plain MLP {ratio:.1f}x as fast as scikit-learn" in out


def test_demo_without_scikit_learn_says_how_to_compare(capsys, monkeypatch):
    pytest.importorskip("mnist1d")
    monkeypatch.setitem(sys.modules, "sklearn.neural_network", None)
    results = cli.demo(epochs=1, seed=1)
    out = capsys.readouterr().out
    assert set(results) == {"plain", "regularized"}
    assert "install scikit-learn to time the same plain MLP" in out


@pytest.mark.slow
def test_full_demo_reproduces_the_published_mlp_and_the_gain():
    """The full demo (150 epochs): the plain MLP scores as in Greydanus & Kobak's paper
    (68% test accuracy; 67.1-69.5% over five seeds in the README) and overfits, and the
    regularized one gains what the README reports (82.1% +- 0.7, at least 81.3%)."""
    pytest.importorskip("mnist1d")
    results = cli.demo(seed=0, out=io.StringIO(), compare=False)
    plain_train, plain_test, _ = results["plain"]
    _, regularized_test, _ = results["regularized"]
    assert 0.62 < plain_test < 0.74
    assert plain_train > 0.98
    assert regularized_test > 0.78 and regularized_test > plain_test + 0.08


def test_console_entry_point_is_installed():
    """The ``fastreg`` command of the README exists (installed by pip from pyproject)."""
    result = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import entry_points; "
         "print([e.value for e in entry_points(group='console_scripts') if e.name == 'fastreg'])"],
        capture_output=True, text=True, check=True,
    )
    assert "fastreg.cli:main" in result.stdout
