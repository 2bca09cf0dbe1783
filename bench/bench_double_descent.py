"""The double-descent sweep (15% label noise) in fastreg and in PyTorch, side by side.

What is timed
-------------
The sweep of ``fastreg study double-descent`` for its 15% noise curve: for every width,
an MLP 40 - width - width - 10 (ReLU) trained on MNIST-1D's 4000 training signals (15% of
the labels replaced by another class) with plain softmax cross-entropy, SGD with learning
rate 0.01 and momentum 0.9, minibatches of 100 shuffled every epoch, for ``--epochs``
epochs. Both libraries start every width from the same weights (PyTorch's default
``nn.Linear`` initialization, drawn once by NumPy and copied into both), in float32.

* ``fastreg``: the widths one after another, each network with all the given cores
  (``n_threads``); one ``fit(epochs=E)`` call per width.
* ``fastreg-threads``: the way the study trains them: the widths side by side in a pool
  of as many threads as cores, each network on one engine thread.
* ``torch``: the widths one after another, ``torch.set_num_threads(cores)``, a plain
  training loop (minibatches sliced from ``torch.randperm``; no DataLoader, which would
  only slow PyTorch down).

Each library runs in a Python process of its own (the data are made once by this process
and handed over in a file); the time of a width is its training alone (data loading,
imports and a one-epoch warm-up of a small network excluded). With ``--repeats R`` the
libraries take turns R times (the order alternating) and the medians are reported. The
machine may be shared: the load average at the start is printed, and figures measured
under load say so.

Usage
-----
::

    python bench/bench_double_descent.py                       # the full sweep: long
    python bench/bench_double_descent.py --epochs 50 --repeats 3
    python bench/bench_double_descent.py --widths 8,46,256 --epochs 20 --libraries fastreg

PyTorch is optional (``pip install torch``); without it the bench says so and times
fastreg alone.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from machine import cpu_model  # noqa: E402

LIBRARIES = ("fastreg", "fastreg-threads", "torch")
PUBLISHED_TORCH_MINUTES = 12.7


def usable_cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def make_data(path, seed):
    """Write the sweep's data (noisy training labels, clean test set) to ``path`` (.npz)."""
    from fastreg.studies._runner import mnist1d
    from fastreg.studies.double_descent import NOISE, training_split

    X, y, _, _ = training_split(NOISE, seed, 0)
    _, _, X_test, y_test = mnist1d()
    np.savez(path, X=X, y=y, X_test=X_test, y_test=y_test)


def initial_weights(width, seed):
    from fastreg.studies.double_descent import HIDDEN_LAYERS, N_CLASSES, torch_like_weights

    return torch_like_weights(width, HIDDEN_LAYERS, 40, N_CLASSES, seed + width)


def fastreg_network(width, seed, n_threads):
    from fastreg import SGD, Dense, Network
    from fastreg.studies.double_descent import (
        HIDDEN_LAYERS,
        LEARNING_RATE,
        MOMENTUM,
        N_CLASSES,
    )

    network = Network([Dense(width, "relu")] * HIDDEN_LAYERS + [Dense(N_CLASSES)],
                      optimizer=SGD(LEARNING_RATE, momentum=MOMENTUM), random_state=seed,
                      n_threads=n_threads)
    return network.set_weights(*initial_weights(width, seed))


def fastreg_width(width, data, epochs, batch_size, seed, n_threads):
    """Train one width in fastreg; return its seconds and errors."""
    network = fastreg_network(width, seed, n_threads)
    start = time.perf_counter()
    network.fit(data["X"], data["y"], epochs=epochs, batch_size=batch_size)
    seconds = time.perf_counter() - start
    return {"width": width, "seconds": seconds,
            "train_error": float(np.mean(network.predict(data["X"]).argmax(1) != data["y"])),
            "test_error": float(np.mean(network.predict(data["X_test"]).argmax(1)
                                        != data["y_test"]))}


def warm_up_fastreg(data, batch_size, seed, cores):
    """One epoch of a small network: imports, thread start-up."""
    fastreg_width(1, data, 1, batch_size, seed, cores)


def run_fastreg(widths, data, epochs, batch_size, seed, cores, side_by_side):
    if not side_by_side:
        return [fastreg_width(w, data, epochs, batch_size, seed, cores) for w in widths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=cores) as pool:
        # The widest first, so that the pool ends with short fits.
        futures = {w: pool.submit(fastreg_width, w, data, epochs, batch_size, seed, 1)
                   for w in sorted(widths, reverse=True)}
        return [futures[w].result() for w in widths]


