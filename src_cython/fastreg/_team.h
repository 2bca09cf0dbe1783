/* What Cython's parallel blocks do not offer: a barrier for the threads of the enclosing
 * OpenMP parallel region that tells how long the thread waited, a plain one where threads
 * wait (spinning, then asleep) while one thread works alone, the size of that team, a
 * shared task counter that hands out the next task to whichever thread asks, a clock,
 * and OpenMP's thread limit for the caller. Without OpenMP a team is one thread: a
 * barrier does nothing and the counter is a plain one. */
#ifndef FASTREG_TEAM_H
#define FASTREG_TEAM_H

#include <time.h>

/* Seconds on a monotonic clock (the engine also times its checks for Ctrl-C with it). */
static inline double team_clock(void)
{
    struct timespec now;
#ifdef _WIN32
    timespec_get(&now, TIME_UTC);
#else
    clock_gettime(CLOCK_MONOTONIC, &now);
#endif
    return (double) now.tv_sec + 1e-9 * (double) now.tv_nsec;
}

#ifdef _OPENMP
#include <omp.h>

/* *x, read while its owner thread may be adding to it. */
static inline double team_read(const double *x)
{
    double value;
    __atomic_load(x, &value, __ATOMIC_RELAXED);
    return value;
}

/* The threads of a team of `team` meet here; the seconds this one waited go to *waited. */
static inline void team_barrier(int team, double *waited)
{
    double start, wait;
    if (team <= 1)
        return;
    start = team_clock();
#pragma omp barrier
    /* Only this thread writes *waited; another may read it meanwhile. */
    wait = team_read(waited) + (team_clock() - start);
    __atomic_store(waited, &wait, __ATOMIC_RELAXED);
}

/* The threads of a team of `team` meet here, untimed. */
static inline void team_park(int team)
{
    if (team > 1) {
#pragma omp barrier
    }
}

static inline int team_size(void)
{
    return omp_get_num_threads();
}

static inline int team_next(int *counter)
{
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static inline int openmp_thread_limit(void)
{
    return omp_get_max_threads();
}
#else
static inline double team_read(const double *x)
{
    return *x;
}

static inline void team_barrier(int team, double *waited)
{
    (void) team;
    (void) waited;
}

static inline void team_park(int team)
{
    (void) team;
}

static inline int team_size(void)
{
    return 1;
}

static inline int team_next(int *counter)
{
    return (*counter)++;
}

static inline int openmp_thread_limit(void)
{
    return 1;
}
#endif

#endif
