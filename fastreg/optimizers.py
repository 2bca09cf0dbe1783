"""Optimizers: the update rules the engine fuses with the regularizers.

A learning rate is a float, or a callable ``schedule(epoch) -> float`` evaluated at the
start of every epoch (epochs counted from 0 over the network's whole training).

Optimizers are frozen: to change one, give the network a new one (``net.optimizer =
SGD(...)``), which takes effect at the next fit, starting from a fresh state unless it keeps
state of the same kind (a new learning rate, say).
"""
import math
from collections.abc import Callable
from dataclasses import dataclass

from fastreg._update import Optimizer as OptimizerCode
from fastreg._validation import check_real

LearningRate = float | Callable[[int], float]


def _check_learning_rate(owner, learning_rate):
    if callable(learning_rate):
        return
    check_real(learning_rate, f"{owner} learning_rate", 0.0, math.inf, low_open=True)


class Optimizer:
    """Base class: holds the learning rate (or schedule)."""

    learning_rate: LearningRate
    #: Number of state arrays kept per parameter array.
    n_state_arrays = 0

    def learning_rate_at(self, epoch):
        """The learning rate of ``epoch``, checked to be a positive finite number."""
        if not callable(self.learning_rate):
            return float(self.learning_rate)
        rate = self.learning_rate(epoch)
        check_real(rate, f"learning rate schedule at epoch {epoch}", 0.0, math.inf, low_open=True)
        return float(rate)


@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    With momentum ``mu``, scikit-learn's form: ``v := mu v - lr g; w := w + v``
    (Nesterov: ``w := w + mu v - lr g``).

    Parameters
    ----------
    learning_rate : float or callable, default=0.01
    momentum : float, default=0.0
        In [0, 1], as in scikit-learn (1 never forgets a past gradient).
    nesterov : bool, default=False
    """

    learning_rate: LearningRate = 0.01
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self):
        _check_learning_rate("SGD", self.learning_rate)
        check_real(self.momentum, "SGD momentum", 0.0, 1.0, high_open=False)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD nesterov=True needs a momentum > 0.")

    @property
    def code(self):
        if self.momentum == 0:
            return OptimizerCode.SGD
        return OptimizerCode.NESTEROV if self.nesterov else OptimizerCode.MOMENTUM

    @property
    def n_state_arrays(self):
        return 0 if self.momentum == 0 else 1


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) in scikit-learn's form.

    ``m := b1 m + (1 - b1) g; s := b2 s + (1 - b2) g^2;
    w := w - lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(s) + epsilon)``.

    Parameters
    ----------
    learning_rate : float or callable, default=0.001
    beta1, beta2 : float, default=0.9, 0.999
        In [0, 1).
    epsilon : float, default=1e-8
        Positive.
    """

    learning_rate: LearningRate = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    code = OptimizerCode.ADAM
    n_state_arrays = 2

    def __post_init__(self):
        name = type(self).__name__
        _check_learning_rate(name, self.learning_rate)
        check_real(self.beta1, f"{name} beta1", 0.0, 1.0)
        check_real(self.beta2, f"{name} beta2", 0.0, 1.0)
        check_real(self.epsilon, f"{name} epsilon", 0.0, math.inf, low_open=True)


@dataclass(frozen=True)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    Weights (never biases) also shrink each step: ``w := w (1 - lr weight_decay) + step``.

    Parameters
    ----------
    learning_rate : float or callable, default=0.001
    beta1, beta2, epsilon : float
        As in :class:`Adam`.
    weight_decay : float, default=0.01
        Non-negative, with ``lr * weight_decay < 1``.
    """

    weight_decay: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        check_real(self.weight_decay, "AdamW weight_decay", 0.0, math.inf)
        if not callable(self.learning_rate) and self.learning_rate * self.weight_decay >= 1:
            raise ValueError(
                "AdamW learning_rate * weight_decay must be < 1 (each step multiplies the "
                f"weights by 1 - learning_rate * weight_decay), got {self.learning_rate} * "
                f"{self.weight_decay}."
            )
