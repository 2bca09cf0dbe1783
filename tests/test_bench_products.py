"""bench/bench_products.py: the products of a training step (shapes, flops, operand layouts
against plain NumPy) and a tiny run of its command line."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "bench_products.py"


@pytest.fixture
def bench_products(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_products

    return bench_products


def test_products_of_a_step_of_workload_A(bench_products):
    # Workload A: 40 inputs -> 100 -> 100 -> 10, batch 32, written out by hand.
    expected = [
        ("forward 1", 32, 40, 100), ("forward 2", 32, 100, 100), ("forward 3", 32, 100, 10),
        ("dW 1", 40, 32, 100), ("dW 2", 100, 32, 100), ("dW 3", 100, 32, 10),
        ("dX 2", 32, 100, 100), ("dX 3", 32, 10, 100),
    ]
    sizes, batch_size, dtype = bench_products.WORKLOADS["A"]
    assert (tuple(sizes), batch_size, dtype) == ((40, 100, 100, 10), 32, np.float32)
    products = bench_products.step_products(sizes, batch_size, dtype)
    assert [(p.name, p.m, p.k, p.n) for p in products] == expected
    assert all(p.dtype is np.float32 for p in products)
    assert [p.flop for p in products] == [2 * m * k * n for _, m, k, n in expected]
    assert products[1].shape == "32 x 100 x 100"


def test_digits_workload_is_float64(bench_products):
    sizes, batch_size, dtype = bench_products.WORKLOADS["digits"]
    products = bench_products.step_products(sizes, batch_size, dtype)
    assert [(p.name, p.m, p.k, p.n) for p in products] == [
        ("forward 1", 200, 64, 100), ("forward 2", 200, 100, 10),
        ("dW 1", 64, 200, 100), ("dW 2", 100, 200, 10), ("dX 2", 200, 10, 100),
    ]
    assert all(p.dtype is np.float64 for p in products)


@pytest.mark.parametrize("sizes, batch_size", [((3,), 4), ((3, 0, 2), 4), ((3, 2), 0)])
def test_step_products_rejects_bad_shapes(bench_products, sizes, batch_size):
    with pytest.raises(ValueError, match="layer_sizes|batch_size"):
        bench_products.step_products(sizes, batch_size, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_operands_are_laid_out_as_in_a_step(bench_products, dtype):
    rng = np.random.default_rng(1)
    for product in bench_products.step_products((5, 7, 3), 4, dtype):
        left, right, out = bench_products.make_operands(product, rng)
        assert left.shape == (product.m, product.k) and right.shape == (product.k, product.n)
        assert out.shape == (product.m, product.n) and out.flags.c_contiguous
        assert left.dtype == right.dtype == out.dtype == dtype
        # The transposed operand is a .T view of a C-contiguous array, as BLAS sees it.
        kind = product.name.split()[0]
        stored_left = left.T if kind == "dW" else left
        stored_right = right.T if kind == "dX" else right
        assert stored_left.flags.c_contiguous and stored_right.flags.c_contiguous
        assert left.flags.c_contiguous == (kind != "dW")
        assert right.flags.c_contiguous == (kind != "dX")
        np.matmul(left, right, out=out)
        reference = left.astype(np.float64) @ right.astype(np.float64)
        np.testing.assert_allclose(out, reference, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_nominal_peak_is_fma_units_times_lanes_times_two_times_clock(bench_products):
    assert bench_products.nominal_peak_gflops(np.float32, 4050.0) == pytest.approx(259.2)
    assert bench_products.nominal_peak_gflops(np.float64, 2000.0) == pytest.approx(64.0)


def test_command_line_runs_digits_once(tmp_path):
    json_path = tmp_path / "products.json"
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--workloads", "digits", "--repeats", "1",
         "--json", str(json_path)],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    output = finished.stdout
    assert "digits: 64-100-10, batch 200, float64" in output
    assert "threadpool_limits(1)" in output and "OPENBLAS_CORETYPE=" in output
    assert "float64 large product 512 x 512 x 512" in output

    record = json.loads(json_path.read_text())
    assert record["threads"] == 1 and record["repeats"] == 1
    digits = [row for row in record["products"] if row["workload"] == "digits"]
    shapes = [(200, 64, 100), (200, 100, 10), (64, 200, 100), (100, 200, 10), (200, 10, 100)]
    ways = ["OpenBLAS", "before", "engine"]
    if record["fastreg_kernels"] != "blas":
        ways.insert(1, "fastreg")
    assert [(row["m"], row["k"], row["n"], row["way"]) for row in digits] == [
        (*shape, way) for shape in shapes for way in ways]
    for row in digits:
        assert row["dtype"] == "float64" and row["flop"] == 2 * row["m"] * row["k"] * row["n"]
        assert len(row["seconds_per_call"]) == 1 and row["calls_per_repeat"] >= 1
        assert row["gflops"] == pytest.approx(row["flop"] / row["seconds_per_call"][0] / 1e9)
    # The step total of each way is the sum of its products' times; gain = before / engine.
    cells = re.search(r"^step total\s+(.*)$", output, re.MULTILINE).group(1).split()
    seconds = {way: sum(row["median_seconds"] for row in digits if row["way"] == way)
               for way in ways}
    assert [float(cells[2 * i]) for i in range(len(ways))] == pytest.approx(
        [seconds[way] * 1e6 for way in ways], abs=0.01)
    assert float(cells[2 * len(ways)].rstrip("x")) == pytest.approx(
        seconds["before"] / seconds["engine"], abs=0.006)


def test_command_line_rejects_an_unknown_workload():
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), "--workloads", "A,E"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=60,
    )
    assert finished.returncode == 2
    assert "unknown workload: E" in finished.stderr
