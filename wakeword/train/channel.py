"""Recording-channel augmentation: what microphones, sound cards and their software do to audio.

A model trained on one corpus's channel learns it as a shortcut ("Speech Commands channel plus a
word ending means stop") and then fires on other microphones' speech. These transformations are
applied to positives and negatives alike, so the channel says nothing about the class:

- a microphone response: a spectral tilt, a high-pass at 60-300 Hz, a low-pass at 3.5-7.5 kHz;
- gain jumps and slow AGC-like level changes;
- soft (tanh) and hard clipping;
- a DC offset;
- quantisation to 8-12 bits;
- an abrupt start or end into digital silence, as a recording that starts or stops mid-sound.

Every function takes float32 1-D audio in [-1, 1] and a numpy Generator; `apply_channel` draws
which of them apply with the probabilities of a ChannelSettings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

HIGHPASS_HZ = (60.0, 300.0)
LOWPASS_HZ = (3500.0, 7500.0)
#: Spectral tilt, dB per octave around 1 kHz (negative: duller).
TILT_DB_PER_OCTAVE = (-3.0, 3.0)
TILT_PIVOT_HZ = 1000.0
GAIN_JUMP_DB = (-12.0, 12.0)
#: AGC: gain wanders by up to this much (dB) over segments of AGC_SEGMENT_S.
AGC_RANGE_DB = 10.0
AGC_SEGMENT_S = (0.1, 0.6)
SOFT_CLIP_DRIVE = (1.5, 6.0)
#: Hard clipping at this fraction of the peak.
HARD_CLIP_FRACTION = (0.3, 0.8)
DC_OFFSET = (-0.05, 0.05)
QUANT_BITS = (8, 12)
#: Abrupt edges: the part of the window zeroed at the start or the end, as a fraction.
EDGE_FRACTION = (0.05, 0.45)


@dataclass(frozen=True)
class ChannelSettings:
    """Probabilities of each channel transformation (each drawn independently)."""

    p_response: float = 0.5
    p_gain_jump: float = 0.15
    p_agc: float = 0.15
    p_soft_clip: float = 0.1
    p_hard_clip: float = 0.05
    p_dc: float = 0.1
    p_quantise: float = 0.1
    p_edge: float = 0.1

    @classmethod
    def off(cls) -> "ChannelSettings":
        return cls(**{k: 0.0 for k in cls.__dataclass_fields__})


def microphone_response(x: np.ndarray, rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A random tilt, high-pass and low-pass: float32 (n,) -> (n,), the rms kept."""
    nyquist = rate_hz / 2
    y = np.asarray(x, dtype=np.float64)
    spec = np.fft.rfft(y)
    freqs = np.fft.rfftfreq(len(y), 1.0 / rate_hz)
    tilt = rng.uniform(*TILT_DB_PER_OCTAVE)
    octaves = np.log2(np.maximum(freqs, 20.0) / TILT_PIVOT_HZ)
    y = np.fft.irfft(spec * 10 ** (tilt * octaves / 20), n=len(y))
    hp = float(rng.uniform(*HIGHPASS_HZ))
    y = sosfilt(butter(int(rng.integers(1, 4)), hp / nyquist, "highpass", output="sos"), y)
    lp = min(float(rng.uniform(*LOWPASS_HZ)), 0.95 * nyquist)
    y = sosfilt(butter(int(rng.integers(2, 7)), lp / nyquist, "lowpass", output="sos"), y)
    before, after = np.sqrt(np.mean(np.square(x, dtype=np.float64))), np.sqrt(np.mean(y**2))
    return (y * (before / after if after > 1e-12 else 1.0)).astype(np.float32)


def gain_jump(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One step change of gain at a random point (a user touching the volume, a switched input)."""
    at = int(rng.integers(1, max(2, len(x))))
    y = x.copy()
    y[at:] *= 10 ** (rng.uniform(*GAIN_JUMP_DB) / 20)
    return y


def agc(x: np.ndarray, rng: np.random.Generator, rate_hz: int) -> np.ndarray:
    """A gain that wanders smoothly over the window, as an automatic gain control does."""
    n = len(x)
    points, t = [0], 0
    while t < n:
        t += int(rng.uniform(*AGC_SEGMENT_S) * rate_hz)
        points.append(min(t, n))
    gains_db = rng.uniform(-AGC_RANGE_DB / 2, AGC_RANGE_DB / 2, len(points))
    curve = np.interp(np.arange(n), points, gains_db)
    return (x * 10 ** (curve / 20)).astype(np.float32)


def soft_clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """tanh saturation of an overdriven input stage, the peak kept."""
    peak = float(np.max(np.abs(x))) or 1.0
    drive = rng.uniform(*SOFT_CLIP_DRIVE)
    return (np.tanh(x / peak * drive) / np.tanh(drive) * peak).astype(np.float32)


def hard_clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    peak = float(np.max(np.abs(x))) or 1.0
    level = peak * rng.uniform(*HARD_CLIP_FRACTION)
    return np.clip(x, -level, level).astype(np.float32)


def dc_offset(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return (x + rng.uniform(*DC_OFFSET)).astype(np.float32)


def quantise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Round to 8-12 bits (a cheap sound card, or a codec's worst moments)."""
    steps = 2 ** (int(rng.integers(QUANT_BITS[0], QUANT_BITS[1] + 1)) - 1)
    return (np.round(np.clip(x, -1, 1) * steps) / steps).astype(np.float32)


def abrupt_edge(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Digital silence from the start up to, or from a point to the end: a recording that begins
    or ends mid-sound."""
    y = x.copy()
    cut = int(len(x) * rng.uniform(*EDGE_FRACTION))
    if rng.random() < 0.5:
        y[:cut] = 0.0
    else:
        y[len(y) - cut:] = 0.0
    return y


def apply_channel(x: np.ndarray, rng: np.random.Generator, rate_hz: int, settings: ChannelSettings) -> np.ndarray:
    """The channel transformations, each with its probability, in the order a signal meets them:
    the microphone, the level, the converter, the recording's edges."""
    s = settings
    if rng.random() < s.p_response:
        x = microphone_response(x, rng, rate_hz)
    if rng.random() < s.p_gain_jump:
        x = gain_jump(x, rng)
    if rng.random() < s.p_agc:
        x = agc(x, rng, rate_hz)
    if rng.random() < s.p_soft_clip:
        x = soft_clip(x, rng)
    if rng.random() < s.p_hard_clip:
        x = hard_clip(x, rng)
    if rng.random() < s.p_dc:
        x = dc_offset(x, rng)
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    if rng.random() < s.p_quantise:
        x = quantise(x, rng)
    if rng.random() < s.p_edge:
        x = abrupt_edge(x, rng)
    return x
