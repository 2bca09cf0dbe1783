"""Elementwise passes of a dense layer, each fused into one sweep over the batch.

Forward, after the product ``Z = A @ W``::

    Z := act(Z + b) * mask * scale

Backward, after the product ``D = delta_next @ W_next^T``::

    D := D * act'(Z) * mask * scale,    grad_b := column sums of D

The derivative is taken from the layer's output, so no pre-activation is stored. With
dropout, ``scale`` is 1/keep (inverted dropout) or 1 (vanilla dropout); at prediction,
``mask`` is NULL and ``scale`` is 1 (inverted) or keep (vanilla).

Each activation has its own loop, so that the compiler sees a branch-free body it can
vectorize; the activation is chosen once per row, never per element. Large passes run on
up to ``n_threads`` threads, split by rows (column blocks for the bias-gradient sums), so
every element and every sum is computed in the same order whatever the thread count.
"""
from cython.parallel cimport prange
from libc.math cimport exp, expf, tanh, tanhf
from libc.stdint cimport uint64_t

from fastreg._random cimport fill_keep_mask

cdef enum:
    MIN_PARALLEL_ELEMENTS = 1 << 16   # smaller passes are not worth a fork and join
    SUM_BLOCK = 64                    # columns per block of the bias-gradient sums


cdef inline int pass_threads(int n_rows, int n_cols, int n_threads) noexcept nogil:
    return n_threads if <double> n_rows * n_cols >= MIN_PARALLEL_ELEMENTS else 1


cdef inline void activate_row(floating* row, const floating* bias, int n_cols,
                              int activation) noexcept nogil:
    """row := act(row + bias)."""
    cdef Py_ssize_t j
    cdef floating z
    if activation == RELU:
        for j in range(n_cols):
            z = row[j] + bias[j]
            row[j] = z if z > 0 else 0
    elif activation == TANH:
        for j in range(n_cols):
            if floating is float:
                row[j] = tanhf(row[j] + bias[j])
            else:
                row[j] = tanh(row[j] + bias[j])
    elif activation == LOGISTIC:
        for j in range(n_cols):
            if floating is float:
                row[j] = 1 / (1 + expf(-(row[j] + bias[j])))
            else:
                row[j] = 1 / (1 + exp(-(row[j] + bias[j])))
    else:
        for j in range(n_cols):
            row[j] = row[j] + bias[j]


cdef void bias_activation_dropout(floating* z, const floating* bias, int n_rows, int n_cols,
                                  int activation, unsigned char* mask, uint64_t threshold,
                                  uint64_t key, floating scale, int n_threads) noexcept nogil:
    """Z := act(Z + b) * mask * scale; the keep-mask is drawn into `mask` unless it is NULL.

    `threshold` is ``_random.keep_threshold(keep)`` and `key` the layer's dropout stream.
    """
    cdef Py_ssize_t i
    cdef int threads = pass_threads(n_rows, n_cols, n_threads)
    if threads > 1:
        for i in prange(n_rows, num_threads=threads, schedule="static"):
            _forward_row(z, bias, i, n_cols, activation, mask, threshold, key, scale)
    else:
        for i in range(n_rows):
            _forward_row(z, bias, i, n_cols, activation, mask, threshold, key, scale)


cdef inline void _forward_row(floating* z, const floating* bias, Py_ssize_t i, int n_cols,
                              int activation, unsigned char* mask, uint64_t threshold,
                              uint64_t key, floating scale) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating* row = z + i * n_cols
    cdef unsigned char* mask_row
    activate_row(row, bias, n_cols, activation)
    if mask != NULL:
        mask_row = mask + i * n_cols
        fill_keep_mask(mask_row, n_cols, key, <uint64_t> i * n_cols, threshold)
        for j in range(n_cols):
            row[j] = row[j] * (scale if mask_row[j] else 0)
    elif scale != 1:
        for j in range(n_cols):
            row[j] *= scale


cdef void activation_backward(floating* delta, const floating* out, floating* grad_bias,
                              int n_rows, int n_cols, int activation,
                              const unsigned char* mask, floating scale,
                              int n_threads) noexcept nogil:
    """D := D * act'(Z) * mask * scale and grad_b := column sums of D.

    act'(Z) is computed from the stored output ``out = act(Z) * mask * scale``: a kept
    unit's activation is ``out / scale``; a dropped unit passes no gradient.
    """
    cdef Py_ssize_t i, block
    cdef int threads = pass_threads(n_rows, n_cols, n_threads)
    cdef int n_blocks = (n_cols + SUM_BLOCK - 1) // SUM_BLOCK
    if threads > 1:
        for i in prange(n_rows, num_threads=threads, schedule="static"):
            _backward_row(delta, out, i, n_cols, activation, mask, scale)
        # Column sums by blocks of columns, each summed over the rows in order.
        for block in prange(n_blocks, num_threads=threads, schedule="static"):
            _column_block_sums(delta, n_rows, n_cols, block * SUM_BLOCK,
                               min(n_cols, (block + 1) * SUM_BLOCK), grad_bias)
    else:
        for i in range(n_rows):
            _backward_row(delta, out, i, n_cols, activation, mask, scale)
        _column_block_sums(delta, n_rows, n_cols, 0, n_cols, grad_bias)


cdef inline void _backward_row(floating* delta, const floating* out, Py_ssize_t i, int n_cols,
                               int activation, const unsigned char* mask,
                               floating scale) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating* d = delta + i * n_cols
    cdef const floating* a = out + i * n_cols
    cdef const unsigned char* mask_row
    cdef floating unscale = 1 / scale
    cdef floating act
    if activation == RELU:
        # out > 0 exactly when the unit was kept and active.
        for j in range(n_cols):
            d[j] = d[j] * (scale if a[j] > 0 else 0)
    elif activation == TANH:
        for j in range(n_cols):
            act = a[j] * unscale
            d[j] = d[j] * ((1 - act * act) * scale)
    elif activation == LOGISTIC:
        for j in range(n_cols):
            act = a[j] * unscale
            d[j] = d[j] * (act * (1 - act) * scale)
    elif scale != 1:
        for j in range(n_cols):
            d[j] = d[j] * scale
    if mask != NULL and activation != RELU:
        mask_row = mask + i * n_cols
        for j in range(n_cols):
            d[j] = d[j] if mask_row[j] else 0


cdef inline void _column_block_sums(const floating* a, int n_rows, int n_cols, int start,
                                    int stop, floating* out) noexcept nogil:
    """out[start:stop] := sums over the rows of A[:, start:stop], row after row."""
    cdef Py_ssize_t i, j
    for j in range(start, stop):
        out[j] = 0
    for i in range(n_rows):
        for j in range(start, stop):
            out[j] += a[i * n_cols + j]
