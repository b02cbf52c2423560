"""Training windows: the store, labels of several keywords, rooms and channel, and --augment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
sf = pytest.importorskip("soundfile")

from wakeword.train import examples  # noqa: E402
from wakeword.train.data import Clip  # noqa: E402
from wakeword.train.examples import AudioStore, AugmentSettings, WindowFactory, augment_settings  # noqa: E402
from wakeword.train.rooms import room_bank  # noqa: E402

RATE = 16000


def word(path: Path, freq: float, seconds: float = 0.6) -> Path:
    n = int(seconds * RATE)
    x = np.zeros(int(1.0 * RATE), np.float32)
    start = (len(x) - n) // 2
    x[start : start + n] = 0.3 * np.sin(2 * np.pi * freq * np.arange(n) / RATE)
    sf.write(str(path), x, RATE)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("words")
    clips = []
    for i, (label, kind) in enumerate([("left", "keyword"), ("left", "keyword"), ("right", "keyword"),
                                        ("go", "command"), ("go", "command"), ("amelia", "wakeword")]):
        clips.append(Clip(word(d / f"{label}{i}.wav", 300 + 150 * i), label, f"s{i}", "x", kind))
    speech = d / "speech.wav"
    sf.write(str(speech), (0.1 * np.random.default_rng(0).standard_normal(4 * RATE)).astype(np.float32), RATE)
    clips.append(Clip(speech, "_speech_", "s9", "librispeech", "speech"))
    noise = d / "noise.wav"
    sf.write(str(noise), (0.1 * np.random.default_rng(1).standard_normal(3 * RATE)).astype(np.float32), RATE)
    return AudioStore(clips, [Clip(noise, "_noise_", "noise:n", "x", "noise")])


def store_with_speakers(speakers: list[str]) -> AudioStore:
    store = AudioStore.__new__(AudioStore)  # no audio needed for the weights
    store.word_speakers = list(speakers)
    return store


def test_speaker_weights_shrink_a_prolific_speaker():
    speakers = ["felix"] * 100 + [f"s{i}" for i in range(50)]
    store = store_with_speakers(speakers)
    idx = np.arange(len(speakers))
    uniform = store.speaker_weights(idx, 0.0)
    np.testing.assert_allclose(uniform, 1 / len(speakers))
    w = store.speaker_weights(idx, 0.5)
    assert w.sum() == pytest.approx(1.0)
    felix_share = w[:100].sum()
    # 100 clips ** 0.5 = 10 units against 50 units for the others: 1/6 of the draws, not 2/3
    assert felix_share == pytest.approx(10 / 60)
    one_per_speaker = store.speaker_weights(idx, 1.0)
    assert one_per_speaker[:100].sum() == pytest.approx(1 / 51)


def test_the_store_keeps_each_keyword_apart_from_the_other_words(store):
    assert store.keywords == ("left", "right")
    assert [len(store.keyword_pools[k][0]) for k in store.keywords] == [2, 1]
    assert sorted(store.word_labels[i] for i in store.other_words) == ["amelia", "go", "go"]


def test_windows_of_each_label_are_seeded_and_the_keyword_is_inside(store):
    rooms = room_bank(np.random.default_rng(0), RATE, 2)
    settings = AugmentSettings(p_noise=0.0, p_reverb=0.0, p_digital_silence=1.0, p_speed=0.0, margin_s=(0.0, 0.0), p_context=0.0)
    a = WindowFactory(store, RATE, np.random.default_rng(5), settings, rooms)
    b = WindowFactory(store, RATE, np.random.default_rng(5), settings, rooms)
    for label in ("left", "right", examples.UNKNOWN_LABEL, examples.BACKGROUND_LABEL):
        x, y = a.example(label), b.example(label)
        assert x.shape == (RATE,) and x.dtype == np.float32
        np.testing.assert_array_equal(x, y)
    right = a.positive("right")
    spectrum = np.abs(np.fft.rfft(right))
    assert np.argmax(spectrum) * RATE / len(right) == pytest.approx(300 + 150 * 2, abs=3)  # the "right" tone


def test_a_room_with_noise_from_elsewhere_and_the_channel_change_the_window(store):
    rooms = room_bank(np.random.default_rng(0), RATE, 2)
    plain = AugmentSettings(p_noise=1.0, p_reverb=0.0, p_channel=0.0)
    full = AugmentSettings(p_noise=1.0, p_reverb=1.0, room_noise=True, p_channel=1.0)
    x = WindowFactory(store, RATE, np.random.default_rng(3), plain, rooms).positive()
    y = WindowFactory(store, RATE, np.random.default_rng(3), full, rooms).positive()
    assert not np.allclose(x, y)
    assert np.max(np.abs(y)) <= 1.0


def test_augment_overrides_parse_json_values_and_name_bad_keys():
    assert augment_settings(None) == AugmentSettings()
    s = augment_settings(["speaker_balance=0.5", "snr_db_range=[-3, 30]", 'bed_mix={"real": 1, "transients": 1}',
                          "room_noise=true", "p_channel=0.6"])
    assert s.speaker_balance == 0.5 and s.snr_db_range == (-3, 30) and s.room_noise is True and s.p_channel == 0.6
    assert s.bed_mix == {"real": 1.0, "coloured": 0.0, "silence": 0.0, "babble": 0.0, "transients": 1.0}
    assert augment_settings(["level_reference=speech"]).level_reference == "speech"
    with pytest.raises(ValueError, match="KEY one of"):
        augment_settings(["snr=5"])
    with pytest.raises(ValueError, match="must be JSON"):
        augment_settings(["p_noise=lots"])
    for bad in ("snr_db_range=5", "snr_db_range=[30,-3]", "bed_mix={}", 'bed_mix={"rael":1}', "bed_mix=[1,2]",
                "level_reference=spech", 'speaker_balance="x"', "p_noise=1.5", 'negative_mix={"word":-1}', "room_noise=1"):
        with pytest.raises(ValueError, match="--augment"):
            augment_settings([bad])


@pytest.mark.parametrize("frontend", [[], ["--frontend", "speech_embedding"]])
def test_trainers_reject_bad_augment_keys_and_fold_counts_in_one_line(frontend, tmp_path, capsys):
    from wakeword.train.__main__ import main

    for flags in (["--augment", "nonsense=1"], ["--folds", "1"]):
        assert main([*frontend, "--out", str(tmp_path / "m"), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("--augment" in err or "--folds" in err), err
    assert not list(tmp_path.iterdir())  # nothing written
