"""Weight initialization shared by every fastreg model."""
import math


def glorot_uniform(rng, shape, fan_in, fan_out, factor, dtype):
    """Glorot-uniform weights and biases, drawn as scikit-learn draws them.

    Weights and biases are uniform in ``[-bound, bound)`` with
    ``bound = sqrt(factor / (fan_in + fan_out))``. The weights are drawn first, then the
    biases, from the same generator: the order and the calls are scikit-learn's, so an
    estimator seeded like scikit-learn's starts from bit-identical weights.

    Parameters
    ----------
    rng : numpy.random.RandomState or numpy.random.Generator
        The source of the draws; advanced by ``prod(shape) + shape[-1]`` numbers.
    shape : tuple of int
        Shape of the weight matrix ``(rows, columns)``; the biases have ``columns`` entries.
    fan_in, fan_out : int
        The fans that set the bound (a convolution's include its kernel size).
    factor : float
        6.0 in general; scikit-learn uses 2.0 when the hidden activation is logistic.
    dtype : numpy dtype
        The dtype of the returned arrays (the draws are float64, then cast).

    Returns
    -------
    weights : ndarray of shape `shape`
    biases : ndarray of shape ``(shape[-1],)``
    """
    bound = math.sqrt(factor / (fan_in + fan_out))
    weights = rng.uniform(-bound, bound, shape).astype(dtype, copy=False)
    biases = rng.uniform(-bound, bound, shape[-1]).astype(dtype, copy=False)
    return weights, biases
