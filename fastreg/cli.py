"""The fastreg command line: the console script ``fastreg``, or ``python -m fastreg``.

``fastreg train`` trains a network on a table of your own (CSV, Parquet, .npy or .npz)
and saves it with its preprocessing; ``fastreg predict`` and ``fastreg evaluate`` use the
saved model on new tables. ``fastreg demo`` shows what regularization buys on MNIST-1D and
how fast fastreg trains next to scikit-learn; ``fastreg info`` describes the installation.

A problem with the input (a missing file or column, a bad option, a file that is not a
model) ends the command with one line on stderr and exit status 2; a missing optional
package with one line and status 1.
"""
import argparse
import contextlib
import os
import platform
import sys
import textwrap
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

import fastreg
from fastreg._extras import DISTRIBUTION, install_hint
from fastreg._threads import available_cores, resolve_n_threads, single_threaded_blas
from fastreg._validation import (
    check_integer,
    check_nonnegative_float,
    check_positive_finite,
    check_probability,
)
from fastreg.augment import Compose, RandomScale, RandomShift

DESCRIPTION = "fastreg: fast CPU training of dense neural networks, with regularization."

#: The commands' examples, shown at the end of their --help.
EXAMPLES = {
    "train": """examples:
  fastreg train wine.csv --target class
  fastreg train houses.parquet --target price --hidden 64,64 --dropout 0.1 \\
      --early-stopping patience:10 --epochs 500 --out houses.fastreg
  fastreg train data.npz --target y --ensemble seeds:5 --weight-decay 1e-4""",
    "predict": """examples:
  fastreg predict wine.fastreg new_wines.csv
  fastreg predict wine.fastreg new_wines.csv --proba --out predictions.csv""",
    "evaluate": """example:
  fastreg evaluate wine.fastreg held_out_wines.csv""",
    "demo": """example:
  fastreg demo --epochs 50 --seed 1""",
    "info": """example:
  fastreg info""",
    "study": """examples:
  fastreg study double-descent --out figures/double-descent
  fastreg study regularizers --quick
  fastreg study ensembles --scheduler tcp://10.0.0.5:8786""",
}

#: The early-stopping criteria of --early-stopping: name -> (class, its arguments in order).
CRITERIA = {
    "patience": ("Patience", ("patience", "min_delta")),
    "gl": ("GeneralizationLoss", ("alpha",)),
    "pq": ("ProgressQuotient", ("alpha", "strip")),
    "up": ("UpStrips", ("strips", "strip")),
}

#: The arguments of the criteria that count epochs (the others are real numbers).
_INTEGER_ARGUMENTS = ("patience", "strip", "strips")

#: The metrics of the tables: key of TabularModel.evaluate -> label.
METRIC_LABELS = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "log_loss": "log-loss",
    "r2": "R^2", "mae": "MAE", "rmse": "RMSE",
}


class CommandError(Exception):
    """A problem to report in one line on stderr, ending the command with ``status``."""

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line (no usage block) with exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(error):
    return " ".join(str(error).split())


# ---------------------------------------------------------------------- demo
def _demo_networks(seed):
    """The plain MLP of the MNIST-1D paper and the same MLP regularized."""
    plain = fastreg.Network(
        [fastreg.Dense(100, "relu"), fastreg.Dense(100, "relu"), fastreg.Dense(10)],
        optimizer=fastreg.Adam(learning_rate=1e-2),
        random_state=seed,
    )
    regularized = fastreg.Network(
        [fastreg.Dense(100, "relu"), fastreg.Dense(100, "relu"), fastreg.Dense(10)],
        optimizer=fastreg.Adam(learning_rate=1e-2),
        augment=Compose([RandomShift(5), RandomScale(0.8, 1.2)]),
        label_smoothing=0.1,
        random_state=seed,
    )
    return {"plain": plain, "regularized": regularized}


def _sklearn_plain_fit(X_train, y_train, X_test, y_test, epochs, seed):
    """The plain demo model trained by scikit-learn: (train acc, test acc, seconds, whether
    BLAS ran on one thread), or None without scikit-learn. It trains in float64, as
    scikit-learn does, for exactly ``epochs`` epochs (no stopping on the training loss)
    without an L2 penalty, with BLAS on one thread as in fastreg's fits (with threadpoolctl;
    on a busy machine BLAS threads that wait for a core can make scikit-learn several times
    slower, which would flatter fastreg)."""
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        return None
    model = MLPClassifier(hidden_layer_sizes=(100, 100), solver="adam", alpha=0.0,
                          learning_rate_init=1e-2, batch_size=100, max_iter=epochs, tol=0.0,
                          n_iter_no_change=epochs, random_state=seed)
    X_train, X_test = X_train.astype(np.float64), X_test.astype(np.float64)
    with warnings.catch_warnings(), single_threaded_blas() as limited:
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the budget
        start = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - start
    return (float(model.score(X_train, y_train)), float(model.score(X_test, y_test)), elapsed,
            limited)


