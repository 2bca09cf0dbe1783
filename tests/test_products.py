"""fastreg's own kernels for small matrix products (``_products.h``, issue 14).

Every version the processor runs (AVX-512, AVX2, portable C) is called directly through
``fastreg._blas.product(..., kernels=...)`` and checked:

* against NumPy in float64 over edge shapes: m, n and k from 1 to beyond a tile
  (8 rows, 4 vectors of 16 floats), every transpose the engine uses, row strides wider
  than the rows, alpha and beta, zero-size dimensions;
* against each other bit for bit: every element is the same chain of fused multiply-adds
  whatever the vector width, so the versions must agree exactly;
* through the engine: a network trained with ``FASTREG_PRODUCTS`` forcing each version
  (in a child process each) ends with bit-identical weights, on one thread and on two.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastreg
from fastreg import _blas

OWN_KERNELS = [name for name in ("portable", "avx2", "avx512")
               if name in _blas._runnable_kernels()]
# The portable version calls C's fma(), a slow library routine on a processor without FMA
# instructions: it gets the smaller shapes.
EDGE_SIZES = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100]
DEPTHS = [1, 2, 5, 16, 17, 40]
PACKAGE_ROOT = str(Path(fastreg.__file__).resolve().parents[1])


def operands(rng, m, n, k, transpose_a, transpose_b, dtype, pad=0):
    """op(a) (m x k) and op(b) (k x n), stored as the engine stores them; with `pad`, each
    is a view whose rows are `pad` elements longer in memory than they are wide."""
    def stored(rows, cols):
        full = rng.standard_normal((rows, cols + pad)).astype(dtype)
        return full[:, :cols]
    a = stored(k, m) if transpose_a else stored(m, k)
    b = stored(n, k) if transpose_b else stored(k, n)
    return a, b


def reference(a, b, transpose_a, transpose_b, alpha=1.0, beta=0.0, out=None):
    product = ((a.T if transpose_a else a).astype(np.float64)
               @ (b.T if transpose_b else b).astype(np.float64))
    result = alpha * product
    if beta != 0:
        result += beta * out.astype(np.float64)
    return result


def tolerance(dtype, k):
    eps = np.finfo(dtype).eps
    return 4 * eps * max(k, 1)


TRANSPOSES = [pytest.param(False, False, id="forward"), pytest.param(True, False, id="dW"),
              pytest.param(False, True, id="dX")]


@pytest.mark.parametrize("kernels", OWN_KERNELS)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_every_edge_shape_against_numpy(kernels, transpose_a, transpose_b, dtype, rng):
    sizes = EDGE_SIZES if kernels != "portable" else [1, 2, 7, 9, 17, 33]
    failures = []
    for m in sizes:
        for n in sizes:
            for k in DEPTHS:
                a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
                got = _blas.product(a, b, transpose_a, transpose_b, kernels=kernels)
                expected = reference(a, b, transpose_a, transpose_b)
                scale = reference(np.abs(a), np.abs(b), transpose_a, transpose_b)
                if got.dtype != dtype or not np.all(
                        np.abs(got - expected) <= tolerance(dtype, k) * scale + 1e-300):
                    failures.append((m, n, k))
    assert not failures, f"{kernels} {dtype}: wrong products for (m, n, k) in {failures[:10]}"


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_versions_give_the_same_bits(transpose_a, transpose_b, dtype, rng):
    if len(OWN_KERNELS) < 2:
        pytest.skip("this processor runs only the portable kernels")
    for m, n, k in [(1, 1, 1), (3, 5, 7), (8, 16, 32), (9, 17, 33), (32, 100, 40),
                    (33, 65, 100), (32, 10, 100), (100, 10, 32), (40, 100, 32),
                    (17, 130, 64), (64, 64, 200)]:
        a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
        results = {kernels: _blas.product(a, b, transpose_a, transpose_b, kernels=kernels)
                   for kernels in OWN_KERNELS}
        first = OWN_KERNELS[0]
        for kernels, result in results.items():
            assert np.array_equal(result, results[first]), (kernels, first, m, n, k)


@pytest.mark.parametrize("kernels", OWN_KERNELS)
def test_input_gradients_deeper_than_the_panel_run_in_stages(kernels, dtype, rng):
    # delta @ W^T copies W^T into a panel 256 rows deep at most: deeper, in stages that
    # carry the sums through C, with the bits of one chain (the versions agree).
    depth = _blas.PANEL_DEPTH
    for m, n, k in [(3, 5, depth - 1), (9, 17, depth), (9, 33, depth + 1), (4, 40, 2 * depth),
                    (5, 7, 2 * depth + 3)]:
        for transpose_a in (False, True):
            a, b = operands(rng, m, n, k, transpose_a, True, dtype, pad=2)
            got = _blas.product(a, b, transpose_a, True, alpha=0.5, kernels=kernels)
            expected = reference(a, b, transpose_a, True, alpha=0.5)
            scale = 0.5 * reference(np.abs(a), np.abs(b), transpose_a, True)
            assert np.all(np.abs(got - expected) <= tolerance(dtype, k) * scale), (m, n, k)
            if kernels != OWN_KERNELS[0]:
                assert np.array_equal(got, _blas.product(a, b, transpose_a, True, alpha=0.5,
                                                         kernels=OWN_KERNELS[0]))
    # With beta != 0 a staged product would overwrite C before reading it: BLAS computes it.
    a, b = operands(rng, 6, 9, depth + 10, False, True, dtype)
    out = np.ones((6, 9), dtype)
    _blas.product(a, b, False, True, beta=2.0, out=out)
    expected = reference(a, b, False, True) + 2.0
    scale = reference(np.abs(a), np.abs(b), False, True) + 2.0
    assert np.all(np.abs(out - expected) <= tolerance(dtype, depth + 10) * scale)


@pytest.mark.parametrize("kernels", OWN_KERNELS)
@pytest.mark.parametrize("transpose_a", [False, True])
def test_b_with_a_power_of_two_stride_is_copied_in_stages(kernels, transpose_a, dtype, rng):
    # A B whose rows are a multiple of 512 bytes apart is copied into the panel (128 rows
    # at a time with 4-vector tiles): the same bits as read in place, and right.
    width = 512 // np.dtype(dtype).itemsize
    for m, n, k in [(5, 20, 3), (9, 33, 127), (9, 64, 129), (6, 17, 300)]:
        a, _ = operands(rng, m, n, k, transpose_a, False, dtype)
        stored = rng.standard_normal((k, width)).astype(dtype)  # the row stride: 512 bytes
        b = stored[:, :n]
        got = _blas.product(a, b, transpose_a, False, alpha=2.0, kernels=kernels)
        expected = reference(a, b, transpose_a, False, alpha=2.0)
        scale = 2.0 * reference(np.abs(a), np.abs(b), transpose_a, False)
        assert np.all(np.abs(got - expected) <= tolerance(dtype, k) * scale), (m, n, k)
        assert np.array_equal(got, _blas.product(a, np.ascontiguousarray(b), transpose_a,
                                                 False, alpha=2.0, kernels=kernels))
        # beta != 0: read in place (a copy in stages would lose C).
        out = rng.standard_normal((m, n)).astype(dtype)
        expected = reference(a, b, transpose_a, False, beta=0.5, out=out)
        scale = reference(np.abs(a), np.abs(b), transpose_a, False) + 0.5 * np.abs(out)
        _blas.product(a, b, transpose_a, False, beta=0.5, out=out, kernels=kernels)
        assert np.all(np.abs(out - expected) <= tolerance(dtype, k + 1) * scale), (m, n, k)


@pytest.mark.parametrize("kernels", OWN_KERNELS)
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_strides_alpha_and_beta(kernels, transpose_a, transpose_b, dtype, rng):
    for m, n, k in [(5, 19, 9), (17, 33, 18), (8, 64, 3)]:
        a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype, pad=3)
        assert not a.flags.c_contiguous and not b.flags.c_contiguous
        base = rng.standard_normal((m, n + 5)).astype(dtype)
        out = base[:, :n]
        right_margin = base[:, n:].copy()
        expected = reference(a, b, transpose_a, transpose_b, alpha=-0.75, beta=0.5, out=out)
        got = _blas.product(a, b, transpose_a, transpose_b, alpha=-0.75, beta=0.5, out=out,
                            kernels=kernels)
        assert got is out
        scale = (0.75 * reference(np.abs(a), np.abs(b), transpose_a, transpose_b)
                 + 0.5 * np.abs(out))
        assert np.all(np.abs(out - expected) <= tolerance(dtype, k + 2) * scale)
        # Nothing is written between the rows.
        assert np.array_equal(base[:, n:], right_margin)


@pytest.mark.parametrize("kernels", OWN_KERNELS + ["blas"])
def test_beta_zero_ignores_what_out_held(kernels, dtype, rng):
    a, b = operands(rng, 9, 20, 6, False, False, dtype)
    out = np.full((9, 20), np.nan, dtype=dtype)
    _blas.product(a, b, out=out, kernels=kernels)
    scale = reference(np.abs(a), np.abs(b), False, False)
    assert np.all(np.abs(out - reference(a, b, False, False)) <= tolerance(dtype, 6) * scale)


@pytest.mark.parametrize("kernels", OWN_KERNELS + ["blas"])
@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_zero_size_dimensions(kernels, transpose_a, transpose_b, dtype, rng):
    for m, n, k in [(0, 5, 3), (4, 0, 3), (0, 0, 0)]:
        a, b = operands(rng, m, n, k, transpose_a, transpose_b, dtype)
        assert _blas.product(a, b, transpose_a, transpose_b, kernels=kernels).shape == (m, n)
    # k = 0: the product of nothing is 0, and beta still scales out.
    a, b = operands(rng, 4, 6, 0, transpose_a, transpose_b, dtype)
    assert np.array_equal(_blas.product(a, b, transpose_a, transpose_b, kernels=kernels),
                          np.zeros((4, 6), dtype))
    out = np.ones((4, 6), dtype)
    _blas.product(a, b, transpose_a, transpose_b, beta=2.0, out=out, kernels=kernels)
    assert np.array_equal(out, np.full((4, 6), 2, dtype))


def test_non_finite_values_propagate_as_in_numpy(rng):
    a, b = operands(rng, 9, 33, 7, False, False, np.float64)
    a[2, 3] = np.inf
    b[1, 20] = np.nan
    for kernels in OWN_KERNELS:
        got = _blas.product(a, b, kernels=kernels)
        with np.errstate(invalid="ignore"):
            expected = a @ b
        assert np.array_equal(np.isnan(got), np.isnan(expected)), kernels
        assert np.array_equal(np.isinf(got), np.isinf(expected)), kernels


def test_engine_choice_is_a_rule_on_the_shape():
    own = _blas.product_kernels() != "blas"
    uses = _blas.uses_own_product_kernels
    # Workload A's step: the input gradients and the 100 x 100 forward product ...
    assert uses(32, 100, 100, transpose_b=True) == own
    assert uses(32, 100, 10, transpose_b=True) == own
    assert uses(32, 100, 100) == own
    # ... a weight gradient with 100 or more inputs, the digits' forward product ...
    assert uses(100, 100, 32, transpose_a=True) == own
    assert uses(200, 100, 64) == own
    # ... and the blocks of C's and D's products ...
    assert uses(128, 64, 784, narrower_blas=False) == own
    assert uses(784, 64, 128, transpose_a=True, narrower_blas=False) == own
    assert uses(128, 64, 512, transpose_b=True, narrower_blas=False) == own
    # (D's, 26-34 M multiply-adds each, only against BLAS's AVX2 kernels)
    assert not uses(256, 128, 1024, narrower_blas=False)
    assert uses(256, 128, 1024, narrower_blas=True) == own
    assert uses(784, 128, 256, transpose_a=True, narrower_blas=True) == own
    # ... but not into ten outputs, over 40 inputs, for 40 inputs; not a transposed
    # operand deeper than 1024, a large product, a matrix-vector product.
    assert not uses(32, 10, 100)
    assert not uses(100, 10, 32, transpose_a=True)
    assert not uses(32, 100, 40)
    assert not uses(40, 100, 32, transpose_a=True)
    assert not uses(128, 64, 2048, transpose_b=True)
    assert not uses(256, 1024, 1024)
    assert not uses(32, 1, 100)
    with pytest.raises(ValueError, match="negative"):
        uses(-1, 3, 3)


@pytest.mark.parametrize("shape", [(32, 100, 100), (32, 100, 40), (33, 17, 9),
                                   (200, 100, 64)])
def test_engine_products_are_the_kernels_the_rule_names(shape, rng):
    # product(kernels=None) computes as the engine does (these shapes are one block each):
    # bit for bit the kernel that the rule names.
    m, n, k = shape
    a, b = operands(rng, m, n, k, False, False, np.float32)
    named = "blas" if not _blas.uses_own_product_kernels(m, n, k) else _blas.product_kernels()
    assert np.array_equal(_blas.product(a, b), _blas.product(a, b, kernels=named))


@pytest.mark.parametrize("transpose_a, transpose_b", TRANSPOSES)
def test_engine_blocks_of_a_large_product(transpose_a, transpose_b, rng):
    # 1024 x 256 x 200 is cut into four blocks of 64 columns: fastreg's kernels compute
    # them (too much work as a whole, not as blocks), with the bits of the whole product.
    m, n, k = 1024, 256, 200
    a, b = operands(rng, m, n, k, transpose_a, transpose_b, np.float32)
    assert not _blas.uses_own_product_kernels(m, n, k, transpose_a, transpose_b)
    assert _blas.uses_own_product_kernels(m, 64, k, transpose_a, transpose_b)
    own = _blas.product_kernels()
    blocked = _blas.product(a, b, transpose_a, transpose_b, blocked=True)
    if own != "blas":
        assert np.array_equal(blocked, _blas.product(a, b, transpose_a, transpose_b,
                                                     kernels=own))
    # The whole product, by the rule: BLAS.
    expected = reference(a, b, transpose_a, transpose_b)
    scale = reference(np.abs(a), np.abs(b), transpose_a, transpose_b)
    whole = _blas.product(a, b, transpose_a, transpose_b)
    assert np.array_equal(whole, _blas.product(a, b, transpose_a, transpose_b, kernels="blas"))
    for result in (blocked, whole):
        assert np.all(np.abs(result - expected) <= tolerance(np.float32, k) * scale)


def test_bad_arguments_are_refused(rng):
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((3, 5))
    with pytest.raises(ValueError, match="op\\(a\\) is 4 x 3 but op\\(b\\) is 5 x 3"):
        _blas.product(a, b, transpose_b=True)
    with pytest.raises(TypeError, match="dtype float32"):
        _blas.product(a, b.astype(np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        _blas.product(a.astype(np.int64), b)
    with pytest.raises(ValueError, match="contiguous"):
        _blas.product(np.asfortranarray(rng.standard_normal((4, 3))), b)
    with pytest.raises(ValueError, match="backwards"):
        _blas.product(a[::-1], b)
    with pytest.raises(ValueError, match="out has shape"):
        _blas.product(a, b, out=np.zeros((5, 4)))
    with pytest.raises(ValueError, match="read-only"):
        out = np.zeros((4, 5))
        out.flags.writeable = False
        _blas.product(a, b, out=out)
    with pytest.raises(ValueError, match="pass out"):
        _blas.product(a, b, beta=1.0)
    with pytest.raises(ValueError, match="kernels must be"):
        _blas.product(a, b, kernels="sse")
    with pytest.raises(ValueError, match="deeper than 256 \\(here 600\\) only with beta = 0"):
        deep = rng.standard_normal((3, 600))
        _blas.product(deep, deep, transpose_b=True, beta=1.0, out=np.zeros((3, 3)),
                      kernels=OWN_KERNELS[-1])


# ------------------------------------------------------------- FASTREG_PRODUCTS, forced

TRAIN = textwrap.dedent("""
    import json, sys
    import numpy as np
    import fastreg
    from fastreg import _blas
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 40))
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    result = {"kernels": _blas.product_kernels()}
    for dtype in ("float32", "float64"):
        for threads in (1, 2):
            net = fastreg.Network(
                [fastreg.Dense(100, activation="relu", dropout=0.2),
                 fastreg.Dense(33, activation="tanh"), fastreg.Dense(3)],
                optimizer=fastreg.Adam(learning_rate=1e-3), regularizers=[fastreg.L2(1e-4)],
                dtype=dtype, random_state=0, n_threads=threads)
            net.fit(X.astype(dtype), y, epochs=2, batch_size=32)
            result[f"{dtype}/{threads}"] = [w.tobytes().hex() for w in net.coefs_]
    print(json.dumps(result))
