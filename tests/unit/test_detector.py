"""The streaming detector: scores do not depend on block size, windows sit where they should."""

import numpy as np
import pytest

from tests.conftest import read_wav
from wakeword.detector import ModelSetup, Pipeline, StreamingDetector, hop_frames_for, to_float_mono
from wakeword.errors import ConfigError
from wakeword.frontends.mfcc import mfcc_window


def scores_in_blocks(model, x, block, hop_s=0.1):
    det = StreamingDetector(model, hop_s)
    ends, scores = [], []
    for i in range(0, len(x), block):
        e, s = det.process(x[i : i + block])
        ends.append(e)
        scores.append(s)
    return np.concatenate(ends), np.concatenate(scores)


@pytest.fixture(scope="module")
def long_audio(stop_clips, other_clips):
    return np.concatenate([read_wav(p)[0] for p in [*stop_clips, *other_clips]])


def test_scores_do_not_depend_on_the_block_size(shipped_model, long_audio):
    ref_ends, ref_scores = scores_in_blocks(shipped_model, long_audio, len(long_audio))
    assert len(ref_ends) > 10
    for block in (1600, 777, 16000 * 10, 100):
        ends, scores = scores_in_blocks(shipped_model, long_audio, block)
        np.testing.assert_array_equal(ends, ref_ends)
        np.testing.assert_array_equal(scores, ref_scores)


def test_windows_end_every_hop_after_the_first_full_window(shipped_model, long_audio):
    p = shipped_model.spec.frontend
    ends, _ = scores_in_blocks(shipped_model, long_audio, 1600)
    hop_samples = hop_frames_for(0.1, p.winstep_s) * p.frame_step_samples
    assert ends[0] == p.window_samples
    assert set(np.diff(ends)) == {hop_samples}


def test_each_window_is_scored_on_the_same_features_as_a_whole_window(shipped_model, stop_clips):
    # the streamed score of the first window equals the model run on mfcc_window of that window
    x, _ = read_wav(stop_clips[0])
    spec = shipped_model.spec
    from wakeword.resample import Resampler

    x = Resampler(16000, spec.sample_rate_hz).process(x)
    ends, scores = scores_in_blocks(shipped_model, x, 500)
    feats = spec.normalise(mfcc_window(x[: spec.frontend.window_samples], spec.frontend))
    direct = shipped_model.predict(feats[None])
    np.testing.assert_allclose(scores[0], direct[0], atol=1e-6)


def test_hop_must_be_a_whole_number_of_frames():
    assert hop_frames_for(0.1, 0.01) == 10
    with pytest.raises(ConfigError, match="multiple of the model's frame step"):
        hop_frames_for(0.105, 0.01)


def test_pipeline_resamples_so_a_48k_stream_gives_the_same_detections(shipped_model, stop_clips, other_clips):
    from wakeword.resample import Resampler

    audio = np.concatenate([read_wav(p)[0] for p in [other_clips[0], stop_clips[0], other_clips[1], stop_clips[1]]])
    setup = ModelSetup.recommended(shipped_model)
    at16 = Pipeline(setup, 16000).feed(audio)
    audio48 = Resampler(16000, 48000).process(audio)
    at48 = Pipeline(setup, 48000).feed(audio48)
    assert [d.keyword for d in at48] == [d.keyword for d in at16]
    for a, b in zip(at16, at48):
        assert abs(a.time_s - b.time_s) <= 0.1


def test_int16_and_stereo_blocks_are_converted_to_float_mono():
    stereo = np.array([[16384, -16384], [32767, 32767]], dtype=np.int16)
    np.testing.assert_allclose(to_float_mono(stereo), [0.0, 32767 / 32768], atol=1e-6)
    assert to_float_mono(np.zeros((5, 1), np.float32)).shape == (5,)


def _always(refractory_s: float) -> ModelSetup:
    """The tiny test model with a threshold of 1e-6: it fires as often as its refractory period lets it."""
    from pathlib import Path

    from wakeword.model import load_model
    from wakeword.settings import TriggerSettings

    model = load_model(Path(__file__).resolve().parents[1] / "data" / "tiny-int8.tflite")
    return ModelSetup(model, {"stop": 1e-6}, TriggerSettings(hop_s=0.04, refractory_s=refractory_s))


def _det(t: float):
    from wakeword.trigger import Detection

    return Detection("stop", 1.0, int(round(t * 16000)), 16000)


