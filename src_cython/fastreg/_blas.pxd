# The one BLAS shim: row-major matrix products over scipy.linalg.cython_blas.
from cython cimport floating

cdef void gemm(bint transpose_a, bint transpose_b, int m, int n, int k,
               floating alpha, const floating* a, int lda,
               const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil

cdef double sum_of_squares(const floating* x, Py_ssize_t size) noexcept nogil

cdef int gemm_block_count(int m, int n, int k) noexcept nogil

cdef void gemm_block(bint transpose_a, bint transpose_b, int m, int n, int k,
                     floating alpha, const floating* a, int lda,
                     const floating* b, int ldb,
                     floating beta, floating* c, int ldc, int block) noexcept nogil

cdef void gemm_blocked(bint transpose_a, bint transpose_b, int m, int n, int k,
                       floating alpha, const floating* a, int lda,
                       const floating* b, int ldb,
                       floating beta, floating* c, int ldc) noexcept nogil
