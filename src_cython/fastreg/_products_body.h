/* The body of the small-product kernels, written once and included by _products.h for each
 * instruction set and dtype. Before including it, define:
 *
 *   REAL, LANES       the element type and the number of elements in one vector
 *   FR(name)          the name of a function of this version (name##_avx512_f32 ...)
 *   FR_TARGET         the function attribute that enables the instruction set
 *   ROWS_NARROW       rows of a tile of one or two vectors (ROWS_WIDE, or ROWS_WIDE_FEW
 *                     for a short m, with more)
 *   MAX_VECTORS       vectors across a tile, at most 4
 *   VEC, MASK         the vector and lane-mask types, and the operations
 *   V_ZERO() V_SET1(x) V_LOAD(p) V_LOAD_MASK(p, m) V_FMA(a, b, c) V_MUL(a, b)
 *   V_STORE(p, v) V_STORE_MASK(p, v, m) MASK_FIRST(n)
 *   INDEX, INDEX_FOR(stride), V_GATHER(p, index, m)   p[0], p[stride], ... (masked lanes 0)
 *
 * Every element of C is the same chain in every version: acc = fma(a_p, b_p, acc) for
 * p = 0 .. k-1 from acc = 0, then c = alpha * acc (+ beta * c_old, as fma(beta, c_old, .)).
 * Lanes are independent, so the width of a vector does not change the bits. */

#define FR_ALWAYS_INLINE static inline __attribute__((always_inline))

/* C[rows x (vectors x LANES, the last `last` lanes wide)] at c of the product of the rows of
 * A at a (row r at a + r * a_row, element p at + p * a_step) and the rows of B at b (row p
 * at b + p * ldb). `rows` <= R: the missing rows repeat the last one and are not stored.
 * A product deeper than a panel runs in stages over ranges of p: `resume` starts the sums
 * from those that C holds, `partial` leaves them in C as they are (no alpha, no beta), so
 * that every element is still one chain of multiply-adds. */
FR_ALWAYS_INLINE FR_TARGET void FR(tile)(const int R, const int S, int rows, int k,
                                        const REAL *a, ptrdiff_t a_row, ptrdiff_t a_step,
                                        const REAL *b, ptrdiff_t ldb, REAL alpha, REAL beta,
                                        REAL *c, ptrdiff_t ldc, int last, int resume,
                                        int partial)
{
    VEC acc[8][MAX_VECTORS];
    VEC bv[MAX_VECTORS];
    ptrdiff_t offset[8];
    const MASK last_mask = MASK_FIRST(last);
    const VEC alpha_v = V_SET1(alpha), beta_v = V_SET1(beta);
    int r, s, p;
    (void) last_mask;  /* unused with one lane */
#pragma GCC unroll 8
    for (r = 0; r < R; r++) {
        offset[r] = (ptrdiff_t) (r < rows ? r : rows - 1) * a_row;
        const REAL *sums = c + (ptrdiff_t) (r < rows ? r : rows - 1) * ldc;
#pragma GCC unroll 4
        for (s = 0; s < S; s++)
            acc[r][s] = !resume ? V_ZERO()
                        : s < S - 1 || last == LANES ? V_LOAD(sums + s * LANES)
                                                     : V_LOAD_MASK(sums + s * LANES, last_mask);
    }
    for (p = 0; p < k; p++) {
#pragma GCC unroll 4
        for (s = 0; s < S - 1; s++)
            bv[s] = V_LOAD(b + s * LANES);
        bv[S - 1] = last == LANES ? V_LOAD(b + (S - 1) * LANES)
                                  : V_LOAD_MASK(b + (S - 1) * LANES, last_mask);
#pragma GCC unroll 8
        for (r = 0; r < R; r++) {
            const VEC av = V_SET1(a[offset[r]]);
#pragma GCC unroll 4
            for (s = 0; s < S; s++)
                acc[r][s] = V_FMA(av, bv[s], acc[r][s]);
        }
        a += a_step;
        b += ldb;
    }
#pragma GCC unroll 8
    for (r = 0; r < R; r++) {
        if (r >= rows)
            break;
        REAL *row = c + (ptrdiff_t) r * ldc;
#pragma GCC unroll 4
        for (s = 0; s < S; s++) {
            VEC out = alpha == 1 || partial ? acc[r][s] : V_MUL(alpha_v, acc[r][s]);
            if (s < S - 1 || last == LANES) {
                if (beta != 0 && !partial)
                    out = V_FMA(beta_v, V_LOAD(row + s * LANES), out);
                V_STORE(row + s * LANES, out);
            } else {
                if (beta != 0 && !partial)
                    out = V_FMA(beta_v, V_LOAD_MASK(row + s * LANES, last_mask), out);
                V_STORE_MASK(row + s * LANES, out, last_mask);
            }
        }
    }
}

/* One block of columns, `width` <= MAX_VECTORS x LANES wide, of C: its tiles, top to
 * bottom, with R rows and as many vectors as the width needs. */
