"""The one scorer: Pipeline scores, the vectorised trigger replay, events and attribution."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("soundfile")

from tests.conftest import DATA, read_wav  # noqa: E402
from wakeword.detector import ModelSetup, Pipeline  # noqa: E402
from wakeword.settings import TriggerSettings  # noqa: E402
from wakeword.sidecar import ModelSpec  # noqa: E402
from wakeword.train import scoring  # noqa: E402
from wakeword.trigger import build_trigger  # noqa: E402

RATE = 16000
HOP = 1600  # samples at 16 kHz between window ends (100 ms)


def window_ends(n):
    return (np.arange(n, dtype=np.int64) + 10) * HOP


def bursty_scores(seed: int, n: int = 3000) -> np.ndarray:
    """Bursts of high scores on a low background, with isolated spikes: the hard cases."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 0.3, n).astype(np.float32)
    for start in rng.integers(0, n - 20, 60):
        scores[start : start + rng.integers(1, 15)] = rng.uniform(0.2, 1.0)
    scores[rng.integers(0, n, 80)] = rng.uniform(0.4, 1.0, 80)
    return scores


def trigger_reference(scores, ends, threshold, trig):
    """Every window through a fresh daemon trigger."""
    t = build_trigger(["stop"], {"stop": threshold}, trig, RATE)
    return np.array([e for s, e in zip(scores, ends) if t.update(np.array([s]), int(e))], np.int64)


@pytest.mark.parametrize("smoothing,patience,refractory_s", [(1, 1, 1.0), (3, 1, 1.0), (2, 2, 0.0), (5, 3, 2.5), (1, 1, 0.0), (4, 1, 0.35)])
def test_fire_times_equals_the_daemon_trigger_on_every_window(smoothing, patience, refractory_s):
    trig = TriggerSettings(hop_s=0.1, smoothing_windows=smoothing, patience_windows=patience, refractory_s=refractory_s)
    for seed in (7, 8):
        scores, ends = bursty_scores(seed), window_ends(3000)
        fired_any = False
        for threshold in (0.05, 0.35, 0.5, 0.71, 0.95):
            fast = scoring.fire_times(scores, ends, threshold, trig, RATE)
            np.testing.assert_array_equal(fast, trigger_reference(scores, ends, threshold, trig))
            fired_any |= len(fast) > 0
        assert fired_any


def test_the_refractory_period_holds_a_second_run_back_until_it_has_passed():
    # two runs above the threshold 0.4 s apart, the second lasting 1.5 s: with a 1 s refractory
    # period the trigger fires at the first window of the second run that is 1 s past the first
    scores = np.zeros(60, np.float32)
    scores[[10]] = 0.9
    scores[14:30] = 0.9
    ends = window_ends(60)
    trig = TriggerSettings(hop_s=0.1, refractory_s=1.0)
    got = scoring.fire_times(scores, ends, 0.5, trig, RATE)
    np.testing.assert_array_equal(got, ends[[10, 20]])
    np.testing.assert_array_equal(got, trigger_reference(scores, ends, 0.5, trig))
    # a run that ends before the refractory period has passed never fires
    scores[20:30] = 0.0
    assert list(scoring.fire_times(scores, ends, 0.5, trig, RATE)) == [ends[10]]


def test_replay_of_a_real_model_equals_feeding_the_pipeline_block_by_block(shipped_model):
    """The whole chain: score a real recording once, replay the trigger at several thresholds and
    trigger settings, and compare with the detections of a Pipeline fed 100 ms blocks."""
    audio, rate = read_wav(DATA / "mixed_stop.wav")
    audio = np.concatenate([audio] * 3)
    ws = scoring.score_stream(ModelSetup.recommended(shipped_model), scoring.in_blocks(audio, rate), rate)
    checked = 0
    for smoothing, patience, refractory_s in ((1, 1, 1.0), (3, 1, 1.0), (2, 2, 0.5)):
        trig = TriggerSettings(hop_s=0.1, smoothing_windows=smoothing, patience_windows=patience, refractory_s=refractory_s)
        for threshold in (0.3, 0.9, 0.99):
            setup = ModelSetup(shipped_model, {"stop": threshold}, trig)
            pipe = Pipeline(setup, rate)
            live = [d.t_samples for i in range(0, len(audio), 1600) for d in pipe.feed(audio[i : i + 1600])]
            replayed = scoring.fire_times(ws.column("stop"), ws.ends, threshold, trig, ws.sample_rate_hz)
            assert list(replayed) == live
            assert [d.t_samples for d in scoring.replay(ws, {"stop": threshold}, trig)] == live
            checked += len(live)
    assert checked >= 6  # the three stops of each copy are found at the lower thresholds


