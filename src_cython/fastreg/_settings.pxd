# The configuration as the kernels read it: built from a fastreg._config.EngineConfig,
# every range and the layers' geometry checked again.
from libc.stdint cimport uint64_t

from fastreg._geometry cimport Geometry
from fastreg._update cimport StepRule

cdef struct Settings:
    int n_layers
    int n_features
    int n_outputs
    int batch_size
    int loss
    double label_smoothing
    bint inverted_dropout
    double input_keep
    double input_noise
    double label_noise
    double weight_noise
    double average_decay        # EMA of the weights (0: off)
    StepRule rule               # optimizer and its constants (the rates are set per step)
    double alpha                # scikit-learn's L2
    double weight_decay
    double l1
    double max_norm             # 0: off
    uint64_t seed

cdef Settings settings_from(config) except *
cdef Geometry geometry_from(layer, int index, int n_layers, int n_in) except *
