"""The team's review of itself: a pure function of window timings.

The engine keeps a training clock (seconds spent in epochs). Small steps (fewer than
``solo_first_work`` multiply-adds in a step's forward pass) begin with a turn of one
thread, as the team's barriers would cost about what sharing them saves; larger ones begin
on the team. Every ``window`` seconds of the clock, thread 0 calls ``review_window`` with
the clock, whether a team was at hand, and the longest time one of its threads waited at
barriers during the window. The steps go to one thread (the others parked, asleep) when a
thread waited more than ``wait_limit`` of the window (the cores are shared with other
work), or when the team, compared with one thread timed in a trial window, took more than
``solo_advantage`` times as long per sample: at the default 0.9 the team keeps the steps
only when it is more than 1.1x faster, since two cores for the speed of one is a poor
trade. Trials come after the team's first window (or when the first turn of one thread
ends), then every ``trial_interval`` seconds, doubling up to 8 s while the team wins; a
turn of one thread lasts ``solo_backoff`` seconds, doubling up to 3.2 s while it wins.
Nothing here changes a result, only its time.
"""
from libc.math cimport INFINITY

cdef double MIN_SOLO_SECONDS = 0.1
cdef double MAX_SOLO_SECONDS = 3.2
cdef double MIN_TRIAL_SECONDS = 0.5
cdef double MAX_TRIAL_SECONDS = 8.0
# Below it, a step's products and passes last a few microseconds on each thread of a team
# of two, the time of its barriers: A's 100-wide layers at batch 32 (0.5 M) ran 1.5x
# slower on the team than on one thread, the layers of 256 at batch 128 (10 M) as fast.
cdef int64_t SOLO_FIRST_WORK = 1 << 21


cdef void start_review(TeamReview* review) noexcept nogil:
    """A new engine's review: the team first, a trial after its first window."""
    review.window = 0.02
    review.wait_limit = 0.5
    review.solo_advantage = 0.9
    review.solo_first_work = SOLO_FIRST_WORK
    review.solo = False
    review.solo_until = 0.0
    review.solo_backoff = MIN_SOLO_SECONDS
    review.solo_cost = 0.0
    review.solo_cost_time = -INFINITY
    review.trial_interval = MIN_TRIAL_SECONDS
    review.compare_pending = False
    review.window_start = 0.0
    review.window_samples = 0
    review.compared = False
    review.team_cost = 0.0


cdef void begin_review(TeamReview* review, int64_t work_per_step) noexcept nogil:
    """Before the first epoch of steps of `work_per_step` forward multiply-adds, with no
    verdict to start from: small steps begin with a turn of one thread; the team is timed
    against it when the turn ends."""
    if work_per_step < review.solo_first_work:
        review.solo = True
        review.solo_until = review.solo_backoff


cdef inline bint _one_thread_wins(const TeamReview* review, double team_cost,
                                  double solo_cost) noexcept nogil:
    return team_cost > review.solo_advantage * solo_cost


cdef void adopt_verdict(TeamReview* review, TeamVerdict verdict) noexcept nogil:
    """Start from another engine's comparison of one thread with the team (steps of the
    same size, made recently: the caller checks)."""
    review.solo_cost = verdict.solo_cost
    review.solo_cost_time = 0.0
    if _one_thread_wins(review, verdict.team_cost, verdict.solo_cost):
        review.solo = True
        review.solo_until = review.solo_backoff
    else:
        review.compare_pending = True


cdef bint review_window(TeamReview* review, double clock, bint team_present,
                        double max_waited) noexcept nogil:
    """Review at training clock `clock`, ``window_samples`` samples into the window.

    `team_present` is false in an epoch run on one thread without a team; `max_waited` is
    the longest a thread waited during the window. Returns True when a new window starts
    (the caller then resets its wait counters).
    """
    cdef double span, cost
    review.compared = False
    if not team_present and not review.solo:
        # One thread's turn ended in an epoch without a team: the window starts anew.
        review.window_start = clock
        review.window_samples = 0
        return True
    span = clock - review.window_start
    if span < review.window or review.window_samples == 0:
        return False
    cost = span / review.window_samples
    if review.solo:
        review.solo_cost = cost
        review.solo_cost_time = clock
        if clock >= review.solo_until:
            review.solo = False
            review.compare_pending = True
    else:
        if review.compare_pending:
            review.compared = True
            review.team_cost = cost
        if max_waited > review.wait_limit * span or (
                review.compare_pending and _one_thread_wins(review, cost, review.solo_cost)):
            review.solo = True
            review.solo_until = clock + review.solo_backoff
            review.solo_backoff = min(2 * review.solo_backoff, MAX_SOLO_SECONDS)
            review.trial_interval = MIN_TRIAL_SECONDS
        elif clock - review.solo_cost_time >= review.trial_interval:
            review.solo = True  # a trial: one window on one thread
            review.solo_until = clock
        else:
            if review.compare_pending:
                review.trial_interval = min(2 * review.trial_interval, MAX_TRIAL_SECONDS)
            review.solo_backoff = MIN_SOLO_SECONDS
        review.compare_pending = False
    review.window_start = clock
    review.window_samples = 0
    return True


def replay(windows, *, window=0.02, wait_limit=0.5, solo_advantage=0.9, trial_interval=0.5,
           work_per_step=None):
    """Run the policy over made-up windows; return whether each step after them is solo.

    ``windows`` is a sequence of ``(seconds, samples, team_present, max_waited)``: the
    training time and samples of a stretch, then a review. With ``work_per_step``, the
    review begins as for steps of that many forward multiply-adds (``begin_review``).
    Returns the list of ``solo`` after each review (for tests).
    """
    cdef TeamReview review
    cdef double clock = 0.0
    start_review(&review)
    review.window, review.wait_limit, review.solo_advantage = window, wait_limit, solo_advantage
    review.trial_interval = trial_interval
    if work_per_step is not None:
        begin_review(&review, work_per_step)
    decisions = []
    for seconds, samples, team_present, max_waited in windows:
        clock += seconds
        review.window_samples += samples
        review_window(&review, clock, team_present, max_waited)
        decisions.append(bool(review.solo))
    return decisions


def solo_first_work():
    """Forward multiply-adds of a step below which training begins on one thread."""
    return SOLO_FIRST_WORK
