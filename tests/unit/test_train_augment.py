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
