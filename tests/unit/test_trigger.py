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
