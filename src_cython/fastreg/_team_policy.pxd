# When a team of threads shares the steps, and when one thread takes them: a pure policy of
# window timings (no clock, no threads), so that it can be tested with made-up timings.
from libc.stdint cimport int64_t

cdef struct TeamReview:
    # settings (seconds of training, or ratios)
    double window           # the team is reviewed once per window of training
    double wait_limit       # a thread waiting longer than this share of a window: hand over
    double solo_advantage   # one thread wins when the team takes over this factor of its time
    int64_t solo_first_work # steps of fewer forward multiply-adds begin on one thread
    # state
    bint solo               # the steps run on one thread, the others parked
    double solo_until       # clock before which they stay there
    double solo_backoff     # the next turn of one thread, doubling while it wins
    double solo_cost        # seconds per sample on one thread, last timed
    double solo_cost_time   # clock when it was timed
    double trial_interval   # between trials of one thread, doubling while the team wins
    bint compare_pending    # the next team window is compared with solo_cost
    double window_start
    int64_t window_samples
    # what the last window taught: the team's cost, when it was compared with one thread's
    bint compared
    double team_cost

cdef struct TeamVerdict:
    int64_t work_per_step   # multiply-adds of a step's forward pass; 0: no verdict
    double solo_cost        # seconds per sample on one thread
    double team_cost        # seconds per sample on the team
    double time             # wall clock of the review

cdef void start_review(TeamReview* review) noexcept nogil
cdef void begin_review(TeamReview* review, int64_t work_per_step) noexcept nogil
cdef bint review_window(TeamReview* review, double clock, bint team_present,
                        double max_waited) noexcept nogil
cdef void adopt_verdict(TeamReview* review, TeamVerdict verdict) noexcept nogil
