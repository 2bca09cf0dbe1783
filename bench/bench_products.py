"""Time the matrix products of one training step on one core: OpenBLAS and fastreg's kernels.

What is measured
----------------
For workloads A-D of ``bench_epoch.py`` (float32) and for the scikit-learn
digits drop-in fit (64 inputs -> 100 hidden -> 10 classes, batch 200,
float64), every matrix product of one training step of a minibatch, with a
network of layer sizes ``s_0 .. s_L`` and batch ``b``:

* ``forward l``: ``X @ W``, (b x s_l-1) @ (s_l-1 x s_l), every layer;
* ``dW l``: ``X^T @ delta``, (s_l-1 x b) @ (b x s_l), every layer;
* ``dX l``: ``delta @ W^T``, (b x s_l) @ (s_l x s_l-1), every layer but the first.

Each product is computed three ways, with the operands laid out as in a
training step (C-contiguous, the transposed operand read as such), through
``fastreg._blas.product``, whose timing loop runs in C without the GIL:

* ``OpenBLAS``: the whole product by scipy's BLAS (``sgemm``/``dgemm``), the
  BLAS that fastreg calls;
* ``fastreg``: the whole product by fastreg's own register-blocked kernels
  (``src_cython/fastreg/_products.h``), the version this processor runs
  (``FASTREG_PRODUCTS`` can force another), whatever the shape;
* ``before``: as the training engine computed it on one thread before it had
  its own kernels (``FASTREG_PRODUCTS=blas``): the product's blocks (a large
  product is cut into blocks of columns or rows, for the engine's threads),
  each by OpenBLAS;
* ``engine``: as the engine computes it now: the same blocks, each by the
  kernels that fastreg's rule on its shape names.

How it is timed
---------------
Everything runs on ONE thread (``threadpoolctl.threadpool_limits(1)``).  Each
product is first calibrated: the number of calls that lasts at least
``REPEAT_SECONDS`` (20 ms).  Then ``--repeats`` rounds follow; in each round
every way of every product of every chosen workload, and the two large square
products below, is timed once over its calls, in turn, so that a drift of the
shared machine's speed weighs on all of them alike.  The figure kept is the
median over the rounds of the time per call.

The peak of one core is estimated twice:

* measured: the rate of a large square product by OpenBLAS in the same run
  (1024^3 in float32, 512^3 in float64, one thread);
* nominal, only when the CPU has AVX-512: 2 FMA units x 16 float32 lanes
  (8 float64 lanes) x 2 flops x clock.  The clock is the "cpu MHz" of
  /proc/cpuinfo, the CURRENT clock, not the turbo clock: the figure can be
  off either way (a large product can beat it).  Two FMA units is an
  assumption (some AVX-512 parts have one).

How to read the tables
----------------------
One table per workload: product, shape ``m x k x n`` (a product of an
(m x k) and a (k x n) matrix, ``2 m k n`` flops), then for OpenBLAS, fastreg's
kernels, the engine before and the engine now the microseconds per call and
GFLOP/s; ``gain``, the engine's speed now over before; the engine's share of
the measured large-product rate and of the nominal peak.  The last line is the
step's total: the sum of its products.

OpenBLAS chooses its kernels by ``OPENBLAS_CORETYPE`` (and its blocking by
``OPENBLAS_L2_SIZE``) when they are set: the header gives both.  The script
does not change them; run it both ways:

Usage
-----
::

    python3 bench/bench_products.py                      # variables as the machine sets them
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/bench_products.py
    python3 bench/bench_products.py --workloads A,digits --repeats 31 --json products.json

A full run takes about a minute and a half per ten repeats.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from bench_epoch import WORKLOADS as EPOCH_WORKLOADS
from bench_epoch import format_table
from machine import cpu_model, print_thread_pools

SEED = 0

# name -> (layer sizes, inputs first; batch size; dtype)
WORKLOADS = {
    **{
        name: (workload.layer_sizes, workload.batch_size, np.float32)
        for name, workload in EPOCH_WORKLOADS.items()
    },
    "digits": ((64, 100, 10), 200, np.float64),
}

DEFAULT_REPEATS = 15

# Each timed repeat calls a product enough times to last at least this long.
REPEAT_SECONDS = 0.02

# Large square products whose rate is the measured peak of one core, by dtype.
LARGE_SIZES = {np.float32: 1024, np.float64: 512}

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Product:
    """One matrix product ``(m x k) @ (k x n)``.

    Attributes
    ----------
    name : str
        ``"forward <layer>"``, ``"dW <layer>"``, ``"dX <layer>"`` (layers
        counted from 1) or ``"large"``.
    m, k, n : int
        Shape of the product.
    dtype : numpy dtype class
        ``np.float32`` or ``np.float64``.
    """

    name: str
    m: int
    k: int
    n: int
    dtype: type

    @property
    def flop(self):
        """Floating-point operations of the product, ``2 m k n``."""
        return 2 * self.m * self.k * self.n

    @property
    def shape(self):
        """``"m x k x n"``."""
        return f"{self.m} x {self.k} x {self.n}"


def step_products(layer_sizes, batch_size, dtype):
    """List the matrix products of one training step of a dense network.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths of all layers, inputs first and outputs last (at least two).
    batch_size : int
        Rows of the minibatch.
    dtype : numpy dtype class
        Floating-point type of the products.

    Returns
    -------
    list of Product
        The forward products of every layer, then the weight gradients of
        every layer, then the input gradients of every layer but the first.
    """
    if len(layer_sizes) < 2 or any(int(size) < 1 for size in layer_sizes):
        raise ValueError(f"layer_sizes must hold at least two positive widths, got {layer_sizes}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    layers = list(enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1))
    return (
        [Product(f"forward {layer}", batch_size, fan_in, fan_out, dtype)
         for layer, (fan_in, fan_out) in layers]
        + [Product(f"dW {layer}", fan_in, batch_size, fan_out, dtype)
           for layer, (fan_in, fan_out) in layers]
        + [Product(f"dX {layer}", batch_size, fan_out, fan_in, dtype)
           for layer, (fan_in, fan_out) in layers[1:]]
    )


def make_operands(product, rng):
    """Build the operands and the output of a product, laid out as in a training step.

    ``dW`` multiplies the transpose of the C-contiguous layer input (a ``.T``
    view), ``dX`` the transpose of the C-contiguous weight matrix; everything
    else is C-contiguous.

    Returns
    -------
    left, right, out : ndarray
        ``np.matmul(left, right, out=out)`` computes the product.
    """
    m, k, n, dtype = product.m, product.k, product.n, product.dtype
    if product.name.startswith("dW"):
        left = rng.standard_normal((k, m)).astype(dtype).T  # layer input, batch x fan_in
    else:
        left = rng.standard_normal((m, k)).astype(dtype)
    if product.name.startswith("dX"):
        right = rng.standard_normal((n, k)).astype(dtype).T  # weights, fan_in x fan_out
    else:
        right = rng.standard_normal((k, n)).astype(dtype)
    return left, right, np.empty((m, n), dtype=dtype)


class TimedProduct:
    """One way of computing a product, with its operands, calls per repeat and timings.

    Parameters
    ----------
    group : str
        Workload name, or ``"peak"`` for the large square products.
    product : Product
    operands : tuple
        ``(a, b, transpose_a, transpose_b)`` as ``fastreg._blas.product`` takes them.
    way : str
        ``"OpenBLAS"``, ``"fastreg"``, ``"before"`` or ``"engine"``.
    """

    # way -> (kernels, blocked) of fastreg._blas.product; "fastreg": the version in use
    WAYS = {"OpenBLAS": ("blas", False), "before": ("blas", True), "engine": (None, True)}

    def __init__(self, group, product, operands, way):
        self.group = group
        self.product = product
        self.a, self.b, self.transpose_a, self.transpose_b = operands
        self.way = way
        self.out = np.empty((product.m, product.n), dtype=product.dtype)
        self.calls = 1
        self.seconds_per_call = []

    def run(self, calls):
        """Compute the product ``calls`` times; return the elapsed seconds."""
        from fastreg import _blas

        kernels, blocked = self.WAYS.get(self.way, (_blas.product_kernels(), False))
        start = time.perf_counter()
        _blas.product(self.a, self.b, self.transpose_a, self.transpose_b, out=self.out,
                      kernels=kernels, blocked=blocked, repeat=calls)
        return time.perf_counter() - start

    def calibrate(self, repeat_seconds):
        """Set :attr:`calls` so that one repeat lasts at least ``repeat_seconds``."""
        self.run(1)
        calls = 1
        elapsed = self.run(calls)
        while elapsed < repeat_seconds / 10:
            calls *= 10
            elapsed = self.run(calls)
        self.calls = max(1, math.ceil(calls * repeat_seconds / elapsed))

    def time_once(self):
        """Time one repeat and record its seconds per call."""
        self.seconds_per_call.append(self.run(self.calls) / self.calls)

    @property
    def median_seconds(self):
        """Median seconds per call over the repeats."""
        return statistics.median(self.seconds_per_call)

    @property
    def gflops(self):
        """Rate of the median call, GFLOP/s."""
        return self.product.flop / self.median_seconds / 1e9


def ways_of(group, product, rng):
    """The TimedProducts of a product: OpenBLAS, fastreg's kernels (where they apply), the
    engine before and now, on the same operands."""
    from fastreg import _blas

    left, right, _ = make_operands(product, rng)
    # make_operands gives matmul's operands; _blas.product takes the stored matrices.
    transpose_a, transpose_b = not left.flags.c_contiguous, not right.flags.c_contiguous
    operands = (left.T if transpose_a else left, right.T if transpose_b else right,
                transpose_a, transpose_b)
    ways = ["OpenBLAS", "before", "engine"]
    if _blas.product_kernels() != "blas":
        ways.insert(1, "fastreg")
    return [TimedProduct(group, product, operands, way) for way in ways]


def time_products(timed_products, repeats, repeat_seconds=REPEAT_SECONDS):
    """Calibrate every product, then time them in ``repeats`` interleaved rounds."""
    for timed in timed_products:
        timed.calibrate(repeat_seconds)
    for _ in range(repeats):
        for timed in timed_products:
            timed.time_once()


def cpu_info():
    """Read the AVX-512 flag and the current clock from /proc/cpuinfo.

    Returns
    -------
    has_avx512 : bool or None
        Whether the ``avx512f`` flag is listed (None when unknown).
    megahertz : float or None
        The first "cpu MHz" figure: the clock at the time of reading.
    """
    has_avx512, megahertz = None, None
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "flags" and has_avx512 is None:
                    has_avx512 = "avx512f" in value.split()
                elif key == "cpu MHz" and megahertz is None:
                    megahertz = float(value)
    except (OSError, ValueError):
        pass
    return has_avx512, megahertz


def nominal_peak_gflops(dtype, megahertz, fma_units=2):
    """AVX-512 peak of one core: FMA units x lanes x 2 flops x clock, GFLOP/s."""
    lanes = 64 // np.dtype(dtype).itemsize
    return fma_units * lanes * 2 * megahertz / 1e3


def render_workload(name, timed_products, large_gflops, nominal):
    """The table of one workload's products and its step total.

    Parameters
    ----------
    name : str
        Workload name.
    timed_products : list of TimedProduct
        Its products, every way, timed.
    large_gflops : dict
        Measured large-product rate by dtype, GFLOP/s.
    nominal : dict or None
        Nominal peak by dtype, GFLOP/s, or None when unknown.
    """
    sizes, batch_size, dtype = WORKLOADS[name]
    ways = ["OpenBLAS", "fastreg", "before", "engine"]
    header = ["product", "m x k x n"]
    for way in ways:
        header += [f"{way} us", "GFLOP/s"]
    header += ["gain", "% large", "% nominal"]
    by_product = {}
    for timed in timed_products:
        by_product.setdefault(timed.product, {})[timed.way] = timed
    totals = dict.fromkeys(ways, 0.0)
    rows = []

    def rates(seconds, flop):
        gflops = flop / seconds / 1e9
        return [f"{100 * gflops / large_gflops[dtype]:.0f}%",
                f"{100 * gflops / nominal[dtype]:.0f}%" if nominal else "-"]

    for product, timed_ways in by_product.items():
        row = [product.name, product.shape]
        for way in ways:
            if way in timed_ways:
                row += [f"{timed_ways[way].median_seconds * 1e6:.2f}",
                        f"{timed_ways[way].gflops:.1f}"]
                totals[way] += timed_ways[way].median_seconds
            else:  # fastreg's kernels do not take this product: the engine uses BLAS
                row += ["-", "-"]
                totals[way] += timed_ways["OpenBLAS"].median_seconds
        engine = timed_ways["engine"].median_seconds
        row.append(f"{timed_ways['before'].median_seconds / engine:.2f}x")
        rows.append(row + rates(engine, product.flop))
    flop = sum(product.flop for product in by_product)
    total_row = ["step total", ""]
    for way in ways:
        total_row += [f"{totals[way] * 1e6:.2f}", f"{flop / totals[way] / 1e9:.1f}"]
    total_row.append(f"{totals['before'] / totals['engine']:.2f}x")
    rows.append(total_row + rates(totals["engine"], flop))
    title = (f"{name}: {'-'.join(map(str, sizes))}, batch {batch_size}, "
             f"{np.dtype(dtype).name}")
    return title + "\n" + format_table(header, rows)


def parse_arguments(argv=None):
    """Read and check the command line (``argv``, default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(
        description="Time the matrix products of one training step through OpenBLAS, one thread.",
        epilog="The module docstring explains what is timed and how to read the tables.",
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS),
        help="comma-separated workloads among %(default)s (default: all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS,
        help="interleaved rounds; the median over them is kept (default: %(default)s)",
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write every raw measurement to this JSON file"
    )
    arguments = parser.parse_args(argv)
    arguments.workloads = arguments.workloads.split(",")
    unknown = [name for name in arguments.workloads if name not in WORKLOADS]
    if unknown:
        parser.error(
            f"unknown workload: {', '.join(unknown)} (choose among {', '.join(WORKLOADS)})"
        )
    if arguments.repeats < 1:
        parser.error("--repeats must be at least 1")
    return arguments


