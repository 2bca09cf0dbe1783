"""Data augmentation: random transformations of each training minibatch's inputs.

An augmentation is any callable ``augment(X_batch, rng) -> X_batch`` (labels unchanged),
passed as ``Network(augment=...)``: the engine calls it on every minibatch, before input
noise and dropout, with a ``numpy.random.Generator`` seeded from the network's
``random_state``; it must return real numbers of the batch's shape. The built-ins below
transform each row of a batch independently; rows are 1-D signals, or images flattened in C
order when ``shape=(height, width)`` is given. Called directly, they also take one row (a
1-D array) and return one; integer input comes back as float64.
"""
import math
from numbers import Real

import numpy as np

from fastreg._validation import check_integer, check_nonnegative_float, check_real

__all__ = ["Compose", "Jitter", "RandomFlip", "RandomScale", "RandomShift"]


def _as_batch(X, owner):
    """``X`` as a 2-D float batch and whether it was one row; TypeError for anything but
    real numbers, ValueError for another number of dimensions."""
    X = np.asarray(X)
    if np.iscomplexobj(X) or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{owner} takes real numbers, got an array of dtype {X.dtype}.")
    if X.ndim not in (1, 2):
        raise ValueError(
            f"{owner} takes a batch of shape (n_samples, n_features) or one row, "
            f"got shape {X.shape}."
        )
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    return (X[None, :], True) if X.ndim == 1 else (X, False)


def _check_shape(shape, n_features):
    if shape is None:
        return (n_features,)
    if int(np.prod(shape)) != n_features:
        raise ValueError(f"shape {shape} does not hold the batch's {n_features} features.")
    return tuple(shape)


class RandomShift:
    """Shift each signal (or image) by a random whole number of samples (pixels).

    Parameters
    ----------
    max_shift : int
        Shifts are drawn uniformly from ``-max_shift .. max_shift`` along every axis.
    mode : {"circular", "pad"}, default="circular"
        Wrap around, or fill the uncovered samples with ``fill_value``.
    shape : tuple of int, optional
        ``(height, width)`` for flattened images; rows are 1-D signals by default.
    fill_value : float, default=0.0
        A finite real number.
    """

    def __init__(self, max_shift, mode="circular", shape=None, fill_value=0.0):
        check_integer(max_shift, "max_shift", minimum=0)
        if mode not in ("circular", "pad"):
            raise ValueError(f"mode must be 'circular' or 'pad', got {mode!r}.")
        check_real(fill_value, "fill_value", -math.inf, math.inf)
        self.max_shift, self.mode, self.shape, self.fill_value = max_shift, mode, shape, fill_value

    def __call__(self, X, rng):
        X, one_row = _as_batch(X, "RandomShift")
        shape = _check_shape(self.shape, X.shape[1])
        out = X.reshape((X.shape[0],) + shape)
        for axis in range(1, out.ndim):
            length = out.shape[axis]
            shifts = rng.integers(-self.max_shift, self.max_shift + 1, size=X.shape[0])
            source = np.arange(length)[None, :] - shifts[:, None]  # out[i, j] = in[i, j - s_i]
            index_shape = [X.shape[0]] + [1] * (out.ndim - 1)
            index_shape[axis] = length
            inside = (source >= 0) & (source < length)
            source = np.mod(source, length)
            out = np.take_along_axis(out, source.reshape(index_shape), axis=axis)
            if self.mode == "pad":
                out = np.where(inside.reshape(index_shape), out, self.fill_value)
        out = out.reshape(X.shape).astype(X.dtype, copy=False)
        return out[0] if one_row else out


class RandomScale:
    """Multiply each row by a factor drawn uniformly from ``[low, high]``.

    Parameters
    ----------
    low, high : float, default=0.8, 1.2
        Positive bounds, ``low <= high``.
    """

    def __init__(self, low=0.8, high=1.2):
        if not (isinstance(low, Real) and isinstance(high, Real) and 0 < low <= high < np.inf):
            raise ValueError(f"need 0 < low <= high < inf, got low={low!r}, high={high!r}.")
        self.low, self.high = low, high

    def __call__(self, X, rng):
        X, one_row = _as_batch(X, "RandomScale")
        factors = rng.uniform(self.low, self.high, size=(X.shape[0], 1))
        out = (X * factors).astype(X.dtype, copy=False)
        return out[0] if one_row else out


class Jitter:
    """Add Gaussian noise of standard deviation ``sigma`` to every input.

    Parameters
    ----------
    sigma : float
        Non-negative standard deviation.
    """

    def __init__(self, sigma):
        check_nonnegative_float(sigma, "sigma")
        self.sigma = sigma

    def __call__(self, X, rng):
        X, one_row = _as_batch(X, "Jitter")
        out = (X + self.sigma * rng.standard_normal(X.shape)).astype(X.dtype, copy=False)
        return out[0] if one_row else out


class RandomFlip:
    """Mirror flattened images left-right (and/or upside down), each with probability p.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)`` of the images.
    horizontal : bool, default=True
    vertical : bool, default=False
    p : float, default=0.5
    """

    def __init__(self, shape, horizontal=True, vertical=False, p=0.5):
        if len(shape) != 2:
            raise ValueError(f"shape must be (height, width), got {shape!r}.")
        if not (isinstance(p, Real) and 0 <= p <= 1):
            raise ValueError(f"p must be in [0, 1], got {p!r}.")
        self.shape, self.horizontal, self.vertical, self.p = tuple(shape), horizontal, vertical, p

    def __call__(self, X, rng):
        X, one_row = _as_batch(X, "RandomFlip")
        images = X.reshape((X.shape[0],) + _check_shape(self.shape, X.shape[1])).copy()
        for flip, axis in ((self.horizontal, 2), (self.vertical, 1)):
            if flip:
                chosen = rng.random(X.shape[0]) < self.p
                images[chosen] = np.flip(images[chosen], axis=axis)
        out = images.reshape(X.shape)
        return out[0] if one_row else out


class Compose:
    """Apply augmentations one after the other."""

    def __init__(self, augmentations):
        self.augmentations = list(augmentations)
        for augmentation in self.augmentations:
            if not callable(augmentation):
                raise TypeError(f"{augmentation!r} is not callable.")

    def __call__(self, X, rng):
        for augmentation in self.augmentations:
            X = augmentation(X, rng)
        return X
