"""Row-major GEMM over the Fortran BLAS that scipy ships.

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
"""
from scipy.linalg.cython_blas cimport ddot, dgemm, dgemv, dsdot, sgemm, sgemv

cdef enum:
    BLOCK_ALIGN = 8             # blocks are multiples of this many columns (or rows)
    MIN_BLOCK_COLUMNS = 32      # and at least this wide,
    PREFERRED_BLOCK_COLUMNS = 64  # or this wide where there are enough columns;
    MIN_BLOCK_ROWS = 32         # row blocks likewise
    PREFERRED_BLOCK_ROWS = 64
    MAX_BLOCKS = 8              # their number is a power of two up to this
    MIN_BLOCKED_WORK = 1 << 17  # smaller products (multiply-adds) stay in one block


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
    """C := alpha op(A) @ op(B) + beta C, all row-major; op(A) is m x k, op(B) is k x n."""
    cdef char trans_a = b"T" if transpose_a else b"N"
    cdef char trans_b = b"T" if transpose_b else b"N"
    # A product with one output column (one output unit) or one output row (one sample)
    # is a matrix-vector product, which GEMM does several times slower.
    if n == 1 and k > 0:
        gemv(transpose_a, m, k, alpha, a, lda, b, 1 if transpose_b else ldb, beta, c, ldc)
        return
    if m == 1 and k > 0:
        gemv(not transpose_b, n, k, alpha, b, ldb, a, lda if transpose_a else 1, beta, c, 1)
        return
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
    """Block `block` of the shape's blocks of the product (one BLAS call)."""
    cdef bint by_rows
    cdef int length = block_length(m, n, k, &by_rows)
    cdef int start = block * length
    if by_rows:
        # Row block i of op(A) is row i of row-major A, or column i of A when transposed.
        gemm(transpose_a, transpose_b, min(length, m - start), n, k, alpha,
             a + (start if transpose_a else <Py_ssize_t> start * lda), lda, b, ldb,
             beta, c + <Py_ssize_t> start * ldc, ldc)
        return
    # Column block j of op(B) is B[:, j] in row-major B, or row j of B when transposed.
    gemm(transpose_a, transpose_b, m, min(length, n - start), k, alpha, a, lda,
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
