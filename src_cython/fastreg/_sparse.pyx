"""The check that makes a CSR matrix safe to scatter: O(nnz), before any unchecked loop.

``check_csr`` raises ValueError unless ``indptr`` has ``n_rows + 1`` entries, starts at 0,
never decreases and ends at ``len(indices) == len(data)``, and every column index lies in
``[0, n_features)``. The engine calls it on every sparse input it is handed, whatever the
Python layer checked before: a matrix's arrays can be changed in place between calls.
"""
from libc.stdint cimport int64_t


def check_csr(const int64_t[::1] indices, const int64_t[::1] indptr, Py_ssize_t n_data,
              Py_ssize_t n_rows, Py_ssize_t n_features):
    """Raise ValueError unless (indices, indptr) is a valid CSR structure (see module)."""
    cdef Py_ssize_t i, bad = -1
    cdef int64_t nnz = indices.shape[0]
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(f"CSR indptr has {indptr.shape[0]} entries; expected n_rows + 1 = "
                         f"{n_rows + 1}.")
    if n_data != nnz:
        raise ValueError(f"CSR data has {n_data} values but indices has {nnz}.")
    if indptr[0] != 0 or indptr[n_rows] != nnz:
        raise ValueError(f"CSR indptr must start at 0 and end at nnz = {nnz}; it runs "
                         f"{indptr[0]} .. {indptr[n_rows]}.")
    with nogil:
        for i in range(n_rows):
            if indptr[i + 1] < indptr[i]:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"CSR indptr decreases at row {bad}: {indptr[bad]} then "
                         f"{indptr[bad + 1]}.")
    with nogil:
        for i in range(nnz):
            if indices[i] < 0 or indices[i] >= n_features:
                bad = i
                break
    if bad >= 0:
        raise ValueError(f"CSR indices[{bad}] = {indices[bad]} is outside [0, {n_features}).")
