"""Checks of the state that a model file hands to a class's ``_load_state``.

:mod:`fastreg.io` decodes a file into plain values (numbers, text, lists, tuples, dicts),
arrays already checked against the file's own bytes, fastreg's settings objects (built by
their constructors, which check them), NumPy generators and nested models; each saveable
class then takes what it stored with the helpers below, which raise :class:`InvalidState`
(a ValueError) naming what is wrong. Nothing here allocates more than it is given.
"""
import numbers

import numpy as np

from fastreg._validation import all_finite

#: Largest count a file may give (epochs, steps, seeds): an int64, as the engine counts.
MAX_COUNT = 2**63 - 1

#: Most values one row may have at the input or output of any layer of a loaded network
#: (a convolution's patches included): the engine's buffers hold a batch of such rows, so
#: a file may not claim more than this, whatever its arrays hold.
MAX_ROW_VALUES = 2**26


class InvalidState(ValueError):
    """A model file's content is malformed or inconsistent; load reports it with the path."""


def estimator_state(estimator, fitted, excluded=()):
    """``(params, state)`` of a scikit-learn-style estimator for :mod:`fastreg.io`: its
    parameters and, once the attribute ``fitted`` exists, every other attribute but
    ``excluded`` (None before)."""
    params = estimator.get_params(deep=False)
    if fitted not in estimator.__dict__:
        return params, None
    return params, {name: value for name, value in vars(estimator).items()
                    if name not in params and name not in excluded}


def new_estimator(cls, params):
    """``cls(**params)``, the parameters' names checked against the class's and their
    values validated as fit validates them."""
    keys(params, cls().get_params(deep=False), f"the parameters of {cls.__name__}")
    estimator = cls(**params)
    estimator._validate_params()
    return estimator


def keys(mapping, names, what):
    """``mapping`` as a dict with exactly the keys ``names``."""
    if not isinstance(mapping, dict):
        raise InvalidState(f"{what} must be a mapping, got {type(mapping).__name__}.")
    missing, unknown = set(names) - set(mapping), set(mapping) - set(names)
    if missing or unknown:
        parts = [f"missing {sorted(missing)}" if missing else "",
                 f"unknown {sorted(unknown)}" if unknown else ""]
        raise InvalidState(f"{what}: {', '.join(p for p in parts if p)} "
                           f"(this fastreg reads {sorted(names)}).")
    return mapping


def integer(value, what, low=0, high=MAX_COUNT):
    """An int (not a bool) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidState(f"{what} must be an integer, got {type(value).__name__}.")
    if not low <= value <= high:
        raise InvalidState(f"{what} = {_short(value)} is out of range [{low}, {high}].")
    return int(value)


def real(value, what, *, none=False):
    """A float or int (not a bool); NaN and infinities pass (a loss may be either)."""
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidState(f"{what} must be a number, got {type(value).__name__}.")
    return value


def reals(value, what, *, none=False):
    """A list of numbers."""
    if value is None and none:
        return None
    if not isinstance(value, list):
        raise InvalidState(f"{what} must be a list of numbers, got {type(value).__name__}.")
    for item in value:
        real(item, f"{what}[...]")
    return value


def text(value, what, choices=None, *, none=False):
    """A str, one of ``choices`` if given."""
    if value is None and none:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        expected = f"one of {sorted(choices)}" if choices is not None else "a string"
        raise InvalidState(f"{what} must be {expected}, got {_short(value)}.")
    return value


def instance(value, kinds, what, *, none=False):
    """An object of one of the classes ``kinds``."""
    if value is None and none:
        return None
    if not isinstance(value, kinds):
        raise InvalidState(f"{what} has the wrong type ({type(value).__name__}).")
    return value


def array(value, what, *, shape=None, dtype=None, kinds=None, finite=False):
    """An ndarray of ``shape`` and ``dtype`` (or of a dtype kind in ``kinds``)."""
    if not isinstance(value, np.ndarray):
        raise InvalidState(f"{what} must be an array, got {type(value).__name__}.")
    if shape is not None and value.shape != tuple(shape):
        raise InvalidState(f"{what} has shape {value.shape}; expected {tuple(shape)}.")
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise InvalidState(f"{what} has dtype {value.dtype}; expected {np.dtype(dtype).name}.")
    if kinds is not None and value.dtype.kind not in kinds:
        raise InvalidState(f"{what} has dtype {value.dtype}, which is not allowed here.")
    if finite and not all_finite(value):
        raise InvalidState(f"{what} contains NaN or infinity.")
    return value


def arrays(value, what, shapes, dtype):
    """A list of finite C-contiguous arrays of the given shapes and dtype (writeable:
    the engine trains them in place)."""
    if not isinstance(value, list) or len(value) != len(shapes):
        raise InvalidState(f"{what} must be a list of {len(shapes)} arrays.")
    return [np.ascontiguousarray(array(item, f"{what}[{i}]", shape=shape, dtype=dtype, finite=True))
            for i, (item, shape) in enumerate(zip(value, shapes))]


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
