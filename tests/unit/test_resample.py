"""The resampler: band-limited, exact across block boundaries, any rational ratio."""

import numpy as np
import pytest

from wakeword.resample import Resampler

RATES = [(48000, 16000), (44100, 16000), (22050, 16000), (8000, 16000), (16000, 8000), (48000, 8000)]


def tone(freq_hz, rate_hz, seconds=1.0, amplitude=0.5):
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


@pytest.mark.parametrize("in_hz,out_hz", RATES)
def test_output_does_not_depend_on_block_size(in_hz, out_hz):
    x = tone(440, in_hz, 2.0) + tone(1234, in_hz, 2.0, 0.2)
    whole = Resampler(in_hz, out_hz).process(x)
    rng = np.random.default_rng(0)
    r = Resampler(in_hz, out_hz)
    parts, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 3000))
        parts.append(r.process(x[i : i + n]))
        i += n
    pieces = np.concatenate(parts)
    assert len(pieces) == len(whole)
    np.testing.assert_array_equal(pieces, whole)


@pytest.mark.parametrize("in_hz,out_hz", RATES)
def test_a_tone_in_the_pass_band_keeps_its_shape(in_hz, out_hz):
    y = Resampler(in_hz, out_hz).process(tone(440, in_hz))
    expected = tone(440, out_hz)[: len(y)]
    middle = slice(200, len(y) - 200)
    assert np.abs(y[middle] - expected[middle]).max() < 0.01


@pytest.mark.parametrize("in_hz,out_hz", [(48000, 16000), (44100, 16000), (16000, 8000)])
def test_a_tone_above_the_new_nyquist_is_removed(in_hz, out_hz):
    y = Resampler(in_hz, out_hz).process(tone(0.6 * out_hz, in_hz))
    assert np.abs(y[200:-200]).max() < 1e-3  # below -54 dB relative to 0.5


def test_output_length_follows_the_rate_ratio():
    r = Resampler(44100, 16000)
    n = sum(len(r.process(np.zeros(4410, np.float32))) for _ in range(100))  # 10 s in
    assert abs(n - 160000) < 64  # less the kernel's look-ahead


def test_equal_rates_pass_through_unchanged():
    x = tone(440, 16000)
    np.testing.assert_array_equal(Resampler(16000, 16000).process(x), x)


@pytest.mark.parametrize("in_hz", [383999, 256063, 192001, 44101, 1001])
def test_a_rate_that_does_not_reduce_is_resampled_at_a_near_ratio_with_small_tables(in_hz):
    # exact, 383999 -> 16000 is up 16000 / down 383999: a 685 MB kernel plan for a 3 KB file
    r = Resampler(in_hz, 16000)
    assert max(r._up, r._down) <= 8192
    # within 100 parts per million of the true ratio (the worst over 1-384 kHz is 60 ppm)
    assert abs(r._up / r._down - 16000 / in_hz) <= 1e-4 * (16000 / in_hz)
    assert r._W.nbytes + r._spans.nbytes < 4_000_000
    if in_hz > 16000:
        y = r.process(tone(440, in_hz))
        expected = tone(440, 16000)[: len(y)]
        assert np.abs(y[2000:-2000] - expected[2000:-2000]).max() < 0.01


def test_common_rates_keep_their_exact_ratio():
    for in_hz, out_hz in RATES + [(11025, 16000), (96000, 16000), (384000, 16000), (1000, 16000)]:
        r = Resampler(in_hz, out_hz)
        assert r._up * in_hz == r._down * out_hz, (in_hz, out_hz)
