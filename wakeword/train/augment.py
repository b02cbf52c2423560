"""Seeded audio augmentation: gain, speed, mixing at an SNR, reverberation, coloured noise, babble,
impulsive transients, and SpecAugment-style feature masks.

Every function takes float32 1-D audio in [-1, 1] at one sample rate and, where it is random, a
numpy Generator passed in by the caller, so a seed reproduces the whole training set. Rooms are
simulated in rooms.py, recording channels in channel.py.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
from scipy.signal import fftconvolve, lfilter

from ..resample import resample_signal

log = logging.getLogger(__name__)

#: Floor added to powers before taking logs or dividing, in linear power units.
POWER_FLOOR = 1e-12
#: Frame used to find where speech is, in seconds; and how far below the loudest frame
#: (in dB) a frame still counts as speech.
VAD_FRAME_S = 0.010
VAD_RANGE_DB = 35.0
#: Speed factors are approximated by fractions with at most this denominator, which keeps the
#: resampler's phase table small.
SPEED_MAX_DENOMINATOR = 40


def db_to_gain(db: float) -> float:
    """Amplitude gain for a level change in dB."""
    return float(10.0 ** (db / 20.0))


def rms(x: np.ndarray) -> float:
    """Root mean square of a float array (0 for an empty one)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def active_region(x: np.ndarray, sample_rate_hz: int, range_db: float = VAD_RANGE_DB) -> tuple[int, int]:
    """(start, end) sample indices of the part of a clip within `range_db` of its loudest 10 ms frame.

    Crude energy VAD, good enough to find the one word in a command clip.
    """
    frame = max(1, int(VAD_FRAME_S * sample_rate_hz))
    n = len(x) // frame
    if n == 0:
        return 0, len(x)
    energy = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    level_db = 10 * np.log10(energy + POWER_FLOOR)
    loud = np.flatnonzero(level_db > level_db.max() - range_db)
    return int(loud[0] * frame), int(min(len(x), (loud[-1] + 1) * frame))


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch rises with it, like sox 'speed'): float32 (n,) -> (~n/factor,)."""
    if abs(factor - 1.0) < 1e-3:
        return x.astype(np.float32, copy=False)
    frac = Fraction(factor).limit_denominator(SPEED_MAX_DENOMINATOR)
    # playing faster = fewer output samples: read the audio as if sampled at numerator Hz, write at denominator Hz
    return resample_signal(x, frac.numerator, frac.denominator)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float, signal_rms: float | None = None) -> np.ndarray:
    """signal + noise scaled so that rms(signal) / rms(noise) is snr_db; same length float32.

    signal_rms lets the caller give the level of the speech alone (the active part), so that
    padding around a word does not make the SNR look better than it is.
    """
    level = rms(signal) if signal_rms is None else signal_rms
    noise_level = rms(noise)
    if noise_level < 1e-9 or level < 1e-9:
        return signal.astype(np.float32, copy=False)
    scale = level / noise_level / db_to_gain(snr_db)
    return (signal + scale * noise).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n_samples: int, exponent: float) -> np.ndarray:
    """Gaussian noise with a 1/f**exponent power spectrum (0 white, 1 pink, 2 brown), unit rms float32."""
    spectrum = rng.standard_normal(n_samples // 2 + 1) + 1j * rng.standard_normal(n_samples // 2 + 1)
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    spectrum /= freqs ** (exponent / 2.0)
    noise = np.fft.irfft(spectrum, n=n_samples)
    return (noise / (rms(noise) + 1e-12)).astype(np.float32)


def random_crop(rng: np.random.Generator, x: np.ndarray, n_samples: int) -> np.ndarray:
    """A random n_samples slice of x, zero padded at a random side if x is shorter."""
    if len(x) >= n_samples:
        start = int(rng.integers(0, len(x) - n_samples + 1))
        return x[start : start + n_samples]
    out = np.zeros(n_samples, dtype=np.float32)
    start = int(rng.integers(0, n_samples - len(x) + 1))
    out[start : start + len(x)] = x
    return out


def babble(rng: np.random.Generator, sentences: list[np.ndarray], n_samples: int, talkers: int) -> np.ndarray:
    """Sum of `talkers` random sentence snippets at random relative levels: float32 (n_samples,)."""
    out = np.zeros(n_samples, dtype=np.float32)
    for _ in range(talkers):
        snippet = random_crop(rng, sentences[int(rng.integers(len(sentences)))], n_samples)
        out += snippet / (rms(snippet) + 1e-9) * db_to_gain(rng.uniform(-6, 0))
    return out


def transients(rng: np.random.Generator, n_samples: int, sample_rate_hz: int) -> np.ndarray:
    """Impulsive noise, unit rms float32 (n_samples,): knocks, clicks and ringing taps.

    The six real noise files are stationary hums and hisses (tap, bike, pink, white) and one
    miaowing cat, so without this a model has never heard a sharp transient over speech. Events
    arrive at a random rate (0.5-12 per second), each either a decaying noise burst (2-40 ms,
    one-pole coloured) or 1-4 damped sinusoids (300-7000 Hz, decay 10-150 ms), at levels spread
    over 30 dB, over a faint coloured floor.
    """
    out = coloured_noise(rng, n_samples, float(rng.uniform(0.0, 2.0))) * db_to_gain(rng.uniform(-45, -25))
    rate = float(rng.uniform(0.5, 12.0))
    count = int(rng.poisson(rate * n_samples / sample_rate_hz)) + 1
    for _ in range(count):
        start = int(rng.integers(-sample_rate_hz // 20, n_samples))
        level = db_to_gain(rng.uniform(-30, 0))
        if rng.random() < 0.5:
            tau = rng.uniform(0.002, 0.04)
            length = int(min(5 * tau, 0.2) * sample_rate_hz) + 1
            t = np.arange(length) / sample_rate_hz
            a = rng.uniform(-0.9, 0.95)  # one-pole colouring: <0 brighter, >0 duller
            event = lfilter([1.0], [1.0, -a], rng.standard_normal(length)) * np.exp(-t / tau)
        else:
            tau = rng.uniform(0.01, 0.15)
            length = int(min(5 * tau, 0.5) * sample_rate_hz) + 1
            t = np.arange(length) / sample_rate_hz
            freqs = np.exp(rng.uniform(np.log(300.0), np.log(7000.0), int(rng.integers(1, 5))))
            event = np.sum(np.sin(2 * np.pi * freqs[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (len(freqs), 1))), axis=0)
            event *= np.exp(-t / tau)
        event = event / (np.max(np.abs(event)) + 1e-12) * level
        lo, hi = max(0, start), min(n_samples, start + length)
        if hi > lo:
            out[lo:hi] += event[lo - start : hi - start].astype(np.float32)
    return (out / (rms(out) + 1e-12)).astype(np.float32)


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """x convolved with rir, cut to len(x), rescaled to x's rms: float32 (n,)."""
    wet = fftconvolve(x, rir)[: len(x)]
    return (wet * (rms(x) / (rms(wet) + 1e-12))).astype(np.float32)


def mask_features(X: np.ndarray, rng: np.random.Generator, max_time: int, max_freq: int, p: float = 0.6) -> np.ndarray:
    """SpecAugment-style masks on normalised features (n, frames, coefs, ...): with probability p
    each, one span of 1..max_time frames and one band of 1..max_freq coefficients per window is
    set to 0 (the training mean). Returns a new float32 array; X is not changed."""
    out = np.array(X, dtype=np.float32, copy=True)
    n, frames, coefs = out.shape[0], out.shape[1], out.shape[2]
    for axis, size, widest in ((1, frames, max_time), (2, coefs, max_freq)):
        if widest < 1:
            continue
        hit = rng.random(n) < p
        width = rng.integers(1, widest + 1, size=n)
        start = (rng.random(n) * (size - width + 1)).astype(np.int64)
        idx = np.arange(size)
        mask = hit[:, None] & (idx[None, :] >= start[:, None]) & (idx[None, :] < (start + width)[:, None])  # (n, size)
        shape = [n, 1, 1] + [1] * (out.ndim - 3)
        shape[axis] = size
        out *= ~mask.reshape(shape)
    return out