def main(argv=None):
    """Run the benchmark; print the tables and optionally write the JSON file."""
    arguments = parse_arguments(argv)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as error:
        raise ImportError(
            "bench_products.py needs threadpoolctl to hold OpenBLAS to one thread: "
            "pip install threadpoolctl"
        ) from error
    import scipy.linalg.blas  # noqa: F401  (loads scipy's OpenBLAS, fastreg's, for the header)

    from fastreg import _blas

    rng = np.random.default_rng(SEED)
    timed_products = [
        timed
        for name in arguments.workloads
        for product in step_products(*WORKLOADS[name])
        for timed in ways_of(name, product, rng)
    ]
    dtypes = sorted(
        {WORKLOADS[name][2] for name in arguments.workloads}, key=lambda dtype: dtype(0).itemsize
    )
    large = {}
    for dtype, size in LARGE_SIZES.items():
        if dtype in dtypes:
            square = Product("large", size, size, size, dtype)
            large[dtype] = ways_of("peak", square, rng)[0]  # OpenBLAS
    has_avx512, megahertz = cpu_info()
    nominal = (
        {dtype: nominal_peak_gflops(dtype, megahertz) for dtype in LARGE_SIZES}
        if has_avx512 and megahertz else None
    )

    with threadpool_limits(limits=1):
        print(f"CPU: {cpu_model()}")
        print_thread_pools()
        for variable in OPENBLAS_VARIABLES:
            print(f"{variable}={os.environ.get(variable, '(unset)')}")
        print(f"fastreg's kernels: {_blas.product_kernels()} (FASTREG_PRODUCTS="
              f"{os.environ.get('FASTREG_PRODUCTS', '(unset)')})")
        print("One thread (threadpoolctl.threadpool_limits(1)); products by fastreg._blas.product,")
        print(f"median of {arguments.repeats} interleaved repeats of >= "
              f"{REPEAT_SECONDS * 1e3:.0f} ms each; the machine may be shared: other processes"
              " slow some repeats.")
        time_products(timed_products + list(large.values()), arguments.repeats)

    large_gflops = {dtype: timed.gflops for dtype, timed in large.items()}
    print()
    for dtype, timed in large.items():
        print(f"measured peak ({np.dtype(dtype).name} large product {timed.product.shape}): "
              f"{timed.gflops:.1f} GFLOP/s")
    if nominal:
        for dtype in dtypes:
            print(f"nominal AVX-512 peak ({np.dtype(dtype).name}): 2 FMA x "
                  f"{64 // np.dtype(dtype).itemsize} lanes x 2 x {megahertz:.0f} MHz = "
                  f"{nominal[dtype]:.1f} GFLOP/s (current clock from /proc/cpuinfo, not turbo)")
    else:
        print("nominal peak: unknown (no AVX-512 or no clock in /proc/cpuinfo)")
    for name in arguments.workloads:
        print()
        print(render_workload(
            name, [timed for timed in timed_products if timed.group == name],
            large_gflops, nominal,
        ))

    if arguments.json:
        record = {
            "cpu": cpu_model(),
            "environment": {variable: os.environ.get(variable)
                            for variable in (*OPENBLAS_VARIABLES, "FASTREG_PRODUCTS")},
            "fastreg_kernels": _blas.product_kernels(),
            "threads": 1,
            "repeats": arguments.repeats,
            "repeat_seconds": REPEAT_SECONDS,
            "clock_mhz": megahertz,
            "avx512": has_avx512,
            "nominal_gflops": (
                {np.dtype(dtype).name: value for dtype, value in nominal.items()}
                if nominal else None
            ),
            "products": [
                {
                    "workload": timed.group, "product": timed.product.name, "way": timed.way,
                    "m": timed.product.m, "k": timed.product.k, "n": timed.product.n,
                    "dtype": np.dtype(timed.product.dtype).name, "flop": timed.product.flop,
                    "calls_per_repeat": timed.calls,
                    "seconds_per_call": timed.seconds_per_call,
                    "median_seconds": timed.median_seconds, "gflops": timed.gflops,
                }
                for timed in timed_products + list(large.values())
            ],
        }
        with open(arguments.json, "w") as output:
            json.dump(record, output, indent=1)
        print(f"\nRaw numbers written to {arguments.json}")


if __name__ == "__main__":
    sys.exit(main())
