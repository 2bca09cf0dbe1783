"""fastreg: fast CPU training of dense neural networks, with the regularization toolbox.

The core API is :class:`Network` made of :class:`Dense` layers, trained by :class:`SGD`,
:class:`Adam` or :class:`AdamW` with any of the regularizers :class:`L2`, :class:`L1`,
:class:`ElasticNet`, :class:`WeightDecay` and :class:`MaxNorm`, plus dropout, input noise
and label smoothing. :class:`EarlyStopping` ends training by one of Prechelt's criteria
(:class:`Patience`, :class:`GeneralizationLoss`, :class:`ProgressQuotient`,
:class:`UpStrips`) and restores the best weights (kept by a :class:`BestWeights`). A
diverging epoch raises :class:`DivergenceError` (a ``ValueError`` and a
``FloatingPointError``) and leaves the network with its last finite weights.

:class:`MLPClassifier` and :class:`MLPRegressor` are drop-in replacements for
scikit-learn's estimators of the same names (they need scikit-learn: ``pip install
"fastreg-nn[sklearn]"``);
:class:`EnsembleClassifier` and :class:`EnsembleRegressor` (also scikit-learn based) ensemble
them by seeds, bagging, snapshots, checkpoints or cross-validation folds;
:class:`TabularModel` holds one of them with the preprocessing of a pandas table (one-hot
text columns, standardized numbers), as the ``fastreg train`` command line trains it;
:func:`save` and :func:`load` store models in fastreg's own file format, without pickle.
:mod:`fastreg.plot` draws learning curves, ensembles and weight histograms (it needs
matplotlib: ``pip install "fastreg-nn[plot]"``).
"""
# _source_tree first: it explains an unbuilt source tree before anything needs the build.
from fastreg import (
    _source_tree,  # noqa: F401
    augment,  # fastreg.augment.Jitter etc. after a plain `import fastreg`
)
from fastreg.averaging import EMA, SWA
from fastreg.early_stopping import (
    BestWeights,
    EarlyStopping,
    GeneralizationLoss,
    Patience,
    ProgressQuotient,
    StoppingCriterion,
    UpStrips,
)
from fastreg.io import load, save
from fastreg.layers import Conv1D, Dense
from fastreg.network import DivergenceError, Network
from fastreg.optimizers import SGD, Adam, AdamW
from fastreg.regularizers import L1, L2, ElasticNet, MaxNorm, WeightDecay

__version__ = "0.1.0"

#: Names that need scikit-learn; imported on first access so that fastreg works without it.
_SKLEARN_ESTIMATORS = {
    "MLPClassifier": "estimators",
    "MLPRegressor": "estimators",
    "EnsembleClassifier": "ensemble",
    "EnsembleRegressor": "ensemble",
    "Conv1DClassifier": "signal",
    "TabularModel": "tabular",
}


def __getattr__(name):
    if name == "plot":  # fastreg.plot after a plain `import fastreg`; it needs matplotlib
        import importlib

        return importlib.import_module("fastreg.plot")
    if name in _SKLEARN_ESTIMATORS:
        import importlib

        from fastreg._extras import install_hint

        try:
            module = importlib.import_module(f"fastreg.{_SKLEARN_ESTIMATORS[name]}")
        except ImportError as error:
            if not (error.name or "").startswith("sklearn"):
                raise
            raise ImportError(
                f"fastreg.{name} needs scikit-learn: {install_hint('sklearn')}"
            ) from error
        return getattr(module, name)
    raise AttributeError(f"module 'fastreg' has no attribute {name!r}")


__all__ = [
    "Adam",
    "AdamW",
    "BestWeights",
    "Conv1D",
    "Conv1DClassifier",
    "EMA",
    "Dense",
    "DivergenceError",
    "EarlyStopping",
    "ElasticNet",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "GeneralizationLoss",
    "L1",
    "L2",
    "MLPClassifier",
    "MLPRegressor",
    "MaxNorm",
    "Network",
    "Patience",
    "ProgressQuotient",
    "SGD",
    "SWA",
    "StoppingCriterion",
    "TabularModel",
    "UpStrips",
    "WeightDecay",
    "augment",
    "load",
    "save",
]
