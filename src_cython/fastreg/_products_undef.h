/* Forgets the macros of one version of the kernels (see _products.h), so that the next
 * version, or dtype, can define them anew. Deliberately without an include guard. */
#undef REAL
#undef LANES
#undef VEC
#undef MASK
#undef FR
#undef MASK_FIRST
#undef V_ZERO
#undef V_SET1
#undef V_LOAD
#undef V_LOAD_MASK
#undef V_STORE
#undef V_STORE_MASK
#undef V_FMA
#undef V_MUL
#undef INDEX
#undef INDEX_FOR
#undef V_GATHER
