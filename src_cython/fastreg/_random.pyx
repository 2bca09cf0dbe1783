"""Counter-based random streams for masks, noise and shuffling (see _random.pxd).

The ``def`` functions expose the generators to Python so that tests can check their
distributions against exact expectations.
"""
import numpy as np

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy


cdef void shuffle_indices(int64_t* indices, int64_t n, uint64_t key) noexcept nogil:
    """Put 0..n-1 in `indices` and shuffle them (Fisher-Yates, one draw per position)."""
    cdef int64_t i, j, tmp
    for i in range(n):
        indices[i] = i
    for i in range(n - 1, 0, -1):
        # The modulo bias is at most n / 2**64.
        j = <int64_t> (random_bits(key, <uint64_t> i) % <uint64_t> (i + 1))
        tmp = indices[i]
        indices[i] = indices[j]
        indices[j] = tmp


def bernoulli_mask(uint64_t seed, uint64_t step, uint64_t layer, Py_ssize_t n_rows,
                   Py_ssize_t n_cols, double keep):
    """The dropout keep-mask the engine draws at (seed, step, layer), as booleans.

    Layer 0 is the input; layer l >= 1 is the output of the l-th hidden layer.
    """
    cdef uint64_t key = stream_key(seed, DROPOUT_STREAM, step, layer)
    out = np.empty((n_rows, n_cols), dtype=np.uint8)
    cdef unsigned char[:, ::1] mask = out
    cdef Py_ssize_t i
    if n_rows > 0 and n_cols > 0:
        with nogil:
            for i in range(n_rows):
                fill_keep_mask(&mask[i, 0], n_cols, key, <uint64_t> (i * n_cols),
                               keep_threshold(keep))
    return out.view(bool)


def normal_noise(uint64_t seed, uint64_t step, Py_ssize_t size, uint64_t layer=0,
                 bint weights=False):
    """The standard-normal draws the engine makes at `step`, flattened.

    Input noise by default; with ``weights``, the weight noise of layer ``layer``.
    """
    cdef uint64_t key = stream_key(seed, WEIGHT_NOISE_STREAM if weights else INPUT_NOISE_STREAM,
                                   step, layer)
    out = np.empty(size, dtype=np.float64)
    cdef double[::1] values = out
    cdef Py_ssize_t i
    with nogil:
        for i in range(size):
            values[i] = standard_normal(key, i)
    return out


def permutation(uint64_t seed, uint64_t epoch, int64_t n):
    """The order in which the engine visits ``n`` samples in `epoch` when shuffling."""
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] indices = out
    if n > 0:
        with nogil:
            shuffle_indices(&indices[0], n, stream_key(seed, SHUFFLE_STREAM, epoch, 0))
    return out


cdef void replace_label(floating* target, int n_outputs, bint one_hot, double rate,
                        uint64_t key, int64_t row) noexcept nogil:
    """Label noise on one sample's targets, drawn from stream `key` at the sample's `row`.

    With probability `rate`, one-hot (softmax) targets become the one-hot vector of a
    uniformly drawn class (possibly the true one); otherwise each (logistic) target
    becomes a fair coin with probability `rate`.
    """
    cdef int k
    cdef uint64_t counter
    if one_hot:
        if uniform_open(random_bits(key, 2 * <uint64_t> row)) < rate:
            counter = random_bits(key, 2 * <uint64_t> row + 1) % <uint64_t> n_outputs
            for k in range(n_outputs):
                target[k] = 1 if k == <int> counter else 0
    else:
        for k in range(n_outputs):
            counter = 2 * (<uint64_t> row * n_outputs + k)
            if uniform_open(random_bits(key, counter)) < rate:
                target[k] = random_bits(key, counter + 1) & 1


cdef void add_input_noise(floating* x, int64_t start, int64_t stop, double sigma,
                          uint64_t key) noexcept nogil:
    """x[start:stop] += N(0, sigma^2), element e drawn at counter e."""
    cdef int64_t element
    for element in range(start, stop):
        x[element] = <floating> (x[element] + sigma * standard_normal(key, element))


cdef void drop_inputs(floating* x, unsigned char* mask, int64_t start, int64_t stop,
                      double keep, double scale, uint64_t key) noexcept nogil:
    """Input dropout on x[start:stop]: kept elements times `scale`, the others 0."""
    cdef int64_t element
    fill_keep_mask(mask + start, stop - start, key, start, keep_threshold(keep))
    for element in range(start, stop):
        x[element] = <floating> (x[element] * (scale if mask[element] else 0.0))


cdef void perturb_weights(floating* weights, floating* saved, int64_t size, double sigma,
                          uint64_t key) noexcept nogil:
    """Weight noise: keep the clean weights in `saved` and add N(0, sigma^2) to each."""
    cdef int64_t i
    memcpy(saved, weights, size * sizeof(floating))
    for i in range(size):
        weights[i] = <floating> (weights[i] + sigma * standard_normal(key, i))
