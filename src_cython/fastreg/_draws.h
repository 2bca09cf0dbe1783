/* The random draws of _random.pxd: SplitMix64's mixer, the draw at a position of a stream,
 * and the dropout keep-mask, the loop over draws that runs at every training step.
 *
 * 64-bit multiplies vectorize only with AVX-512. On x86-64 with glibc and GCC 11 or newer the
 * mask loop is compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2) and the baseline, and
 * the processor's version is picked when the module loads. All versions compute the same
 * integers: a mask is the same bits on every machine. */
#ifndef FASTREG_DRAWS_H
#define FASTREG_DRAWS_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) \
    && __GNUC__ >= 11
#define FASTREG_CPU_VERSIONS \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTREG_CPU_VERSIONS
#endif

/* SplitMix64's finalizer: a bijective mixer whose output bits all depend on every input bit. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* 64 random bits: the SplitMix64 sequence of `key`, at position `counter`. */
static inline uint64_t random_bits(uint64_t key, uint64_t counter)
{
    return mix64(key + (counter + 1) * 0x9E3779B97F4A7C15ULL);
}

/* mask[j] := 1 with probability threshold / 2**32, for the elements first .. first + n - 1
 * of the stream of `key`. Element c uses half of draw c / 2: the low 32 bits if c is even,
 * the high 32 bits if odd. */
FASTREG_CPU_VERSIONS
static void fill_keep_mask(unsigned char *mask, ptrdiff_t n, uint64_t key, uint64_t first,
                           uint64_t threshold)
{
    ptrdiff_t j = 0, i, pairs;
    uint64_t draw, bits;
    if (n > 0 && (first & 1)) {
        mask[0] = (random_bits(key, first >> 1) >> 32) < threshold;
        j = 1;
    }
    /* Whole draws from here on, counted by i so that the loop vectorizes. */
    draw = (first + j) >> 1;
    pairs = (n - j) / 2;
    for (i = 0; i < pairs; i++) {
        bits = random_bits(key, draw + i);
        mask[j + 2 * i] = (bits & 0xFFFFFFFFULL) < threshold;
        mask[j + 2 * i + 1] = (bits >> 32) < threshold;
    }
    j += 2 * pairs;
    if (j < n)
        mask[j] = (random_bits(key, (first + j) >> 1) & 0xFFFFFFFFULL) < threshold;
}

#endif
