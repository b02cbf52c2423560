"""DET curves pooled over folds, and the threshold rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wakeword.settings import TriggerSettings
from wakeword.train import thresholds as th
from wakeword.train.scoring import Event, EventIndex, WindowScores

RATE = 16000
HOP = 1600
TRIG = TriggerSettings(hop_s=0.1)


def trial_set(n_trials, heights, fold=0, trial_s=5.0, onset_s=1.5, clip_s=1.0):
    """Keyword trials whose window scores peak 0.6 s after each onset at the given heights."""
    events = [Event(int((i * trial_s + onset_s) * RATE), int((i * trial_s + onset_s + clip_s) * RATE),
                    "stop", "keyword", "x", f"c{i}", f"s{i}", int((i * trial_s + onset_s + 0.5) * RATE)) for i in range(n_trials)]
    n = int(n_trials * trial_s * 10)
    ends = (np.arange(n, dtype=np.int64) + 1) * HOP
    scores = np.full(n, 0.005, np.float32)
    for e, h in zip(events, heights):
        k = int((e.start / RATE + 0.6) * 10)
        scores[k - 2 : k + 3] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * h
    ws = WindowScores(ends, scores[:, None], RATE, ("stop",))
    return th.ScoredSet("trials:clean", ws, EventIndex(events, RATE), 1.0, 0.0, fold)


def stream_set(hours, bumps, seed, fold=0):
    rng = np.random.default_rng(seed)
    n = int(hours * 36000)
    scores = np.full(n, 0.005, np.float32)
    for k in rng.choice(np.arange(50, n - 50, 40), bumps, replace=False):
        scores[k - 2 : k + 3] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * rng.uniform(0.2, 0.9)
    ws = WindowScores((np.arange(n, dtype=np.int64) + 10) * HOP, scores[:, None], RATE, ("stop",))
    return th.ScoredSet("negative", ws, EventIndex([], RATE), 1.0, hours, fold)


def test_det_curve_pools_folds_and_is_monotonic_for_single_peaked_scores():
    folds = [trial_set(20, 0.4 + 0.6 * np.arange(20) / 20, 0), trial_set(10, np.linspace(0.5, 0.99, 10), 1)]
    streams = [stream_set(0.5, 30, 1, 0), stream_set(0.25, 10, 2, 1)]
    curve = th.det_curve({"clean": folds}, streams, "stop", TRIG)
    frr, fa = np.array(curve["frr"]["clean"]), np.array(curve["fa_count"])
    assert np.all(np.diff(frr) >= 0) and np.all(np.diff(fa) <= 0)
    assert frr[0] == 0.0 and frr[-1] == 1.0 and fa[0] == 40 and fa[-1] == 0
    assert curve["fa_per_hour"][0] == pytest.approx(40 / 0.75)
    # pooling is over trials, not an average of the folds' rates
    t = 0.7
    misses = sum((~f.hits("stop", t, TRIG)).sum() for f in folds)
    assert th.pooled_frr(folds, "stop", t, TRIG) == pytest.approx(misses / 30)
    assert th.pooled_fa(streams, "stop", t, TRIG) == (sum(s.false_accepts("stop", t, TRIG) for s in streams), 0.75)


def test_latency_is_from_the_end_of_the_word_to_the_detection():
    s = trial_set(4, [1.0, 1.0, 0.0, 1.0])
    lat = s.latencies_s("stop", 0.5, TRIG)
    # each peak's first window over 0.5 ends 0.5 s after the onset + 0.1 s: 0.1 s after the word ends
    assert len(lat) == 3 and np.allclose(lat, 0.1, atol=1e-6)


def test_choose_threshold_takes_lowest_zero_fa_threshold_that_stays_zero_plus_margin():
    ths = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9]
    fa = [9, 5, 3, 0, 1, 0, 0, 0, 0, 0]  # 0.4 is a lucky gap: 0.5 fires again
    # t0 = 0.6; a 0.5 log-odds margin reaches logit(0.6) + 0.5 = 0.905, i.e. 0.712: 0.7 is the last grid step
    c = th.choose_threshold_from_curve(ths, fa, stream_hours=2.0, max_fa_count=0, margin_logit=0.5)
    assert c.threshold == pytest.approx(0.7) and c.met and c.fa_count == 0
    assert c.fa_per_hour_upper95 == pytest.approx(-np.log(0.05) / 2.0)
    c1 = th.choose_threshold_from_curve(ths, fa, stream_hours=2.0, max_fa_count=1, margin_logit=0.0)
    assert c1.threshold == pytest.approx(0.4) and c1.fa_count == 0
    c2 = th.choose_threshold_from_curve(ths, fa, stream_hours=1.0, max_fa_count=1, margin_logit=0.0)
    assert c2.threshold == pytest.approx(0.6)
    c3 = th.choose_threshold_from_curve(ths, fa, stream_hours=2.0, negatives="pooled out-of-fold")
    assert c3.threshold == pytest.approx(0.5) and c3.fa_count == 1 and c3.fa_per_hour == pytest.approx(0.5)
    assert "pooled out-of-fold negatives" in c3.rule


def test_choose_threshold_margin_stops_where_it_would_cost_recall():
    ths = [0.5, 0.9, 0.99, 0.993, 0.996, 0.998]
    fa = [5, 1, 0, 0, 0, 0]
    frr = [0.05, 0.06, 0.07, 0.08, 0.30, 1.0]  # saturating int8 output: 0.998 is never reached
    c = th.choose_threshold_from_curve(ths, fa, 2.0, frr, max_fa_count=0, margin_logit=2.0, max_margin_frr_cost=0.02)
    assert c.met and c.threshold == pytest.approx(0.993) and c.frr == {"at_threshold": 0.08}
    c = th.choose_threshold_from_curve(ths, fa, 2.0, frr, max_fa_count=0, margin_logit=0.1, max_margin_frr_cost=0.02)
    assert c.threshold == pytest.approx(0.99)


def test_choose_threshold_never_returns_a_deaf_threshold_and_says_when_unmet():
    ths = [0.5, 0.9, 0.99, 0.998]
    c = th.choose_threshold_from_curve(ths, [5, 1, 1, 0], 2.0, [0.1, 0.2, 0.5, 1.0], max_fa_count=0)
    assert not c.met and c.threshold == pytest.approx(0.9) and c.fa_count == 1
    c = th.choose_threshold_from_curve(ths, [9, 8, 7, 0], 2.0, [0.1, 0.2, 0.5, 1.0])
    assert not c.met and c.threshold == pytest.approx(0.99)
    with pytest.raises(ValueError):
        th.choose_threshold_from_curve([0.9, 0.5], [0, 0], 2.0)


def test_operating_point_helpers_scan_from_the_safe_end():
    assert th.lowest_threshold_meeting([False, True, False, True, True]) == 3
    assert th.lowest_threshold_meeting([False, False]) is None
    assert th.highest_threshold_meeting([True, True, False, True, False]) == 3


def test_hours_by_source_gives_each_clip_the_slot_up_to_the_next_one():
    events = [Event(RATE * a, RATE * (a + 1), "go", "command", src, f"c{a}") for a, src in ((10, "x"), (40, "y"), (100, "x"))]
    index = EventIndex(list(reversed(events)), RATE)  # sorted by start whatever the order given
    by_source = index.hours_by_source(200 / 3600)
    assert by_source == pytest.approx({"x": (30 + 100) / 3600, "y": 60 / 3600})


def test_a_whole_source_is_scored_on_its_own_clips_in_its_fold():
    pytest.importorskip("soundfile")
    from wakeword.train.crossval import _source_figures

    trials = trial_set(6, [1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    trials.index = EventIndex([dataclasses.replace(e, source="single" if i < 3 else "sc")  # clips 0-2, 3-5
                               for i, e in enumerate(trials.index.events)], RATE)
    stream = stream_set(0.1, 0, 1)  # a flat stream; one bump over a "single" clip, two over "sc" clips
    ws = stream.scores
    placed = [(20.0, "single"), (60.0, "sc"), (120.0, "sc"), (200.0, "single")]
    events = [Event(int(t * RATE), int((t + 1) * RATE), "go", "command", src, f"n{t}") for t, src in placed]
    for t in (20.5, 60.5, 120.5):
        k = int(np.searchsorted(ws.ends, int(t * RATE)))
        ws.scores[k - 2 : k + 3, 0] = [0.3, 0.7, 1.0, 0.7, 0.3]
    neg = th.ScoredSet("negative", ws, EventIndex(events, RATE), 1.0, stream.hours, 0)
    f = _source_figures({"trials:clean": trials, "negative": neg}, "single", 0, ["clean"], "stop", 0.5, TRIG)
    assert f["keyword_trials"] == 3 and f["frr"]["clean"] == pytest.approx(1 / 3)
    # "single" holds the slots 20-60 s and 200 s to the end (360 s): 40 + 160 s
    assert f["fa_count"] == 1 and f["hours"] == pytest.approx(200 / 3600)
    assert f["fa_per_hour"] == pytest.approx(3600 / 200)
    other = _source_figures({"trials:clean": trials, "negative": neg}, "sc", 0, ["clean"], "stop", 0.5, TRIG)
    assert other["frr"]["clean"] == pytest.approx(2 / 3) and other["fa_count"] == 2


ALLOC_THS = [0.5, 0.7, 0.9, 0.95, 0.99]
EASY_FRR, HARD_FRR = [0.01, 0.02, 0.03, 0.04, 0.05], [0.10, 0.20, 0.40, 0.60, 0.80]


def test_one_budget_for_several_keywords_goes_where_it_lowers_the_worst_frr():
    fa = {"easy": [6, 2, 0, 0, 0], "hard": [6, 4, 2, 1, 0]}
    frr = {"easy": EASY_FRR, "hard": HARD_FRR}
    # an even split (2 each) would leave "hard" at 0.9 (FRR 0.40); the shared 4 buys it 0.7 (0.20)
    even = th.choose_threshold_from_curve(ALLOC_THS, fa["hard"], 1.0, HARD_FRR, max_fa_per_hour=2, margin_logit=0)
    assert even.threshold == pytest.approx(0.9)
    c = th.allocate_thresholds(ALLOC_THS, fa, frr, 1.0, max_fa_per_hour=4, margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.7) and c["hard"].frr == {"at_threshold": 0.20}
    assert c["easy"].threshold == pytest.approx(0.9) and c["easy"].fa_count == 0
    assert all(x.met for x in c.values()) and sum(x.fa_count for x in c.values()) <= 4
    assert "shared to minimise the worst keyword's FRR" in c["hard"].rule


def test_the_budget_left_after_the_worst_word_is_spent_and_never_exceeded():
    fa = {"easy": [6, 1, 0, 0, 0], "hard": [6, 4, 2, 1, 0]}
    frr = {"easy": EASY_FRR, "hard": HARD_FRR}
    c = th.allocate_thresholds(ALLOC_THS, fa, frr, 1.0, max_fa_per_hour=7, margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.5)  # 6 of the 7
    assert c["easy"].threshold == pytest.approx(0.7)  # the last one
    c = th.allocate_thresholds(ALLOC_THS, fa, frr, 1.0, max_fa_per_hour=6.5, margin_logit=0)
    assert c["easy"].threshold == pytest.approx(0.9) and sum(x.fa_count for x in c.values()) == 6


def test_shared_budget_counts_a_threshold_by_its_worst_higher_neighbour_and_keeps_the_margin():
    # 0.7 is a lucky gap for "hard": 0.9 fires again, so 0.7 costs 3, not 0
    fa = {"easy": [6, 2, 0, 0, 0], "hard": [6, 0, 3, 1, 0]}
    frr = {"easy": EASY_FRR, "hard": HARD_FRR}
    c = th.allocate_thresholds(ALLOC_THS, fa, frr, 1.0, max_fa_per_hour=2, margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.95)
    c = th.allocate_thresholds(ALLOC_THS, fa, frr, 1.0, max_fa_per_hour=4, margin_logit=5.0,
                               max_margin_frr_cost=0.02)
    assert c["easy"].threshold == pytest.approx(0.99)  # 0.03 -> 0.05 is within the 2 points
    assert c["hard"].threshold == pytest.approx(0.7)  # 0.20 -> 0.40 is not
    assert c["hard"].fa_count == 3  # reported as the budget counted it, not the lucky gap's 0


def test_an_unmeetable_shared_budget_says_so_and_keeps_each_words_fewest():
    fa = {"easy": [6, 2, 0, 0, 0], "hard": [6, 4, 2, 1, 1]}
    c = th.allocate_thresholds(ALLOC_THS, fa, {"easy": EASY_FRR, "hard": HARD_FRR}, 1.0, max_fa_per_hour=0.5,
                               margin_logit=0)
    assert not any(x.met for x in c.values())
    assert c["hard"].threshold == pytest.approx(0.95) and c["easy"].threshold == pytest.approx(0.9)
    with pytest.raises(ValueError):
        th.allocate_thresholds(ALLOC_THS, fa, {"easy": EASY_FRR}, 1.0, max_fa_per_hour=1)


def test_the_shared_budget_minimises_the_worst_word_where_greedy_spending_would_not():
    # greedy from each word's cheapest threshold spends the one false accept on "easy" (it buys
    # the most FRR per false accept) and leaves "hard" at 0.6; the min-max step gives it to "hard"
    fa = {"easy": [1, 0], "hard": [1, 0]}
    c = th.allocate_thresholds([0.5, 0.9], fa, {"easy": [0.0, 0.5], "hard": [0.3, 0.6]}, 1.0, max_fa_per_hour=1,
                               margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.5) and c["easy"].threshold == pytest.approx(0.9)
    assert max(x.frr["at_threshold"] for x in c.values()) == pytest.approx(0.5)


def test_equal_false_accepts_go_to_the_lower_frr_and_a_word_that_never_fires_is_not_met():
    # no false accepts anywhere; w's FRR is highest at the lowest threshold (an early wrong-word
    # detection there can take the trial): its best is the highest threshold, even where v holds
    # the level at 0.5, so that all three of w's thresholds tie on false accepts
    c = th.allocate_thresholds([0.5, 0.7, 0.9], {"w": [0, 0, 0], "v": [0, 0, 0]},
                               {"w": [0.5, 0.2, 0.05], "v": [0.5, 0.9, 0.95]}, 1.0, max_fa_per_hour=1, margin_logit=0)
    assert c["w"].threshold == pytest.approx(0.9) and c["w"].met
    c = th.allocate_thresholds([0.5, 0.9], {"w": [0, 0], "deaf": [0, 0]}, {"w": [0.1, 0.2], "deaf": [1.0, 1.0]}, 1.0,
                               max_fa_per_hour=1, margin_logit=0)
    assert c["w"].met and not c["deaf"].met


def test_the_shared_budget_refuses_words_it_cannot_measure():
    nan = float("nan")
    with pytest.raises(ValueError, match="no keyword trials.*silent"):
        th.allocate_thresholds([0.5, 0.9], {"w": [1, 0], "silent": [1, 0]}, {"w": [0.1, 0.2], "silent": [nan, nan]},
                               1.0, max_fa_per_hour=1)
    with pytest.raises(ValueError, match="at least one keyword"):
        th.allocate_thresholds([0.5, 0.9], {}, {}, 1.0, max_fa_per_hour=1)


def _choice(fa_count, frr, met=True):
    return th.ThresholdChoice(0.9, "test", 10.0, fa_count, fa_count / 10.0, 0.0, met, {"at_threshold": frr})


def test_trigger_settings_rank_a_met_budget_first_then_the_smallest_excess_then_the_worst_word():
    from wakeword.train.commands_cv import rank

    # 10 h at 1 FA/h: a budget of 10 false accepts for all words together
    met_but_worse = {"a": _choice(5, 0.60), "b": _choice(5, 0.50)}
    unmet_but_better = {"a": _choice(8, 0.20, met=False), "b": _choice(8, 0.10)}
    assert rank(met_but_worse, 10.0, 3, 1) < rank(unmet_but_better, 10.0, 1, 1)
    # both over the budget: 2 over beats 6 over even with a far worse worst word
    slightly_over = {"a": _choice(6, 0.90, met=False), "b": _choice(6, 0.10)}
    far_over = {"a": _choice(8, 0.20, met=False), "b": _choice(8, 0.10)}
    assert rank(slightly_over, 10.0, 3, 2) < rank(far_over, 10.0, 1, 1)
    # both within: the worst word decides, not the mean (0.40/0.40 against 0.45/0.05)
    even = {"a": _choice(4, 0.40), "b": _choice(4, 0.40)}
    lopsided = {"a": _choice(4, 0.45), "b": _choice(4, 0.05)}
    assert rank(even, 10.0, 3, 2) < rank(lopsided, 10.0, 1, 1)
    # all else equal, the shorter trigger (fewer windows to wait for)
    assert rank(even, 10.0, 1, 1) < rank(even, 10.0, 2, 2)


def test_a_word_that_never_fires_does_not_hold_the_others_worst_frr_back():
    # the min-max example above, with a third word that detects nothing at any threshold
    fa = {"easy": [1, 0], "hard": [1, 0], "deaf": [0, 0]}
    frr = {"easy": [0.0, 0.5], "hard": [0.3, 0.6], "deaf": [1.0, 1.0]}
    c = th.allocate_thresholds([0.5, 0.9], fa, frr, 1.0, max_fa_per_hour=1, margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.5) and c["easy"].threshold == pytest.approx(0.9)
    assert c["hard"].met and c["easy"].met and not c["deaf"].met
    # its false accepts still come out of the one budget: one here leaves none for "hard"
    c = th.allocate_thresholds([0.5, 0.9], {**fa, "deaf": [1, 1]}, frr, 1.0, max_fa_per_hour=1, margin_logit=0)
    assert c["hard"].threshold == pytest.approx(0.9) and c["easy"].threshold == pytest.approx(0.9)
    assert sum(x.fa_count for x in c.values()) == 1


def test_the_operating_point_counts_each_speaker_once_beside_the_pooled_clips():
    from wakeword.train.crossval import operating_point

    # 20 trials: speaker "big" has 12 clips, all heard; eight speakers have one clip each, all missed
    trials = trial_set(20, np.r_[np.full(12, 0.95), np.full(8, 0.3)])
    trials.index.events[:] = [dataclasses.replace(e, speaker="big" if i < 12 else f"s{i}")
                              for i, e in enumerate(trials.index.events)]
    point = operating_point([{"trials:clean": trials, "negative": stream_set(1.0, 10, 0)}], ["clean"], "stop", 0.5, TRIG)
    assert point["frr"]["clean"] == pytest.approx(8 / 20)  # per clip
    per = point["frr_by_speaker"]["clean"]
    assert per["speakers"] == 9 and per["mean"] == pytest.approx(8 / 9)  # per person: 8 of 9 never heard
    assert per["median"] == 1.0 and per["half_or_more"] == pytest.approx(8 / 9) and per["all"] == pytest.approx(8 / 9)
