"""The engine's configuration: one frozen object, mirrored by the engine's ``Settings`` struct.

:class:`fastreg.Network` builds an :class:`EngineConfig` from its settings at every fit
(validating them again, since they are public attributes) and rebuilds its engine whenever
the new one differs from the engine's. The engine checks the ranges once more when it is
made: it trusts nothing Python code could have changed. The codes of losses, activations
and optimizers are the kernels' own enums, exported from Cython.
"""
from collections.abc import Callable
from dataclasses import dataclass

from fastreg._dense import Activation
from fastreg._loss import Loss
from fastreg._update import Optimizer as OptimizerCode

#: Activation names and their kernel codes.
ACTIVATIONS = {"identity": Activation.IDENTITY, "logistic": Activation.LOGISTIC,
               "tanh": Activation.TANH, "relu": Activation.RELU}
#: Loss names and their kernel codes.
LOSSES = {"softmax_cross_entropy": Loss.SOFTMAX_CROSS_ENTROPY,
          "logistic_cross_entropy": Loss.LOGISTIC_CROSS_ENTROPY,
          "squared_error": Loss.SQUARED_ERROR, "poisson": Loss.POISSON}


@dataclass(frozen=True)
class LayerConfig:
    """One layer as the engine sees it.

    ``convolution`` is None for a dense layer, else ``(in_channels, in_length,
    out_channels, out_length, kernel_size, stride, padding)``.
    """

    weight_shape: tuple[int, int]
    activation: Activation
    keep: float
    convolution: tuple[int, int, int, int, int, int, int] | None = None


@dataclass(frozen=True)
class EngineConfig:
    """Everything an engine is built from, but the arrays."""

    dtype: str
    n_features: int
    layers: tuple[LayerConfig, ...]
    batch_size: int
    seed: int
    loss: Loss
    label_smoothing: float
    inverted_dropout: bool
    input_keep: float
    input_noise: float
    label_noise: float
    weight_noise: float
    optimizer: OptimizerCode
    momentum: float
    beta1: float
    beta2: float
    epsilon: float
    alpha: float
    weight_decay: float
    l1: float
    max_norm: float
    average_decay: float
    augment: Callable | None
