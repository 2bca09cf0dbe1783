"""The team's review of itself (``fastreg._team_policy``), fed made-up window timings.

The policy is a pure function of the training clock, the samples of a window, whether a
team was at hand and the longest wait of one of its threads: no wall clock, no threads.
Each expected sequence below is worked out by hand from the rules in the module's
docstring (window 0.02 s, wait limit 0.5 of a window, one thread wins by a factor 1.1,
turns of 0.1 s doubling, trials 0.5 s apart doubling while the team wins). The timings
are chosen away from the thresholds, so rounding cannot decide a case.
"""
from fastreg._team_policy import replay

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
