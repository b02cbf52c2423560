"""Augmentation pieces: impulsive transients, speed through the runtime's resampler, masks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from wakeword.train import augment  # noqa: E402


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


def test_speed_plays_faster_and_keeps_a_tone_in_tune_with_the_new_rate():
    t = np.arange(16000) / 16000
    x = np.sin(2 * np.pi * 500 * t).astype(np.float32)
    fast = augment.speed(x, 1.25)
    assert fast.dtype == np.float32 and len(fast) == pytest.approx(16000 / 1.25, abs=2)
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    peak_hz = np.argmax(spectrum) * 16000 / len(fast)
    assert peak_hz == pytest.approx(625, abs=5)  # 500 Hz played 1.25 times faster
    assert augment.speed(x, 1.0) is x or np.array_equal(augment.speed(x, 1.0), x)


def test_masks_zero_spans_and_bands_and_leave_the_input_alone():
    X = np.ones((50, 20, 10), np.float32)
    out = augment.mask_features(X, np.random.default_rng(0), 5, 3, p=1.0)
    assert X.min() == 1.0  # unchanged
    zero_frames = (out == 0).all(axis=2).sum(axis=1)
    assert (zero_frames >= 1).all() and (zero_frames <= 5).all()
