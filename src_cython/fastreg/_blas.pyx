"""Row-major GEMM: fastreg's own kernels for small products, the Fortran BLAS that scipy
ships for the others.

Every matrix in fastreg is C-contiguous (row-major). A row-major matrix read as column-major
is its transpose, so ``C = op(A) @ op(B)`` in row-major order is ``C^T = op(B)^T @ op(A)^T``
in column-major order: swap the operands and the dimensions ``m`` and ``n``, keep the
transpose flags. No other kernel needs to know about BLAS storage order.

A large product is cut into column blocks, or into row blocks when it has too few columns
(an output layer of ten units), whose number and size depend on its shape only
(``gemm_block_count``, ``gemm_block``); the training engine hands the blocks to the
threads of its team, each block one call of a single-threaded BLAS (the Python layer limits
BLAS to one thread while it trains). Every element is then computed by the same call
whatever the number of threads, so results are bit-identical for any thread count, which
BLAS's own threading does not promise in float32.

A product (or a block) whose shape the rule ``uses_own_kernels`` names goes to fastreg's
register-blocked kernels (``_products.h``) instead: in the AVX-512, AVX2 or portable
version that the processor runs (or that ``FASTREG_PRODUCTS`` names), chosen when this
module loads. The rule reads the shape only, so a product is computed the same way at
every step, by every thread; and the versions give the same bits.
"""
import os

import numpy as np

from scipy.linalg.cython_blas cimport ddot, dgemm, dgemv, dsdot, sgemm, sgemv

cdef extern from "_products.h" nogil:
    enum:
        PRODUCTS_BLAS
        PRODUCTS_PORTABLE
        PRODUCTS_AVX2
        PRODUCTS_AVX512
        PRODUCT_MAX_TRANSPOSED_DEPTH
        PRODUCT_PANEL_DEPTH
    int products_version
    int products_best_version()
    void use_products_version(int version)
    int product_f32_by(int version, int transpose_a, int transpose_b, int m, int n, int k,
                        float alpha, const float* a, int lda, const float* b, int ldb,
                        float beta, float* c, int ldc)
    int product_f64_by(int version, int transpose_a, int transpose_b, int m, int n, int k,
                        double alpha, const double* a, int lda, const double* b, int ldb,
                        double beta, double* c, int ldc)

cdef enum:
    BLOCK_ALIGN = 8             # blocks are multiples of this many columns (or rows)
    MIN_BLOCK_COLUMNS = 32      # and at least this wide,
    PREFERRED_BLOCK_COLUMNS = 64  # or this wide where there are enough columns;
    MIN_BLOCK_ROWS = 32         # row blocks likewise
    PREFERRED_BLOCK_ROWS = 64
    MAX_BLOCKS = 8              # their number is a power of two up to this
    MIN_BLOCKED_WORK = 1 << 17  # smaller products (multiply-adds) stay in one block

# The shapes that go to fastreg's own kernels, where bench/bench_products.py finds them
# faster than OpenBLAS on this project's machine (see uses_own_kernels).
cdef double OWN_MAX_WORK = 1 << 22         # multiply-adds of any product,
cdef double OWN_MAX_NARROW_WORK = 1 << 24  # or of one at most OWN_NARROW_COLUMNS wide (the
cdef int OWN_NARROW_COLUMNS = 128          # engine's blocks of a large product); D's blocks,
cdef double OWN_MAX_NARROW_WORK_VS_NARROWER_BLAS = 1 << 26  # 26-34M, only against AVX2 BLAS
cdef int OWN_MIN_COLUMNS = 16              # X @ W and X^T @ delta into fewer columns: BLAS
cdef int OWN_MIN_ROWS_OF_TRANSPOSED_A = 64  # X^T @ delta with X narrower than this: BLAS
cdef int OWN_MIN_DEPTH = 64                # X @ W over fewer inputs than this: BLAS

