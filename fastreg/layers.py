"""Layer specifications of a fastreg network."""
from dataclasses import dataclass
from numbers import Integral, Real

from fastreg._config import ACTIVATIONS
from fastreg._validation import check_integer


@dataclass(frozen=True)
class Dense:
    """A fully connected layer: ``out = dropout(activation(inputs @ W + b))``.

    Parameters
    ----------
    units : int
        Number of output units, at least 1.
    activation : {"identity", "logistic", "tanh", "relu"}, default="identity"
        Activation of a hidden layer. The last layer of a network must keep
        "identity": its output function comes from the loss (softmax, sigmoid, ...).
    dropout : float, default=0.0
        Probability of dropping each output unit while training, in [0, 1). Hidden
        layers only.
    """

    units: int
    activation: str = "identity"
    dropout: float = 0.0

    def __post_init__(self):
        if isinstance(self.units, bool) or not isinstance(self.units, Integral) or self.units < 1:
            raise ValueError(f"Dense units must be a positive integer, got {self.units!r}.")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"Dense activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}."
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, Real)
            or not 0.0 <= self.dropout < 1.0
        ):
            raise ValueError(f"Dense dropout must be a float in [0, 1), got {self.dropout!r}.")


@dataclass(frozen=True)
class Conv1D:
    """A 1-D convolution: the same small filter slid along a signal (weight sharing).

    The output at position t and channel o is
    ``act(b_o + sum_{j, c} W[j * C_in + c, o] * x[t * stride - padding + j, c])``, the
    input zero outside ``0 .. length - 1``. Activations are stored channels-last: a row of
    features is ``length x channels`` in C order, so a single-channel signal is a plain row
    and a following Dense layer sees ``out_length * channels`` features. Convolutions come
    before every Dense layer of a network.

    Parameters
    ----------
    channels : int
        Output channels (filters), at least 1.
    kernel_size : int
        Filter length, at least 1.
    stride : int, default=1
    padding : int, default=0
        Zeros added at both ends of the signal.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
    dropout : float, default=0.0
        Probability of dropping each output unit (position and channel) while training.
    """

    channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    activation: str = "relu"
    dropout: float = 0.0

    def __post_init__(self):
        for name, minimum in (("channels", 1), ("kernel_size", 1), ("stride", 1), ("padding", 0)):
            check_integer(getattr(self, name), f"Conv1D {name}", minimum=minimum)
        Dense(1, self.activation, self.dropout)  # the same checks as a dense layer's

    def output_length(self, length):
        """Positions of the output for an input of ``length`` positions."""
        return (length + 2 * self.padding - self.kernel_size) // self.stride + 1
