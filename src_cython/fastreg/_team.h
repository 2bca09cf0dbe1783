/* What Cython's parallel blocks do not offer: a barrier for the threads of the enclosing
 * OpenMP parallel region that tells how long the thread waited, a parking place where
 * threads sleep while one thread works alone, the size of that team, a
 * shared task counter that hands out the next task to whichever thread asks, a clock,
 * and OpenMP's thread limit for the caller. Without OpenMP a team is one thread: a
 * barrier does nothing and the counter is a plain one. */
#ifndef FASTREG_TEAM_H
#define FASTREG_TEAM_H

#include <time.h>
#if defined(__linux__)
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(_WIN32)
#include <windows.h>
#endif

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

/* Sleep while *gate is 0, or until woken: a futex on Linux; elsewhere a look every 50 us
 * (every millisecond on Windows). */
static inline void team_sleep_while_closed(int *gate)
{
#if defined(__linux__)
    syscall(SYS_futex, gate, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
#elif defined(_WIN32)
    (void) gate;
    Sleep(1);
#else
    const struct timespec pause = {0, 50000};
    (void) gate;
    nanosleep(&pause, NULL);
#endif
}

/* Wake every thread asleep in team_sleep_while_closed(gate). */
static inline void team_wake_sleepers(int *gate)
{
#if defined(__linux__)
    syscall(SYS_futex, gate, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void) gate;
#endif
}

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

/* Parked threads sleep here until thread 0 calls team_unpark, then the team meets. At a
 * barrier they would spin (libgomp spins for milliseconds before it sleeps), and on the
 * 2-core machine the thread at work then ran its steps 1.5x slower. */
static inline void team_park(int team, int *gate)
{
    if (team <= 1)
        return;
    while (!__atomic_load_n(gate, __ATOMIC_ACQUIRE))
        team_sleep_while_closed(gate);
#pragma omp barrier
}

/* Thread 0 wakes the parked threads and meets them; *gate is closed again for the next
 * time (the others pass a barrier of the team's before they can park again). */
static inline void team_unpark(int team, int *gate)
{
    if (team <= 1)
        return;
    __atomic_store_n(gate, 1, __ATOMIC_RELEASE);
    team_wake_sleepers(gate);
#pragma omp barrier
    __atomic_store_n(gate, 0, __ATOMIC_RELAXED);
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

static inline void team_park(int team, int *gate)
{
    (void) team;
    (void) gate;
}

static inline void team_unpark(int team, int *gate)
{
    (void) team;
    (void) gate;
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