# Whether BLAS runs narrower vector kernels than this processor has (OPENBLAS_CORETYPE set
# to an AVX2 core on an AVX-512 processor): fastreg's kernels then take every product of
# the work limits above, where they are 1.2-3x faster (set when the module loads).
cdef bint blas_is_narrower = False


cdef inline void gemv(bint transpose, int rows, int cols, floating alpha,
                      const floating* a, int lda, const floating* x, int incx,
                      floating beta, floating* y, int incy) noexcept nogil:
    """y := alpha op(A) x + beta y for a row-major A; op(A) is rows x cols, A^T if transpose."""
    # A row-major matrix is its column-major transpose: flip the flag, swap the dimensions.
    cdef char trans = b"N" if transpose else b"T"
    cdef int blas_rows = rows if transpose else cols
    cdef int blas_cols = cols if transpose else rows
    cdef int i
    if beta == 0:  # BLAS may read y when beta is 0 (and keep a NaN found there)
        for i in range(rows):
            y[<Py_ssize_t> i * incy] = 0
    if floating is float:
        sgemv(&trans, &blas_rows, &blas_cols, &alpha, <float*> a, &lda, <float*> x, &incx,
              &beta, y, &incy)
    else:
        dgemv(&trans, &blas_rows, &blas_cols, &alpha, <double*> a, &lda, <double*> x, &incx,
              &beta, y, &incy)


