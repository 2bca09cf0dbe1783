"""Input checks of the core API: everything a kernel must be able to trust."""
import math
import numbers

import numpy as np

FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    """Normalize a dtype argument to np.float32 or np.float64."""
    try:
        name = None if dtype is None else np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    return FLOAT_DTYPES[name]


def all_finite(array):
    """True when no element is NaN or infinite (two reductions, no temporary array)."""
    if array.size == 0:
        return True
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def is_sparse(array):
    """True for scipy.sparse matrices and arrays."""
    import scipy.sparse

    return scipy.sparse.issparse(array)


def check_sparse_matrix(matrix, name, dtype, *, n_columns=None):
    """A finite, non-empty CSR matrix of `dtype` as ``(data, indices, indptr), shape``.

    Any scipy.sparse format is accepted. Its index structure is checked before scipy or a
    kernel walks it (a CSR or CSC matrix's arrays may have been changed in place); indices
    become int64 copies; duplicates are kept (the engine adds them up, as scipy does).
    """
    import scipy.sparse

    from fastreg._sparse import check_csr

    _check_shape(matrix.shape, name, n_columns)
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool) or np.iscomplexobj(
        np.empty(0, dtype=matrix.dtype)
    ):
        raise TypeError(
            f"{name} must hold real numbers, got a sparse matrix of dtype {matrix.dtype}."
        )
    check_sparse_structure(matrix, name)
    csr = scipy.sparse.csr_array(matrix)
    data = finite_as(csr.data, name, dtype)
    # Copies of the structure: the caller's arrays may change while the engine reads ours.
    indices = np.array(csr.indices, dtype=np.int64, order="C", copy=True)
    indptr = np.array(csr.indptr, dtype=np.int64, order="C", copy=True)
    check_csr(indices, indptr, len(data), *csr.shape)
    return (data, indices, indptr), csr.shape


def check_sparse_structure(matrix, name):
    """Raise ValueError unless the index arrays of a scipy.sparse matrix are consistent
    with its shape: to be called before scipy (or scikit-learn) converts or slices it, as
    their compiled code trusts them and a matrix's arrays can be changed in place."""
    from fastreg._sparse import check_csr

    n_rows, n_cols = matrix.shape
    try:
        if matrix.format in ("csr", "csc"):
            indices = np.ascontiguousarray(matrix.indices, dtype=np.int64)
            indptr = np.ascontiguousarray(matrix.indptr, dtype=np.int64)
            if matrix.format == "csr":
                check_csr(indices, indptr, len(matrix.data), n_rows, n_cols)
            else:
                check_csr(indices, indptr, len(matrix.data), n_cols, n_rows)
        elif matrix.format == "coo":
            for axis, coords in enumerate(matrix.coords):
                if len(coords) != len(matrix.data):
                    raise ValueError("COO coordinates and data differ in length.")
                if len(coords) and (coords.min() < 0 or coords.max() >= matrix.shape[axis]):
                    raise ValueError(f"COO {('row', 'column')[axis]} index out of range.")
        elif matrix.format == "bsr":
            matrix.check_format(full_check=True)
    except ValueError as error:
        raise ValueError(f"{name} is a malformed sparse matrix: {error}") from None


def sklearn_validate_data(estimator, X, *args, **kwargs):
    """scikit-learn's ``validate_data``, a sparse X's structure checked first."""
    from sklearn.utils.validation import validate_data

    if is_sparse(X):
        check_sparse_structure(X, "X")
    return validate_data(estimator, X, *args, **kwargs)


def check_matrix(array, name, dtype, *, n_columns=None):
    """A non-empty, finite, C-contiguous 2-D array of `dtype` (copied only if needed)."""
    if is_sparse(array):
        raise TypeError(f"{name} is a sparse matrix where a dense array is needed.")
    array = np.asarray(array)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == bool
    ):
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got complex dtype {array.dtype}.")
    _check_shape(array.shape, name, n_columns)
    return finite_as(array, name, dtype)


def _check_shape(shape, name, n_columns):
    """A 2-D, non-empty shape with the expected number of columns."""
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {shape}.")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {shape}.")
    if n_columns is not None and shape[1] != n_columns:
        raise ValueError(f"{name} has {shape[1]} columns; the network expects {n_columns}.")


def finite_as(values, name, dtype):
    """``values`` as a C-contiguous array of `dtype`, finite before and after conversion."""
    if not all_finite(values):
        raise ValueError(f"{name} contains NaN or infinity.")
    with np.errstate(over="ignore"):
        values = np.ascontiguousarray(values, dtype=dtype)
    if not all_finite(values):
        raise ValueError(f"{name} contains NaN or infinity (after conversion to {values.dtype}).")
    return values


def check_sample_weight(sample_weight, n_samples, dtype):
    """None, or a finite, non-negative vector of length n_samples with a positive sum."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.ndim == 0:
        weights = np.full(n_samples, weights)
    if weights.ndim != 1 or weights.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), got {weights.shape}."
        )
    if not np.issubdtype(weights.dtype, np.number) or np.iscomplexobj(weights):
        raise TypeError(f"sample_weight must be real numbers, got dtype {weights.dtype}.")
    weights = finite_as(weights, "sample_weight", dtype)
    if weights.min() < 0:
        raise ValueError("sample_weight must be non-negative.")
    if weights.sum(dtype=np.float64) <= 0:
        raise ValueError("sample_weight must have a positive sum.")
    return weights


def check_integer(value, name, *, minimum=1):
    """An integer (not a bool) >= `minimum`, as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_real(value, name, low, high, *, low_open=False, high_open=True):
    """A finite real number (not a bool) in the interval from `low` to `high`, closed or
    open at either end (``[low, high)`` by default)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}.")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}.")


def check_nonnegative_float(value, name):
    """A finite real number >= 0 (not a bool), as a float."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not (0 <= value < math.inf):
        raise ValueError(f"{name} must be a finite float >= 0, got {value!r}.")
    return float(value)


def check_positive_finite(value, name):
    """A finite real number > 0 (not a bool), as a float: a learning rate."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def check_probability(value, name, *, allow_one=False):
    """A float in [0, 1) (or [0, 1] with allow_one)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 <= value
    ok = ok and (value <= 1.0 if allow_one else value < 1.0)
    if not ok:
        interval = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must be a float in {interval}, got {value!r}.")
    return float(value)
