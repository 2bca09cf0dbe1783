"""Fused optimizer steps (SGD, momentum, Nesterov, Adam) with weight decay, L1 and max-norm.

For a weight ``w`` with gradient ``g`` (biases take the same step with every regularizer
off)::

    g := g + l2 * w                                   coupled L2 (scikit-learn's alpha)
    d := -lr g                                        SGD
    v := mu v - lr g;  d := v  (Nesterov: mu v - lr g)   momentum, scikit-learn's form
    m := b1 m + (1 - b1) g;  s := b2 s + (1 - b2) g^2;  d := -lr_t m / (sqrt(s) + eps)   Adam
    w := w (1 - lr wd) + d                            decoupled weight decay
    w := sign(w) max(|w| - lr l1, 0)                  proximal L1: exact zeros

Max-norm then rescales each unit's incoming weight vector (a column of W) to norm c when
it is longer. Arithmetic is in the storage type, as in the frameworks fastreg is checked
against; each loop body is branch-free so that it vectorizes.
"""
from libc.math cimport fabs, fabsf, sqrt, sqrtf
from libc.string cimport memset

cdef void update_parameters(floating* param, const floating* grad, floating* state1,
                            floating* state2, Py_ssize_t size, const StepRule* rule,
                            bint regularize) noexcept nogil:
    """Take one optimizer step on `size` consecutive elements of `param`, in place.

    `regularize` is false for biases: no L2, no decay, no L1 for them. Every element's
    step is independent of the others, so an array may be updated in any pieces.
    """
    cdef Py_ssize_t i
    cdef floating g, v, step
    cdef floating lr = <floating> rule.learning_rate
    cdef floating mu = <floating> rule.momentum
    cdef floating b1 = <floating> rule.beta1
    cdef floating b2 = <floating> rule.beta2
    cdef floating one_minus_b1 = <floating> (1 - rule.beta1)
    cdef floating one_minus_b2 = <floating> (1 - rule.beta2)
    cdef floating eps = <floating> rule.epsilon
    cdef floating l2 = <floating> (rule.l2 if regularize else 0.0)
    cdef floating decay = <floating> (rule.decay_factor if regularize else 1.0)
    cdef floating threshold = <floating> (rule.l1_threshold if regularize else 0.0)
    if rule.optimizer == SGD:
        for i in range(size):
            g = grad[i] + l2 * param[i]
            param[i] = param[i] * decay - lr * g
    elif rule.optimizer == MOMENTUM:
        for i in range(size):
            g = grad[i] + l2 * param[i]
            v = mu * state1[i] - lr * g
            state1[i] = v
            param[i] = param[i] * decay + v
    elif rule.optimizer == NESTEROV:
        for i in range(size):
            g = grad[i] + l2 * param[i]
            v = mu * state1[i] - lr * g
            state1[i] = v
            param[i] = param[i] * decay + (mu * v - lr * g)
    else:  # ADAM
        for i in range(size):
            g = grad[i] + l2 * param[i]
            state1[i] = b1 * state1[i] + one_minus_b1 * g
            state2[i] = b2 * state2[i] + one_minus_b2 * (g * g)
            if floating is float:
                step = state1[i] / (sqrtf(state2[i]) + eps)
            else:
                step = state1[i] / (sqrt(state2[i]) + eps)
            param[i] = param[i] * decay - lr * step
    if threshold > 0:
        for i in range(size):
            v = param[i]
            if floating is float:
                step = fabsf(v) - threshold
            else:
                step = fabs(v) - threshold
            step = step if step > 0 else 0
            param[i] = step if v > 0 else -step


cdef void clip_column_norms(floating* weights, int n_rows, int n_cols, double max_norm,
                            double* norms) noexcept nogil:
    """Rescale each column of W whose Euclidean norm exceeds `max_norm` to that norm."""
    cdef Py_ssize_t i, j
    cdef bint any_too_long = False
    memset(norms, 0, n_cols * sizeof(double))
    for i in range(n_rows):
        for j in range(n_cols):
            norms[j] += <double> weights[i * n_cols + j] * weights[i * n_cols + j]
    for j in range(n_cols):
        norms[j] = sqrt(norms[j])
        if norms[j] > max_norm:
            norms[j] = max_norm / norms[j]
            any_too_long = True
        else:
            norms[j] = 1.0
    if any_too_long:
        for i in range(n_rows):
            for j in range(n_cols):
                weights[i * n_cols + j] = <floating> (weights[i * n_cols + j] * norms[j])


cdef double add_l2_gradient(floating* grad, const floating* weights, Py_ssize_t size,
                            double l2) noexcept nogil:
    """grad += l2 * W; return sum(W**2) (the L2 term of a gradient taken without a step)."""
    cdef Py_ssize_t i
    cdef double total = 0.0
    for i in range(size):
        total += <double> weights[i] * weights[i]
        grad[i] = <floating> (grad[i] + l2 * weights[i])
    return total


cdef void moving_average(floating* average, const floating* values, Py_ssize_t size,
                         double decay) noexcept nogil:
    """average := decay * average + (1 - decay) * values (EMA of the weights)."""
    cdef Py_ssize_t i
    cdef floating keep = <floating> decay
    cdef floating take = <floating> (1 - decay)
    for i in range(size):
        average[i] = keep * average[i] + take * values[i]


cdef bint all_finite(const floating* x, Py_ssize_t size) noexcept nogil:
    """Whether no element is NaN or infinite."""
    cdef Py_ssize_t i
    cdef int finite = 1
    for i in range(size):
        finite &= x[i] - x[i] == 0  # false for NaN and infinity
    return finite
