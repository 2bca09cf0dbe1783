/* fastreg's own kernels for the small matrix products of a training step (issue 14):
 * C := alpha op(A) @ op(B) + beta C, row-major, as _blas.gemm takes them.
 *
 * Register-blocked: a tile of C (up to 8 rows x 4 vectors) stays in registers while k runs
 * innermost; each step broadcasts one element of a row of op(A) and multiplies it into a
 * row of op(B), loaded as vectors (masked at the right edge). op(B) = B^T is first copied,
 * a block of columns at a time, into a panel that has its rows contiguous. Nothing is packed
 * otherwise: a step's products are small enough to be read from the caches as they are.
 *
 * Three versions of each kernel, float and double: AVX-512, AVX2 (both with FMA) and a
 * portable one in plain C. Every element of C is the same chain of fused multiply-adds
 * over k in order (fma(a_p, b_p, acc), then times alpha) in all three, so they give the
 * same bits; the portable version calls C's fma(), which is slow on a processor without
 * FMA, so it is not chosen by default (BLAS is). _blas picks the version when it loads:
 * the processor's best, or the one that FASTREG_PRODUCTS names. */
#ifndef FASTREG_PRODUCTS_H
#define FASTREG_PRODUCTS_H

#include <math.h>
#include <stddef.h>
#include <string.h>

/* op(B) = B^T is copied, 2 vectors wide and this many rows deep at most, into a panel on
 * the stack (32 KiB in float32 with AVX-512): a deeper product runs in stages. */
#define PRODUCT_PANEL_DEPTH 256
/* The deepest op(B) = B^T that the engine gives the kernels (the stages cost more work in
 * memory as the depth grows past the panel). */
#define PRODUCT_MAX_TRANSPOSED_DEPTH 1024

enum {
    PRODUCTS_BLAS = 0,
    PRODUCTS_PORTABLE = 1,
    PRODUCTS_AVX2 = 2,
    PRODUCTS_AVX512 = 3
};

/* ------------------------------------------------------------------- portable C */
/* One lane; fma() from C's library: the chain of every other version, element by element. */
#define FR_TARGET
#define MAX_VECTORS 4
#define ROWS_NARROW 4
#define ROWS_WIDE 4
#define ROWS_WIDE_FEW 4

#define REAL float
#define VEC float
#define FR(name) name##_portable_f32
#define V_FMA(a, b, c) fmaf((a), (b), (c))
#define LANES 1
#define MASK int
#define MASK_FIRST(n) (n)
#define V_LOAD(p) (*(p))
#define V_LOAD_MASK(p, m) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_STORE_MASK(p, v, m) (*(p) = (v))
#define V_ZERO() ((REAL) 0)
#define V_SET1(x) (x)
#define V_MUL(a, b) ((a) * (b))
#define INDEX int
#define INDEX_FOR(stride) (stride)
#define V_GATHER(p, index, m) (*(p))
#include "_products_body.h"
#include "_products_undef.h"

#define REAL double
#define VEC double
#define FR(name) name##_portable_f64
#define V_FMA(a, b, c) fma((a), (b), (c))
#define LANES 1
#define MASK int
#define MASK_FIRST(n) (n)
#define V_LOAD(p) (*(p))
#define V_LOAD_MASK(p, m) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_STORE_MASK(p, v, m) (*(p) = (v))
#define V_ZERO() ((REAL) 0)
#define V_SET1(x) (x)
#define V_MUL(a, b) ((a) * (b))
#define INDEX int
#define INDEX_FOR(stride) (stride)
#define V_GATHER(p, index, m) (*(p))
#include "_products_body.h"
#include "_products_undef.h"

#undef FR_TARGET
#undef MAX_VECTORS
#undef ROWS_NARROW
#undef ROWS_WIDE
#undef ROWS_WIDE_FEW

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FASTREG_PRODUCTS_X86 1
#include <immintrin.h>

/* ------------------------------------------------------------------- AVX2 + FMA */
/* 16 vector registers: tiles of 6 rows x 2 vectors, or 8 x 1. */
#define FR_TARGET __attribute__((target("avx2,fma")))
#define MAX_VECTORS 2
#define ROWS_NARROW 6
#define ROWS_WIDE 6

#define REAL float
#define LANES 8
#define VEC __m256
#define MASK __m256i
#define FR(name) name##_avx2_f32
#define INDEX __m256i
#define INDEX_FOR(stride) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), \
                                             _mm256_set1_epi32(stride))
#define V_GATHER(p, index, m) _mm256_mask_i32gather_ps(_mm256_setzero_ps(), (p), (index), \
                                                       _mm256_castsi256_ps(m), 4)
#define MASK_FIRST(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), \
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_LOAD_MASK(p, m) _mm256_maskload_ps((p), (m))
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_STORE_MASK(p, v, m) _mm256_maskstore_ps((p), (m), (v))
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#include "_products_body.h"
#include "_products_undef.h"

