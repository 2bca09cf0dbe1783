"""fastreg: fast CPU training of dense neural networks, with the regularization toolbox.

The core API is :class:`Network` made of :class:`Dense` layers, trained by :class:`SGD`,
:class:`Adam` or :class:`AdamW` with any of the regularizers :class:`L2`, :class:`L1`,
:class:`ElasticNet`, :class:`WeightDecay` and :class:`MaxNorm`, plus dropout, input noise
and label smoothing. :class:`EarlyStopping` ends training by one of Prechelt's criteria
(:class:`Patience`, :class:`GeneralizationLoss`, :class:`ProgressQuotient`,
:class:`UpStrips`) and restores the best weights.
"""
from fastreg.early_stopping import (
    EarlyStopping,
    GeneralizationLoss,
    Patience,
    ProgressQuotient,
    StoppingCriterion,
    UpStrips,
)
from fastreg.layers import Conv1D, Dense
from fastreg.network import Network
from fastreg.optimizers import SGD, Adam, AdamW
from fastreg.regularizers import L1, L2, ElasticNet, MaxNorm, WeightDecay

__version__ = "0.1.0"

__all__ = [
    "Adam",
    "AdamW",
    "Conv1D",
    "Dense",
    "EarlyStopping",
    "ElasticNet",
    "GeneralizationLoss",
    "L1",
    "L2",
    "MaxNorm",
    "Network",
    "Patience",
    "ProgressQuotient",
    "SGD",
    "StoppingCriterion",
    "UpStrips",
    "WeightDecay",
]
