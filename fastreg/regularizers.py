"""Penalties and constraints on the weights; biases are never regularized.

Pass any combination (each kind at most once) as ``Network(regularizers=[...])``; the
engine fuses them into the optimizer step.
"""
import math
from dataclasses import dataclass

from fastreg._validation import check_real


@dataclass(frozen=True)
class L2:
    """Coupled L2 penalty with scikit-learn's meaning of ``alpha``.

    The batch loss gains ``alpha / (2 S) * sum ||W||^2`` (S: the batch's number of samples,
    or its sum of sample weights), so the gradient gains ``alpha W / S``.
    """

    alpha: float

    def __post_init__(self):
        check_real(self.alpha, "L2 alpha", 0.0, math.inf)


@dataclass(frozen=True)
class WeightDecay:
    """Decoupled weight decay: ``W := W (1 - lr * rate) + step`` at every update.

    With plain SGD this is L2 with ``alpha = rate * S``; with momentum or Adam it is not
    (Loshchilov & Hutter 2019). The lecture's ``W := W (1 - 2 lambda) - eta grad`` is
    ``rate = 2 lambda / lr``.
    """

    rate: float

    def __post_init__(self):
        check_real(self.rate, "WeightDecay rate", 0.0, math.inf)


@dataclass(frozen=True)
class L1:
    """L1 penalty as a proximal step after each update: ``W := sign(W) max(|W| - lr l1, 0)``.

    Unlike a subgradient step, it sets weights to exact zeros.
    """

    strength: float

    def __post_init__(self):
        check_real(self.strength, "L1 strength", 0.0, math.inf)


@dataclass(frozen=True)
class ElasticNet:
    """L1 (proximal, ``l1``) and coupled L2 (``alpha``, as in :class:`L2`) together."""

    l1: float
    alpha: float

    def __post_init__(self):
        check_real(self.l1, "ElasticNet l1", 0.0, math.inf)
        check_real(self.alpha, "ElasticNet alpha", 0.0, math.inf)


@dataclass(frozen=True)
class MaxNorm:
    """Max-norm constraint (Srivastava et al. 2014).

    After each update, every unit's incoming weight vector (a column of W) longer than
    ``max_norm`` is rescaled to that length.
    """

    max_norm: float

    def __post_init__(self):
        check_real(self.max_norm, "MaxNorm max_norm", 0.0, math.inf, low_open=True)


#: The regularizer classes, each kind at most once in a network.
KINDS = (L2, WeightDecay, L1, ElasticNet, MaxNorm)


def as_tuple(regularizers):
    """One regularizer, or a list or tuple of them, as a tuple (``L2(1e-4)`` alone is
    ``(L2(1e-4),)``); TypeError for anything else.

    Parameters
    ----------
    regularizers : L2, WeightDecay, L1, ElasticNet, MaxNorm, or a list or tuple of them

    Returns
    -------
    tuple
    """
    if isinstance(regularizers, KINDS):
        return (regularizers,)
    if not isinstance(regularizers, (list, tuple)):
        raise TypeError(
            "regularizers must be a regularizer (L2, L1, ElasticNet, WeightDecay, MaxNorm) "
            f"or a list of them, got {regularizers!r}."
        )
    return tuple(regularizers)


def combine(regularizers):
    """Merge regularizer objects into the engine's ``alpha, weight_decay, l1, max_norm``."""
    settings = {"alpha": 0.0, "weight_decay": 0.0, "l1": 0.0, "max_norm": 0.0}
    given = {}
    for reg in regularizers:
        if isinstance(reg, L2):
            parts = {"alpha": reg.alpha}
        elif isinstance(reg, WeightDecay):
            parts = {"weight_decay": reg.rate}
        elif isinstance(reg, L1):
            parts = {"l1": reg.strength}
        elif isinstance(reg, ElasticNet):
            parts = {"l1": reg.l1, "alpha": reg.alpha}
        elif isinstance(reg, MaxNorm):
            parts = {"max_norm": reg.max_norm}
        else:
            raise TypeError(
                "regularizers must be L2, L1, ElasticNet, WeightDecay or MaxNorm objects, "
                f"got {reg!r}."
            )
        for key, value in parts.items():
            if key in given:
                raise ValueError(f"{reg!r} and {given[key]!r} both set {key}; give it once.")
            given[key] = reg
            settings[key] = float(value)
    return settings
