"""The corpus and the speaker folds: speakers in one fold, noise by class, the test recordings kept out."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")

from wakeword.train.common import FoldPlan  # noqa: E402
from wakeword.train.data import (  # noqa: E402
    ALWAYS_TRAIN_NOISE,
    KIND_KEYWORD,
    KIND_NOISE,
    RESERVED_CLIPS,
    Clip,
    load_corpus,
    noise_class,
    noise_groups,
    read_audio,
    speaker_folds,
    without_reserved,
)

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = ROOT.parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (REAL_DATA / "manifest.csv").is_file(), reason=f"real data not found at {REAL_DATA}")


def synthetic_clips(n_speakers=60, clips_each=5, big=None):
    clips = []
    for s in range(n_speakers):
        for k in range(clips_each):
            label = "stop" if k == 0 else "go"
            clips.append(Clip(Path(f"{label}/{s:08x}_nohash_{k}.wav"), label, f"{s:08x}", "synthetic", KIND_KEYWORD if k == 0 else "command"))
    for k in range(big or 0):
        clips.append(Clip(Path(f"single/stop/{k}.wav"), "stop", "felix", "single", KIND_KEYWORD))
    clips.append(Clip(Path("noise/pink.wav"), "_noise_", "noise:pink", "synthetic", KIND_NOISE))
    return clips


def test_every_speaker_sits_in_one_fold_and_the_keyword_clips_are_balanced():
    clips = synthetic_clips(60, big=40)
    folds = speaker_folds(clips, 5, seed=3)
    assert set(folds.values()) == set(range(5))
    assert "noise:pink" not in folds
    by_fold = Counter(folds[c.speaker] for c in clips if c.kind == KIND_KEYWORD)
    # the 40-clip speaker has a fold to itself; the other 60 clips spread over the other four
    assert by_fold[folds["felix"]] == 40
    others = [n for f, n in by_fold.items() if f != folds["felix"]]
    assert max(others) - min(others) <= 1 and sum(others) == 60
    assert speaker_folds(clips, 5, seed=3) == folds
    assert speaker_folds(clips, 5, seed=4) != folds
    with pytest.raises(ValueError, match="at least 2"):
        speaker_folds(clips, 1)


def as_classes(clips, classes):
    """The same corpus as a --classes run loads it: the classes' words marked as keywords too."""
    return [Clip(c.path, c.label, c.speaker, c.source, KIND_KEYWORD if c.label in classes else c.kind) for c in clips]


def test_a_multiclass_run_deals_the_same_folds_as_its_scoring():
    # the scoring plan marks only "stop" as keyword; a --classes go run marks "go" too. Balanced on
    # every keyword clip, the two plans put speakers in different folds, and a fold model was then
    # scored on speakers it had trained on
    clips = synthetic_clips(60, big=40)
    for s in range(0, 60, 3):  # some speakers say "go" more often, so balancing on it moves them
        clips += [Clip(Path(f"go/{s:08x}_nohash_x{k}.wav"), "go", f"{s:08x}", "synthetic", "command") for k in range(6)]
    scoring = FoldPlan.make(clips, 5, 3, balance=("stop",))
    training = FoldPlan.make(as_classes(clips, {"stop", "go"}), 5, 3, balance=("stop",))
    assert training.fold_of == scoring.fold_of
    unbalanced = FoldPlan.make(as_classes(clips, {"stop", "go"}), 5, 3)
    assert unbalanced.fold_of != scoring.fold_of  # the old training plan: the split that leaked


