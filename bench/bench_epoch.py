"""Time one training epoch of a dense classifier in fastreg and its peers.

What is measured
----------------
The wall time of ONE epoch of minibatch training of the same multilayer
perceptron, in float32 on the CPU, in fastreg, scikit-learn, PyTorch (eager)
and JAX (the whole epoch compiled), whichever of them are installed:

* ReLU hidden layers, each followed by dropout 0.5 (scikit-learn has no
  dropout, so its model skips it); a softmax cross-entropy output;
* an L2 penalty on the weights, ``alpha = 1e-4`` in scikit-learn's and
  fastreg's meaning (``peers.py`` explains how it is matched in each library);
* SGD with learning rate 0.01 and momentum 0.9, data shuffled every epoch.

The data are synthetic: Gaussian float32 inputs, labels given by the argmax of
a fixed random projection (so they can be learnt), from a fixed seed.

========  ================  =======================  ==========
config    samples x inputs  hidden layers            batch size
========  ================  =======================  ==========
A         4000 x 40         100, 100                 32
B         4000 x 40         256, 256                 128
C         60000 x 784       512, 512                 128
D         60000 x 784       1024, 1024               256
========  ================  =======================  ==========

How it is timed
---------------
For each configuration, every peer runs in a Python process of its own (so
that the thread pools of one library, which spin for a while after each use,
cannot take the cores of another): it is built, trains one untimed warm-up
epoch (allocation, JIT compilation, thread start-up), then the timed epochs,
whose median is kept.  With ``--rounds R`` the peers take turns R times (a new
process each time) and the median is over the epochs of all rounds, so that a
drift of the machine's speed during the run weighs on every peer alike; the
matmul rate is measured again before every round and its best kept.  An epoch is:

* fastreg: one ``fit(epochs=1)`` call, timed by fastreg itself
  (``history["epoch_time"]``); the wall time of the whole call is kept too;
* scikit-learn: one ``partial_fit`` call (one pass over the data);
* PyTorch: a loop over minibatches sliced from one random permutation;
* JAX: one call of the compiled epoch, waited for with ``block_until_ready``;
* fastreg-blas: fastreg with ``FASTREG_PRODUCTS=blas``, every matrix product by
  OpenBLAS, as fastreg computed them before its own small-product kernels: its
  ``x fastreg-blas`` column is what those kernels gain.
* fastreg-baseline (with ``--baseline PATH``): fastreg imported from another
  source tree built in place, an earlier version say, in turn with this one: its
  ``x fastreg-baseline`` column is what the changes since then gain.

How to read the table
---------------------
* ``<peer> ms``: median milliseconds per epoch.  ``fit(1) ms`` is fastreg's
  median of whole ``fit(epochs=1)`` calls.
* ``GFLOP/s``: fastreg's ``6 * n_samples * sum(fan_in * fan_out) / time``,
  the matrix-product work of forward and backward passes per second.
* ``% matmul``: that rate as a share of the best numpy float32 ``a @ b``
  rate measured on this machine for square matrices of size 1024 and 2048,
  a practical peak.  Small configurations (A, B) are bound by per-minibatch
  overhead more than by arithmetic, and stay well below it.
* ``x <peer>``: peer time / fastreg time; above 1 fastreg is faster.

Other processes on the machine make the timings unreliable: the header warns
when the load average is high at the start, and a line after the table lists
the peers whose epochs varied by more than 1.5x.  Rerun those on an idle
machine, or with more ``--repeats`` and ``--rounds``.

Usage
-----
::

    python bench/bench_epoch.py
    python bench/bench_epoch.py --configs C,D --peers fastreg,torch --repeats 5
    python bench/bench_epoch.py --configs A,B --rounds 3   # peers take turns 3 times
    python bench/bench_epoch.py --json results.json
    # against an earlier commit, built in place in a worktree of its own:
    git worktree add /tmp/fastreg-old <commit>
    (cd /tmp/fastreg-old && python setup.py build_ext --inplace)
    python bench/bench_epoch.py --peers fastreg --baseline /tmp/fastreg-old --rounds 3
    PYTHONPATH=. python bench/bench_epoch.py      # fastreg built in place, not installed

A full run of all configurations and peers takes a few minutes on 2 cores.
Every library uses all the cores this process may run on.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from machine import cpu_model, print_thread_pools, thread_pools
from peers import BASELINE_PEER, PEERS, SEED, Workload, baseline_peer, usable_cores

WORKLOADS = {
    "A": Workload(
        "A", n_samples=4000, n_features=40, hidden=(100, 100), n_classes=10, batch_size=32
    ),
    "B": Workload(
        "B", n_samples=4000, n_features=40, hidden=(256, 256), n_classes=10, batch_size=128
    ),
    "C": Workload(
        "C", n_samples=60000, n_features=784, hidden=(512, 512), n_classes=10, batch_size=128
    ),
    "D": Workload(
        "D", n_samples=60000, n_features=784, hidden=(1024, 1024), n_classes=10, batch_size=256
    ),
}

# Timed epochs per peer when --repeats is not given: many for the sub-second
# epochs of A and B, few for the multi-second epochs of C and D.
DEFAULT_REPEATS = {"A": 7, "B": 7, "C": 3, "D": 3}

# A peer whose slowest timed epoch exceeds its fastest by this factor is
# reported as unsteady: its median deserves more repeats.
UNSTEADY_RATIO = 1.5

# A one-minute load average above this share of the usable cores, before the
# benchmark starts, means other processes compete for them: a warning is printed.
BUSY_LOAD = 0.25

MATMUL_SIZES = (1024, 2048)
MATMUL_MIN_REPEATS = 5
MATMUL_MIN_SECONDS = 1.0


@dataclass
class PeerTimings:
    """The epochs timed for one peer on one workload, in seconds.

    Attributes
    ----------
    epoch_seconds : list of float
        Duration of each timed epoch.
    fit_call_seconds : list of float
        fastreg only (empty otherwise): duration of each whole
        ``fit(epochs=1)`` call.
    """

    epoch_seconds: list = field(default_factory=list)
    fit_call_seconds: list = field(default_factory=list)

    def add(self, epoch_time):
        """Record one :class:`peers.EpochTime`."""
        self.epoch_seconds.append(epoch_time.epoch_seconds)
        if epoch_time.fit_call_seconds is not None:
            self.fit_call_seconds.append(epoch_time.fit_call_seconds)

    def extend(self, other):
        """Pool the epochs of another :class:`PeerTimings` of the same peer and workload."""
        self.epoch_seconds.extend(other.epoch_seconds)
        self.fit_call_seconds.extend(other.fit_call_seconds)

    @property
    def median_epoch_seconds(self):
        """Median of :attr:`epoch_seconds`."""
        return statistics.median(self.epoch_seconds)


def make_data(workload):
    """Build the synthetic training set of a workload.

    Parameters
    ----------
    workload : Workload
        Gives the shape of ``X`` and the number of classes.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32, C-contiguous
        Standard Gaussian inputs.
    y : ndarray of shape (n_samples,), int64
        Class of each sample: argmax of ``X @ projection`` for a random
        Gaussian ``projection``.
    """
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((workload.n_samples, workload.n_features), dtype=np.float32)
    projection = rng.standard_normal((workload.n_features, workload.n_classes), dtype=np.float32)
    y = np.argmax(X @ projection, axis=1).astype(np.int64)
    return X, y


def measure_matmul_gflops(size):
    """Measure numpy's float32 product of two square matrices.

    After one untimed warm-up product, products are timed until both
    ``MATMUL_MIN_REPEATS`` of them and ``MATMUL_MIN_SECONDS`` have passed, so
    that short-lived slowdowns of the machine hardly move the median.

    Parameters
    ----------
    size : int
        Side of the matrices.

    Returns
    -------
    dict
        ``seconds``: time of each product; ``gflops``: ``2 * size**3`` over
        their median, in GFLOP/s.
    """
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b
    seconds = []
    while len(seconds) < MATMUL_MIN_REPEATS or sum(seconds) < MATMUL_MIN_SECONDS:
        start = time.perf_counter()
        a @ b
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "gflops": 2 * size**3 / statistics.median(seconds) / 1e9}


def format_table(header, rows):
    """Lay out rows of strings as aligned text columns, first column left-aligned."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells):
        first, *others = cells
        return "  ".join(
            [first.ljust(widths[0])]
            + [cell.rjust(width) for cell, width in zip(others, widths[1:])]
        )

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def parse_arguments(argv=None):
    """Read and check the command line (``argv``, default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description="Time one training epoch of an MLP classifier in fastreg and its peers.",
        epilog="The module docstring explains the model and how to read the table.",
    )
    parser.add_argument(
        "--configs",
        default=",".join(WORKLOADS),
        help="comma-separated configurations among %(default)s (default: all)",
    )
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="comma-separated libraries among %(default)s (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="timed epochs per peer and configuration (default: "
        + ", ".join(f"{name}: {count}" for name, count in DEFAULT_REPEATS.items())
        + ")",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every peer this many times, in turn, and pool their epochs (default: 1); "
        "on a machine whose speed drifts, 3 or more keep the ratios fair",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write every raw measurement to this JSON file"
    )
    parser.add_argument(
        "--baseline",
        metavar="PATH",
        help=f"also time fastreg from this source tree, built in place, as {BASELINE_PEER}",
    )
    arguments = parser.parse_args(argv)

    arguments.configs = arguments.configs.split(",")
    arguments.peers = arguments.peers.split(",")
    if arguments.baseline is not None:
        if not os.path.isfile(os.path.join(arguments.baseline, "fastreg", "__init__.py")):
            parser.error(f"--baseline {arguments.baseline}: no fastreg package there")
        PEERS[BASELINE_PEER] = baseline_peer(arguments.baseline)
        if BASELINE_PEER not in arguments.peers:
            arguments.peers.append(BASELINE_PEER)
    for kind, chosen, known in [
        ("configuration", arguments.configs, WORKLOADS),
        ("peer", arguments.peers, PEERS),
    ]:
        unknown = [name for name in chosen if name not in known]
        if unknown:
            parser.error(f"unknown {kind}: {', '.join(unknown)} (choose among {', '.join(known)})")
    if arguments.repeats is not None and arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    if arguments.rounds < 1:
        parser.error("--rounds must be at least 1")
    return arguments


def time_peer(config, name, repeats):
    """Time ``repeats`` epochs of one peer on one configuration, in a process of its own.

    Each peer runs alone in a fresh Python process: the thread pools of the others
    (OpenMP, BLAS), which spin for a while after each use, cannot take its cores, and
    what one library loads or sets cannot change another's speed. Progress goes to stderr.

    Parameters
    ----------
    config : str
        Name of the configuration in :data:`WORKLOADS`.
    name : str
        Name of the peer in :data:`peers.PEERS`.
    repeats : int
        Timed epochs, after one warm-up epoch.

    Returns
    -------
    PeerTimings
    """
    print(f"[{config}] {name}: {repeats} epochs after a warm-up...", file=sys.stderr, flush=True)
    command = [sys.executable, os.path.abspath(__file__), "--worker", name, config, str(repeats)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, **PEERS[name].environment})
    if finished.returncode != 0:
        raise RuntimeError(f"{name} on {config} failed:\n{finished.stderr[-3000:]}")
    measured = json.loads(finished.stdout.strip().splitlines()[-1])
    timings = PeerTimings(measured["epoch_seconds"], measured["fit_call_seconds"])
    print(
        f"[{config}] {name}: median {timings.median_epoch_seconds * 1e3:.1f} ms",
        file=sys.stderr,
        flush=True,
    )
    return timings


def run_worker(name, config, repeats):
    """The child process of :func:`time_peer`: print its timings as one JSON line."""
    workload = WORKLOADS[config]
    X, y = make_data(workload)
    # The baseline's tree is on this process's PYTHONPATH: it trains as fastreg does.
    peer = PEERS[name] if name != BASELINE_PEER else baseline_peer(".")
    train_epoch = peer.prepare(workload, X, y)
    timings = PeerTimings()
    for _ in range(repeats):
        timings.add(train_epoch())
    print(json.dumps({"epoch_seconds": timings.epoch_seconds,
                      "fit_call_seconds": timings.fit_call_seconds}))


def render_table(configs, peers, results, matmul_peak):
    """Build the summary table: one row per configuration.

    Parameters
    ----------
    configs : list of str
        Configuration names, in row order.
    peers : list of str
        Available peers, in column order.
    results : dict
        ``results[config][peer]`` is a :class:`PeerTimings`.
    matmul_peak : float
        Best numpy matmul rate, GFLOP/s.

    Returns
    -------
    str
        The table, followed by a legend of its fastreg columns.
    """
    has_fastreg = "fastreg" in peers
    others = [name for name in peers if name != "fastreg"]
    header = ["config", "samples", "layers", "batch"]
    if has_fastreg:
        header += ["fastreg ms", "fit(1) ms"]
    header += [f"{name} ms" for name in others]
    if has_fastreg:
        header += ["GFLOP/s", "% matmul"] + [f"x {name}" for name in others]

    rows = []
    for config in configs:
        workload = WORKLOADS[config]
        timings = results[config]
        row = [config, str(workload.n_samples), workload.describe(), str(workload.batch_size)]
        if has_fastreg:
            fastreg = timings["fastreg"]
            row += [
                f"{fastreg.median_epoch_seconds * 1e3:.1f}",
                f"{statistics.median(fastreg.fit_call_seconds) * 1e3:.1f}",
            ]
        row += [f"{timings[name].median_epoch_seconds * 1e3:.1f}" for name in others]
        if has_fastreg:
            gflops = workload.flop_per_epoch / fastreg.median_epoch_seconds / 1e9
            row += [f"{gflops:.1f}", f"{100 * gflops / matmul_peak:.0f}%"]
            row += [
                f"{timings[name].median_epoch_seconds / fastreg.median_epoch_seconds:.2f}"
                for name in others
            ]
        rows.append(row)

    lines = [format_table(header, rows)]
    if has_fastreg:
        lines += [
            "fastreg ms: median of history['epoch_time']",
            "fit(1) ms: median of whole fastreg fit(epochs=1) calls",
            "GFLOP/s, % matmul: fastreg's rate and its share of the numpy matmul peak",
            "x <peer>: peer ms / fastreg ms (above 1: fastreg is faster)",
        ]
    return "\n".join(lines)


def unsteady_timings(results, ratio=UNSTEADY_RATIO):
    """List the peers whose slowest timed epoch exceeds ``ratio`` times their fastest.

    Parameters
    ----------
    results : dict
        ``results[config][peer]`` is a :class:`PeerTimings`.
    ratio : float
        Slowest-to-fastest epoch ratio above which a peer is listed.

    Returns
    -------
    list of str
        One ``"<config> <peer> <fastest>-<slowest> ms"`` entry per such peer.
    """
    return [
        f"{config} {name} {min(timing.epoch_seconds) * 1e3:.0f}"
        f"-{max(timing.epoch_seconds) * 1e3:.0f} ms"
        for config, peer_timings in results.items()
        for name, timing in peer_timings.items()
        if max(timing.epoch_seconds) > ratio * min(timing.epoch_seconds)
    ]


def write_json(path, arguments, versions, unavailable, matmul, results):
    """Write the run's settings, environment and every raw measurement to ``path``."""
    document = {
        "arguments": vars(arguments),
        "machine": {
            "cpu": cpu_model(),
            "usable_cores": usable_cores(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "thread_pools": thread_pools(),
        },
        "versions": versions,
        "unavailable": unavailable,
        "matmul": {str(size): result for size, result in matmul.items()},
        "results": {
            config: {
                "workload": {
                    "n_samples": WORKLOADS[config].n_samples,
                    "layer_sizes": WORKLOADS[config].layer_sizes,
                    "batch_size": WORKLOADS[config].batch_size,
                    "flop_per_epoch": WORKLOADS[config].flop_per_epoch,
                },
                "peers": {
                    name: {
                        "epoch_seconds": timing.epoch_seconds,
                        "median_epoch_seconds": timing.median_epoch_seconds,
                        "gflops": WORKLOADS[config].flop_per_epoch
                        / timing.median_epoch_seconds
                        / 1e9,
                        "fit_call_seconds": timing.fit_call_seconds,
                    }
                    for name, timing in peer_timings.items()
                },
            }
            for config, peer_timings in results.items()
        },
    }
    with open(path, "w") as output:
        json.dump(document, output, indent=2)


def main(argv=None):
    """Run the benchmark and print its header, progress (to stderr) and table.

    Returns
    -------
    int
        Exit status: 1 when none of the requested peers can be imported.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        run_worker(argv[1], argv[2], int(argv[3]))
        return 0
    arguments = parse_arguments(argv)

    versions, unavailable = {}, {}
    for name in arguments.peers:
        version, error = PEERS[name].probe()
        if error is None:
            versions[name] = version
        else:
            unavailable[name] = error
    available = [name for name in arguments.peers if name in versions]
    if not available:
        for name, error in unavailable.items():
            print(
                f"{name}: not importable ({error}); to include it: {PEERS[name].install_hint}",
                file=sys.stderr,
            )
        print("None of the requested peers can be imported.", file=sys.stderr)
        return 1

    print("One training epoch of a dropout MLP classifier, float32, CPU")
    print(f"CPU: {cpu_model()}, {usable_cores()} usable cores")
    print(f"Python {platform.python_version()}, numpy {np.__version__}")
    print("Peers: " + (", ".join(f"{name} {versions[name]}" for name in available) or "none"))
    for name, error in unavailable.items():
        print(f"{name}: not importable ({error}); to include it: {PEERS[name].install_hint}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        busy = load > BUSY_LOAD * usable_cores()
        warning = " (other work on this machine will disturb the timings)" if busy else ""
        print(f"Load average over the last minute: {load:.2f}{warning}")
    print_thread_pools()

    # Peers take turns, round after round, and the matmul rate is measured before every
    # round: a drift of the machine's speed then weighs on every peer alike.
    matmul = {size: measure_matmul_gflops(size) for size in MATMUL_SIZES}
    results = {config: {name: PeerTimings() for name in available} for config in arguments.configs}
    for round_index in range(arguments.rounds):
        if round_index > 0:
            for size in MATMUL_SIZES:
                again = measure_matmul_gflops(size)
                if again["gflops"] > matmul[size]["gflops"]:
                    matmul[size] = again
        for config in arguments.configs:
            repeats = arguments.repeats or DEFAULT_REPEATS[config]
            for name in available:
                results[config][name].extend(time_peer(config, name, repeats))
    matmul_peak = max(result["gflops"] for result in matmul.values())
    print(
        "numpy float32 matmul (best of the run): "
        + ", ".join(f"n={size}: {result['gflops']:.1f} GFLOP/s" for size, result in matmul.items())
    )
    print()

    print(render_table(arguments.configs, available, results, matmul_peak))
    notes = [f"{name}: {PEERS[name].model_note}" for name in available if PEERS[name].model_note]
    if notes:
        print("Model differences: " + "; ".join(notes))
    unsteady = unsteady_timings(results)
    if unsteady:
        print(
            f"Unsteady (slowest epoch > {UNSTEADY_RATIO} x fastest; more --repeats "
            "or a quieter machine would help): " + "; ".join(unsteady)
        )

    if arguments.json:
        write_json(arguments.json, arguments, versions, unavailable, matmul, results)
        print(f"Raw measurements written to {arguments.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