#define REAL double
#define LANES 4
#define VEC __m256d
#define MASK __m256i
#define FR(name) name##_avx2_f64
#define INDEX __m128i
#define INDEX_FOR(stride) _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(stride))
#define V_GATHER(p, index, m) _mm256_mask_i32gather_pd(_mm256_setzero_pd(), (p), (index), \
                                                       _mm256_castsi256_pd(m), 8)
#define MASK_FIRST(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define V_ZERO() _mm256_setzero_pd()
#define V_SET1(x) _mm256_set1_pd(x)
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_LOAD_MASK(p, m) _mm256_maskload_pd((p), (m))
#define V_STORE(p, v) _mm256_storeu_pd((p), (v))
#define V_STORE_MASK(p, v, m) _mm256_maskstore_pd((p), (m), (v))
#define V_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_pd((a), (b))
#include "_products_body.h"
#include "_products_undef.h"

#undef FR_TARGET
#undef MAX_VECTORS
#undef ROWS_NARROW
#undef ROWS_WIDE

/* ------------------------------------------------------------------- AVX-512 (F) */
/* 32 vector registers: tiles of 8 rows x 1-2 vectors, or 6 (or 4) rows x 3-4 vectors. */
#define FR_TARGET __attribute__((target("avx512f,avx2,fma")))
#define MAX_VECTORS 4
#define ROWS_NARROW 8
#define ROWS_WIDE 6
#define ROWS_WIDE_FEW 4

#define REAL float
#define LANES 16
#define VEC __m512
#define MASK __mmask16
#define FR(name) name##_avx512_f32
#define INDEX __m512i
#define INDEX_FOR(stride) _mm512_mullo_epi32( \
    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), \
    _mm512_set1_epi32(stride))
#define V_GATHER(p, index, m) _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (m), (index), (p), 4)
#define MASK_FIRST(n) ((__mmask16) (((unsigned) 1 << (n)) - 1))
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_LOAD_MASK(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_STORE_MASK(p, v, m) _mm512_mask_storeu_ps((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#include "_products_body.h"
#include "_products_undef.h"

#define REAL double
#define LANES 8
#define VEC __m512d
#define MASK __mmask8
#define FR(name) name##_avx512_f64
#define INDEX __m256i
#define INDEX_FOR(stride) _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), \
                                             _mm256_set1_epi32(stride))
#define V_GATHER(p, index, m) _mm512_mask_i32gather_pd(_mm512_setzero_pd(), (m), (index), (p), 8)
#define MASK_FIRST(n) ((__mmask8) (((unsigned) 1 << (n)) - 1))
#define V_ZERO() _mm512_setzero_pd()
#define V_SET1(x) _mm512_set1_pd(x)
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_LOAD_MASK(p, m) _mm512_maskz_loadu_pd((m), (p))
#define V_STORE(p, v) _mm512_storeu_pd((p), (v))
#define V_STORE_MASK(p, v, m) _mm512_mask_storeu_pd((p), (m), (v))
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#include "_products_body.h"
#include "_products_undef.h"

#undef FR_TARGET
#undef MAX_VECTORS
#undef ROWS_NARROW
#undef ROWS_WIDE
#undef ROWS_WIDE_FEW
#else
#define FASTREG_PRODUCTS_X86 0
#endif

/* The best version this processor runs (PRODUCTS_BLAS where there is no AVX2 + FMA). */
static int products_best_version(void)
{
#if FASTREG_PRODUCTS_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return PRODUCTS_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return PRODUCTS_AVX2;
#endif
    return PRODUCTS_BLAS;
}

/* The version in use; _blas sets it once, when it loads. */
static int products_version = PRODUCTS_BLAS;

static void use_products_version(int version)
{
    products_version = version;
}

/* The product by the kernels of `version` (not PRODUCTS_BLAS; AVX versions only on a
 * processor that has them): 0, or 1 for a shape they do not take (see product). */
static int product_f32_by(int version, int transpose_a, int transpose_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b, int ldb,
                          float beta, float *c, int ldc)
{
#if FASTREG_PRODUCTS_X86
    if (version == PRODUCTS_AVX512)
        return product_avx512_f32(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb,
                                  beta, c, ldc);
    if (version == PRODUCTS_AVX2)
        return product_avx2_f32(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                c, ldc);
#endif
    return product_portable_f32(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                c, ldc);
}

static int product_f64_by(int version, int transpose_a, int transpose_b, int m, int n, int k,
                          double alpha, const double *a, int lda, const double *b, int ldb,
                          double beta, double *c, int ldc)
{
#if FASTREG_PRODUCTS_X86
    if (version == PRODUCTS_AVX512)
        return product_avx512_f64(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb,
                                  beta, c, ldc);
    if (version == PRODUCTS_AVX2)
        return product_avx2_f64(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                c, ldc);
#endif
    return product_portable_f64(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                c, ldc);
}

#endif
