"""Augmentation pieces: impulsive transients and per-speaker weighting of keyword draws."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from wakeword.train import augment  # noqa: E402
from wakeword.train.examples import AudioStore  # noqa: E402


def crest_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(x)) / augment.rms(x)))


def test_transients_are_seeded_unit_rms_and_impulsive():
    a = augment.transients(np.random.default_rng(5), 32000, 16000)
    b = augment.transients(np.random.default_rng(5), 32000, 16000)
    c = augment.transients(np.random.default_rng(6), 32000, 16000)
    assert a.dtype == np.float32 and a.shape == (32000,)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert augment.rms(a) == pytest.approx(1.0, rel=1e-4)
    # Gaussian noise has a crest factor near 12 dB over 2 s; sparse knocks sit far above it.
    crests = [crest_db(augment.transients(np.random.default_rng(s), 32000, 16000)) for s in range(20)]
    white = crest_db(augment.coloured_noise(np.random.default_rng(0), 32000, 0.0))
    assert white < 14.0
    assert np.median(crests) > white + 4.0


def store_with_speakers(speakers: list[str]) -> AudioStore:
    store = AudioStore.__new__(AudioStore)  # no audio needed for the weights
    store.keyword_speakers = list(speakers)
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


def test_augment_overrides_parse_json_values_and_name_bad_keys():
    from wakeword.train.examples import AugmentSettings, augment_settings

    assert augment_settings(None) == AugmentSettings()
    s = augment_settings(["speaker_balance=0.5", "snr_db_range=[-3, 30]", 'bed_mix={"real": 1, "transients": 1}'])
    assert s.speaker_balance == 0.5 and s.snr_db_range == (-3, 30) and s.bed_mix == {"real": 1.0, "coloured": 0.0, "silence": 0.0, "babble": 0.0, "transients": 1.0}
    assert augment_settings(["level_reference=speech"]).level_reference == "speech"
    with pytest.raises(ValueError, match="KEY one of"):
        augment_settings(["snr=5"])
    with pytest.raises(ValueError, match="must be JSON"):
        augment_settings(["p_noise=lots"])
    # well-formed JSON of the wrong shape is named before any audio is loaded
    for bad in ("snr_db_range=5", "snr_db_range=[30,-3]", "bed_mix={}", 'bed_mix={"rael":1}', "bed_mix=[1,2]",
                "level_reference=spech", 'speaker_balance="x"', "p_noise=1.5", 'negative_mix={"word":-1}'):
        with pytest.raises(ValueError, match="--augment"):
            augment_settings([bad])
    # a partial bed mix names the kinds it leaves out with weight 0
    assert augment_settings(['bed_mix={"transients":1}']).bed_mix == {"real": 0.0, "coloured": 0.0, "silence": 0.0, "babble": 0.0, "transients": 1.0}


def test_pins_parse_and_bad_ones_are_named():
    from wakeword.train.data import SINGLE_SPEAKER_PIN, parse_pins

    assert parse_pins(None) == {}
    assert parse_pins(["felixchenfy=train"]) == SINGLE_SPEAKER_PIN
    for bad in ("felixchenfy", "felixchenfy=holdout", "=train"):
        with pytest.raises(ValueError, match="SPEAKER=SIDE"):
            parse_pins([bad])


@pytest.mark.parametrize("flag", [["--pin", "felix=nowhere"], ["--augment", "nonsense=1"]])
def test_trainers_reject_bad_pins_and_augment_keys_in_one_line(flag, tmp_path, capsys):
    from wakeword.train.__main__ import main as train_main
    from wakeword.train.embedding_head import main as head_main

    for main in (train_main, head_main):
        assert main(["--out", str(tmp_path / "m"), *flag]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and ("--pin" in err or "--augment" in err), err
    assert not list(tmp_path.iterdir())  # nothing written
