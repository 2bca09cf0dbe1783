"""fastreg's estimators against scikit-learn's, as a user of scikit-learn would run them.

For each dataset (digits and breast_cancer: classification; diabetes: regression), both
libraries' estimator with default parameters (and random_state=0) is scored by 5-fold
cross-validation in a StandardScaler pipeline; the whole cross-validation is timed, the
median of ``--repeats`` runs reported, the two libraries taking turns. Then the latency of
``predict_proba`` on one sample of digits (timeit, median of 7 runs of 2000 calls).

A third party takes its turn too: fastreg in a child process with
``FASTREG_PRODUCTS=blas``, every matrix product by OpenBLAS, as before fastreg had its own
small-product kernels; the ``kernels`` column is its time over fastreg's, what those
kernels gain (the child's import is not timed). Run:

    python bench/bench_sklearn.py [--repeats 3]

Figures depend on the machine and on other work running on it: the load average is
printed first.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
import warnings

import numpy as np
from sklearn import neural_network
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastreg
from machine import cpu_model, print_thread_pools

DATASETS = {
    "digits": (load_digits, "MLPClassifier"),
    "breast_cancer": (load_breast_cancer, "MLPClassifier"),
    "diabetes": (load_diabetes, "MLPRegressor"),
}
LIBRARIES = {"fastreg": fastreg, "scikit-learn": neural_network}


def time_cross_validation(library, estimator_name, X, y):
    """(seconds, mean CV score) of one 5-fold CV of the default estimator."""
    model = make_pipeline(StandardScaler(), getattr(library, estimator_name)(random_state=0))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = cross_val_score(model, X, y, cv=5).mean()
    return time.perf_counter() - start, score


def time_cross_validation_with_blas(dataset):
    """(seconds, mean CV score) of fastreg's CV in a child process whose products all go to
    OpenBLAS (FASTREG_PRODUCTS=blas)."""
    completed = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", dataset],
        env={**os.environ, "FASTREG_PRODUCTS": "blas"}, capture_output=True, text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the FASTREG_PRODUCTS=blas run failed:\n{completed.stderr[-3000:]}")
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    return record["seconds"], record["score"]


def run_worker(dataset):
    """The child of :func:`time_cross_validation_with_blas`: one timed CV, as JSON."""
    from fastreg import _blas

    assert _blas.product_kernels() == os.environ.get("FASTREG_PRODUCTS", _blas.product_kernels())
    loader, estimator_name = DATASETS[dataset]
    X, y = loader(return_X_y=True)
    seconds, score = time_cross_validation(fastreg, estimator_name, X, y)
    print(json.dumps({"seconds": seconds, "score": score}))


def predict_latency(library, X, y):
    """Median seconds of one predict_proba call on a single row."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = library.MLPClassifier(random_state=0, max_iter=20).fit(X, y)
    row = np.ascontiguousarray(X[:1])
    model.predict_proba(row)
    calls = 2000
    runs = timeit.repeat(lambda: model.predict_proba(row), number=calls, repeat=7)
    return statistics.median(runs) / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median)")
    parser.add_argument("--worker", choices=DATASETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return
    from fastreg import _blas

    print(f"CPU: {cpu_model()}")
    print(f"fastreg's product kernels: {_blas.product_kernels()}; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        print(f"Load average over the last minute: {load:.2f} on {os.cpu_count()} cores")
    print_thread_pools()
    header = (f"{'dataset':<14}{'fastreg s':>11}{'sklearn s':>11}{'speed-up':>10}"
              f"{'fastreg score':>15}{'sklearn score':>15}{'blas-only s':>13}{'kernels':>9}")
    print(header)
    print("-" * len(header))
    for dataset, (loader, estimator_name) in DATASETS.items():
        X, y = loader(return_X_y=True)
        # The libraries take turns, so that a drift of the machine's speed weighs on both.
        seconds = {name: [] for name in [*LIBRARIES, "blas-only"]}
        scores = {}
        for _ in range(args.repeats):
            for name, lib in LIBRARIES.items():
                elapsed, scores[name] = time_cross_validation(lib, estimator_name, X, y)
                seconds[name].append(elapsed)
            elapsed, scores["blas-only"] = time_cross_validation_with_blas(dataset)
            seconds["blas-only"].append(elapsed)
        ours, theirs, blas_only = (statistics.median(seconds[name])
                                   for name in ("fastreg", "scikit-learn", "blas-only"))
        our_score, their_score = scores["fastreg"], scores["scikit-learn"]
        print(f"{dataset:<14}{ours:>11.3f}{theirs:>11.3f}{theirs / ours:>9.1f}x"
              f"{our_score:>15.4f}{their_score:>15.4f}{blas_only:>13.3f}"
              f"{blas_only / ours:>8.2f}x")
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    latency = {name: predict_latency(lib, X, y) for name, lib in LIBRARIES.items()}
    print(
        f"\npredict_proba, one digits row (median): fastreg {latency['fastreg'] * 1e6:.1f} us, "
        f"scikit-learn {latency['scikit-learn'] * 1e6:.1f} us "
        f"({latency['scikit-learn'] / latency['fastreg']:.1f}x)"
    )


if __name__ == "__main__":
    main()
