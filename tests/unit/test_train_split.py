"""The speaker split: no speaker on two sides, deterministic, and speaker ids read the way data.py says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")

from wakeword.train.data import (  # noqa: E402
    HELD_OUT_NOISE,
    SINGLE_SPEAKER_PIN,
    KIND_KEYWORD,
    KIND_NOISE,
    Clip,
    load_corpus,
    noise_split,
    read_audio,
    speaker_side,
    split_by_speaker,
)

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def speakers_by_side(splits):
    return {name: {c.speaker for c in clips} for name, clips in splits.items()}


def assert_disjoint(splits):
    sides = speakers_by_side(splits)
    names = sorted(sides)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = sides[a] & sides[b]
            assert not both, f"speakers on both {a} and {b}: {sorted(both)[:5]}"


def synthetic_clips(n_speakers=60, clips_each=5):
    clips = []
    for s in range(n_speakers):
        for k in range(clips_each):
            label = "stop" if k == 0 else "go"
            clips.append(Clip(Path(f"{label}/{s:08x}_nohash_{k}.wav"), label, f"{s:08x}", "synthetic", KIND_KEYWORD if k == 0 else "command"))
    clips.append(Clip(Path("noise/pink.wav"), "_noise_", "noise:pink", "synthetic", KIND_NOISE))
    return clips


def test_synthetic_split_keeps_every_speaker_on_one_side_and_leaves_noise_out():
    clips = synthetic_clips()
    splits = split_by_speaker(clips, seed=3)
    assert_disjoint(splits)
    assert sum(len(v) for v in splits.values()) == len(clips) - 1  # the noise file is not split
    assert all(c.kind != KIND_NOISE for v in splits.values() for c in v)
    # roughly the requested fractions of speakers
    n = {k: len(v) for k, v in speakers_by_side(splits).items()}
    assert 0.5 < n["train"] / 60 < 0.9 and n["val"] > 0 and n["test"] > 0


def test_split_is_deterministic_and_depends_on_the_seed():
    clips = synthetic_clips()
    a, b = split_by_speaker(clips, seed=1), split_by_speaker(clips, seed=1)
    assert {k: [c.path for c in v] for k, v in a.items()} == {k: [c.path for c in v] for k, v in b.items()}
    c = split_by_speaker(clips, seed=2)
    assert speakers_by_side(a) != speakers_by_side(c)


def test_a_speakers_side_does_not_depend_on_other_clips():
    clips = synthetic_clips()
    full = speakers_by_side(split_by_speaker(clips, seed=0))
    half = speakers_by_side(split_by_speaker(clips[::2], seed=0))
    for side in full:
        assert half[side] <= full[side]


def test_pinned_speakers_go_to_their_side_whatever_the_seed_and_others_do_not_move():
    clips = synthetic_clips()
    pinned_speaker = clips[0].speaker
    for seed in range(6):
        free = speakers_by_side(split_by_speaker(clips, seed=seed, pinned={}))
        pinned = speakers_by_side(split_by_speaker(clips, seed=seed, pinned={pinned_speaker: "val"}))
        assert pinned_speaker in pinned["val"]
        assert_disjoint(split_by_speaker(clips, seed=seed, pinned={pinned_speaker: "val"}))
        for side in free:
            assert free[side] - {pinned_speaker} == pinned[side] - {pinned_speaker}
    with pytest.raises(ValueError, match="pinned"):
        split_by_speaker(clips, pinned={pinned_speaker: "holdout"})


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="fractions"):
        split_by_speaker(synthetic_clips(), fractions=(0.8, 0.3, 0.1))


def test_folder_layout_gives_speech_commands_speakers_and_per_file_ids(tmp_path):
    import soundfile as sf

    tone = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    for rel in ("stop/abcd1234_nohash_0.wav", "go/abcd1234_nohash_1.wav", "other_wake_words/amelia/en/amelia-1.wav", "noise/pink.wav"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / rel, tone, 8000)
    clips = {c.path.relative_to(tmp_path).as_posix(): c for c in load_corpus(tmp_path)}
    assert clips["stop/abcd1234_nohash_0.wav"].speaker == "abcd1234"
    assert clips["stop/abcd1234_nohash_0.wav"].kind == KIND_KEYWORD
    assert clips["go/abcd1234_nohash_1.wav"].kind == "command"
    assert clips["other_wake_words/amelia/en/amelia-1.wav"].speaker == "file:amelia-1"
    assert clips["other_wake_words/amelia/en/amelia-1.wav"].kind == "wakeword"
    assert clips["noise/pink.wav"].speaker == "noise:pink"
    x = read_audio(tmp_path / "go/abcd1234_nohash_1.wav", 16000)
    assert x.dtype == np.float32 and len(x) == 16000


@pytest.mark.skipif(not (REAL_DATA / "manifest.csv").is_file(), reason=f"real data not found at {REAL_DATA}")
def test_real_manifest_split_has_no_speaker_on_two_sides():
    clips = load_corpus(REAL_DATA)
    splits = split_by_speaker(clips, seed=0)
    assert_disjoint(splits)
    assert speaker_side(splits, "felixchenfy") == "val"  # where seed 0's hash puts him (no pins by default)
    pinned = split_by_speaker(clips, seed=0, pinned=SINGLE_SPEAKER_PIN)
    assert_disjoint(pinned)
    assert speaker_side(pinned, "felixchenfy") == "train"
    assert [c.path for c in pinned["test"]] == [c.path for c in splits["test"]]  # the test side does not move
    for side in ("train", "val", "test"):
        assert any(c.kind == KIND_KEYWORD for c in splits[side]), f"no keyword clips on the {side} side"
    librispeech = [c for c in clips if c.kind == "speech"]
    assert librispeech and all(c.speaker.isdigit() for c in librispeech)
    train_noise, held = noise_split(clips)
    assert [c.path.stem for c in held] == [HELD_OUT_NOISE]
    assert HELD_OUT_NOISE not in {c.path.stem for c in train_noise} and train_noise