def demo(epochs=150, seed=0, out=None, compare=True):
    """Train the demo networks on MNIST-1D and print their accuracies and times.

    The plain MLP of Greydanus & Kobak's MNIST-1D paper (40-100-100-10, ReLU, Adam at
    1e-2, batches of 100) and the same MLP with shifted and scaled signals and label
    smoothing; with scikit-learn installed, the plain MLP is also trained by
    ``sklearn.neural_network.MLPClassifier`` for the comparison of fit times.

    Parameters
    ----------
    epochs : int, default=150
        Epochs of every run.
    seed : int, default=0
        random_state of every run.
    out : text stream, optional
        Where to print (standard output by default).
    compare : bool, default=True
        Also train the plain MLP with scikit-learn, when it is installed.

    Returns
    -------
    dict
        ``{"plain": (train accuracy, test accuracy, seconds), "regularized": (...)}``,
        and ``"scikit-learn"`` with the same for scikit-learn's run when it ran.

    Raises
    ------
    ImportError
        Without the mnist1d package, with the command that installs it.
    """
    from fastreg.datasets import load_mnist1d

    epochs = check_integer(epochs, "epochs")
    out = sys.stdout if out is None else out
    X_train, y_train, X_test, y_test = load_mnist1d()
    print("MNIST-1D: 4000 train / 1000 test signals of 40 samples, 10 classes", file=out)
    print(
        f"\nMLP 40-100-100-10 (ReLU), Adam lr 1e-2, batch 100, {epochs} epochs, seed {seed}\n",
        file=out,
    )
    descriptions = {
        "plain": "none",
        "regularized": "random shifts +-5, scaling 0.8-1.2, label smoothing 0.1",
        "scikit-learn": "none (MLPClassifier, float64, default BLAS threads)",
    }
    width = max(len(text) for text in descriptions.values()) + 2
    print(f"{'model':<13}{'regularization':<{width}}{'train acc':>10}{'test acc':>10}{'time':>9}",
          file=out)
    results = {}
    for name, network in _demo_networks(seed).items():
        start = time.perf_counter()
        network.fit(X_train, y_train, epochs=epochs, batch_size=100)
        elapsed = time.perf_counter() - start
        train_acc = float(np.mean(network.predict(X_train).argmax(axis=1) == y_train))
        test_acc = float(np.mean(network.predict(X_test).argmax(axis=1) == y_test))
        results[name] = (train_acc, test_acc, elapsed)
        print(
            f"{name:<13}{descriptions[name]:<{width}}{train_acc:>10.1%}{test_acc:>10.1%}"
            f"{elapsed:>8.2f}s",
            file=out,
        )
    sklearn_run = None
    if compare:
        sklearn_run = _sklearn_plain_fit(X_train, y_train, X_test, y_test, epochs, seed)
    if sklearn_run is not None:
        results["scikit-learn"] = sklearn_run[:3]
        blas = "1 BLAS thread" if sklearn_run[3] else "default BLAS threads"
        print(
            f"{'scikit-learn':<13}{'none (MLPClassifier, float64, ' + blas + ')':<{width}}"
            f"{sklearn_run[0]:>10.1%}{sklearn_run[1]:>10.1%}{sklearn_run[2]:>8.2f}s",
            file=out,
        )
    gain = results["regularized"][1] - results["plain"][1]
    print(
        f"\nRegularization changes test accuracy by {gain * 100:+.1f} points "
        "(published MLP: 68%, a CNN: 94%).",
        file=out,
    )
    if sklearn_run is not None:
        seconds, fastreg_seconds = sklearn_run[2], results["plain"][2]
        print(f"Speed: fastreg trains the plain MLP {seconds / fastreg_seconds:.1f}x as fast as "
              f"scikit-learn {metadata.version('scikit-learn')} ({fastreg_seconds:.2f}s in "
              f"float32 with {_threads_phrase(resolve_n_threads(None))}, against {seconds:.2f}s "
              "in float64).", file=out)
    elif compare:
        print("Speed: install scikit-learn to time the same plain MLP in scikit-learn: "
              f"{install_hint('sklearn')}", file=out)
    return results


