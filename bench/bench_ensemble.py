"""Training an ensemble's members side by side in threads, against one after the other.

Eight members ``MLPClassifier(hidden_layer_sizes=(64,), max_iter=30)`` on digits (scaled
to [0, 1]) form an ``EnsembleClassifier(strategy=...)``; the whole fit is timed with
``n_jobs=None`` (one member after the other, each member's engine on every core) and with
``n_jobs=2`` (two members at a time in threads, one engine thread and one BLAS thread
each), the median of ``--repeats`` runs reported with the speed-up. Both fits must give
identical members: the script checks it. Run:

    python bench/bench_ensemble.py [--repeats 3] [--strategy seeds]

Figures depend on the machine and on other work running on it: the load average and the
number of cores are printed first.
"""
import argparse
import os
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastreg import EnsembleClassifier, MLPClassifier
from fastreg._threads import available_cores


def timed_fit(n_jobs, strategy, X, y, repeats):
    """(median seconds, last fitted ensemble) of ``repeats`` fits."""
    seconds, ensemble = [], None
    for _ in range(repeats):
        member = MLPClassifier(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
        ensemble = EnsembleClassifier(member, n_estimators=8, strategy=strategy, random_state=0,
                                      n_jobs=n_jobs)
        start = time.perf_counter()
        ensemble.fit(X, y)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), ensemble


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", default="seeds", choices=["seeds", "bagging", "cv"])
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"load average {os.getloadavg()[0]:.2f}, {available_cores()} cores")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    timed_fit(2, args.strategy, X[:200], y[:200], 1)  # warm-up: imports, thread pools
    sequential, one_by_one = timed_fit(None, args.strategy, X, y, args.repeats)
    parallel, side_by_side = timed_fit(2, args.strategy, X, y, args.repeats)
    same = all(
        np.array_equal(a, b)
        for m, n in zip(one_by_one.estimators_, side_by_side.estimators_)
        for a, b in zip(m.coefs_ + m.intercepts_, n.coefs_ + n.intercepts_)
    )
    print(f"8 x MLPClassifier((64,), max_iter=30) on digits, strategy={args.strategy!r}, "
          f"median of {args.repeats}")
    print(f"  sequential (n_jobs=None): {sequential:7.3f} s")
    print(f"  threads    (n_jobs=2)   : {parallel:7.3f} s")
    print(f"  speed-up                : {sequential / parallel:7.2f}x")
    print(f"  identical members       : {same}")
    print(f"  ensemble training accuracy: {side_by_side.score(X, y):.4f}")


if __name__ == "__main__":
    main()