@pytest.mark.parametrize("contest_s", [0.0, 0.3, 1.5])
def test_replay_of_several_keywords_equals_their_trigger(contest_s):
    rng = np.random.default_rng(2)
    scores = np.stack([bursty_scores(3, 2000), bursty_scores(4, 2000) * rng.uniform(0.5, 1.0)], axis=1)
    ws = scoring.WindowScores(window_ends(2000), scores.astype(np.float32), RATE, ("left", "right"))
    trig = TriggerSettings(hop_s=0.1, smoothing_windows=2, refractory_s=0.5, contest_s=contest_s)
    thresholds = {"left": 0.6, "right": 0.5}
    ref = build_trigger(("left", "right"), thresholds, trig, RATE)
    expected = [(d.keyword, d.t_samples) for s, e in zip(ws.scores, ws.ends) for d in ref.update(s, int(e))]
    expected += [(d.keyword, d.t_samples) for d in ref.flush()]
    got = [(d.keyword, d.t_samples) for d in scoring.replay(ws, thresholds, trig)]
    assert got == expected and len(got) > 10


def test_a_predictor_model_scores_through_the_pipeline_like_the_tflite_model(shipped_model):
    audio, rate = read_wav(DATA / "mixed_stop.wav")
    spec = shipped_model.spec
    predictor = scoring.PredictorModel(spec, lambda x: shipped_model.predict(x), keep_min_score=0.5)
    a = scoring.score_stream(ModelSetup.recommended(shipped_model), scoring.in_blocks(audio, rate), rate)
    b = scoring.score_stream(ModelSetup.recommended(predictor), scoring.in_blocks(audio, rate, block_s=0.3), rate)
    np.testing.assert_array_equal(a.ends, b.ends)
    np.testing.assert_array_equal(a.scores, b.scores)
    kept, kept_scores = predictor.kept_windows()
    assert len(kept) == int((a.scores[:, 0] >= 0.5).sum()) > 0
    np.testing.assert_array_equal(np.sort(kept_scores), np.sort(a.scores[a.scores[:, 0] >= 0.5, 0]))
    assert kept.shape[1:] == tuple(spec.input_shape[1:])


def test_a_predictor_selects_the_keyword_columns_of_a_multiclass_output():
    from wakeword.frontends.mfcc import MfccParams

    p = MfccParams(window_frames=5)
    spec = ModelSpec("m", ("b",), {"b": 0.5}, p, (0.0,) * 13, (1.0,) * 13, (1, 5, 13), "float32", labels=("a", "b", "c"))
    predictor = scoring.PredictorModel(spec, lambda x: np.tile([0.1, 0.7, 0.2], (len(x), 1)))
    np.testing.assert_allclose(predictor.predict(np.zeros((4, 5, 13), np.float32)), [[0.7]] * 4)


def test_detection_after_the_window_has_left_the_clip_is_a_miss():
    starts, ends = np.array([2.0]), np.array([3.0])
    assert scoring.hits_per_event(np.array([3.99]), starts, ends, 1.0).tolist() == [True]
    assert scoring.hits_per_event(np.array([4.01]), starts, ends, 1.0).tolist() == [False]
    assert scoring.hits_per_event(np.array([1.99]), starts, ends, 1.0).tolist() == [False]
    assert scoring.hits_per_event(np.array([]), starts, ends, 1.0).tolist() == [False]
    np.testing.assert_allclose(scoring.first_hit_s(np.array([3.5, 2.5, 9.0]), starts, ends, 1.0), [2.5])


def test_false_accepts_are_attributed_to_the_clip_under_the_window():
    ev = scoring.Event
    events = [ev(1 * RATE, 2 * RATE, "off", "command", "sc", "a"),
              ev(int(2.2 * RATE), int(2.5 * RATE), "go", "command", "sc", "b"),
              ev(10 * RATE, 14 * RATE, "_speech_", "speech", "librispeech", "c")]
    index = scoring.EventIndex(events, RATE, [(0, 20 * RATE, "white_floor"), (20 * RATE, 30 * RATE, "running_tap")])
    got = index.attribute(np.array([2.1, 2.9, 12.0, 25.0]), 1.0, "sentence", "speech")
    assert got == [("off", "command", "sc"), ("go", "command", "sc"), ("sentence", "speech", "librispeech"),
                   ("bed:running_tap", "bed", "")]
