"""Elementwise passes of a dense layer, each fused into one sweep over the batch.

Forward, after the product ``Z = A @ W``::

    Z := act(Z + b) * mask * scale

Backward, after the product ``D = delta_next @ W_next^T``::

    D := D * act'(Z) * mask * scale,    grad_b := column sums of D

The derivative is taken from the layer's output, so no pre-activation is stored. With
dropout, ``scale`` is 1/keep (inverted dropout) or 1 (vanilla dropout); at prediction,
``mask`` is NULL and ``scale`` is 1 (inverted) or keep (vanilla).

Each activation has its own loop, so that the compiler sees a branch-free body it can
vectorize; the activation is chosen once per row, never per element. The passes work on
any range of rows (the engine splits a batch among its threads): every element depends
on its own row only, and a dropout mask on the row's position in the batch.
"""
from libc.math cimport exp, expf, tanh, tanhf
from libc.stdint cimport uint64_t

from fastreg._random cimport fill_keep_mask


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
                                  uint64_t key, floating scale,
                                  Py_ssize_t first_row) noexcept nogil:
    """Z := act(Z + b) * mask * scale; the keep-mask is drawn into `mask` unless it is NULL.

    `z` and `mask` point at row `first_row` of the batch, which positions the rows in the
    dropout stream; `threshold` is ``_random.keep_threshold(keep)`` and `key` the layer's
    dropout stream.
    """
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef unsigned char* mask_row
    if mask != NULL:
        # The rows' masks are one stretch of the stream: drawn in one call, not row by row.
        fill_keep_mask(mask, n_rows * <Py_ssize_t> n_cols, key, <uint64_t> first_row * n_cols,
                       threshold)
    for i in range(n_rows):
        row = z + i * n_cols
        activate_row(row, bias, n_cols, activation)
        if mask != NULL:
            mask_row = mask + i * n_cols
            for j in range(n_cols):
                row[j] = row[j] * (scale if mask_row[j] else 0)
        elif scale != 1:
            for j in range(n_cols):
                row[j] *= scale


cdef void activation_derivative(floating* delta, const floating* out, int n_rows, int n_cols,
                                int activation, const unsigned char* mask,
                                floating scale) noexcept nogil:
    """D := D * act'(Z) * mask * scale.

    act'(Z) is computed from the stored output ``out = act(Z) * mask * scale``: a kept
    unit's activation is ``out / scale``; a dropped unit passes no gradient.
    """
    cdef Py_ssize_t i, j
    cdef floating* d
    cdef const floating* a
    cdef const unsigned char* mask_row
    cdef floating unscale = 1 / scale
    cdef floating act
    for i in range(n_rows):
        d = delta + i * n_cols
        a = out + i * n_cols
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


cdef void column_sums(const floating* a, int n_rows, int n_cols, floating* out) noexcept nogil:
    """out := the sums over the rows of A (the bias gradient), row after row."""
    cdef Py_ssize_t i, j
    for j in range(n_cols):
        out[j] = 0
    for i in range(n_rows):
        for j in range(n_cols):
            out[j] += a[i * n_cols + j]
