"""Two recipes run together on one keyword (train/fusion.py), from recorded scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_train_thresholds import TRIG, stream_set, trial_set
from wakeword.train.fusion import merged_count, summarise_fusion


def test_the_merged_count_drops_a_detection_within_a_refractory_period_of_the_last_one_kept():
    assert merged_count([np.array([1.0, 3.0]), np.array([1.5, 5.0])], 1.0) == 3
    assert merged_count([np.array([1.0, 2.5]), np.array([1.9])], 1.0) == 2  # 1.9 dropped, so 2.5 counts
    assert merged_count([np.array([1.0]), np.array([1.0])], 1.0) == 1
    assert merged_count([np.zeros(0), np.zeros(0)], 1.0) == 0


def folds(heights, seed):
    """Two folds of 20 trials and a 2 h stream each; each stream has one negative that scores
    0.97, above every other negative (at most 0.9)."""
    out = []
    for fold in range(2):
        stream = stream_set(2.0, 20, seed + fold, fold)
        stream.scores.scores[998:1003, 0] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * 0.97
        out.append({"trials:clean": trial_set(20, heights, fold), "negative": stream})
    return out


def test_a_pair_that_hears_different_trials_misses_fewer_than_either_and_counts_each_false_accept_once():
    # the trials peak at 0.95, below each stream's 0.97 negative: hearing them all costs that
    # false accept in each fold, 2 in 4 h, which meets 0.5 FA/h only if both members' count once
    strong = np.r_[np.full(10, 0.95), np.full(10, 0.3)]
    a, b = folds(strong, 0), folds(strong[::-1], 0)  # the same negative streams: the same false accepts
    out = summarise_fusion([("A", a, TRIG), ("B", b, TRIG)], "stop")
    for name in ("A", "B"):
        assert out["nested_members"][name]["frr"]["clean"] == pytest.approx(0.5)
    chosen = out["at_chosen"]
    assert chosen["frr"]["clean"] == 0.0 and out["nested"]["frr"]["clean"] == 0.0
    assert chosen["frr_by_fold"]["clean"] == [0.0, 0.0]
    t_a, t_b = chosen["thresholds"]["A"], chosen["thresholds"]["B"]
    assert max(t_a, t_b) <= 0.95
    assert chosen["fa_count"] == 2 and chosen["fa_per_hour"] == pytest.approx(0.5)
    assert chosen["latency_s"]["detections"] == 40


def test_a_pair_is_no_better_than_its_better_member_when_they_hear_the_same_trials():
    heights = np.linspace(0.5, 1.0, 20)
    out = summarise_fusion([("A", folds(heights, 0), TRIG), ("B", folds(heights, 0), TRIG)], "stop")
    assert out["nested"]["frr"]["clean"] == pytest.approx(out["nested_members"]["A"]["frr"]["clean"])


def test_fuse_names_two_or_more_different_recipes():
    from wakeword.errors import ConfigError
    from wakeword.train.fusion import parse_fusions

    assert parse_fusions(["A1+E0", "A0+A1+E0"], ["A0", "A1", "E0"]) == [("A1", "E0"), ("A0", "A1", "E0")]
    for bad in ("A1", "A1+A1", "A1+X", "A1+"):
        with pytest.raises(ConfigError, match="--fuse"):
            parse_fusions([bad], ["A1", "E0"])


def test_a_folds_nested_thresholds_are_chosen_without_looking_at_that_fold():
    heights = np.linspace(0.5, 1.0, 20)

    def three(extra_in_fold0):
        out = []
        for fold in range(3):
            stream = stream_set(2.0, 20, fold, fold)
            if fold == 0:
                for k in range(extra_in_fold0):  # loud negatives in fold 0 only
                    stream.scores.scores[2000 + 100 * k : 2005 + 100 * k, 0] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * 0.86
            out.append({"trials:clean": trial_set(20, heights, fold), "negative": stream})
        return out

    quiet = summarise_fusion([("A", three(0), TRIG), ("B", three(0), TRIG)], "stop")["nested"]["thresholds_by_fold"]
    loud = summarise_fusion([("A", three(3), TRIG), ("B", three(3), TRIG)], "stop")["nested"]["thresholds_by_fold"]
    assert loud[0] == quiet[0]  # fold 0's own negatives cannot move fold 0's thresholds
    assert loud[1] != quiet[1] or loud[2] != quiet[2]  # ...but they do move the folds trained on them


def test_a_word_both_models_detect_far_apart_counts_as_fired_twice():
    strong = np.full(20, 1.0)
    a, b = folds(strong, 0), folds(strong, 0)
    for s in b:  # B's scores 1.2 s later than A's: beyond the 1 s refractory period, inside the trial
        sc = s["trials:clean"].scores.scores
        sc[:] = np.roll(sc, 12, axis=0)
    out = summarise_fusion([("A", a, TRIG), ("B", b, TRIG)], "stop")["at_chosen"]["double_fires"]
    assert out["trials_fired"] == 40 and out["fired_twice"] == 40
    same = summarise_fusion([("A", folds(strong, 0), TRIG), ("B", folds(strong, 0), TRIG)], "stop")["at_chosen"]["double_fires"]
    assert same["fired_twice"] == 0
    # a longer refractory period for both (trigger.refractory_ms) covers the lag
    longer = summarise_fusion([("A", a, TRIG), ("B", b, TRIG)], "stop", refractory_s=1.5)
    assert longer["at_chosen"]["double_fires"]["fired_twice"] == 0
    assert longer["refractory_s"] == 1.5 and longer["refractory_set"]
    assert not summarise_fusion([("A", a, TRIG), ("B", b, TRIG)], "stop")["refractory_set"]


# -------------------------------------------------------------- a keyword that needs both models


def test_coincident_times_fire_when_the_last_member_detects_within_the_window_of_the_others():
    from wakeword.train.fusion import coincident_times

    a, b = np.array([1.0, 5.0, 9.0]), np.array([1.4, 7.0, 9.0])
    np.testing.assert_array_equal(coincident_times([a, b], 1.0), [1.4, 9.0])  # 5.0 and 7.0 are 2 s apart
    np.testing.assert_array_equal(coincident_times([a, b], 3.0), [1.4, 7.0, 9.0])  # B's last before 5.0 is 1.4
    np.testing.assert_array_equal(coincident_times([a, b], 0.3), [9.0])  # only the tie, once
    # three members: all three within the window, not two of them
    c = np.array([1.2, 6.9])
    np.testing.assert_array_equal(coincident_times([a, b, c], 1.0), [1.4])
    assert len(coincident_times([a, np.zeros(0)], 1.0)) == 0


def loud_stream(hours, seed, fold, where, height):
    stream = stream_set(hours, 20, seed, fold)
    for k in where:
        stream.scores.scores[k - 2 : k + 3, 0] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * height
    return stream


#: a coarse grid keeps these tests quick (the full grid makes 139 x 139 combinations)
GRID = (0.3, 0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.96, 0.98, 0.99)


def pair_folds(where, seed=0, heights=np.full(20, 0.95), lag_windows=0):
    """Two folds of 20 trials peaking at `heights` and a 2 h stream with 20 quiet negatives (at most
    0.9, at moments set by `seed`) and two loud ones (0.97) at the windows `where`."""
    out = []
    for fold in range(2):
        trials = trial_set(20, heights, fold)
        if lag_windows:
            trials.scores.scores[:] = np.roll(trials.scores.scores, lag_windows, axis=0)
        out.append({"trials:clean": trials, "negative": loud_stream(2.0, seed + fold, fold, where, 0.97)})
    return out


def test_a_pair_that_must_agree_hears_what_both_hear_without_the_false_accepts_of_either():
    from wakeword.train.fusion import summarise_all

    # each model has two loud negatives per 2 h fold (1 FA/h alone at any threshold that hears the
    # 0.95 trials), at different moments: together they never agree on a negative
    a, b = pair_folds([1000, 9000]), pair_folds([20000, 40000], seed=10)
    out = summarise_all([("A", a, TRIG), ("B", b, TRIG)], "stop", GRID)
    assert out["mode"] == "all" and out["name"] == "A & B"
    for name in ("A", "B"):
        assert out["nested_members"][name]["frr"]["clean"] == 1.0  # alone: only thresholds above 0.97 meet 0.5 FA/h
    chosen = out["at_chosen"]
    assert chosen["frr"]["clean"] == 0.0 and chosen["fa_count"] == 0
    assert out["nested"]["frr"]["clean"] == 0.0 and out["nested"]["fa_count"] == 0
    assert max(chosen["thresholds"].values()) <= 0.95
    assert chosen["latency_s"]["detections"] == 40
    # the same loud negatives in both: they agree on them, so the pair must stay above 0.97 too
    same = summarise_all([("A", pair_folds([1000, 9000]), TRIG), ("B", pair_folds([1000, 9000], seed=10), TRIG)], "stop", GRID)
    assert same["at_chosen"]["frr"]["clean"] == 1.0


def test_a_pair_that_must_agree_misses_a_word_the_second_model_hears_after_the_window():
    from wakeword.train.fusion import summarise_all

    a = pair_folds([1000, 9000])
    # B detects each word 0.8 s after A, still inside the word's span (its clip and a window after)
    b = pair_folds([20000, 40000], seed=10, lag_windows=8)
    assert summarise_all([("A", a, TRIG), ("B", b, TRIG)], "stop", GRID, window_s=0.5)["at_chosen"]["frr"]["clean"] == 1.0
    wide = summarise_all([("A", a, TRIG), ("B", b, TRIG)], "stop", GRID, window_s=1.0)
    assert wide["at_chosen"]["frr"]["clean"] == 0.0 and wide["coincidence_s"] == 1.0
    from wakeword.errors import ConfigError

    with pytest.raises(ConfigError, match="coincidence window"):
        summarise_all([("A", a, TRIG), ("B", b, TRIG)], "stop", GRID, window_s=0.0)


def test_a_model_that_must_agree_with_itself_is_the_model_alone():
    from wakeword.train.fusion import summarise_all

    # folds that differ (their trials peak at different heights), so each fold's nested choice,
    # made on the other fold, is not its own, and ties between thresholds are broken as for one model
    a = pair_folds([1000], heights=np.linspace(0.5, 1.0, 20))
    a[1]["trials:clean"] = trial_set(20, np.r_[np.full(10, 0.955), np.full(10, 0.97)], 1)
    out = summarise_all([("A", a, TRIG), ("B", a, TRIG)], "stop", GRID)
    alone = out["nested_members"]["A"]
    assert alone["met"] and 0.0 < alone["frr"]["clean"] < 1.0
    assert out["nested"]["frr"] == alone["frr"] and out["nested"]["fa_count"] == alone["fa_count"]


def test_a_folds_nested_choice_of_a_pair_that_must_agree_never_looks_at_that_fold():
    from wakeword.train.fusion import summarise_all

    def three(a_loud_in_fold0):
        a, b = [], []
        for fold in range(3):
            stream_a = stream_set(2.0, 20, fold, fold)
            if fold == 0 and a_loud_in_fold0:  # 700 negatives at 0.6 for A alone: 350/h in that fold
                for k in range(700):
                    stream_a.scores.scores[100 + 100 * k : 105 + 100 * k, 0] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * 0.6
            a.append({"trials:clean": trial_set(20, np.full(20, 0.55), fold), "negative": stream_a})
            b.append({"trials:clean": trial_set(20, np.full(20, 0.95), fold), "negative": stream_set(2.0, 20, 50 + fold, fold)})
        return [("A", a, TRIG), ("B", b, TRIG)]

    quiet = summarise_all(three(False), "stop", GRID)["nested"]["thresholds_by_fold"]
    loud = summarise_all(three(True), "stop", GRID)["nested"]["thresholds_by_fold"]
    assert quiet[0][0] <= 0.5  # A must run low to hear its quiet trials
    assert loud[0] == quiet[0]  # fold 0's own negatives cannot move fold 0's thresholds, nor its candidates