def _threads_phrase(count, noun="engine thread"):
    """'1 engine thread', '2 engine threads'."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


# ---------------------------------------------------------------------- info
_POOL_NAMES = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "flexiblas": "FlexiBLAS",
               "openmp": "OpenMP"}

#: The optional packages info reports, with the extra that installs each.
_OPTIONAL = (("scikit-learn", "sklearn"), ("pandas", "cli"), ("pyarrow", None),
             ("threadpoolctl", "demo"), ("mnist1d", "demo"), ("matplotlib", "plot"),
             ("tqdm", "progress"), ("distributed", "dask"), ("dask-ml", "dask"))


def _pool_line(pool):
    """One thread pool of threadpoolctl as a line: only what is known, never None."""
    name = _POOL_NAMES.get(pool.get("internal_api"), pool.get("internal_api") or "library")
    if pool.get("version"):
        name += f" {pool['version']}"
    details = [pool[key] for key in ("architecture", "threading_layer")
               if pool.get(key) and pool[key] != "unknown"]
    if pool.get("user_api") == "openmp" and pool.get("prefix"):
        details.insert(0, pool["prefix"])
    if details:
        name += f" ({', '.join(details)})"
    threads = pool.get("num_threads")
    count = f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""
    return f"{name}{count}: {pool.get('filepath') or 'path unknown'}"


def _products_line():
    """Which kernels compute the matrix products of training, and how to change them."""
    from fastreg import _blas

    kernels = _blas.product_kernels()
    chosen = ("FASTREG_PRODUCTS=" + os.environ["FASTREG_PRODUCTS"]
              if os.environ.get("FASTREG_PRODUCTS", "auto").strip().lower() not in ("", "auto")
              else "the best this processor runs")
    if kernels == "blas":
        return f"products: all by BLAS ({chosen}; FASTREG_PRODUCTS changes it)"
    narrower = (", all within their limits as OPENBLAS_CORETYPE holds BLAS to narrower "
                "vectors" if _blas.blas_runs_narrower_kernels() else "")
    return (f"products: fastreg's {kernels} kernels for the small ones{narrower}, BLAS for the "
            f"others ({chosen}; FASTREG_PRODUCTS=blas|portable|avx2|avx512 changes it)")


def info(out=None):
    """Print fastreg's version, Python, NumPy/SciPy, the engine's threads, the optional
    packages present and the BLAS and OpenMP libraries in use.

    Parameters
    ----------
    out : text stream, optional
        Where to print (standard output by default).
    """
    import scipy

    out = sys.stdout if out is None else out
    print(f"fastreg {fastreg.__version__} (distribution {DISTRIBUTION}) at "
          f"{Path(fastreg.__file__).parent}", file=out)
    print(f"python {platform.python_version()} on {platform.machine()}", file=out)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}", file=out)
    cores = available_cores()
    print(f"engine: {_threads_phrase(resolve_n_threads(None), 'thread')} by default "
          f"({cores} core{'s' if cores != 1 else ''} available; "
          "n_threads or OMP_NUM_THREADS change it)", file=out)
    print(_products_line(), file=out)
    present = []
    for package, extra in _OPTIONAL:
        try:
            present.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            present.append(f"{package} missing" + (f" (extra {extra})" if extra else ""))
    print("optional: " + ", ".join(present), file=out)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        print("threadpoolctl is not installed: the BLAS and OpenMP libraries cannot be listed "
              f"({install_hint('demo', packages=('threadpoolctl',))})", file=out)
        return
    for pool in threadpool_info():
        print(_pool_line(pool), file=out)


# ---------------------------------------------------------------------- option values
def _hidden_sizes(text):
    """--hidden: comma-separated positive widths."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"expected the widths of the hidden layers, such as 100 or 100,100; got {text!r}")
    return sizes


def _checked(check):
    """An argparse type from one of fastreg._validation's checks."""
    def parse(text):
        try:
            return check(float(text), "the value")
        except ValueError as error:
            raise argparse.ArgumentTypeError(_one_line(error)) from None
    return parse


def _positive_int(minimum=1):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value
    return parse


def _early_stopping(text):
    """--early-stopping NAME:VALUE[:VALUE]: (the text, one of fastreg's Prechelt criteria)."""
    name, *values = text.split(":")
    usage = ("expected patience:N[:MIN_DELTA], gl:ALPHA, pq:ALPHA[:STRIP] or "
             f"up:STRIPS[:STRIP], such as patience:10; got {text!r}")
    if name.lower() not in CRITERIA or not 1 <= len(values) <= len(CRITERIA[name.lower()][1]):
        raise argparse.ArgumentTypeError(usage)
    class_name, arguments = CRITERIA[name.lower()]
    kwargs = {}
    try:
        for argument, value in zip(arguments, values):
            kwargs[argument] = int(value) if argument in _INTEGER_ARGUMENTS else float(value)
        return text, getattr(fastreg, class_name)(**kwargs)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{usage} ({_one_line(error)})") from None


def _ensemble(text):
    """--ensemble STRATEGY:N: (strategy, members)."""
    from fastreg.ensemble import STRATEGIES

    strategy, _, count = text.partition(":")
    try:
        members = int(count)
    except ValueError:
        members = 0
    if strategy not in STRATEGIES or members < 1:
        raise argparse.ArgumentTypeError(
            f"expected STRATEGY:N with STRATEGY one of {', '.join(STRATEGIES)} and N "
            f"members >= 1, such as seeds:5; got {text!r}")
    return strategy, members


# ---------------------------------------------------------------------- reading tables
def _require_cli_packages(command):
    try:
        import pandas  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as error:
        raise CommandError(f"fastreg {command} needs {error.name}: {install_hint('cli')}",
                           status=1) from None


def _check_file(path, what):
    path = Path(path)
    if not path.exists():
        raise CommandError(f"{what} {path}: no such file")
    if path.is_dir():
        raise CommandError(f"{what} {path} is a directory, not a file")
    return path


def _index_names(n_columns, feature_names):
    """Names of an array's columns: the model's features when there are as many (a .npy of
    the features alone), else the column indices as text."""
    if feature_names is not None and len(feature_names) == n_columns:
        return [str(name) for name in feature_names]
    return [str(i) for i in range(n_columns)]


