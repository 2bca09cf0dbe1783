# CSR input: the structure check every caller must pass before the row scatter.
from cython cimport floating
from libc.stdint cimport int64_t
from libc.string cimport memset

cdef inline void scatter_csr_row(floating* dense_row, int n_features, const floating* data,
                                 const int64_t* indices, const int64_t* indptr,
                                 int64_t row) noexcept nogil:
    """dense_row := row `row` of a CSR matrix that passed ``check_csr`` (duplicates add)."""
    cdef int64_t p
    memset(dense_row, 0, n_features * sizeof(floating))
    for p in range(indptr[row], indptr[row + 1]):
        dense_row[indices[p]] += data[p]
