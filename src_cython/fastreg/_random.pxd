# Counter-based random numbers: every draw is a pure function of (key, counter).
#
# A key names one stream (seed, purpose, step, layer); the counter names one element of it
# (row * width + unit). Nothing is sequential, so a mask or a permutation is the same
# whatever the number of threads and however rows are split among them. The draws and the
# dropout keep-mask are C (_draws.h), which compiles the mask loop for each processor.
from cython cimport floating
from libc.math cimport cos, log, sqrt
from libc.stdint cimport int64_t, uint64_t

cdef enum StreamPurpose:
    DROPOUT_STREAM = 1
    INPUT_NOISE_STREAM = 2
    SHUFFLE_STREAM = 3
    LABEL_NOISE_STREAM = 4
    WEIGHT_NOISE_STREAM = 5

cdef extern from "_draws.h" nogil:
    uint64_t mix64(uint64_t z)  # SplitMix64's finalizer
    uint64_t random_bits(uint64_t key, uint64_t counter)  # draw `counter` of stream `key`
    # mask[j] := draw < threshold, on 32 bits: the n elements from `first` (two per draw)
    void fill_keep_mask(unsigned char* mask, Py_ssize_t n, uint64_t key, uint64_t first,
                        uint64_t threshold)

cdef inline uint64_t stream_key(uint64_t seed, uint64_t purpose, uint64_t step,
                                uint64_t layer) noexcept nogil:
    return mix64(mix64(mix64(seed ^ (purpose << 56)) ^ step) + layer)

cdef inline uint64_t keep_threshold(double keep) noexcept nogil:
    """Threshold t on 32 random bits with P(bits < t) = keep, up to 2**-32."""
    return <uint64_t> (keep * 4294967296.0)

cdef inline double uniform_open(uint64_t bits) noexcept nogil:
    """A double in (0, 1): the top 53 bits, offset by half a step."""
    return ((bits >> 11) + 0.5) * (1.0 / 9007199254740992.0)

cdef inline double standard_normal(uint64_t key, uint64_t counter) noexcept nogil:
    """One N(0, 1) draw by the Box-Muller transform of two uniforms at 2c and 2c + 1."""
    cdef double u1 = uniform_open(random_bits(key, 2 * counter))
    cdef double u2 = uniform_open(random_bits(key, 2 * counter + 1))
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)

cdef void shuffle_indices(int64_t* indices, int64_t n, uint64_t key) noexcept nogil

# The noise of training, drawn from those streams.
cdef void replace_label(floating* target, int n_outputs, bint one_hot, double rate,
                        uint64_t key, int64_t row) noexcept nogil
cdef void add_input_noise(floating* x, int64_t start, int64_t stop, double sigma,
                          uint64_t key) noexcept nogil
cdef void drop_inputs(floating* x, unsigned char* mask, int64_t start, int64_t stop,
                      double keep, double scale, uint64_t key) noexcept nogil
cdef void perturb_weights(floating* weights, floating* saved, int64_t size, double sigma,
                          uint64_t key) noexcept nogil
