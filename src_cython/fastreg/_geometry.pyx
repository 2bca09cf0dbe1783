"""A 1-D convolution as a matrix product: its input patches (im2col) and their adjoint.

The engine checks a layer's geometry (``out_length = (in_length + 2 padding - kernel) //
stride + 1``, ``weight_rows = kernel * in_channels``) before these run.
"""
from libc.string cimport memcpy, memset


cdef void im2col(const Geometry* g, const floating* inputs, floating* patches,
                 int n_rows) noexcept nogil:
    """patches[(b, t), (j, c)] := inputs[b, t * stride - padding + j, c], 0 outside."""
    _walk_patches(g, <floating*> inputs, patches, n_rows, True)


cdef void col2im(const Geometry* g, const floating* patches, floating* inputs,
                 int n_rows) noexcept nogil:
    """The adjoint of im2col: inputs := sum of the patch entries over where they came from."""
    memset(inputs, 0, <int64_t> n_rows * g.n_in * sizeof(floating))
    _walk_patches(g, inputs, <floating*> patches, n_rows, False)


cdef inline void _walk_patches(const Geometry* g, floating* inputs, floating* patches,
                               int n_rows, bint gather) noexcept nogil:
    """Every (sample, position, tap) of the patches: copy the input there (`gather`), or
    add the patch entry back to the input it came from."""
    cdef int64_t b, t, j, c, position
    cdef int channels = g.in_channels
    cdef floating* row
    cdef floating* source
    for b in range(n_rows):
        for t in range(g.out_length):
            row = patches + (b * g.out_length + t) * g.weight_rows
            for j in range(g.kernel):
                position = t * g.stride - g.padding + j
                if 0 <= position < g.in_length:
                    source = inputs + (b * g.in_length + position) * channels
                    if gather:
                        memcpy(row + j * channels, source, channels * sizeof(floating))
                    else:
                        for c in range(channels):
                            source[c] += row[j * channels + c]
                elif gather:
                    memset(row + j * channels, 0, channels * sizeof(floating))
