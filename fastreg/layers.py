"""Layer specifications of a fastreg network."""
from dataclasses import dataclass
from numbers import Integral, Real

#: Activation names and the codes the kernels use (see src_cython/fastreg/_dense.pxd).
ACTIVATIONS = {"identity": 0, "logistic": 1, "tanh": 2, "relu": 3}


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