def _array_table(path, feature_names):
    """A .npy (one 2-D array) or .npz (a 2-D array X, or the only 2-D array, plus 1-D
    arrays of one value per row, each a column named as the array) as a DataFrame."""
    import pandas

    with open(path, "rb") as file:
        head = file.read(6)
    expected = b"\x93NUMPY" if path.suffix.lower() == ".npy" else b"PK"
    if not head.startswith(expected):
        raise CommandError(f"{path} is not a {path.suffix.lower()} file (it does not start as "
                           "NumPy writes one)")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise CommandError(f"{path} cannot be read as a NumPy file: {_one_line(error)}") from None
    if isinstance(loaded, np.ndarray):
        arrays, X = {}, loaded
    else:
        with loaded:
            arrays = {name: loaded[name] for name in loaded.files}
        matrices = [name for name, array in arrays.items() if array.ndim == 2]
        name = "X" if "X" in matrices else (matrices[0] if len(matrices) == 1 else None)
        if name is None:
            raise CommandError(f"{path} must hold a 2-D array named X (or a single 2-D array) "
                               f"of features; it holds {sorted(arrays) or 'no arrays'}")
        X = arrays.pop(name)
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise CommandError(f"{path} must hold a 2-D array of numbers, not an array of shape "
                           f"{X.shape} and dtype {X.dtype}")
    table = pandas.DataFrame(X, columns=_index_names(X.shape[1], feature_names))
    for name, array in arrays.items():
        if array.ndim == 1 and len(array) == len(table):
            table[name] = array
    return table


