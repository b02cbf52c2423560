"""Evaluation: counting of false rejects and false accepts, the trigger replay, the DET curve,
the threshold rule, the negative-stream builder and the score cache.

None of this needs TensorFlow: synthetic score sequences stand in for a model, except in the
last test, which runs the shipped model through the real Pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from wakeword.settings import TriggerSettings  # noqa: E402
from wakeword.trigger import build_trigger  # noqa: E402
from wakeword.train import evaluate as ev  # noqa: E402
from wakeword.train.data import Clip  # noqa: E402

RATE = 16000
HOP = 1600  # samples at 16 kHz between window ends (100 ms)


def settings(smoothing=1, patience=1, refractory_s=1.0):
    return TriggerSettings(hop_s=0.1, smoothing_windows=smoothing,
                           patience_windows=patience, refractory_s=refractory_s)


def window_ends(n):
    return (np.arange(n, dtype=np.int64) + 10) * HOP


def full_replay(scores, ends, threshold, st):
    """Reference: every window through a fresh daemon trigger."""
    trig = build_trigger(["stop"], {"stop": threshold}, st, RATE)
    return np.array([e for s, e in zip(scores, ends) if trig.update(np.array([s]), int(e))], np.int64)


@pytest.mark.parametrize("smoothing,patience,refractory_s", [(1, 1, 1.0), (3, 1, 1.0), (2, 2, 0.0), (5, 3, 2.5), (1, 1, 0.0)])
def test_replay_that_skips_quiet_windows_equals_feeding_every_window(smoothing, patience, refractory_s):
    rng = np.random.default_rng(7)
    # bursts of high scores on a low background, with some isolated spikes: the hard cases
    n = 3000
    scores = rng.uniform(0, 0.3, n).astype(np.float32)
    for start in rng.integers(0, n - 20, 60):
        scores[start : start + rng.integers(1, 15)] = rng.uniform(0.2, 1.0)
    scores[rng.integers(0, n, 80)] = rng.uniform(0.4, 1.0, 80)
    ends = window_ends(n)
    st = settings(smoothing, patience, refractory_s)
    for threshold in (0.05, 0.35, 0.5, 0.71, 0.95):
        fast = ev.replay_trigger(scores, ends, threshold, st, RATE)
        slow = ev.replay_trigger(scores, ends, threshold, st, RATE, skip_quiet=False)
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(fast, full_replay(scores, ends, threshold, st))
    assert len(ev.replay_trigger(scores, ends, 0.5, st, RATE)) > 0


def test_refractory_and_rearm_merge_close_peaks_into_one_false_accept():
    scores = np.zeros(100, np.float32)
    scores[[10, 11, 12]] = 0.9  # one long peak: fires once (re-arm)
    scores[[15]] = 0.9  # 0.5 s after the first: inside the 1 s refractory period
    scores[[40]] = 0.9  # far away: a second false accept
    det = ev.replay_trigger(scores, window_ends(100), 0.5, settings(), RATE)
    np.testing.assert_array_equal(det, window_ends(100)[[10, 40]])


def make_trials(n_trials, trial_s=5.0, onset_s=1.5, clip_s=1.0):
    events = [ev.Event(int((i * trial_s + onset_s) * RATE), int((i * trial_s + onset_s + clip_s) * RATE),
                       "stop", "keyword", "x", f"c{i}") for i in range(n_trials)]
    return ev.EvalAudio("clean", np.zeros(int(n_trials * trial_s * RATE), np.float32), RATE, events)


def trial_scores(audio, hit_trials, peak=0.9, offset_s=0.6):
    """Window scores (100 ms hop) that peak `offset_s` after the clip onset in hit_trials."""
    n = len(audio.audio) // HOP
    ends = (np.arange(n, dtype=np.int64) + 1) * HOP
    scores = np.full(n, 0.05, np.float32)
    for i in hit_trials:
        k = int((audio.events[i].start / RATE + offset_s) * 10)
        scores[k - 1 : k + 2] = [peak / 2, peak, peak / 2]
    return ev.WindowScores(ends, scores, RATE)


def test_frr_counts_trials_without_a_detection_in_their_tolerance():
    audio = make_trials(10)
    ws = trial_scores(audio, hit_trials=[0, 1, 2, 4, 5, 7, 9])
    assert ev.frr_at(ws, audio, 0.5, settings(), 1.0, "stop") == pytest.approx(0.3)
    assert ev.frr_at(ws, audio, 0.95, settings(), 1.0, "stop") == pytest.approx(1.0)


def test_detection_after_the_window_has_left_the_clip_is_a_miss():
    starts, ends = np.array([2.0]), np.array([3.0])
    assert ev.hits_per_event(np.array([3.99]), starts, ends, 1.0).tolist() == [True]
    assert ev.hits_per_event(np.array([4.01]), starts, ends, 1.0).tolist() == [False]
    assert ev.hits_per_event(np.array([1.99]), starts, ends, 1.0).tolist() == [False]
    assert ev.hits_per_event(np.array([]), starts, ends, 1.0).tolist() == [False]


def test_false_accepts_are_attributed_to_the_clip_under_the_window():
    events = [ev.Event(1 * RATE, 2 * RATE, "off", "command", "sc", "a"),
              ev.Event(int(2.2 * RATE), int(2.5 * RATE), "go", "command", "sc", "b"),
              ev.Event(10 * RATE, 14 * RATE, "_speech_", "speech", "librispeech", "c")]
    audio = ev.EvalAudio("negative", np.zeros(30 * RATE, np.int16), RATE, events,
                         {"beds": [(0, 20 * RATE, "white_floor"), (20 * RATE, 30 * RATE, "running_tap")]})
    labels = ev.attribute_detections(np.array([2.1, 2.9, 12.0, 25.0]), audio, 1.0)
    assert labels == [("off", "command"), ("go", "command"), (ev.SENTENCE_LABEL, "speech"), ("bed:running_tap", "bed")]


def synthetic_sets_and_scores(n_trials=20, hours_neg=0.5):
    """A fake model: keyword trials peak at graded heights, negatives hold graded bumps."""
    rng = np.random.default_rng(3)
    audio = make_trials(n_trials)
    n = len(audio.audio) // HOP
    ends = (np.arange(n, dtype=np.int64) + 1) * HOP
    pos = np.full(n, 0.005, np.float32)  # below the lowest threshold, so the trigger re-arms
    for i, e in enumerate(audio.events):
        k = int((e.start / RATE + 0.6) * 10)
        pos[k - 2 : k + 3] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * (0.4 + 0.6 * i / n_trials)
    n_neg = int(hours_neg * 36000)
    neg = np.full(n_neg, 0.005, np.float32)
    for k in rng.choice(np.arange(50, n_neg - 50, 40), 30, replace=False):
        neg[k - 2 : k + 3] = np.array([0.3, 0.7, 1.0, 0.7, 0.3]) * rng.uniform(0.2, 0.9)
    neg_audio = ev.EvalAudio("negative", np.zeros(n_neg * HOP, np.int16), RATE, [], {"beds": []})
    sets = ev.EvalSets("test", {"clean": audio}, neg_audio, None, {})
    st = settings()
    ms = ev.ModelScores("fake", "fake.tflite", None, st, RATE, 1.0, {"clean": ev.WindowScores(ends, pos, RATE)},
                        ev.WindowScores((np.arange(n_neg, dtype=np.int64) + 10) * HOP, neg, RATE), None)
    return sets, ms


def test_det_curve_is_monotonic_for_single_peaked_scores():
    sets, ms = synthetic_sets_and_scores()
    curve = ev.det_curve(ms, sets)
    frr, fa = np.array(curve["frr"]["clean"]), np.array(curve["fa_count"])
    assert np.all(np.diff(frr) >= 0), "FRR must not fall as the threshold rises"
    assert np.all(np.diff(fa) <= 0), "false accepts must not rise as the threshold rises"
    assert frr[0] == 0.0 and frr[-1] == 1.0
    assert fa[0] == 30 and fa[-1] == 0
    assert curve["fa_per_hour"][0] == pytest.approx(30 / sets.negative.hours)


def test_choose_threshold_takes_lowest_zero_fa_threshold_that_stays_zero_plus_margin():
    ths = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9]
    fa = [9, 5, 3, 0, 1, 0, 0, 0, 0, 0]  # 0.4 is a lucky gap: 0.5 fires again
    # t0 = 0.6; a 0.5 log-odds margin reaches logit(0.6) + 0.5 = 0.905, i.e. 0.712: 0.7 is the last grid step
    c = ev.choose_threshold_from_curve(ths, fa, stream_hours=2.0, max_fa_count=0, margin_logit=0.5)
    assert c.threshold == pytest.approx(0.7) and c.met and c.fa_count == 0
    assert c.fa_per_hour_upper95 == pytest.approx(-np.log(0.05) / 2.0)
    # allowing one false accept in 2 h (0.5 FA/h) moves it down to 0.4
    c1 = ev.choose_threshold_from_curve(ths, fa, stream_hours=2.0, max_fa_count=1, margin_logit=0.0)
    assert c1.threshold == pytest.approx(0.4) and c1.fa_count == 0
    # ...but not when the stream is too short for one false accept to be <= 0.5 FA/h
    c2 = ev.choose_threshold_from_curve(ths, fa, stream_hours=1.0, max_fa_count=1, margin_logit=0.0)
    assert c2.threshold == pytest.approx(0.6)
    # the default is the FA/h target alone (one false accept in 2 h), then the log-odds margin:
    # t0 = 0.4, logit(0.4) + 0.5 = 0.095 -> 0.524, so 0.5 is the last grid step within it
    c3 = ev.choose_threshold_from_curve(ths, fa, stream_hours=2.0)
    assert c3.threshold == pytest.approx(0.5) and c3.fa_count == 1 and c3.fa_per_hour == pytest.approx(0.5)
    assert c3.fa_per_hour_upper95 > 2.0


def test_choose_threshold_margin_stops_where_it_would_cost_recall():
    ths = [0.5, 0.9, 0.99, 0.993, 0.996, 0.998]
    fa = [5, 1, 0, 0, 0, 0]
    frr = [0.05, 0.06, 0.07, 0.08, 0.30, 1.0]  # saturating int8 output: 0.998 is never reached
    c = ev.choose_threshold_from_curve(ths, fa, 2.0, frr, max_fa_count=0, margin_logit=2.0, max_margin_frr_cost=0.02)
    assert c.met and c.threshold == pytest.approx(0.993) and c.frr == {"at_threshold": 0.08}
    c = ev.choose_threshold_from_curve(ths, fa, 2.0, frr, max_fa_count=0, margin_logit=0.1, max_margin_frr_cost=0.02)
    assert c.threshold == pytest.approx(0.99)


def test_choose_threshold_never_returns_a_deaf_threshold():
    # only the unreachable top of the grid is free of false accepts: not met, and the fallback
    # is the lowest threshold within 0.5 FA/h (one false accept in 2 h) that still detects
    ths = [0.5, 0.9, 0.99, 0.998]
    c = ev.choose_threshold_from_curve(ths, [5, 1, 1, 0], 2.0, [0.1, 0.2, 0.5, 1.0], max_fa_count=0)
    assert not c.met and c.threshold == pytest.approx(0.9) and c.fa_count == 1
    # nothing within the FA target either: the highest threshold that still detects something
    c = ev.choose_threshold_from_curve(ths, [9, 8, 7, 0], 2.0, [0.1, 0.2, 0.5, 1.0])
    assert not c.met and c.threshold == pytest.approx(0.99)


def test_choose_threshold_reports_when_unmet_and_rejects_bad_input():
    ths = [0.5, 0.9, 0.99]
    assert ev.choose_threshold_from_curve(ths, [3, 0, 0], 2.0, margin_logit=10.0).threshold == pytest.approx(0.99)
    c = ev.choose_threshold_from_curve(ths, [3, 2, 1], 2.0, max_fa_count=0)
    assert not c.met and c.threshold == pytest.approx(0.99) and c.fa_count == 1
    c = ev.choose_threshold_from_curve(ths, [3, 2, 2], 2.0)
    assert not c.met and c.threshold == pytest.approx(0.99) and c.fa_count == 2
    with pytest.raises(ValueError):
        ev.choose_threshold_from_curve([0.9, 0.5], [0, 0], 2.0)


def write_clip(path: Path, seconds: float, freq: float) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), RATE)


@pytest.fixture()
def tiny_corpus(tmp_path):
    clips = []
    for i, (label, kind, secs) in enumerate([("off", "command", 1.0), ("go", "command", 0.8),
                                              ("amelia", "wakeword", 1.5), ("_speech_", "speech", 6.0)]):
        p = tmp_path / f"{label}_{i}.wav"
        write_clip(p, secs, 200 + 100 * i)
        clips.append(Clip(p, label, f"spk{i}", "synthetic", kind))
    noise = tmp_path / "noise.wav"
    sf.write(str(noise), np.random.default_rng(0).normal(0, 0.1, 3 * RATE).astype(np.float32), RATE)
    noises = [("noise", ev.read_audio(noise, RATE))]
    return clips, noises


def test_negative_stream_is_deterministic_and_at_least_as_long_as_asked(tiny_corpus):
    clips, noises = tiny_corpus
    hours = 60.0 / 3600  # one minute: many passes over four clips
    a = ev.build_negative_stream(clips, noises, hours, seed=1)
    b = ev.build_negative_stream(clips, noises, hours, seed=1)
    c = ev.build_negative_stream(clips, noises, hours, seed=2)
    assert a.audio.dtype == np.int16 and len(a.audio) >= 60 * RATE
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.events == b.events
    assert not np.array_equal(a.audio[: len(c.audio)], c.audio[: len(a.audio)])
    assert a.info["passes"] > 1 and a.info["by_kind"]["command"] > 2
    assert all(0 <= e.start < e.end <= len(a.audio) for e in a.events)
    with pytest.raises(ValueError):
        ev.build_negative_stream([Clip(clips[0].path, "stop", "s", "x", "keyword")], noises, hours, seed=1)


def test_negative_stream_cache_returns_the_same_stream(tiny_corpus, tmp_path):
    clips, noises = tiny_corpus
    first = ev.cached_negative_stream(clips, noises, 30.0 / 3600, 0, "val", tmp_path / "cache")
    again = ev.cached_negative_stream(clips, noises, 30.0 / 3600, 0, "val", tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    np.testing.assert_array_equal(np.asarray(again.audio), first.audio)
    assert again.events == first.events


def test_keyword_trials_mix_the_noise_at_the_requested_snr(tiny_corpus):
    clips, noises = tiny_corpus
    kw = [Clip(clips[0].path, "stop", "s", "x", "keyword")]
    clean = ev.build_keyword_trials(kw, None, None, seed=0, placements=2)
    noisy = ev.build_keyword_trials(kw, noises[0][1], 5.0, seed=0, placements=2)
    assert [e.start for e in clean.events] == [e.start for e in noisy.events]
    e = noisy.events[0]
    noise_only = noisy.audio[: e.start]
    speech = clean.audio[e.start : e.end]
    snr = 20 * np.log10(ev.active_rms(speech, RATE) / np.sqrt(np.mean(noise_only.astype(np.float64) ** 2)))
    assert snr == pytest.approx(5.0, abs=0.5)


def test_evaluation_runs_the_real_model_through_the_pipeline(shipped_model, stop_clips, other_clips):
    # the daemon's path end to end on real clips: scores recorded once, replayed per threshold;
    # block size and parallel scoring must not change a single score
    kw = [Clip(p, "stop", p.stem, "tests", "keyword") for p in stop_clips]
    others = [Clip(p, p.stem.split("_")[0], p.stem, "tests", "command") for p in other_clips]
    trials = ev.build_keyword_trials(kw, None, None, seed=0, placements=1)
    settings_ = shipped_model.spec.trigger
    ws = ev.score_audio(shipped_model, settings_, trials, "stop")
    ws_small = ev.score_audio(shipped_model, settings_, trials, "stop", block_s=0.1)
    np.testing.assert_array_equal(ws.scores, ws_small.scores)
    hop_s = settings_.hop_s
    assert len(ws.ends) == pytest.approx(len(trials.audio) / RATE / hop_s, abs=2 / hop_s)
    frr = ev.frr_at(ws, trials, shipped_model.spec.thresholds["stop"], settings_, 1.0, "stop")
    assert 0.0 <= frr <= 1.0

    negative = ev.build_solo_trials(others, seed=0, name="negative")
    negative.info["beds"] = []
    sets = ev.EvalSets("test", {"clean": trials}, negative, ev.build_solo_trials(others, seed=1), {})
    one = ev.score_models([("a", shipped_model.path)], sets, jobs=1)[0]
    two = ev.score_models([("a", shipped_model.path)], sets, jobs=2)[0]
    np.testing.assert_array_equal(one.negative.scores, two.negative.scores)
    np.testing.assert_array_equal(one.keyword_trials["clean"].scores, ws.scores)
    point = ev.operating_point(one, sets, shipped_model.spec.thresholds["stop"])
    assert set(point) >= {"frr", "fa_count", "fa_per_hour", "fa_by_label", "solo_fa"}


def test_operating_point_helpers_scan_from_the_safe_end():
    # FA/h target: lowest threshold from which every higher one also meets it
    assert ev.lowest_threshold_meeting([False, True, False, True, True]) == 3
    assert ev.lowest_threshold_meeting([True, True, False]) is None
    # recall target: the highest threshold that meets it, even if the degenerate lowest do not
    assert ev.highest_threshold_meeting([False, True, True, False, False]) == 2
    assert ev.highest_threshold_meeting([False, False]) is None


def test_score_cache_key_ignores_threshold_but_not_normalisation(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    side = {"thresholds": {"stop": 0.5}, "training": {"x": 1}, "normalisation": {"mean": [0.0]}}
    (tmp_path / "m.json").write_text(json.dumps(side))
    st = settings()
    key = ev.score_cache_path(tmp_path, model, st, "stop", "abc")
    side["thresholds"]["stop"] = 0.9
    side["training"]["x"] = 2
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert ev.score_cache_path(tmp_path, model, st, "stop", "abc") == key
    side["normalisation"]["mean"] = [1.0]
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert ev.score_cache_path(tmp_path, model, st, "stop", "abc") != key
    assert ev.score_cache_path(tmp_path, model, st, "stop", "abd") != ev.score_cache_path(tmp_path, model, st, "stop", "abc")
    ws = ev.WindowScores(np.arange(5, dtype=np.int64), np.linspace(0, 1, 5).astype(np.float32), RATE)
    ev.save_scores(key, ws)
    back = ev.load_scores(key)
    np.testing.assert_array_equal(back.scores, ws.scores) and np.testing.assert_array_equal(back.ends, ws.ends)


def test_by_speaker_splits_the_frr_between_a_group_and_the_rest():
    from wakeword.train.by_speaker import group_frr

    sets, ms = synthetic_sets_and_scores()
    audio = sets.keyword_trials["clean"]
    n = len(audio.events)
    low_half = np.arange(n) < n // 2  # the trials with the lower peaks
    t = 0.7
    own, rest = group_frr(ms, audio, t, low_half, "stop")
    overall = ev.frr_at(ms.keyword_trials["clean"], audio, t, ms.settings, ms.window_s, "stop")
    assert own > rest
    assert (own * low_half.sum() + rest * (~low_half).sum()) / n == pytest.approx(overall)
    assert group_frr(ms, audio, 0.01, low_half, "stop") == (0.0, 0.0)


def test_evaluation_refuses_a_split_that_would_test_a_model_on_its_training_speakers(tmp_path, capsys):
    """A model trained with a speaker pinned to train, or on another split seed, is refused on
    val/test unless the evaluation splits the same way; its sidecar says how it was trained."""
    root = Path(__file__).resolve().parents[2]
    model = tmp_path / "pinned.tflite"
    model.write_bytes((root / "models" / "stop.tflite").read_bytes())
    sidecar = json.loads((root / "models" / "stop.json").read_text())
    sidecar["model_file"] = model.name
    sidecar["training"]["data"]["pinned"] = {"felixchenfy": "train", "someone": "val"}
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    plain = [(None, root / "models" / "stop.tflite")]

    ev.check_training_split(plain, "val", 0, {})
    ev.check_training_split(plain + [("p", model)], "val", 0, {"felixchenfy": "train"})
    ev.check_training_split(plain + [("p", model)], "train", 0, {})
    with pytest.raises(ev.ConfigError, match="trained with felixchenfy pinned to train; give evaluate --pin felixchenfy=train"):
        ev.check_training_split(plain + [("p", model)], "test", 0, {})
    with pytest.raises(ev.ConfigError, match="--split-seed 0; evaluating it with --split-seed 1"):
        ev.check_training_split(plain, "val", 1, {})
    from wakeword.train.data import hashed_side

    trained = next(f"spk{i}" for i in range(100) if hashed_side(f"spk{i}", 0) == "train")
    unheard = next(f"spk{i}" for i in range(100) if hashed_side(f"spk{i}", 0) == "test")
    ev.check_training_split(plain, "val", 0, {unheard: "val"})
    with pytest.raises(ev.ConfigError, match=f"--pin {trained}=val moves a speaker .* trained on into the val split"):
        ev.check_training_split(plain, "val", 0, {trained: "val"})
    sidecar["training"]["data"]["split_seed"] = "zero"
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ev.ConfigError, match="training.data.split_seed must be a whole number, got 'zero'"):
        ev.check_training_split([("p", model)], "val", 0, {"felixchenfy": "train"})
    sidecar["training"]["data"]["split_seed"] = 0
    model.with_suffix(".json").write_text(json.dumps(sidecar))

    assert ev.main(["--split", "val", "--model", str(model), "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "felixchenfy" in err
    assert not (tmp_path / "r.json").exists()