""")


def run_with(kernels, code=TRAIN):
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    if kernels is None:
        env.pop("FASTREG_PRODUCTS", None)
    else:
        env["FASTREG_PRODUCTS"] = kernels
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_training_gives_the_same_bits_with_every_version():
    results = {}
    for kernels in OWN_KERNELS:
        completed = run_with(kernels)
        assert completed.returncode == 0, completed.stderr[-3000:]
        results[kernels] = json.loads(completed.stdout)
        assert results[kernels].pop("kernels") == kernels
    first = OWN_KERNELS[0]
    for kernels, weights in results.items():
        for run in ("float32/1", "float64/1"):
            assert weights[run] == results[first][run], (kernels, first, run)
        # And the same on two threads as on one.
        assert weights["float32/2"] == weights["float32/1"], kernels
        assert weights["float64/2"] == weights["float64/1"], kernels


def test_default_is_the_best_version_the_processor_runs():
    completed = run_with(None, "from fastreg import _blas; print(_blas.product_kernels())")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == _blas._runnable_kernels()[-1]
    completed = run_with("blas", "from fastreg import _blas; print(_blas.product_kernels(), "
                                 "_blas.uses_own_product_kernels(32, 100, 100))")
    assert completed.stdout.split() == ["blas", "False"]


def test_a_bad_value_of_the_variable_is_named():
    completed = run_with("sse9", "import fastreg")
    assert completed.returncode != 0
    assert "FASTREG_PRODUCTS='sse9' is not one of auto, blas, portable, avx2, avx512" in (
        completed.stderr)


def test_a_version_the_processor_lacks_is_refused(monkeypatch):
    # As on a processor with AVX2 but not AVX-512.
    monkeypatch.setattr(_blas, "_runnable_kernels", lambda: ["blas", "portable", "avx2"])
    with pytest.raises(ValueError, match="FASTREG_PRODUCTS='avx512', but this processor runs "
                                         "only blas, portable, avx2"):
        _blas._chosen_kernels("avx512")
    assert _blas._chosen_kernels(" AVX2 ") == "avx2"
    with pytest.raises(ValueError, match="does not run the avx512 kernels"):
        _blas.product(np.ones((2, 2)), np.ones((2, 2)), kernels="avx512")


def test_blas_with_narrower_kernels_is_recognized():
    narrower = _blas.blas_kernels_are_narrower
    # Unset: OpenBLAS picks the processor's best kernels.
    assert not narrower(None, "avx512") and not narrower("", "avx512")
    # Held to AVX2 (or older) kernels on an AVX-512 processor.
    for core in ("Haswell", "ZEN", " sandybridge "):
        assert narrower(core, "avx512")
    for core in ("SkylakeX", "COOPERLAKE", "SapphireRapids"):
        assert not narrower(core, "avx512")
    # On an AVX2 processor only pre-AVX2 cores are narrower.
    assert narrower("Sandybridge", "avx2") and not narrower("Haswell", "avx2")
    assert not narrower("Haswell", "blas") and not narrower("Haswell", "portable")
    assert _blas.blas_runs_narrower_kernels() == narrower(
        os.environ.get("OPENBLAS_CORETYPE"), _blas._runnable_kernels()[-1])


def test_narrower_blas_gives_fastreg_every_product_within_the_limits():
    if _blas.product_kernels() == "blas":
        pytest.skip("every product goes to BLAS")
    uses = _blas.uses_own_product_kernels
    # The products that OpenBLAS's own AVX-512 kernels do better, beaten by AVX2 ones ...
    for shape, transposes in [((32, 10, 100), {}), ((32, 100, 40), {}),
                              ((40, 100, 32), {"transpose_a": True}),
                              ((100, 10, 32), {"transpose_a": True})]:
        assert not uses(*shape, narrower_blas=False, **transposes), shape
        assert uses(*shape, narrower_blas=True, **transposes), shape
    # ... and the input gradients of any work; but not beyond the limits of work for the
    # others, nor of depth for the input gradients.
    assert uses(512, 512, 1024, transpose_b=True, narrower_blas=True)
    assert not uses(512, 512, 1024, transpose_b=True, narrower_blas=False)
    assert not uses(512, 512, 1024, narrower_blas=True)
    assert not uses(128, 64, 2048, transpose_b=True, narrower_blas=True)
