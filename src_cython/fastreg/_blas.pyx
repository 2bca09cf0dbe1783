"""Row-major GEMM over the Fortran BLAS that scipy ships.

Every matrix in fastreg is C-contiguous (row-major). A row-major matrix read as column-major
is its transpose, so ``C = op(A) @ op(B)`` in row-major order is ``C^T = op(B)^T @ op(A)^T``
in column-major order: swap the operands and the dimensions ``m`` and ``n``, keep the
transpose flags. No other kernel needs to know about BLAS storage order.
"""
from scipy.linalg.cython_blas cimport ddot, dgemm, dsdot, sgemm


cdef void gemm(bint transpose_a, bint transpose_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C, all row-major; op(A) is m x k, op(B) is k x n."""
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
