"""Losses fused with the output activation and the gradient with respect to the logits.

For logits ``z = A @ W + b`` of one sample (one row), targets ``y`` and weight ``w``:

==========================  ==================  ==================================  ===========
loss                        output ``p``        per-sample loss                     d loss / dz
==========================  ==================  ==================================  ===========
softmax cross-entropy       softmax(z)          -sum_k t_k log p_k                  T p - t
logistic cross-entropy      sigmoid(z)          -sum_k t_k log p_k + (1-t_k) log(1-p_k)   p - t
squared error               z                   1/2 sum_k (z_k - y_k)^2             z - y
Poisson (half deviance)     exp(z)              sum_k y_k log(y_k / p_k) - y_k + p_k   p - y
==========================  ==================  ==================================  ===========

With label smoothing eps, the cross-entropy targets are ``t = (1 - eps) y + eps / K`` (K
classes; K = 2 for each logistic output) and ``T = sum_k t_k``. The batch loss is
``sum_i w_i loss_i / S`` with ``S = sum_i w_i``, so the kernel writes
``delta_i = w_i (d loss_i / dz) / S`` over the logits and returns ``sum_i w_i loss_i``.
Per-sample arithmetic is in double, whatever the storage type.
"""
from libc.math cimport exp, fabs, log, log1p
from libc.string cimport memset


cdef inline double softplus(double z) noexcept nogil:
    """log(1 + exp(z)) without overflow."""
    return (z if z > 0 else 0.0) + log1p(exp(-fabs(z)))


cdef double loss_gradient(floating* z, const floating* bias, const floating* y,
                          const floating* sample_weight, int n_rows, int n_outputs,
                          int loss, double label_smoothing, double inv_weight_sum,
                          floating* grad_bias) noexcept nogil:
    """Add the bias, overwrite Z with delta, return the weighted loss sum.

    grad_b (the column sums of delta) is written to `grad_bias` unless it is NULL.
    """
    cdef Py_ssize_t i, k
    cdef floating* row
    cdef const floating* target
    cdef double weight, row_loss, total = 0.0
    cdef double zk, t, target_sum, max_z, log_sum_exp, p
    cdef double n_classes = n_outputs if loss == SOFTMAX_CROSS_ENTROPY else 2.0
    cdef double keep_target = 1.0 - label_smoothing
    cdef double uniform_target = label_smoothing / n_classes
    if grad_bias != NULL:
        memset(grad_bias, 0, n_outputs * sizeof(floating))
    for i in range(n_rows):
        row = z + i * n_outputs
        target = y + i * n_outputs
        weight = 1.0 if sample_weight == NULL else sample_weight[i]
        row_loss = 0.0
        if loss == SOFTMAX_CROSS_ENTROPY:
            max_z = row[0] + bias[0]
            for k in range(n_outputs):
                row[k] += bias[k]
                if row[k] > max_z:
                    max_z = row[k]
            log_sum_exp = 0.0
            for k in range(n_outputs):
                log_sum_exp += exp(row[k] - max_z)
            log_sum_exp = max_z + log(log_sum_exp)
            target_sum = 0.0
            for k in range(n_outputs):
                target_sum += keep_target * target[k] + uniform_target
            for k in range(n_outputs):
                zk = row[k]
                t = keep_target * target[k] + uniform_target
                row_loss += t * (log_sum_exp - zk)
                row[k] = <floating> ((target_sum * exp(zk - log_sum_exp) - t) * weight * inv_weight_sum)
        elif loss == LOGISTIC_CROSS_ENTROPY:
            for k in range(n_outputs):
                zk = row[k] + bias[k]
                t = keep_target * target[k] + uniform_target
                # -t log(sigmoid(z)) - (1 - t) log(1 - sigmoid(z)) = softplus(z) - t z
                row_loss += softplus(zk) - t * zk
                p = 1.0 / (1.0 + exp(-zk))
                row[k] = <floating> ((p - t) * weight * inv_weight_sum)
        elif loss == SQUARED_ERROR:
            for k in range(n_outputs):
                zk = row[k] + bias[k] - target[k]
                row_loss += 0.5 * zk * zk
                row[k] = <floating> (zk * weight * inv_weight_sum)
        else:  # POISSON
            for k in range(n_outputs):
                zk = row[k] + bias[k]
                p = exp(zk)
                t = target[k]
                row_loss += p - t - t * zk
                if t > 0:
                    row_loss += t * log(t)
                row[k] = <floating> ((p - t) * weight * inv_weight_sum)
        total += weight * row_loss
        if grad_bias != NULL:
            for k in range(n_outputs):
                grad_bias[k] += row[k]
    return total


cdef void output_activation(floating* z, const floating* bias, int n_rows, int n_outputs,
                            int loss) noexcept nogil:
    """Z := p(Z + b), the model's output for the given loss."""
    cdef Py_ssize_t i, k
    cdef floating* row
    cdef double max_z, total
    for i in range(n_rows):
        row = z + i * n_outputs
        for k in range(n_outputs):
            row[k] += bias[k]
        if loss == SOFTMAX_CROSS_ENTROPY:
            max_z = row[0]
            for k in range(1, n_outputs):
                if row[k] > max_z:
                    max_z = row[k]
            total = 0.0
            for k in range(n_outputs):
                row[k] = <floating> exp(row[k] - max_z)
                total += row[k]
            for k in range(n_outputs):
                row[k] = <floating> (row[k] / total)
        elif loss == LOGISTIC_CROSS_ENTROPY:
            for k in range(n_outputs):
                row[k] = <floating> (1.0 / (1.0 + exp(-<double> row[k])))
        elif loss == POISSON:
            for k in range(n_outputs):
                row[k] = <floating> exp(row[k])
