"""The team's review of itself (``fastreg._team_policy``), fed made-up window timings.

The policy is a pure function of the training clock, the samples of a window, whether a
team was at hand and the longest wait of one of its threads: no wall clock, no threads.
Each expected sequence below is worked out by hand from the rules in the module's
docstring (window 0.02 s, wait limit 0.5 of a window, one thread wins unless the team is
more than 1/0.9 = 1.11x faster, turns of 0.1 s doubling, trials 0.5 s apart doubling while
the team wins, small steps beginning on one thread). The timings are chosen away from the
thresholds, so rounding cannot decide a case.
"""
from fastreg._team_policy import replay, solo_first_work

TEAM, NO_TEAM = True, False


def test_the_team_keeps_the_steps_while_it_is_faster():
    decisions = replay([
        (0.03, 100, TEAM, 0.0),   # the team's first window: a trial of one thread follows
        (0.03, 50, TEAM, 0.0),    # the trial: 6e-4 s per sample on one thread
        (0.03, 100, TEAM, 0.0),   # the team: 3e-4 s, faster; the next trial 1.0 s later
        (0.50, 1000, TEAM, 0.0),  # 0.53 s since the trial: not yet
        (0.60, 1000, TEAM, 0.0),  # 1.13 s since the trial: the next one
    ])
    assert decisions == [True, False, False, False, True]


def test_one_thread_takes_the_steps_while_it_is_faster_with_turns_doubling():
    decisions = replay([
        (0.03, 100, TEAM, 0.0),  # a trial next
        (0.03, 150, TEAM, 0.0),  # one thread: 2e-4 s per sample
        (0.03, 75, TEAM, 0.0),   # the team: 4e-4 s, slower: one thread for 0.1 s
        (0.05, 250, TEAM, 0.0),  # 0.05 s into the turn
        (0.10, 500, TEAM, 0.0),  # 0.15 s: the turn is over, the team compares again
        (0.03, 75, TEAM, 0.0),   # still slower: one thread for 0.2 s now
        (0.10, 500, TEAM, 0.0),  # 0.10 s into it
        (0.15, 750, TEAM, 0.0),  # 0.25 s: over
    ])
    assert decisions == [True, False, True, True, False, True, True, False]


def test_a_thread_that_waits_too_long_hands_the_steps_to_one_thread():
    decisions = replay([
        (0.03, 100, TEAM, 0.016),  # waited 53% of the window: one thread for 0.1 s
        (0.05, 250, TEAM, 0.0),
        (0.10, 500, TEAM, 0.0),
    ])
    assert decisions == [True, True, False]
    # 47%: a trial of one thread (the first window), which the next window ends.
    assert replay([(0.03, 100, TEAM, 0.014), (0.03, 100, TEAM, 0.0)]) == [True, False]


def test_no_decision_before_a_window_is_full():
    assert replay([(0.01, 100, TEAM, 0.0), (0.015, 0, TEAM, 0.0)]) == [False, True]
    assert replay([(0.05, 0, TEAM, 0.0)]) == [False]


def test_an_epoch_without_a_team_restarts_the_window():
    decisions = replay([
        (0.05, 100, NO_TEAM, 0.0),  # no team at hand: nothing is judged
        (0.01, 100, TEAM, 0.0),     # the window began at the team's return
        (0.02, 100, TEAM, 0.0),
    ])
    assert decisions == [False, False, True]


def test_settings_of_the_review():
    # Windows of no time, trials whenever the last is done, an advantage one thread never
    # has: team and one thread alternate (as the engine tests force them to).
    windows = [(0.001, 10, TEAM, 0.0)] * 6
    assert replay(windows, window=0.0, trial_interval=0.0,
                  solo_advantage=float("inf")) == [True, False] * 3
    # Any wait at all is too long.
    assert replay([(0.03, 100, TEAM, 1e-9), (0.03, 100, TEAM, 0.0)], wait_limit=0.0) == [True, True]


def test_a_team_barely_faster_than_one_thread_gives_it_the_steps():
    def after_trial(team_seconds):
        # First window, trial (one thread: 100 samples in 0.03 s), then the team.
        return replay([(0.03, 100, TEAM, 0.0), (0.03, 100, TEAM, 0.0),
                       (team_seconds, 100, TEAM, 0.0)])[-1]

    assert after_trial(0.030) is True   # a tie: two cores for the speed of one
    assert after_trial(0.028) is True   # 1.07x faster: not enough
    assert after_trial(0.026) is False  # 1.15x faster: the team keeps the steps
    assert after_trial(0.040) is True   # slower


def test_small_steps_begin_with_a_turn_of_one_thread():
    small, large = solo_first_work() - 1, solo_first_work()
    windows = [(0.03, 100, TEAM, 0.0)] * 4  # 3e-4 s per sample, on the team or not
    # Small steps: one thread's turn of 0.1 s, then the team is timed against it.
    assert replay(windows, work_per_step=small) == [True, True, True, False]
    # Large steps: the team's first window, a trial of one thread, the team again (no
    # faster: one thread takes a turn).
    assert replay(windows, work_per_step=large) == [True, False, True, True]
    assert replay(windows) == [True, False, True, True]
