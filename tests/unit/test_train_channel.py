"""Channel augmentation: each transformation does what its name says, seeded."""

import numpy as np
import pytest

pytest.importorskip("scipy")

from wakeword.train import channel  # noqa: E402

RATE = 16000


def tone_noise(seed=0, n=RATE):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def band_energy(x, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return spec[(f >= lo) & (f < hi)].sum()


def test_the_microphone_response_cuts_the_band_edges_and_keeps_the_level():
    white = np.random.default_rng(1).standard_normal(RATE).astype(np.float32) * 0.1
    y = channel.microphone_response(white, np.random.default_rng(2), RATE)
    assert y.dtype == np.float32 and y.shape == white.shape
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(white**2)), rel=1e-3)
    # the top band (above the highest possible low-pass cut) loses most of its energy
    assert band_energy(y, 7600, 8000) < 0.3 * band_energy(white, 7600, 8000)
    assert band_energy(y, 0, 50) < 0.3 * band_energy(white, 0, 50)


def test_clipping_dc_quantisation_and_edges():
    x = tone_noise()
    rng = np.random.default_rng(4)
    hard = channel.hard_clip(x, rng)
    assert np.max(np.abs(hard)) < np.max(np.abs(x)) and np.mean(np.abs(hard) == np.max(np.abs(hard))) > 0.01
    soft = channel.soft_clip(x, rng)
    assert np.max(np.abs(soft)) == pytest.approx(np.max(np.abs(x)), rel=1e-5)
    dc = channel.dc_offset(x, rng)
    assert abs(np.mean(dc) - np.mean(x)) > 1e-4
    q = channel.quantise(x, rng)
    levels = len(np.unique(q))
    assert levels <= 2 ** channel.QUANT_BITS[1]
    edged = channel.abrupt_edge(x, rng)
    zeros = edged == 0
    assert zeros.sum() > 0.04 * len(x) and (zeros[: zeros.sum()].all() or zeros[-zeros.sum():].all())


def test_apply_channel_is_seeded_and_off_does_nothing():
    x = tone_noise()
    a = channel.apply_channel(x, np.random.default_rng(9), RATE, channel.ChannelSettings())
    b = channel.apply_channel(x, np.random.default_rng(9), RATE, channel.ChannelSettings())
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(channel.apply_channel(x, np.random.default_rng(9), RATE, channel.ChannelSettings.off()), x)
    everything = channel.ChannelSettings(**{k: 1.0 for k in channel.ChannelSettings.__dataclass_fields__})
    c = channel.apply_channel(x, np.random.default_rng(9), RATE, everything)
    assert not np.allclose(c, x) and np.max(np.abs(c)) <= 1.0