FR_ALWAYS_INLINE FR_TARGET void FR(column_block)(int m, int k, int width,
                                                const REAL *a, ptrdiff_t a_row,
                                                ptrdiff_t a_step, const REAL *b,
                                                ptrdiff_t ldb, REAL alpha, REAL beta, REAL *c,
                                                ptrdiff_t ldc, int resume, int partial)
{
    const int vectors = (width + LANES - 1) / LANES;
    const int last = width - (vectors - 1) * LANES;
    int row;
#define FR_TILES(R, S)                                                                      \
    for (row = 0; row < m; row += (R))                                                     \
        FR(tile)((R), (S), m - row < (R) ? m - row : (R), k, a + row * a_row, a_row,        \
                 a_step, b, ldb, alpha, beta, c + row * ldc, ldc, last, resume, partial)
#if MAX_VECTORS > 2
    /* Wide tiles have ROWS_WIDE rows, or ROWS_WIDE_FEW when m leaves ROWS_WIDE's last tile
     * so short that 5% of the rows computed would be thrown away (m = 32: 36 for 32). */
    const int waste = (m + ROWS_WIDE - 1) / ROWS_WIDE * ROWS_WIDE
                      - (m + ROWS_WIDE_FEW - 1) / ROWS_WIDE_FEW * ROWS_WIDE_FEW;
    const int few = 20 * waste > m;
#endif
    switch (vectors) {
    case 1: FR_TILES(ROWS_NARROW, 1); break;
    case 2: FR_TILES(ROWS_NARROW, 2); break;
#if MAX_VECTORS > 2
    case 3:
        if (few)
            FR_TILES(ROWS_WIDE_FEW, 3);
        else
            FR_TILES(ROWS_WIDE, 3);
        break;
    case 4:
        if (few)
            FR_TILES(ROWS_WIDE_FEW, 4);
        else
            FR_TILES(ROWS_WIDE, 4);
        break;
#endif
    }
#undef FR_TILES
}

/* C := alpha op(A) @ op(B) + beta C, row-major, op(A) m x k, op(B) k x n. With transpose_b,
 * each block of columns of B^T (rows of B) is first copied into `panel`, up to
 * PRODUCT_PANEL_DEPTH rows of it at a time: a deeper product runs in stages (beta must then
 * be 0). So is a B whose row stride is a multiple of 512 bytes, in stages of COPY_DEPTH. Returns 0, or 1 without touching C for a shape it does not take (a negative k, or
 * a staged product with beta != 0): the caller then uses BLAS. */
static FR_TARGET int FR(product)(int transpose_a, int transpose_b, int m, int n, int k,
                                 REAL alpha, const REAL *a, int lda, const REAL *b, int ldb,
                                 REAL beta, REAL *c, int ldc)
{
    enum { BLOCK = MAX_VECTORS * LANES };
    REAL panel[PRODUCT_PANEL_DEPTH * 2 * LANES];
    const ptrdiff_t a_row = transpose_a ? 1 : lda, a_step = transpose_a ? lda : 1;
    const int block = transpose_b ? 2 * LANES : BLOCK;
    /* A gather's indices are 32-bit: j * ldb for j < 2 x LANES. */
    const int gather = transpose_b && ldb < (1 << 30) / LANES;
    const INDEX index = INDEX_FOR(gather ? ldb : 0);
    (void) index;
    const MASK full = MASK_FIRST(LANES);
    MASK first = full, second = full;
    /* B's rows one power-of-two stride apart fall in a few sets of the cache and evict each
     * other: such a B is copied too, a block of columns COPY_DEPTH rows at a time. */
    enum { COPY_DEPTH = PRODUCT_PANEL_DEPTH * 2 / MAX_VECTORS };
    const int copy = !transpose_b && ((size_t) ldb * sizeof(REAL)) % 512 == 0
                     && (k <= COPY_DEPTH || beta == 0);
    int column, width, p, j, start, depth;
    if (k < 0 || (transpose_b && k > PRODUCT_PANEL_DEPTH && beta != 0))
        return 1;
    if (m <= 0 || n <= 0)
        return 0;
    for (column = 0; column < n; column += block) {
        width = n - column < block ? n - column : block;
        if (!transpose_b && !copy) {
            FR(column_block)(m, k, width, a, a_row, a_step, b + column, ldb, alpha, beta,
                             c + column, ldc, 0, 0);
            continue;
        }
        if (!transpose_b) {
            start = 0;
            do {  /* once, or in stages of COPY_DEPTH */
                depth = k - start < COPY_DEPTH ? k - start : COPY_DEPTH;
                for (p = 0; p < depth; p++)
                    memcpy(panel + p * BLOCK, b + (ptrdiff_t) (start + p) * ldb + column,
                           width * sizeof(REAL));
                FR(column_block)(m, depth, width, a + start * a_step, a_row, a_step, panel,
                                 BLOCK, alpha, beta, c + column, ldc, start > 0,
                                 start + depth < k);
                start += depth;
            } while (start < k);
            continue;
        }
        if (width < 2 * LANES) {  /* the last, narrower block */
            first = MASK_FIRST(width < LANES ? width : LANES);
            second = MASK_FIRST(width > LANES ? width - LANES : 0);
        }
        start = 0;
        do {  /* once, or in stages of PRODUCT_PANEL_DEPTH */
            depth = k - start < PRODUCT_PANEL_DEPTH ? k - start : PRODUCT_PANEL_DEPTH;
            if (gather) {
                /* Row p of the panel is column start + p of B's rows column .. + width - 1. */
                for (p = 0; p < depth; p++) {
                    const REAL *source = b + (ptrdiff_t) column * ldb + start + p;
                    REAL *target = panel + p * 2 * LANES;
                    V_STORE(target, V_GATHER(source, index, width >= LANES ? full : first));
                    if (width > LANES)
                        V_STORE(target + LANES, V_GATHER(source + (ptrdiff_t) LANES * ldb,
                                                         index, second));
                }
            } else {
                for (j = 0; j < width; j++) {
                    const REAL *source = b + (ptrdiff_t) (column + j) * ldb + start;
                    for (p = 0; p < depth; p++)
                        panel[p * 2 * LANES + j] = source[p];
                }
            }
            FR(column_block)(m, depth, width, a + start * a_step, a_row, a_step, panel,
                             2 * LANES, alpha, beta, c + column, ldc, start > 0,
                             start + depth < k);
            start += depth;
        } while (start < k);
    }
    return 0;
}

#undef FR_ALWAYS_INLINE