def _read_table(path, *, feature_names=None):
    """The table in ``path``: CSV (.tsv: tab-separated), Parquet, .npy or .npz.

    Parameters
    ----------
    path : str or path-like
    feature_names : sequence of str, optional
        A model's feature columns: the columns of an array with exactly as many columns
        are named after them (else after their indices, "0", "1", ...).

    Returns
    -------
    pandas.DataFrame
        At least one row and one column.

    Raises
    ------
    CommandError
        When the file is missing, empty, has a header but no rows, or cannot be read.
    """
    import pandas

    path = _check_file(path, "DATA")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        table = _array_table(path, feature_names)
    elif suffix in (".parquet", ".pq"):
        try:
            table = pandas.read_parquet(path)
        except ImportError:
            raise CommandError("reading Parquet needs pyarrow: pip install pyarrow",
                               status=1) from None
        except (OSError, ValueError) as error:
            raise CommandError(f"{path} cannot be read as Parquet: {_one_line(error)}") from None
    else:
        try:
            table = pandas.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        except pandas.errors.EmptyDataError:
            raise CommandError(f"{path} is empty") from None
        except (pandas.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise CommandError(f"{path} cannot be read as CSV: {_one_line(error)}") from None
    if table.shape[1] == 0:
        raise CommandError(f"{path} has no columns")
    if table.shape[0] == 0:
        raise CommandError(f"{path} has a header but no rows")
    table.columns = [str(name) for name in table.columns]
    return table


def _target_column(table, target, path):
    """The name of the target column: a column name, or an index for arrays."""
    if target in table.columns:
        return target
    if Path(path).suffix.lower() in (".npy", ".npz"):
        try:
            index = int(target)
        except ValueError:
            index = None
        if index is not None and -table.shape[1] <= index < table.shape[1]:
            return table.columns[index]
    columns = ", ".join(table.columns[:30]) + (" ..." if table.shape[1] > 30 else "")
    raise CommandError(f"--target {target!r} is not a column of {path} (its columns: {columns})")


def _missing_rows(table, columns, path, drop, out):
    """``table`` without the rows that miss a value in ``columns`` when ``drop`` (saying how
    many), else a CommandError that names the columns (``drop`` None: the command has no
    --drop-na)."""
    missing = table[columns].isna()
    rows = missing.any(axis=1)
    if not rows.any():
        return table
    if not drop:
        counts = missing.sum()
        listed = ", ".join(f"{name!r} ({int(n)})" for name, n in counts[counts > 0].items())
        advice = "remove or fill them" + (" or pass --drop-na" if drop is not None else "")
        raise CommandError(f"{path} has {int(rows.sum())} row(s) with missing values, in the "
                           f"column(s) {listed}; {advice}")
    kept = table[~rows].reset_index(drop=True)
    if kept.empty:
        raise CommandError(f"every row of {path} has a missing value")
    print(f"Dropped {int(rows.sum())} of {len(table)} rows with missing values (--drop-na).",
          file=out)
    return kept


def _load_tabular_model(path):
    from fastreg.tabular import TabularModel

    path = _check_file(path, "MODEL")
    try:
        model = fastreg.load(path)
    except ValueError as error:
        raise CommandError(_one_line(error)) from None
    if not isinstance(model, TabularModel) or "estimator_" not in model.__dict__:
        raise CommandError(f"{path} holds a fastreg {type(model).__name__}, not a model trained "
                           "by fastreg train (a fitted fastreg.tabular.TabularModel)")
    return model


# ---------------------------------------------------------------------- the tables printed
def _metrics_table(columns, out):
    """Print ``{column title: TabularModel.evaluate's dict}`` as a table."""
    titles = list(columns)
    keys = list(next(iter(columns.values())))
    width = max(len(METRIC_LABELS[key]) for key in keys) + 2
    cell = max(12, *(len(title) + 2 for title in titles))
    print(" " * width + "".join(f"{title:>{cell}}" for title in titles), file=out)
    for key in keys:
        values = [columns[title][key] for title in titles]
        text = "".join(f"{'n/a':>{cell}}" if value is None else f"{value:>{cell}.4f}"
                       for value in values)
        print(f"{METRIC_LABELS[key]:<{width}}{text}", file=out)


def _describe_model(args, task, criterion):
    kind = "MLPClassifier" if task == "classify" else "MLPRegressor"
    parts = [f"hidden {','.join(map(str, args.hidden))} ({args.activation})",
             f"adam lr {args.learning_rate:g}", f"batch {args.batch_size or 'auto'}",
             f"{args.epochs} epochs" + (" at most" if criterion is not None else ""),
             f"alpha {args.alpha:g}"]
    if args.dropout:
        parts.append(f"dropout {args.dropout:g}")
    if args.weight_decay:
        parts.append(f"weight decay {args.weight_decay:g}")
    if criterion is not None:
        parts.append(f"early stopping {criterion[0]}")
    if args.float32:
        parts.append("float32")
    text = f"{kind}: " + ", ".join(parts) + f", seed {args.seed}"
    if args.ensemble is not None:
        strategy, members = args.ensemble
        text = f"Ensemble{kind[3:]} of {members} ({strategy}) x {text}"
    return text


# ---------------------------------------------------------------------- train
def train(args, out=None):
    """The ``fastreg train`` command: read, split, train, report, save."""
    _require_cli_packages("train")
    import pandas
    from sklearn.model_selection import train_test_split

    from fastreg.tabular import TabularModel, _column_kind, infer_task

    out = sys.stdout if out is None else out
    destination = Path(args.out) if args.out else Path(Path(args.data).stem + ".fastreg")
    if not destination.parent.is_dir():
        raise CommandError(f"cannot write {destination}: {destination.parent} is not a directory")
    table = _read_table(args.data)
    target = _target_column(table, args.target, args.data)
    print(f"Read {args.data}: {len(table)} rows, {table.shape[1]} columns.", file=out)
    table = _missing_rows(table, list(table.columns), args.data, args.drop_na, out)
    X, y = table.drop(columns=[target]), table[target]
    if X.shape[1] == 0:
        raise CommandError(f"{args.data} has no column but the target {target!r}")
    if args.task == "auto":
        task, reason = infer_task(y)
        other = "regress" if task == "classify" else "classify"
        print(f"Task: {task} {target!r} ({reason}; --task {other} to change).", file=out)
    else:
        task = args.task
        print(f"Task: {task} {target!r} (--task).", file=out)
    if task == "regress" and y.dtype.kind not in "biuf":
        raise CommandError(f"the target {target!r} is not numeric (dtype {y.dtype}): it "
                           "cannot be regressed; use --task classify")
    kinds = {name: _column_kind(X[name], pandas) for name in X.columns}
    unsupported = [name for name, kind in kinds.items() if kind is None]
    if unsupported:
        raise CommandError(f"the column(s) {', '.join(map(repr, unsupported))} have a dtype "
                           f"fastreg cannot encode ({X[unsupported[0]].dtype}); drop them")
    categorical = [name for name, kind in kinds.items() if kind == "categorical"]
    if categorical and args.no_onehot:
        raise CommandError(f"the column(s) {', '.join(map(repr, categorical))} are not numeric "
                           "(--no-onehot); convert or drop them, or leave out --no-onehot")
    n_numeric = len(X.columns) - len(categorical)
    line = f"Features: {n_numeric} numeric (standardized)"
    if categorical:
        listed = ", ".join(f"{name!r} ({X[name].astype(str).nunique()} values)"
                           for name in categorical)
        line += f", {len(categorical)} one-hot encoded: {listed}"
    print(line + ".", file=out)
    validation = None
    if args.validation_fraction > 0:
        try:
            X, X_val, y, y_val = train_test_split(
                X, y, test_size=args.validation_fraction, random_state=args.seed,
                stratify=y if task == "classify" else None)
        except ValueError as error:
            raise CommandError(f"the validation split failed: {_one_line(error)} (change "
                               "--validation-fraction, or 0 for none)") from None
        validation = (X_val.reset_index(drop=True), y_val.reset_index(drop=True))
        X, y = X.reset_index(drop=True), y.reset_index(drop=True)
        how = "stratified, " if task == "classify" else ""
        print(f"Validation: {len(X_val)} rows held out ({how}--validation-fraction "
              f"{args.validation_fraction:g}, seed {args.seed}); training on {len(X)}.", file=out)
    elif args.early_stopping is not None and args.ensemble is None:
        raise CommandError("--early-stopping needs a validation set: "
                           "--validation-fraction must be > 0")
    estimator = _estimator(args, task)
    print(_describe_model(args, task, args.early_stopping), file=out)
    model = TabularModel(estimator, task=task, categorical="refuse" if args.no_onehot else "onehot",
                         dtype="float32" if args.float32 else "float64")
    fit_kwargs = {"progress": None if args.quiet else out}
    if validation is not None and args.ensemble is None:
        fit_kwargs["validation_data"] = validation
    start = time.perf_counter()
    try:
        model.fit(X, y, **fit_kwargs)
    except ValueError as error:
        raise CommandError(f"training failed: {_one_line(error)}", status=1) from None
    seconds = time.perf_counter() - start
    print(f"\nTrained in {seconds:.2f}s ({_what_ran(model.estimator_)}).", file=out)
    columns = {"train": model.evaluate(X, y)}
    if validation is not None:
        columns["validation"] = model.evaluate(*validation)
    _metrics_table(columns, out)
    try:
        fastreg.save(model, destination)
    except OSError as error:
        raise CommandError(f"cannot write {destination}: {error.strerror or error}") from None
    print(f"Saved the model and its preprocessing to {destination}.", file=out)
    return model


def _estimator(args, task):
    from fastreg.ensemble import EnsembleClassifier, EnsembleRegressor
    from fastreg.estimators import MLPClassifier, MLPRegressor

    mlp = MLPClassifier if task == "classify" else MLPRegressor
    estimator = mlp(
        hidden_layer_sizes=args.hidden, activation=args.activation, solver="adam",
        alpha=args.alpha, batch_size=args.batch_size or "auto",
        learning_rate_init=args.learning_rate, max_iter=args.epochs, random_state=args.seed,
        dropout=args.dropout, weight_decay=args.weight_decay,
        early_stopping=args.early_stopping is not None,
        validation_fraction=args.validation_fraction or 0.1,
        stopping_criterion=args.early_stopping and args.early_stopping[1],
    )
    if args.ensemble is None:
        return estimator
    strategy, members = args.ensemble
    if strategy in ("snapshot", "checkpoints"):
        if args.early_stopping is not None:
            raise CommandError(f"--early-stopping does not apply to --ensemble {strategy}, "
                               "which trains one run of --epochs epochs")
        if args.epochs < members:
            raise CommandError(f"--ensemble {strategy}:{members} needs --epochs >= {members}")
    ensemble = EnsembleClassifier if task == "classify" else EnsembleRegressor
    return ensemble(estimator, n_estimators=members, strategy=strategy, random_state=args.seed)


def _what_ran(estimator):
    """What training did, in a few words."""
    members = getattr(estimator, "estimators_", None)
    if members is None:
        text = f"{estimator.n_iter_} epochs"
        if getattr(estimator, "stopping_reason_", None):
            text += ", stopped early: the weights of the lowest validation loss are kept"
        return text
    if getattr(estimator, "strategy", None) in ("snapshot", "checkpoints"):
        return f"{len(members)} members from one run of {len(estimator.learning_rates_)} epochs"
    epochs = ", ".join(str(member.n_iter_) for member in members)
    return f"{len(members)} members, epochs {epochs}"


# ---------------------------------------------------------------------- predict, evaluate
def predict(args, out=None):
    """The ``fastreg predict`` command: predictions of a saved model as CSV."""
    _require_cli_packages("predict")
    import pandas

    model = _load_tabular_model(args.model)
    table = _read_table(args.data, feature_names=model.feature_names_in_)
    if args.proba and model.task_ != "classify":
        raise CommandError(f"--proba needs a classification model; {args.model} regresses")
    _check_columns(model, table, args.data)
    _missing_rows(table, list(model.feature_names_in_), args.data, None, None)
    result = pandas.DataFrame({model.target_name_: model.predict(table)})
    if args.proba:
        proba = model.predict_proba(table)
        for j, label in enumerate(model.classes_):
            result[f"proba_{label}"] = proba[:, j]
    destination = sys.stdout if out is None else out
    if args.out:
        try:
            result.to_csv(args.out, index=False)
        except OSError as error:
            raise CommandError(f"cannot write {args.out}: {error.strerror or error}") from None
        print(f"Wrote {len(result)} predictions to {args.out}.", file=destination)
    else:
        result.to_csv(destination, index=False)
    return result


def _check_columns(model, table, path):
    missing = [name for name in model.feature_names_in_ if name not in table.columns]
    if missing:
        listed = ", ".join(map(repr, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise CommandError(f"{path} lacks {len(missing)} column(s) the model was trained on: "
                           f"{listed}")


def evaluate(args, out=None):
    """The ``fastreg evaluate`` command: a saved model's metrics on a table."""
    _require_cli_packages("evaluate")
    out = sys.stdout if out is None else out
    model = _load_tabular_model(args.model)
    table = _read_table(args.data, feature_names=model.feature_names_in_)
    target = model.target_name_
    if target not in table.columns:
        columns = ", ".join(table.columns[:30]) + (" ..." if table.shape[1] > 30 else "")
        raise CommandError(f"{args.data} lacks the target column {target!r} "
                           f"(its columns: {columns})")
    _check_columns(model, table, args.data)
    table = _missing_rows(table, list(model.feature_names_in_) + [target], args.data,
                          args.drop_na, out)
    task = "classification" if model.task_ == "classify" else "regression"
    print(f"{args.model}: {task} of {target!r}; {args.data}: {len(table)} rows.", file=out)
    metrics = model.evaluate(table, table[target])
    _metrics_table({Path(args.data).name: metrics}, out)
    return metrics


# ---------------------------------------------------------------------- study
def study(args):
    """``fastreg study NAME``: run one study into its folder (fastreg.studies)."""
    from fastreg.studies import run_study

    if args.scheduler is None:
        result = run_study(args.name, args.out, quick=args.quick, n_jobs=args.jobs,
                           seed=args.seed, progress=not args.no_progress)
    else:
        try:
            from distributed import Client
        except ImportError as error:
            raise ImportError(f"--scheduler needs dask.distributed: {install_hint('dask')}"
                              ) from error
        with Client(args.scheduler) as client:
            result = run_study(args.name, args.out, quick=args.quick, client=client,
                               seed=args.seed, progress=not args.no_progress)
    print(f"Wrote {', '.join(sorted(result.files))} to {result.out} "
          f"in {result.seconds:.0f} s.")
    return result


# ---------------------------------------------------------------------- the parser
def _parser():
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="fastreg", description=DESCRIPTION, formatter_class=formatter,
                     epilog="Run 'fastreg COMMAND --help' for a command's options and examples.")
    parser.add_argument("--version", action="version",
                        version=f"fastreg {fastreg.__version__} (distribution {DISTRIBUTION})")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, summary, description):
        return commands.add_parser(name, help=summary, description=textwrap.fill(description, 79),
                                   epilog=EXAMPLES[name], formatter_class=formatter)

    train_parser = command(
        "train", "train a network on a table of your own and save it",
        "Train an MLP (scikit-learn's MLPClassifier/MLPRegressor on fastreg's engine) on a "
        "table: CSV, Parquet, .npy or .npz. Text columns are one-hot encoded, numeric ones "
        "standardized; a stratified share of the rows is held out for validation. Prints the "
        "progress and a table of metrics, and saves the model with its preprocessing for "
        "'fastreg predict' and 'fastreg evaluate'.")
    train_parser.add_argument("data", metavar="DATA", help="the table: .csv (.tsv), .parquet, "
                              ".npy (a 2-D array) or .npz (an array X and 1-D arrays such as y)")
    train_parser.add_argument("--target", required=True, metavar="COLUMN",
                              help="the column to predict (for .npy/.npz: a column index of "
                                   "the array, or the name of a 1-D array of the .npz)")
    train_parser.add_argument("--task", choices=("auto", "classify", "regress"), default="auto",
                              help="auto (default): classify text, booleans or at most 20 "
                                   "distinct integers; regress other numbers")
    train_parser.add_argument("--hidden", type=_hidden_sizes, default=(100,), metavar="SIZES",
                              help="hidden layer widths, comma-separated (default: 100)")
    train_parser.add_argument("--activation", choices=("relu", "tanh", "logistic", "identity"),
                              default="relu", help="hidden activation (default: relu)")
    train_parser.add_argument("--dropout", type=_checked(check_probability),
                              default=0.0, metavar="P", help="dropout of the hidden units (0)")
    train_parser.add_argument("--weight-decay", type=_checked(check_nonnegative_float),
                              default=0.0, metavar="W", help="decoupled weight decay, AdamW (0)")
    train_parser.add_argument("--alpha", type=_checked(check_nonnegative_float),
                              default=1e-4, metavar="A", help="L2 penalty (0.0001)")
    train_parser.add_argument("--learning-rate", type=_checked(check_positive_finite),
                              default=1e-3, metavar="LR", help="Adam's learning rate (0.001)")
    train_parser.add_argument("--batch-size", type=_positive_int(), default=None,
                              metavar="N", help="minibatch size (default: min(200, rows))")
    train_parser.add_argument("--epochs", type=_positive_int(), default=200,
                              metavar="N", help="most epochs (200); training also stops when "
                                                "the loss stalls, as in scikit-learn")
    train_parser.add_argument("--early-stopping", type=_early_stopping, default=None,
                              metavar="SPEC", help="stop on the validation loss by one of "
                              "Prechelt's criteria and keep the best weights: patience:N, gl:ALPHA "
                              "(generalization loss in %%), pq:ALPHA (progress quotient), "
                              "up:STRIPS")
    train_parser.add_argument("--ensemble", type=_ensemble, default=None, metavar="SPEC",
                              help="an ensemble STRATEGY:N: seeds, bagging, snapshot, "
                                   "checkpoints or cv, such as seeds:5")
    train_parser.add_argument("--validation-fraction", type=_checked(check_probability),
                              default=0.2, metavar="F",
                              help="share of rows held out for validation (0.2; 0: none)")
    train_parser.add_argument("--seed", type=_positive_int(0), default=0,
                              help="seeds the split, the weights and the batches (0)")
    train_parser.add_argument("--drop-na", action="store_true",
                              help="drop rows with missing values (default: refuse them)")
    train_parser.add_argument("--no-onehot", action="store_true",
                              help="refuse non-numeric feature columns instead of one-hot "
                                   "encoding them")
    train_parser.add_argument("--float32", action="store_true",
                              help="train in float32 (default: float64)")
    train_parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    train_parser.add_argument("--out", metavar="MODEL",
                              help="the model file to write (default: DATA's name + .fastreg)")

    predict_parser = command(
        "predict", "predict with a model saved by 'fastreg train'",
        "Predict the target of every row of DATA with a model saved by 'fastreg train'. "
        "DATA needs the model's feature columns (by name; other columns are ignored). "
        "Writes CSV: the predicted labels or values in a column named as the target, and "
        "with --proba one probability column per class.")
    predict_parser.add_argument("model", metavar="MODEL", help="a model file of fastreg train")
    predict_parser.add_argument("data", metavar="DATA", help="the table (as for train)")
    predict_parser.add_argument("--proba", action="store_true",
                                help="add the class probabilities (classification)")
    predict_parser.add_argument("--out", metavar="FILE",
                                help="write the CSV here (default: standard output)")

    evaluate_parser = command(
        "evaluate", "a saved model's metrics on a table with the target",
        "Print the metrics of a model saved by 'fastreg train' on DATA, which holds the "
        "target column as well as the features: accuracy, balanced accuracy and log-loss "
        "for classification, R^2, MAE and RMSE for regression.")
    evaluate_parser.add_argument("model", metavar="MODEL", help="a model file of fastreg train")
    evaluate_parser.add_argument("data", metavar="DATA", help="the table (as for train)")
    evaluate_parser.add_argument("--drop-na", action="store_true",
                                 help="drop rows with missing values (default: refuse them)")

    demo_parser = command(
        "demo", "plain vs regularized MLP on MNIST-1D, and the speed next to scikit-learn",
        "Train the MLP of the MNIST-1D paper twice, without and with regularization "
        "(random shifts and scaling of the signals, label smoothing), print their accuracies "
        "and times, and time the plain one in scikit-learn too. Needs the demo extra: "
        f"{install_hint('demo')}.")
    demo_parser.add_argument("--epochs", type=_positive_int(), default=150,
                             metavar="N", help="epochs per run (150)")
    demo_parser.add_argument("--seed", type=_positive_int(0), default=0,
                             help="random_state of every run (0)")
    demo_parser.add_argument("--no-sklearn", action="store_true",
                             help="skip the scikit-learn timing")

    from fastreg.studies import STUDIES

    study_parser = command(
        "study", "the lecture's experiments: a figure, a table and the numbers",
        "Run one of the studies that reproduce the lecture's experiments on MNIST-1D and "
        "write its figure (PNG), table (Markdown, also printed) and raw numbers (JSON, CSV) "
        "to the output folder. The studies: "
        + "; ".join(f"{name}: {text}" for name, (_, text) in STUDIES.items())
        + f". They need matplotlib and mnist1d: {install_hint('study')}.")
    study_parser.add_argument("name", metavar="NAME", choices=list(STUDIES),
                              help="the study: " + ", ".join(STUDIES))
    study_parser.add_argument("--out", metavar="DIR",
                              help="the output folder (default: study-NAME)")
    study_parser.add_argument("--quick", action="store_true",
                              help="a tiny version that checks the pipeline in seconds "
                                   "(its numbers mean nothing)")
    study_parser.add_argument("--jobs", type=_positive_int(), default=None, metavar="N",
                              help="models trained at once (default: the available cores)")
    study_parser.add_argument("--scheduler", metavar="ADDRESS",
                              help="train on this Dask scheduler instead (the dask extra)")
    study_parser.add_argument("--seed", type=_positive_int(0), default=0,
                              help="seeds every model and data draw (0)")
    study_parser.add_argument("--no-progress", action="store_true",
                              help="no progress line on standard error")

    command("info", "versions, threads, and the BLAS and OpenMP libraries in use",
            "Print fastreg's version and location, Python, NumPy and SciPy, the engine's "
            "default thread count, the optional packages present, and the BLAS and OpenMP "
            "libraries loaded (through threadpoolctl).")
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"fastreg: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default).

    Returns
    -------
    int
        The exit status: 0, 1 (a missing optional package, a failed training) or 2 (bad
        input). argparse's own errors exit with status 2 through SystemExit.
    """
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            # --epochs is the budget the user chose, not a failure to converge.
            warnings.filterwarnings("ignore", message="Stochastic Optimizer: Maximum iterations")
            if args.command == "demo":
                demo(epochs=args.epochs, seed=args.seed, compare=not args.no_sklearn)
            elif args.command == "info":
                info()
            elif args.command == "study":
                study(args)
            else:
                {"train": train, "predict": predict, "evaluate": evaluate}[args.command](args)
    except CommandError as error:
        print(f"fastreg {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return error.status
    except (ValueError, OSError) as error:
        # What the library refused in the user's data (a target of another type than the
        # model's, say), or a file that could not be read or written.
        print(f"fastreg {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"fastreg {args.command}: {_one_line(error)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 1
    except KeyboardInterrupt:
        print(f"fastreg {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
