# Fused elementwise passes around the matrix products of a dense layer.
from cython cimport floating
from libc.stdint cimport uint64_t

cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3

cdef void bias_activation_dropout(floating* z, const floating* bias, int n_rows, int n_cols,
                                  int activation, unsigned char* mask, uint64_t threshold,
                                  uint64_t key, floating scale,
                                  Py_ssize_t first_row) noexcept nogil

cdef void activation_derivative(floating* delta, const floating* out, int n_rows, int n_cols,
                                int activation, const unsigned char* mask,
                                floating scale) noexcept nogil

cdef void column_sums(const floating* a, int n_rows, int n_cols, floating* out) noexcept nogil
