"""Running averages of the weights: the averaged network often generalizes better than
the last one (Polyak averaging; Izmailov et al. 2018)."""
from dataclasses import dataclass

from fastreg._validation import check_integer, check_real


@dataclass(frozen=True)
class EMA:
    """Exponential moving average, updated after every optimizer step.

    ``avg := decay * avg + (1 - decay) * w`` for every weight and bias, starting from the
    weights the network starts training with.

    Parameters
    ----------
    decay : float, default=0.999
        In [0, 1); about ``1 / (1 - decay)`` recent steps carry the average.
    """

    decay: float = 0.999

    def __post_init__(self):
        check_real(self.decay, "EMA decay", 0.0, 1.0)


@dataclass(frozen=True)
class SWA:
    """Stochastic weight averaging (Izmailov et al. 2018): an equal-weight average of the
    weights at the end of epochs.

    From epoch ``start`` (0-based) on, the weights at the end of every ``every``-th epoch
    enter the average ``avg := (n avg + w) / (n + 1)``. With a constant learning rate use
    ``every=1``; with a cyclic one, its period, so that each cycle's last (lowest learning
    rate) epoch is averaged.

    Parameters
    ----------
    start : int, default=0
    every : int, default=1
    """

    start: int = 0
    every: int = 1

    def __post_init__(self):
        for name, minimum in (("start", 0), ("every", 1)):
            check_integer(getattr(self, name), f"SWA {name}", minimum=minimum)
