"""The trigger is a pure state machine over (score, t_samples)."""

import numpy as np
import pytest

from wakeword.trigger import KeywordTrigger, Trigger

RATE_HZ = 16000
HOP = 1600  # 100 ms in samples


def run(trigger, scores, start=16000):
    """Feed scores one hop apart; return the t_samples of each detection."""
    fired = []
    for i, s in enumerate(scores):
        det = trigger.update(s, start + i * HOP)
        if det is not None:
            fired.append(det.t_samples)
    return fired


def test_fires_once_when_threshold_is_crossed_and_rearms_only_after_falling_below():
    trig = KeywordTrigger("stop", 0.5, RATE_HZ)
    assert run(trig, [0.1, 0.6, 0.9, 0.8, 0.7, 0.2, 0.1]) == [16000 + HOP]


def test_score_equal_to_threshold_counts_as_crossing():
    assert run(KeywordTrigger("stop", 0.5, RATE_HZ), [0.5]) == [16000]


def test_refractory_period_suppresses_second_detection():
    trig = KeywordTrigger("stop", 0.5, RATE_HZ, refractory_samples=RATE_HZ)  # 1 s
    # above, below, above again 300 ms later: suppressed; again after 1.2 s: fires
    fired = run(trig, [0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9])
    assert fired == [16000, 16000 + 12 * HOP]


def test_refractory_is_counted_in_samples_not_windows():
    # refractory 2 s; peaks 1.5 s apart are suppressed and 2.5 s apart fire, whatever the hop
    for hop in (800, 8000):
        for gap_s, expected in ((1.5, 1), (2.5, 2)):
            trig = KeywordTrigger("stop", 0.5, RATE_HZ, refractory_samples=2 * RATE_HZ)
            n_hops = int(gap_s * RATE_HZ) // hop
            scores = [0.9] + [0.1] * (n_hops - 1) + [0.9]
            fired = [t for i, s in enumerate(scores) if (t := trig.update(s, i * hop))]
            assert len(fired) == expected, (hop, gap_s)


def test_patience_requires_consecutive_windows_above_threshold():
    trig = KeywordTrigger("stop", 0.5, RATE_HZ, patience_windows=3)
    assert run(trig, [0.9, 0.9, 0.1, 0.9, 0.9, 0.9]) == [16000 + 5 * HOP]


def test_smoothing_averages_the_last_n_scores():
    trig = KeywordTrigger("stop", 0.5, RATE_HZ, smoothing_windows=3)
    # a single spike of 0.9 among 0.1s never brings the mean of three to 0.5
    assert run(trig, [0.1, 0.1, 0.9, 0.1, 0.1]) == []
    trig = KeywordTrigger("stop", 0.5, RATE_HZ, smoothing_windows=3)
    fired = []
    for i, s in enumerate([0.1, 0.7, 0.8, 0.9]):
        det = trig.update(s, i)
        if det:
            fired.append((i, round(det.score, 4)))
    assert fired == [(2, round((0.1 + 0.7 + 0.8) / 3, 4))]


def test_detection_time_is_in_seconds_of_the_stream():
    det = KeywordTrigger("stop", 0.5, RATE_HZ).update(0.9, 40000)
    assert det.time_s == pytest.approx(2.5)
    assert det.to_dict() == {"keyword": "stop", "time_s": 2.5, "score": 0.9}


def test_each_keyword_has_its_own_threshold():
    trig = Trigger([KeywordTrigger("stop", 0.5, RATE_HZ), KeywordTrigger("go", 0.95, RATE_HZ)])
    found = trig.update(np.array([0.6, 0.9]), 100)
    assert [d.keyword for d in found] == ["stop"]
    found = trig.update(np.array([0.1, 0.97]), 200)
    assert [d.keyword for d in found] == ["go"]


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"threshold": 1.0}, {"threshold": 0.5, "patience_windows": 0}])
def test_invalid_settings_are_rejected(kwargs):
    args = {"keyword": "stop", "threshold": 0.5, "sample_rate_hz": RATE_HZ, **kwargs}
    with pytest.raises(ValueError):
        KeywordTrigger(**args)


def two_words(contest_samples=0, refractory_samples=16000):
    return Trigger([KeywordTrigger("left", 0.5, RATE_HZ, refractory_samples=refractory_samples),
                    KeywordTrigger("right", 0.5, RATE_HZ, refractory_samples=refractory_samples)], contest_samples)


def feed(trig, rows, start=16000):
    found = []
    for i, row in enumerate(rows):
        found += [(d.keyword, d.t_samples, d.score) for d in trig.update(np.array(row), start + i * HOP)]
    return found


def test_two_words_crossing_in_one_window_fire_only_the_higher():
    found = feed(two_words(), [[0.1, 0.1], [0.6, 0.8], [0.7, 0.9], [0.1, 0.1]])
    assert found == [("right", 16000 + HOP, 0.8)]


def test_a_word_crossing_within_the_contest_competes_and_the_winner_keeps_its_own_time():
    trig = two_words(contest_samples=3 * HOP)
    rows = [[0.6, 0.1], [0.7, 0.1], [0.7, 0.9], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]
    got = []
    for i, row in enumerate(rows):
        for d in trig.update(np.array(row), 16000 + i * HOP):
            got.append((d.keyword, d.t_samples, i))
    # "left" qualifies at window 0, "right" at window 2 with a higher score: only "right" fires,
    # with its own window end, reported when the contest ends (window 3)
    assert got == [("right", 16000 + 2 * HOP, 3)]


def test_a_words_refractory_period_never_holds_back_a_different_word():
    # "left" fires; "right" crosses 0.3 s later, inside left's 1 s refractory period: it fires
    found = feed(two_words(), [[0.9, 0.1], [0.1, 0.1], [0.1, 0.1], [0.1, 0.9], [0.1, 0.1]])
    assert [(k, t) for k, t, _ in found] == [("left", 16000), ("right", 16000 + 3 * HOP)]
    # ...while "left" itself stays quiet within its own
    found = feed(two_words(), [[0.9, 0.1], [0.1, 0.1], [0.9, 0.1], [0.1, 0.1]])
    assert [k for k, _, _ in found] == ["left"]


def test_the_loser_of_a_contest_is_disarmed_but_has_no_refractory_period():
    found = feed(two_words(), [[0.6, 0.8], [0.7, 0.2], [0.1, 0.1], [0.7, 0.1]])
    # left lost in window 0; above in window 1 it stays disarmed; re-armed in window 2, it fires
    # in window 3, 0.3 s after losing (its refractory period would have held it 1 s)
    assert [(k, t) for k, t, _ in found] == [("right", 16000), ("left", 16000 + 3 * HOP)]


def test_flush_decides_a_contest_open_at_the_end_of_the_stream():
    trig = two_words(contest_samples=10 * HOP)
    assert feed(trig, [[0.6, 0.1], [0.1, 0.7]]) == []
    assert [(d.keyword, d.t_samples) for d in trig.flush()] == [("right", 16000 + HOP)]
    assert trig.flush() == []
