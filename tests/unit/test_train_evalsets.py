"""Evaluation audio: long streams rendered in chunks, trials under each condition, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from wakeword.train import evalsets as es  # noqa: E402
from wakeword.train.data import Clip  # noqa: E402

RATE = 16000


def write_clip(path, seconds: float, freq: float) -> None:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), RATE)


@pytest.fixture()
def corpus(tmp_path):
    clips = []
    for i, (label, kind, secs) in enumerate([("off", "command", 1.0), ("go", "command", 0.8),
                                              ("amelia", "wakeword", 1.5), ("_speech_", "speech", 6.0)]):
        p = tmp_path / f"{label}_{i}.wav"
        write_clip(p, secs, 200 + 100 * i)
        clips.append(Clip(p, label, f"spk{i}", "synthetic", kind))
    noise = tmp_path / "noise.wav"
    sf.write(str(noise), np.random.default_rng(0).normal(0, 0.1, 3 * RATE).astype(np.float32), RATE)
    keyword = tmp_path / "stop.wav"
    write_clip(keyword, 0.7, 900)
    return clips, [("noise", es.read_audio(noise, RATE))], Clip(keyword, "stop", "spk9", "synthetic", "keyword")


def test_a_stream_is_long_enough_deterministic_and_the_same_in_any_chunks(corpus):
    clips, noises, keyword = corpus
    hours = 40.0 / 3600
    a = es.NegativeStream(clips, noises, hours, seed=1)
    b = es.NegativeStream(clips, noises, hours, seed=1)
    c = es.NegativeStream(clips, noises, hours, seed=2)
    assert a.hours >= hours and a.digest() == b.digest() != c.digest()
    whole = np.concatenate(list(a.blocks(chunk_s=1000)))
    np.testing.assert_array_equal(whole, np.concatenate(list(b.blocks(chunk_s=3.7))))
    assert len(whole) == a.n_samples and not np.array_equal(whole[:RATE], np.concatenate(list(c.blocks()))[:RATE])
    # every placed clip is where its event says: loud inside, the bed outside
    e = a.events[0]
    inside = np.sqrt(np.mean(whole[e.start : e.end] ** 2))
    assert inside > 3 * np.sqrt(np.mean(whole[: max(1, e.start)] ** 2))
    assert {ev.kind for ev in a.events} == {"command", "wakeword", "speech"}
    with pytest.raises(ValueError, match="keyword"):
        es.NegativeStream([keyword], noises, hours, seed=1)


def test_a_stream_has_one_digest_however_the_data_folder_is_spelt(corpus, tmp_path, monkeypatch):
    clips, noises, _ = corpus
    monkeypatch.chdir(tmp_path.parent)
    relative = [Clip(Path(tmp_path.name) / c.path.name, c.label, c.speaker, c.source, c.kind) for c in clips]
    hours = 40.0 / 3600
    same = es.NegativeStream(relative, noises, hours, seed=1).digest()
    assert same == es.NegativeStream(clips, noises, hours, seed=1).digest()
    # a different clip is a different stream
    elsewhere = clips[0].path.with_name("elsewhere.wav")
    elsewhere.write_bytes(clips[0].path.read_bytes())
    other = [Clip(elsewhere, clips[0].label, clips[0].speaker, clips[0].source, clips[0].kind)]
    assert es.NegativeStream(other + clips[1:], noises, hours, seed=1).digest() != same


def test_trials_keep_one_layout_and_mix_noise_at_the_asked_snr(corpus):
    clips, noises, keyword = corpus
    noise = [noises[0][1]]
    clean = es.build_keyword_trials([keyword], "clean", seed=3, placements=4)
    noisy = es.build_keyword_trials([keyword], es.snr_name(10), seed=3, noises=noise, placements=4)
    room = es.build_keyword_trials([keyword], "room", seed=3, noises=noise, placements=4)
    assert [e.start for e in clean.events] == [e.start for e in noisy.events] == [e.start for e in room.events]
    assert len(clean.events) == 4 and all(e.word_end > e.start for e in clean.events)
    x = es.read_audio(keyword.path, RATE)
    e = noisy.events[0]
    speech = es.active_rms(x, RATE)
    before = noisy.audio[e.start - RATE // 2 : e.start]
    assert 20 * np.log10(speech / np.sqrt(np.mean(before**2))) == pytest.approx(10.0, abs=1.5)
    assert 20 * np.log10(speech / np.sqrt(np.mean(clean.audio[e.start - RATE // 2 : e.start] ** 2))) > 40
    # the room's reverberation carries the tone past the end of the clip
    tail = slice(e.end + 200, e.end + 2000)
    assert np.sqrt(np.mean(room.audio[tail] ** 2)) > 3 * np.sqrt(np.mean(clean.audio[tail] ** 2))
    from wakeword.train.rooms import EVAL_RT60_S

    lo, hi = EVAL_RT60_S
    assert lo <= room.info["rooms"]["rt60_s"][0] <= room.info["rooms"]["rt60_s"][1] <= hi
    with pytest.raises(ValueError, match="held-out noise"):
        es.build_keyword_trials([keyword], "room", seed=3)


def test_solo_trials_place_each_clip_once(corpus):
    clips, _, _ = corpus
    solo = es.build_solo_trials(clips[:3], seed=0)
    assert [e.label for e in solo.events] == ["off", "go", "amelia"]
    assert solo.digest() == es.build_solo_trials(clips[:3], seed=0).digest()