def test_a_fold_model_from_another_split_is_refused_by_scoring_and_by_a_rerun(tmp_path):
    import json

    from wakeword.train.crossval import plan_mismatch
    from wakeword.train.runner import _same_recipe

    clips = synthetic_clips(60, big=40)
    for s in range(0, 60, 3):
        clips += [Clip(Path(f"go/{s:08x}_nohash_x{k}.wav"), "go", f"{s:08x}", "synthetic", "command") for k in range(6)]
    scoring = FoldPlan.make(clips, 5, 3, balance=("stop",))
    other = FoldPlan.make(as_classes(clips, {"stop", "go"}), 5, 3)
    fold = next(f for f in range(5) if scoring.record(f)["held_out_speakers_sha256"] != other.record(f)["held_out_speakers_sha256"])
    assert plan_mismatch(scoring.record(fold), scoring, fold) == ""
    assert "held_out_speakers_sha256" in plan_mismatch(other.record(fold), scoring, fold)
    # a sidecar from before the hash is compared by its number of training speakers
    counted = next(f for f in range(5) if other.record(f)["speakers"] != scoring.record(f)["speakers"])
    old = {k: v for k, v in other.record(counted).items() if k != "held_out_speakers_sha256"}
    assert "speakers" in plan_mismatch(old, scoring, counted)
    # a rerun of the same command keeps a fold model only if it was trained on this split
    sidecar = tmp_path / f"fold{fold}.json"
    sidecar.with_suffix(".tflite").write_bytes(b"model")
    command = "wakeword-train --data d --folds 5 --out r"
    sidecar.write_text(json.dumps({"training": {"command": command, "data": {"plan": other.record(fold)}}}))
    assert not _same_recipe(sidecar, command, scoring, fold)
    sidecar.write_text(json.dumps({"training": {"command": command, "data": {"plan": scoring.record(fold)}}}))
    assert _same_recipe(sidecar, command, scoring, fold)
    # ... and, given the training code's fingerprint, only if that code trained it
    sidecar.write_text(json.dumps({"training": {"command": command, "code": "0123456789abcdef",
                                                "data": {"plan": scoring.record(fold)}}}))
    assert _same_recipe(sidecar, command, scoring, fold, "0123456789abcdef")
    assert not _same_recipe(sidecar, command, scoring, fold, "fedcba9876543210")
    sidecar.write_text(json.dumps({"training": {"command": command, "data": {"plan": scoring.record(fold)}}}))
    assert not _same_recipe(sidecar, command, scoring, fold, "0123456789abcdef")  # an older run: code unknown


def test_the_code_fingerprints_follow_the_code_that_shapes_models_and_windows_only(tmp_path):
    """Copy the package, edit one file at a time, and fingerprint the copy. The model fingerprint
    (fold models kept on a rerun) changes with a trainer, the detector that cuts mining windows
    or a front end, not with the card, the daemon or the custom-word trainer; the window one (the
    bank cache) changes with the augmentation, not with the fitting."""
    import shutil

    import wakeword
    from wakeword.train.featureset import WINDOW_CODE, code_fingerprint
    from wakeword.train.runner import training_code

    root = tmp_path / "wakeword"
    shutil.copytree(Path(wakeword.__file__).parent, root, ignore=shutil.ignore_patterns("__pycache__"))
    model, window = training_code(root), code_fingerprint(WINDOW_CODE, root)
    assert model == training_code() and window == code_fingerprint(WINDOW_CODE) and len(model) == 16
    cases = [("train/card.py", False, False), ("daemon.py", False, False), ("train/custom.py", False, False),
             ("train/negbank.npz", False, False), ("train/fitting.py", True, False), ("detector.py", True, False),
             ("train/augment.py", True, True), ("frontends/mfcc.py", True, True)]
    for name, model_changes, window_changes in cases:
        path = root / name
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert (training_code(root) != model, code_fingerprint(WINDOW_CODE, root) != window) == (model_changes, window_changes), name
        path.write_bytes(original)
    assert training_code(root) == model


def test_a_source_with_every_speaker_in_one_fold_is_found():
    from wakeword.train.crossval import whole_source_folds

    plan = FoldPlan.make(synthetic_clips(60, big=40), 5, 3)
    assert whole_source_folds(plan) == {"single": plan.fold_of["felix"]}


