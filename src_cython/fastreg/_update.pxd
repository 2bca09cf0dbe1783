# Parameter updates: one pass per array, with the regularizers fused in.
from cython cimport floating

cpdef enum Optimizer:
    SGD = 0
    MOMENTUM = 1
    NESTEROV = 2
    ADAM = 3

cdef struct StepRule:
    int optimizer
    double learning_rate    # for Adam, already multiplied by its bias correction
    double momentum
    double beta1
    double beta2
    double epsilon
    double l2               # coupled L2: grad += l2 * w (scikit-learn's alpha / S)
    double decay_factor     # decoupled weight decay: w *= 1 - learning_rate * weight_decay
    double l1_threshold     # proximal L1: w := sign(w) max(|w| - learning_rate * l1, 0)

cdef void update_parameters(floating* param, const floating* grad, floating* state1,
                            floating* state2, Py_ssize_t size, const StepRule* rule,
                            bint regularize) noexcept nogil

cdef void clip_column_norms(floating* weights, int n_rows, int n_cols, double max_norm,
                            double* norms) noexcept nogil

cdef double add_l2_gradient(floating* grad, const floating* weights, Py_ssize_t size,
                            double l2) noexcept nogil

cdef void moving_average(floating* average, const floating* values, Py_ssize_t size,
                         double decay) noexcept nogil

cdef bint all_finite(const floating* x, Py_ssize_t size) noexcept nogil
