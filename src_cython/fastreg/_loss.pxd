# Output layer: the output activation fused with the loss and its gradient.
from cython cimport floating

cpdef enum Loss:
    SOFTMAX_CROSS_ENTROPY = 0
    LOGISTIC_CROSS_ENTROPY = 1
    SQUARED_ERROR = 2
    POISSON = 3

cdef double loss_gradient(floating* z, const floating* bias, const floating* y,
                          const floating* sample_weight, int n_rows, int n_outputs,
                          int loss, double label_smoothing, double inv_weight_sum,
                          floating* grad_bias) noexcept nogil

cdef void output_activation(floating* z, const floating* bias, int n_rows, int n_outputs,
                            int loss) noexcept nogil