def test_noise_is_grouped_by_class_and_white_and_pink_are_always_trained():
    def noise(rel):
        return Clip(Path("noise") / rel, "_noise_", "", "x", KIND_NOISE)

    clips = [noise("esc10/rain/1.flac"), noise("esc10/rain/2.flac"), noise("esc10/dog_bark/1.flac"),
             noise("music/a.flac"), noise("music/b.flac"), noise("doing_the_dishes.flac"), noise("white_noise.flac")]
    assert [noise_class(c) for c in clips] == ["esc10:rain", "esc10:rain", "esc10:dog_bark", "music", "music",
                                               "doing_the_dishes", "white_noise"]
    groups = noise_groups(clips, 2)
    assert set(groups) == {"esc10:rain", "esc10:dog_bark", "music", "doing_the_dishes"}
    assert "white_noise" in ALWAYS_TRAIN_NOISE and "white_noise" not in groups


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
    # several keywords at once: every one of them is of kind "keyword"
    both = {c.label: c.kind for c in load_corpus(tmp_path, ("stop", "go"))}
    assert both["stop"] == both["go"] == KIND_KEYWORD
    # read through the runtime's resampler: 8 kHz to 16 kHz doubles the length
    x = read_audio(tmp_path / "go/abcd1234_nohash_1.wav", 16000)
    assert x.dtype == np.float32 and len(x) == 16000


def test_the_reserved_clips_are_the_recordings_the_test_data_readme_lists():
    readme = (ROOT / "tests" / "data" / "README.md").read_text()
    listed = set(re.findall(r"`(speech_commands/[a-z]+/[0-9a-f]{8}_nohash_\d+\.flac)`", readme))
    assert listed == set(RESERVED_CLIPS)
    clips = [Clip(Path("/d") / p, "x", "s", "sc", "command") for p in sorted(RESERVED_CLIPS)] + \
        [Clip(Path("/d/speech_commands/stop/1f653d27_nohash_1.flac"), "stop", "1f653d27", "sc", KIND_KEYWORD)]
    assert [c.path.name for c in without_reserved(clips)] == ["1f653d27_nohash_1.flac"]


@needs_data
def test_the_real_ten_class_training_plan_is_the_stop_scoring_plan():
    words = ("stop", "go", "up", "down", "left", "right", "on", "off", "yes", "no")
    scoring = FoldPlan.make(load_corpus(REAL_DATA, "stop"), 5, 0, balance=("stop",))
    training = FoldPlan.make(load_corpus(REAL_DATA, words), 5, 0, balance=("stop",))
    assert training.fold_of == scoring.fold_of
    assert [training.record(f)["held_out_speakers_sha256"] for f in range(5)] == \
        [scoring.record(f)["held_out_speakers_sha256"] for f in range(5)]


@needs_data
def test_real_folds_keep_speakers_apart_and_hold_every_noise_class_out_once():
    clips = load_corpus(REAL_DATA, "stop")
    plan = FoldPlan.make(clips, 5, 0)
    speakers = [{c.speaker for c in plan.speech([f])} for f in range(5)]
    for a in range(5):
        for b in range(a + 1, 5):
            assert not speakers[a] & speakers[b]
    assert sum(len(s) for s in speakers) == len({c.speaker for c in plan.clips if c.kind != KIND_NOISE})
    held = [{noise_class(c) for c in plan.held_out_noises(f)} for f in range(5)]
    assert all(held) and len(set().union(*held)) == sum(len(h) for h in held)  # each class in one group
    for f in range(5):
        trained = {noise_class(c) for c in plan.noises(plan.training_folds(f))}
        assert not trained & held[f]
        assert ALWAYS_TRAIN_NOISE <= trained
    keyword = [sum(c.kind == KIND_KEYWORD for c in plan.speech([f])) for f in range(5)]
    assert sum(keyword) == 404 - sum("/stop/" in p for p in RESERVED_CLIPS)
    # the single-speaker folder is one speaker: all of it in one fold
    felix = {f for f in range(5) if "felixchenfy" in speakers[f]}
    assert len(felix) == 1
    # and it is the one source the cross-corpus figures can use: no other fold trains on it
    from wakeword.train.crossval import whole_source_folds

    assert whole_source_folds(plan) == {"ros_speech_commands_classification": felix.pop()}
