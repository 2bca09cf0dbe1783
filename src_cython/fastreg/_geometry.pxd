# The shapes of a layer as the engine sees them, and a convolution's patches.
from cython cimport floating
from libc.stdint cimport int64_t

cdef struct Geometry:
    int n_in                    # input features per sample (conv: in_length * in_channels)
    int n_out                   # output features per sample (conv: out_length * out_channels)
    int weight_rows             # W is (weight_rows, weight_cols): (n_in, n_out) for a dense
    int weight_cols             # layer, (kernel * in_channels, out_channels) for a convolution
    bint is_conv
    int in_channels             # convolution geometry; activations are channels-last,
    int in_length               # (batch, length, channels) in row-major order; a dense
    int out_channels            # layer has lengths and channels of 1
    int out_length
    int kernel
    int stride
    int padding
    int activation
    double keep                 # probability of keeping a unit of the output (1: no dropout)

cdef inline int pass_rows(const Geometry* g, int n_rows) noexcept nogil:
    """Rows of a layer's output as its elementwise passes see them: one per sample, or one
    per (sample, position) for a convolution, whose bias and mask are per channel."""
    return n_rows * g.out_length if g.is_conv else n_rows

cdef inline int pass_cols(const Geometry* g) noexcept nogil:
    return g.out_channels if g.is_conv else g.n_out

cdef inline int64_t weight_size(const Geometry* g) noexcept nogil:
    return <int64_t> g.weight_rows * g.weight_cols

cdef void im2col(const Geometry* g, const floating* inputs, floating* patches,
                 int n_rows) noexcept nogil

cdef void col2im(const Geometry* g, const floating* patches, floating* inputs,
                 int n_rows) noexcept nogil
