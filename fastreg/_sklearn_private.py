"""The private scikit-learn names fastreg relies on, imported in one place.

fastreg's estimators are drop-in replacements for scikit-learn's multi-layer perceptrons and
match their numerics to ~1e-10; for that they use a few of scikit-learn's private helpers
(its loss functions, parameter constraints, fit context and small checks), which scikit-learn
may move or change in any release. Every other fastreg module imports them from here, so that
a move fails once, with a message naming the missing name and the versions known to work.
``pyproject.toml`` bounds scikit-learn to that range, and ``tests/test_sklearn_private.py``
checks the signature and behaviour fastreg relies on for each name.
"""
import importlib

import sklearn

#: The scikit-learn versions these imports are known to work with (pyproject.toml's extras).
KNOWN_WORKING = ">=1.7,<1.11"

#: Each private name: (module, attribute).
PRIVATE_NAMES = {
    "_fit_context": ("sklearn.base", "_fit_context"),
    "LOSS_FUNCTIONS": ("sklearn.neural_network._base", "LOSS_FUNCTIONS"),
    "HasMethods": ("sklearn.utils._param_validation", "HasMethods"),
    "Interval": ("sklearn.utils._param_validation", "Interval"),
    "Options": ("sklearn.utils._param_validation", "Options"),
    "StrOptions": ("sklearn.utils._param_validation", "StrOptions"),
    "_get_additional_lbfgs_options_dict": ("sklearn.utils.fixes",
                                           "_get_additional_lbfgs_options_dict"),
    "_check_partial_fit_first_call": ("sklearn.utils.multiclass",
                                      "_check_partial_fit_first_call"),
    "_check_optimize_result": ("sklearn.utils.optimize", "_check_optimize_result"),
    "_check_sample_weight": ("sklearn.utils.validation", "_check_sample_weight"),
}


def _private(name):
    """Import one private scikit-learn name, or raise an ImportError that names it."""
    module_name, attribute = PRIVATE_NAMES[name]
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(
            f"fastreg needs scikit-learn's private {module_name}.{attribute}, which "
            f"scikit-learn {sklearn.__version__} does not provide ({error}). fastreg is "
            f"known to work with scikit-learn{KNOWN_WORKING}: install "
            f"'scikit-learn{KNOWN_WORKING}'."
        ) from None


_fit_context = _private("_fit_context")
LOSS_FUNCTIONS = _private("LOSS_FUNCTIONS")
HasMethods = _private("HasMethods")
Interval = _private("Interval")
Options = _private("Options")
StrOptions = _private("StrOptions")
_get_additional_lbfgs_options_dict = _private("_get_additional_lbfgs_options_dict")
_check_partial_fit_first_call = _private("_check_partial_fit_first_call")
_check_optimize_result = _private("_check_optimize_result")
_check_sample_weight = _private("_check_sample_weight")