def torch_sweep(data, batch_size, seed, cores):
    """PyTorch's sweep as a function ``train(width, epochs)``, warmed up."""
    import torch
    from torch import nn

    from fastreg.studies.double_descent import HIDDEN_LAYERS, LEARNING_RATE, MOMENTUM

    torch.set_num_threads(cores)
    X = torch.from_numpy(np.ascontiguousarray(data["X"], dtype=np.float32))
    y = torch.from_numpy(data["y"].astype(np.int64))
    X_test = torch.from_numpy(np.ascontiguousarray(data["X_test"], dtype=np.float32))
    y_test = torch.from_numpy(data["y_test"].astype(np.int64))
    generator = torch.Generator().manual_seed(seed)

    def train(width, n_epochs):
        sizes = [X.shape[1]] + [width] * HIDDEN_LAYERS + [10]
        modules = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            modules += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        model = nn.Sequential(*modules[:-1])
        coefs, intercepts = initial_weights(width, seed)
        with torch.no_grad():
            for layer, coef, intercept in zip(model[::2], coefs, intercepts):
                layer.weight.copy_(torch.from_numpy(coef.T.copy()))
                layer.bias.copy_(torch.from_numpy(intercept))
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        loss_function = nn.CrossEntropyLoss()
        start = time.perf_counter()
        for _ in range(n_epochs):
            order = torch.randperm(len(y), generator=generator)
            for first in range(0, len(y), batch_size):
                batch = order[first:first + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss_function(model(X[batch]), y[batch]).backward()
                optimizer.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            train_error = float((model(X).argmax(1) != y).float().mean())
            test_error = float((model(X_test).argmax(1) != y_test).float().mean())
        return {"width": width, "seconds": seconds, "train_error": train_error,
                "test_error": test_error}

    train(1, 1)  # warm-up: imports, thread start-up
    return train


def worker(library, data_path, widths, epochs, batch_size, seed, cores):
    """Run one library's sweep in this process and print its results as JSON."""
    data = dict(np.load(data_path))
    if library == "torch":
        train = torch_sweep(data, batch_size, seed, cores)
        start = time.perf_counter()
        rows = [train(width, epochs) for width in widths]
    else:
        warm_up_fastreg(data, batch_size, seed, cores)
        start = time.perf_counter()
        rows = run_fastreg(widths, data, epochs, batch_size, seed, cores,
                           side_by_side=library == "fastreg-threads")
    total = time.perf_counter() - start
    from machine import thread_pools

    print(json.dumps({"library": library, "rows": rows, "total": total,
                      "thread_pools": thread_pools()}))


def run_worker(library, data_path, args):
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", library,
               "--data", str(data_path), "--widths", ",".join(map(str, args.widths)),
               "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--seed", str(args.seed), "--cores", str(args.cores)]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(f"The {library} worker failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def torch_available():
    """Whether PyTorch can be imported (without importing it here)."""
    return importlib.util.find_spec("torch") is not None


def parse_widths(text):
    widths = [int(part) for part in text.split(",") if part.strip()]
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive integers, got {text!r}")
    return widths


def main(argv=None):
    from fastreg.studies.double_descent import BATCH_SIZE, EPOCHS, sweep_widths

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=parse_widths,
                        default=[int(w) for w in sweep_widths()])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--libraries", default="fastreg,fastreg-threads,torch")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cores", type=int, default=usable_cores(),
                        help="cores given to each library (default: all usable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "repeats", "cores"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.worker:
        worker(args.worker, args.data, args.widths, args.epochs, args.batch_size, args.seed,
               args.cores)
        return 0
    libraries = [name.strip() for name in args.libraries.split(",") if name.strip()]
    unknown = sorted(set(libraries) - set(LIBRARIES))
    if unknown:
        parser.error(f"unknown libraries {unknown}; choose from {', '.join(LIBRARIES)}")
    if "torch" in libraries and not torch_available():
        print("PyTorch is not installed (pip install torch): timing fastreg alone.")
        libraries.remove("torch")
    if not libraries:
        parser.error("no library left to time")

    load = os.getloadavg()[0]
    print(f"CPU: {cpu_model()}; {args.cores} cores given to each library "
          f"({usable_cores()} usable); load average {load:.2f} at the start"
          + (" (other processes compete for the cores: the times are under load)"
             if load > 0.25 * usable_cores() else ""))
    print(f"Sweep: widths {','.join(map(str, args.widths))}; MLP 40-w-w-10, SGD 0.01 "
          f"momentum 0.9, batch {args.batch_size}, {args.epochs} epochs, 15% label noise; "
          f"{args.repeats} repeat(s), libraries alternating")
    results = {name: [] for name in libraries}
    with tempfile.TemporaryDirectory() as folder:
        data_path = Path(folder) / "data.npz"
        make_data(data_path, args.seed)
        for repeat in range(args.repeats):
            order = libraries if repeat % 2 == 0 else libraries[::-1]
            for name in order:
                results[name].append(run_worker(name, data_path, args))
    pools = {name: runs[0]["thread_pools"] for name, runs in results.items()}
    for name, lines in pools.items():
        print(f"Thread pools of the {name} process:")
        for line in lines or ["unknown (pip install threadpoolctl)"]:
            print(f"  {line}")
    total = {name: statistics.median(run["total"] for run in runs)
             for name, runs in results.items()}
    per_width = {name: [statistics.median(run["rows"][i]["seconds"] for run in runs)
                        for i in range(len(args.widths))] for name, runs in results.items()}
    print()
    header = "| width | " + " | ".join(f"{name} s" for name in libraries) + " |"
    print(header)
    print("|" + "---|" * (len(libraries) + 1))
    for i, width in enumerate(args.widths):
        print(f"| {width} | " + " | ".join(f"{per_width[name][i]:.2f}" for name in libraries)
              + " |")
    print("| **sweep** | " + " | ".join(f"**{total[name]:.1f}**" for name in libraries)
          + " |")
    print()
    for name in libraries:
        errors = results[name][0]["rows"]
        print(f"{name}: sweep {total[name]:.1f} s (median of {len(results[name])}); test "
              f"error at width {errors[-1]['width']}: {errors[-1]['test_error']:.1%}, train "
              f"error {errors[-1]['train_error']:.1%}")
    if "torch" in total:
        for name in ("fastreg", "fastreg-threads"):
            if name in total:
                print(f"torch / {name}: {total['torch'] / total[name]:.1f}x")
    print(f"(The issue quotes {PUBLISHED_TORCH_MINUTES} minutes for a published PyTorch run of "
          f"this sweep, 500 epochs; the times here scale with --epochs.)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": {k: v for k, v in vars(args).items()
                                                        if k not in ("worker", "data")},
                                               "load": load, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
