"""The engine's settings from its configuration, checked once more.

``fastreg.network`` validates what a user sets; the engine checks again what it will rely
on (the ranges of rates and probabilities, known enum codes, a convolution's geometry and
that each layer takes the previous one's output), since a configuration is a Python
object that Python code can make or change.
"""
import numpy as np

from libc.stdint cimport int64_t

from fastreg._loss cimport POISSON, SOFTMAX_CROSS_ENTROPY
from fastreg._update cimport ADAM, SGD


cdef Settings settings_from(config) except *:
    """The configuration as the kernels read it, its ranges checked again here."""
    cdef Settings s
    layers = config.layers
    if not 1 <= len(layers) <= 10_000:
        raise ValueError(f"a network has 1 to 10000 layers, got {len(layers)}.")
    s.n_layers = len(layers)
    s.n_features = _positive(config.n_features, "n_features")
    s.n_outputs = _positive(layers[len(layers) - 1].weight_shape[1], "n_outputs")
    s.batch_size = _positive(config.batch_size, "batch_size")
    s.loss = int(config.loss)
    if not SOFTMAX_CROSS_ENTROPY <= s.loss <= POISSON:
        raise ValueError(f"unknown loss code {s.loss}.")
    s.label_smoothing = _in_range(config.label_smoothing, "label_smoothing", 0.0, 1.0)
    s.inverted_dropout = bool(config.inverted_dropout)
    s.input_keep = _in_range(config.input_keep, "input_keep", 0.0, 1.0, True, True)
    s.input_noise = _in_range(config.input_noise, "input_noise", 0.0, np.inf)
    s.label_noise = _in_range(config.label_noise, "label_noise", 0.0, 1.0)
    s.weight_noise = _in_range(config.weight_noise, "weight_noise", 0.0, np.inf)
    s.average_decay = _in_range(config.average_decay, "average_decay", 0.0, 1.0)
    s.rule.optimizer = int(config.optimizer)
    if not SGD <= s.rule.optimizer <= ADAM:
        raise ValueError(f"unknown optimizer code {s.rule.optimizer}.")
    s.rule.momentum = _in_range(config.momentum, "momentum", 0.0, 1.0, False, True)
    s.rule.beta1 = _in_range(config.beta1, "beta1", 0.0, 1.0)
    s.rule.beta2 = _in_range(config.beta2, "beta2", 0.0, 1.0)
    s.rule.epsilon = _in_range(config.epsilon, "epsilon", 0.0, np.inf)
    s.alpha = _in_range(config.alpha, "alpha", 0.0, np.inf)
    s.weight_decay = _in_range(config.weight_decay, "weight_decay", 0.0, np.inf)
    s.l1 = _in_range(config.l1, "l1", 0.0, np.inf)
    s.max_norm = _in_range(config.max_norm, "max_norm", 0.0, np.inf)
    if not 0 <= config.seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {config.seed!r}.")
    s.seed = <uint64_t> config.seed
    return s


cdef Geometry geometry_from(layer, int index, int n_layers, int n_in) except *:
    """A layer's shapes from its configuration, checked: its input is `n_in` features."""
    cdef Geometry g
    rows, cols = layer.weight_shape
    g.weight_rows = _positive(rows, f"layer {index} weight rows")
    g.weight_cols = _positive(cols, f"layer {index} weight columns")
    g.is_conv = layer.convolution is not None
    hidden = index < n_layers - 1
    g.activation = int(layer.activation) if hidden else 0
    if not 0 <= g.activation <= 3:
        raise ValueError(f"layer {index}: unknown activation code {g.activation}.")
    g.keep = _in_range(layer.keep, f"layer {index} keep", 0.0, 1.0, True, True) if hidden else 1.0
    if g.is_conv:
        if not hidden:
            raise ValueError("the output layer cannot be a convolution.")
        if len(layer.convolution) != 7:
            raise ValueError(f"layer {index}: a convolution has 7 geometry entries.")
        (g.in_channels, g.in_length, g.out_channels, g.out_length, g.kernel,
         g.stride) = [_positive(v, f"layer {index} convolution geometry")
                      for v in layer.convolution[:6]]
        padding = int(layer.convolution[6])
        if not 0 <= padding < 2**30:
            raise ValueError(f"layer {index}: padding must be >= 0, got {padding}.")
        g.padding = padding
        if (g.out_length != (g.in_length + 2 * g.padding - g.kernel) // g.stride + 1
                or g.weight_rows != g.kernel * g.in_channels
                or g.weight_cols != g.out_channels):
            raise ValueError(f"layer {index}: inconsistent convolution geometry "
                             f"{tuple(layer.convolution)} for weights {(rows, cols)}.")
        g.n_in = _positive(<int64_t> g.in_length * g.in_channels, "layer input")
        g.n_out = _positive(<int64_t> g.out_length * g.out_channels, "layer output")
    else:
        g.in_channels = g.in_length = g.out_channels = g.out_length = 1
        g.kernel = g.stride = 1
        g.padding = 0
        g.n_in = g.weight_rows
        g.n_out = g.weight_cols
    if g.n_in != n_in:
        raise ValueError(f"layer {index} takes {g.n_in} inputs but gets {n_in}.")
    return g


cdef int _positive(value, str name) except -1:
    if int(value) < 1 or int(value) > 2**31 - 1:
        raise ValueError(f"{name} must be a positive int32, got {value!r}.")
    return int(value)


cdef double _in_range(value, str name, double low, double high, bint low_open=False,
                      bint high_closed=False) except? -1:
    cdef double x = float(value)
    if not (x > low if low_open else x >= low) or not (x <= high if high_closed else x < high):
        raise ValueError(f"{name} = {value!r} is out of range.")
    return x
