/* What Cython's parallel blocks do not offer: a barrier for the threads of the enclosing
 * OpenMP parallel region, the size of that team, a shared task counter that hands out
 * the next task to whichever thread asks, and OpenMP's thread limit for the caller.
 * Without OpenMP a team is one thread and a barrier does nothing. */
#ifndef FASTREG_TEAM_H
#define FASTREG_TEAM_H

#ifdef _OPENMP
#include <omp.h>

static inline void team_barrier(void)
{
#pragma omp barrier
}

static inline int team_size(void)
{
    return omp_get_num_threads();
}

static inline int openmp_thread_limit(void)
{
    return omp_get_max_threads();
}
#else
static inline void team_barrier(void) {}

static inline int team_size(void)
{
    return 1;
}

static inline int openmp_thread_limit(void)
{
    return 1;
}
#endif

static inline int team_next(int *counter)
{
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

#endif