cdef void gemm(bint transpose_a, bint transpose_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C, all row-major; op(A) is m x k, op(B) is k x n.

    Small products go to fastreg's own kernels (``_products.h``), the others to BLAS."""
    product_by(BY_RULE, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef enum:
    BY_RULE = -1  # product_by's kernels: by the rule on the shape (what gemm does)


cdef void product_by(int kernels, bint transpose_a, bint transpose_b, int m, int n, int k,
                     floating alpha, const floating* a, int lda, const floating* b, int ldb,
                     floating beta, floating* c, int ldc) noexcept nogil:
    """gemm with the kernels chosen: BY_RULE, PRODUCTS_BLAS, or a version of fastreg's
    (which then computes every shape)."""
    if kernels > PRODUCTS_BLAS:
        own_product(kernels, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta,
                    c, ldc)
        return
    # A product with one output column (one output unit) or one output row (one sample)
    # is a matrix-vector product, which GEMM does several times slower.
    if n == 1 and k > 0:
        gemv(transpose_a, m, k, alpha, a, lda, b, 1 if transpose_b else ldb, beta, c, ldc)
        return
    if m == 1 and k > 0:
        gemv(not transpose_b, n, k, alpha, b, ldb, a, lda if transpose_a else 1, beta, c, 1)
        return
    if kernels == BY_RULE and uses_own_kernels(transpose_a, transpose_b, m, n, k,
                                               blas_is_narrower):
        own_product(products_version, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb,
                    beta, c, ldc)
        return
    blas_product(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef inline bint uses_own_kernels(bint transpose_a, bint transpose_b, int m, int n, int k,
                                  bint narrower_blas) noexcept nogil:
    """Whether gemm hands an m x n x k product to fastreg's kernels: a rule on its shape
    alone, fixed before training, so that a product is computed the same way every time.

    A step's input gradient (delta @ W^T) goes to them up to MAX_TRANSPOSED_DEPTH;
    a forward product (X @ W) or a weight gradient (X^T @ delta) only where they win: not
    into a narrow output layer, nor over few inputs, where OpenBLAS's kernels for small
    matrices do better; but everywhere when BLAS runs narrower vectors than fastreg's
    kernels (`narrower_blas`)."""
    cdef double work = <double> m * n * k
    cdef bint small = (work <= OWN_MAX_WORK or (
        n <= OWN_NARROW_COLUMNS and work <= (OWN_MAX_NARROW_WORK_VS_NARROWER_BLAS
                                             if narrower_blas else OWN_MAX_NARROW_WORK)))
    if products_version == PRODUCTS_BLAS:
        return False
    if transpose_b:
        return k <= PRODUCT_MAX_TRANSPOSED_DEPTH and (small or narrower_blas)
    if not small:
        return False
    if narrower_blas:
        return True
    if n < OWN_MIN_COLUMNS:
        return False
    if transpose_a:
        return m >= OWN_MIN_ROWS_OF_TRANSPOSED_A
    return k >= OWN_MIN_DEPTH


cdef inline void own_product(int version, bint transpose_a, bint transpose_b, int m, int n,
                             int k, floating alpha, const floating* a, int lda,
                             const floating* b, int ldb, floating beta, floating* c,
                             int ldc) noexcept nogil:
    """The product by fastreg's kernels of `version`, or by BLAS for a shape they refuse."""
    cdef int refused
    if floating is float:
        refused = product_f32_by(version, transpose_a, transpose_b, m, n, k, alpha, a, lda, b,
                                 ldb, beta, c, ldc)
    else:
        refused = product_f64_by(version, transpose_a, transpose_b, m, n, k, alpha, a, lda, b,
                                 ldb, beta, c, ldc)
    if refused:
        blas_product(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef inline void blas_product(bint transpose_a, bint transpose_b, int m, int n, int k,
                              floating alpha, const floating* a, int lda,
                              const floating* b, int ldb, floating beta, floating* c,
                              int ldc) noexcept nogil:
    cdef char trans_a = b"T" if transpose_a else b"N"
    cdef char trans_b = b"T" if transpose_b else b"N"
    if floating is float:
        sgemm(&trans_b, &trans_a, &n, &m, &k, &alpha, <float*> b, &ldb,
              <float*> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&trans_b, &trans_a, &n, &m, &k, &alpha, <double*> b, &ldb,
              <double*> a, &lda, &beta, c, &ldc)


cdef double sum_of_squares(const floating* x, Py_ssize_t size) noexcept nogil:
    """sum(x**2), accumulated in double (BLAS dsdot / ddot, in chunks that fit an int)."""
    cdef int one = 1
    cdef int chunk
    cdef double total = 0.0
    cdef Py_ssize_t start = 0
    while start < size:
        chunk = <int> min(size - start, <Py_ssize_t> 1 << 30)
        if floating is float:
            total += dsdot(&chunk, <float*> x + start, &one, <float*> x + start, &one)
        else:
            total += ddot(&chunk, <double*> x + start, &one, <double*> x + start, &one)
        start += chunk
    return total


cdef inline int split_length(int length, int preferred, int minimum) noexcept nogil:
    """Length of the blocks that cut `length` into a power of two (up to MAX_BLOCKS) of
    blocks of about `preferred`, or into two if two of at least `minimum` fit."""
    cdef int n_blocks = 1
    while 2 * n_blocks <= MAX_BLOCKS and 2 * n_blocks * preferred <= length:
        n_blocks *= 2
    if n_blocks == 1 and length >= 2 * minimum:
        n_blocks = 2
    return ((length + n_blocks - 1) // n_blocks + BLOCK_ALIGN - 1) // BLOCK_ALIGN * BLOCK_ALIGN


cdef inline int block_length(int m, int n, int k, bint* by_rows) noexcept nogil:
    """The blocks of an m x n x k product, a function of its shape only: column blocks of
    this width, or (`by_rows`, for a product too narrow to cut by columns, such as one
    into ten output units) row blocks of this height."""
    by_rows[0] = False
    if <double> m * n * k < MIN_BLOCKED_WORK:
        return n
    if n >= 2 * MIN_BLOCK_COLUMNS:
        return split_length(n, PREFERRED_BLOCK_COLUMNS, MIN_BLOCK_COLUMNS)
    if m >= 2 * MIN_BLOCK_ROWS:
        by_rows[0] = True
        return split_length(m, PREFERRED_BLOCK_ROWS, MIN_BLOCK_ROWS)
    return n


cdef int gemm_block_count(int m, int n, int k) noexcept nogil:
    """Number of blocks of an m x n x k product (see ``gemm_block``)."""
    cdef bint by_rows
    cdef int length = block_length(m, n, k, &by_rows)
    cdef int total = m if by_rows else n
    return (total + length - 1) // length if total > 0 else 1


cdef void gemm_block(bint transpose_a, bint transpose_b, int m, int n, int k,
                     floating alpha, const floating* a, int lda,
                     const floating* b, int ldb,
                     floating beta, floating* c, int ldc, int block) noexcept nogil:
    """Block `block` of the shape's blocks of the product (one call of gemm)."""
    block_by(BY_RULE, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
             block)


cdef void block_by(int kernels, bint transpose_a, bint transpose_b, int m, int n, int k,
                   floating alpha, const floating* a, int lda,
                   const floating* b, int ldb,
                   floating beta, floating* c, int ldc, int block) noexcept nogil:
    """gemm_block with product_by's `kernels`."""
    cdef bint by_rows
    cdef int length = block_length(m, n, k, &by_rows)
    cdef int start = block * length
    if by_rows:
        # Row block i of op(A) is row i of row-major A, or column i of A when transposed.
        product_by(kernels, transpose_a, transpose_b, min(length, m - start), n, k, alpha,
                   a + (start if transpose_a else <Py_ssize_t> start * lda), lda, b, ldb,
                   beta, c + <Py_ssize_t> start * ldc, ldc)
        return
    # Column block j of op(B) is B[:, j] in row-major B, or row j of B when transposed.
    product_by(kernels, transpose_a, transpose_b, m, min(length, n - start), k, alpha, a, lda,
               b + (<Py_ssize_t> start * ldb if transpose_b else start), ldb,
               beta, c + start, ldc)


cdef void gemm_blocked(bint transpose_a, bint transpose_b, int m, int n, int k,
                       floating alpha, const floating* a, int lda,
                       const floating* b, int ldb,
                       floating beta, floating* c, int ldc) noexcept nogil:
    """The whole product, block after block on the calling thread."""
    cdef int block
    for block in range(gemm_block_count(m, n, k)):
        gemm_block(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                   block)


# ---------------------------------------------------------------- the product kernels in use

PRODUCT_KERNELS = {"blas": PRODUCTS_BLAS, "portable": PRODUCTS_PORTABLE,
                   "avx2": PRODUCTS_AVX2, "avx512": PRODUCTS_AVX512}
_KERNEL_NAMES = {code: name for name, code in PRODUCT_KERNELS.items()}
_ENVIRONMENT_VARIABLE = "FASTREG_PRODUCTS"
#: The deepest transposed operand (``delta @ W^T`` with W this many columns wide) that
#: the engine gives fastreg's kernels; they copy it PANEL_DEPTH rows at a time.
MAX_TRANSPOSED_DEPTH = PRODUCT_MAX_TRANSPOSED_DEPTH
PANEL_DEPTH = PRODUCT_PANEL_DEPTH


def _runnable_kernels():
    """The kernel versions this processor runs, best last."""
    best = products_best_version()
    return [name for name, code in PRODUCT_KERNELS.items()
            if code <= PRODUCTS_PORTABLE or code <= best]


def _chosen_kernels(requested):
    """The version that FASTREG_PRODUCTS=`requested` selects ('' or 'auto': the best)."""
    requested = requested.strip().lower()
    if requested in ("", "auto"):
        return _KERNEL_NAMES[products_best_version()]
    if requested not in PRODUCT_KERNELS:
        raise ValueError(
            f"{_ENVIRONMENT_VARIABLE}={requested!r} is not one of auto, "
            f"{', '.join(PRODUCT_KERNELS)}."
        )
    if requested not in _runnable_kernels():
        raise ValueError(
            f"{_ENVIRONMENT_VARIABLE}={requested!r}, but this processor runs only "
            f"{', '.join(_runnable_kernels())}."
        )
    return requested


use_products_version(PRODUCT_KERNELS[_chosen_kernels(os.environ.get(_ENVIRONMENT_VARIABLE, ""))])

# OpenBLAS's names of the cores whose kernels are AVX-512, and AVX2 + FMA.
_AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}
_AVX2_CORES = {"haswell", "zen", "excavator"}


def blas_kernels_are_narrower(coretype, best_kernels):
    """Whether OpenBLAS, made to use the kernels of `coretype` (OPENBLAS_CORETYPE; None or
    '' when unset: it picks the processor's best), runs narrower vectors than fastreg's
    `best_kernels` ('avx512', 'avx2', ...) on this processor."""
    core = (coretype or "").strip().lower()
    if not core:
        return False
    if best_kernels == "avx512":
        return core not in _AVX512_CORES
    if best_kernels == "avx2":
        return core not in _AVX512_CORES | _AVX2_CORES
    return False


blas_is_narrower = blas_kernels_are_narrower(os.environ.get("OPENBLAS_CORETYPE"),
                                             _KERNEL_NAMES[products_best_version()])


def product_kernels():
    """The version of fastreg's product kernels in use: 'avx512', 'avx2', 'portable' or
    'blas' (every product by BLAS). Chosen when fastreg loads: the best this processor
    runs, or the one that the environment variable FASTREG_PRODUCTS names."""
    return _KERNEL_NAMES[products_version]


def uses_own_product_kernels(int m, int n, int k, bint transpose_a=False,
                             bint transpose_b=False, narrower_blas=None):
    """Whether the engine computes an m x n x k product (op(A) = A^T if `transpose_a`,
    op(B) = B^T if `transpose_b`) with fastreg's own kernels rather than BLAS; with
    `narrower_blas` True or False, as it would if BLAS ran narrower vectors (or not)."""
    if m < 0 or n < 0 or k < 0:
        raise ValueError(f"the shape ({m}, {n}, {k}) has a negative dimension.")
    narrower = blas_is_narrower if narrower_blas is None else bool(narrower_blas)
    return bool(m > 1 and n > 1 and k > 0
                and uses_own_kernels(transpose_a, transpose_b, m, n, k, narrower))


def blas_runs_narrower_kernels():
    """Whether fastreg found, when it loaded, that BLAS runs narrower vectors than its own
    kernels (and so gives them every product within their limits)."""
    return bool(blas_is_narrower)


def _operand(array, str name, dtype):
    """`array` as a 2-D array of `dtype` whose rows are contiguous, and its row stride."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, not {type(array).__name__}.")
    if array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype}; expected {np.dtype(dtype)}.")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {array.ndim} dimensions.")
    rows, cols = array.shape
    itemsize = array.itemsize
    if array.size == 0:  # nothing is read: any stride does
        return array, max(cols, 1)
    if cols > 1 and array.strides[1] != itemsize:
        raise ValueError(f"{name}'s rows must be contiguous (stride {array.strides[1]}).")
    row_stride = array.strides[0] // itemsize if rows > 1 else cols
    if array.strides[0] % itemsize or row_stride < cols:
        raise ValueError(f"{name}'s rows overlap or run backwards (stride {array.strides[0]}).")
    if max(rows, cols, row_stride) > 2**31 - 1:
        raise ValueError(f"{name} is too large for a BLAS int.")
    return array, row_stride


def product(a, b, bint transpose_a=False, bint transpose_b=False, double alpha=1.0,
            double beta=0.0, out=None, kernels=None, bint blocked=False, Py_ssize_t repeat=1):
    """out := alpha op(a) @ op(b) + beta out, as the engine computes it (for tests, bench).

    Parameters
    ----------
    a, b : ndarray, float32 or float64, 2-D with contiguous rows
        op(a) = a.T if `transpose_a` (m x k), op(b) = b.T if `transpose_b` (k x n).
    out : ndarray, optional
        (m, n), the same layout rules; required when `beta` is not 0.
    kernels : {None, 'blas', 'portable', 'avx2', 'avx512'}
        None: the kernels that the rule on the shape names (as the engine does); 'blas':
        BLAS; otherwise that version of fastreg's kernels, whatever the shape (the
        processor must run it).
    blocked : bool
        Compute it as the engine does on one thread: the blocks that a large product is
        cut into, one after the other (the rule then applies to each block's shape).
    repeat : int
        Compute the product this many times (the benchmark's timing loop).

    Returns
    -------
    out : ndarray
    """
    if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
        raise TypeError("a must be a float32 or float64 numpy array.")
    a, lda = _operand(a, "a", a.dtype)
    b, ldb = _operand(b, "b", a.dtype)
    m, k = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    k_b, n = (b.shape[1], b.shape[0]) if transpose_b else b.shape
    if k_b != k:
        raise ValueError(f"op(a) is {m} x {k} but op(b) is {k_b} x {n}.")
    if out is None:
        if beta != 0:
            raise ValueError("beta is not 0: pass out, the matrix it scales.")
        out = np.zeros((m, n), dtype=a.dtype)
    out, ldc = _operand(out, "out", a.dtype)
    if out.shape != (m, n):
        raise ValueError(f"out has shape {out.shape}; the product is ({m}, {n}).")
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}.")
    cdef int version = BY_RULE
    if kernels is not None:
        if kernels not in PRODUCT_KERNELS:
            raise ValueError(f"kernels must be None or one of {', '.join(PRODUCT_KERNELS)}, "
                             f"got {kernels!r}.")
        if kernels not in _runnable_kernels():
            raise ValueError(f"this processor does not run the {kernels} kernels.")
        version = PRODUCT_KERNELS[kernels]
    if version > PRODUCTS_BLAS and transpose_b and k > PRODUCT_PANEL_DEPTH and beta != 0:
        raise ValueError(f"fastreg's kernels take a transposed b deeper than "
                         f"{PRODUCT_PANEL_DEPTH} (here {k}) only with beta = 0.")
    if m == 0 or n == 0:
        return out
    if a.dtype == np.float32:
        _repeat_product[float](a, b, out, transpose_a, transpose_b, m, n, k, lda, ldb, ldc,
                               alpha, beta, version, blocked, repeat)
    else:
        _repeat_product[double](a, b, out, transpose_a, transpose_b, m, n, k, lda, ldb, ldc,
                                alpha, beta, version, blocked, repeat)
    return out


cdef void _repeat_product(floating[:, :] a, floating[:, :] b, floating[:, :] out,
                          bint transpose_a, bint transpose_b, int m, int n, int k, int lda,
                          int ldb, int ldc, double alpha, double beta, int kernels,
                          bint blocked, Py_ssize_t repeat):
    # An empty operand (k = 0) has no element to point at: any valid address does.
    cdef floating placeholder = 0
    cdef const floating* a_data = &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else &placeholder
    cdef const floating* b_data = &b[0, 0] if b.shape[0] > 0 and b.shape[1] > 0 else &placeholder
    cdef floating* c = &out[0, 0]
    cdef int n_blocks = gemm_block_count(m, n, k) if blocked else 1
    cdef Py_ssize_t i
    cdef int block
    # BLAS reads its leading dimensions even when there is nothing to read.
    lda, ldb = max(lda, 1), max(ldb, 1)
    with nogil:
        for i in range(repeat):
            if not blocked:
                product_by(kernels, transpose_a, transpose_b, m, n, k, <floating> alpha,
                           a_data, lda, b_data, ldb, <floating> beta, c, ldc)
                continue
            for block in range(n_blocks):
                block_by(kernels, transpose_a, transpose_b, m, n, k, <floating> alpha, a_data,
                         lda, b_data, ldb, <floating> beta, c, ldc, block)