def test_a_keyword_two_models_share_stays_quiet_for_the_longer_refractory_period():
    pipe = Pipeline([_always(1.0), _always(0.3)], 16000)
    slow, quick = pipe.lanes
    assert [d.time_s for d in pipe._once([(_det(10.0), slow)])] == [10.0]
    assert pipe._once([(_det(10.5), quick)]) == []  # within the 1.0 s model's quiet time, whoever fires
    assert [d.time_s for d in pipe._once([(_det(11.0), quick)])] == [11.0]
    # a keyword only one model has keeps that model's own trigger, untouched
    single = Pipeline([_always(0.3)], 16000)
    assert [d.time_s for d in single._once([(_det(1.0), single.lanes[0]), (_det(1.1), single.lanes[0])])] == [1.0, 1.1]


def test_a_late_detection_of_a_moment_already_past_never_moves_the_keywords_last_time_back():
    pipe = Pipeline([_always(1.0), _always(1.0)], 16000)
    fast, slow = pipe.lanes
    det = _det
    assert [d.time_s for d in pipe._once([(det(10.0), fast)])] == [10.0]
    assert pipe._once([(det(8.5), slow)]) != []  # 1.5 s before: another word, reported late
    assert pipe._once([(det(10.6), slow)]) == []  # still within 1 s of 10.0, the latest reported
    assert [d.time_s for d in pipe._once([(det(11.2), fast), (det(11.0), slow)])] == [11.0]  # one call: time order


def _agreeing(refractory_s: float, window_s: float = 1.0) -> Pipeline:
    """Two lanes of the tiny model sharing "stop", which must both fire within window_s."""
    from dataclasses import replace

    return Pipeline([replace(_always(refractory_s), agree_within_s=window_s) for _ in range(2)], 16000)


def test_a_late_detection_of_models_that_must_agree_still_agrees_at_its_own_time():
    pipe = _agreeing(1.0)
    a, b = pipe.lanes
    assert pipe._once([(_det(2.0), a)]) == [] and pipe._once([(_det(5.0), a)]) == []
    # b's detection of the first word comes after a's of the second (held by a contest):
    # a's 2.0 is within the window before it, so the word fires at 2.3, as offline analysis counts it
    agreed = pipe._once([(_det(2.3), b)])
    assert [d.time_s for d in agreed] == [2.3] and agreed[0].model == "tiny-int8.tflite+tiny-int8.tflite"
    # and a late detection completes another lane's later one, at that one's time
    assert [d.time_s for d in pipe._once([(_det(4.6), b)])] == [5.0]
    assert pipe._once([(_det(4.7), b)]) == []  # the moment 5.0 has agreed once already


def test_models_that_must_agree_fire_where_offline_analysis_counts_whatever_order_detections_arrive_in():
    from wakeword.train.fusion import _merged_times, coincident_times

    rng = np.random.default_rng(7)
    for trial in range(20):
        times = [np.sort(rng.choice(np.arange(0, 60, 0.04), size=40, replace=False)) for _ in range(2)]
        lag = rng.uniform(0, 2.0, size=len(times[1]))  # one lane's detections arrive up to 2 s late
        arrivals = sorted([(t, 0, t) for t in times[0]] + [(t + d, 1, t) for t, d in zip(times[1], lag)])
        for refractory_s in (0.0, 1.0):
            pipe = _agreeing(refractory_s)
            got = [d.time_s for _, lane, t in arrivals for d in pipe._once([(_det(t), pipe.lanes[lane])])]
            offline = coincident_times(times, 1.0)
            if refractory_s == 0:  # every agreement, once each, as offline
                assert np.allclose(sorted(got), offline), (trial, sorted(got), offline)
            else:  # thinned by the refractory period: in time order exactly as offline; out of order, a subset of it
                in_order = _agreeing(refractory_s)
                ordered = sorted(((t, lane) for lane in (0, 1) for t in times[lane]))
                kept = [d.time_s for t, lane in ordered for d in in_order._once([(_det(t), in_order.lanes[lane])])]
                assert np.allclose(kept, _merged_times(offline, refractory_s)), (trial, kept)
                assert set(np.round(got, 6)) <= set(np.round(offline, 6))


def test_the_history_of_models_that_must_agree_stays_bounded():
    from wakeword.detector import AGREE_HISTORY_MAX

    pipe = _agreeing(0.0)
    a, _ = pipe.lanes
    for k in range(2000):  # one model firing constantly, the other never
        assert pipe._once([(_det(k * 0.001), a)]) == []
    assert max(len(ds) for ds in pipe._recent["stop"].values()) <= AGREE_HISTORY_MAX
