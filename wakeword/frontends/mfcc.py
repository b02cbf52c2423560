"""MFCC front end: one set of parameters, a whole-window path and a streaming path.

The parameters live in the model's sidecar (see sidecar.py); training writes them and the
runtime reads them, so they are never written twice. `mfcc_window` calls
python_speech_features.mfcc itself and is what training uses; `MfccStream` computes the same
frames incrementally so that a live stream computes every frame exactly once. A unit test
pins the two to each other.

Only *complete* frames are produced. python_speech_features pads the last frame of a clip with
zeros, which a stream can never reproduce, so a window is defined as a whole number of
complete frames (`window_frames`) rather than as a duration.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import numpy as np
from python_speech_features import base as psf_base
from python_speech_features import sigproc as psf_sigproc

from ..errors import ModelError
from . import MAX_WINDOW_FRAMES, check_field_types

#: Analysis windows a sidecar may name, mapped to functions of the frame length in samples.
WINDOW_FUNCTIONS = {
    "rect": lambda n: np.ones((n,)),
    "hamming": np.hamming,
    "hann": np.hanning,
}


#: MfccStream.push transforms at most this many frames' worth of samples at a time: it bounds
#: the float64 temporaries of a long block (10 s = 1000 frames) without changing any value.
FRAMES_PER_CHUNK = 200
#: Bounds that keep a crafted sidecar from sizing the filter bank (nfft 1e9 asked for 149 GiB).
MAX_NFFT = 8192
MAX_FILTERS = 128


def _round_half_up(x: float) -> int:
    # python_speech_features rounds frame lengths half-up; we must agree to the sample.
    return int(math.floor(x + 0.5))


@dataclass(frozen=True)
class MfccParams:
    """Everything needed to turn audio at `sample_rate_hz` into model input frames.

    Durations are in seconds, frequencies in Hz. `window_frames` is the number of complete
    MFCC frames in one model window (the model input is window_frames x numcep).
    """

    sample_rate_hz: int = 16000
    winlen_s: float = 0.025
    winstep_s: float = 0.010
    numcep: int = 13
    nfilt: int = 26
    nfft: int = 512
    lowfreq_hz: float = 0.0
    highfreq_hz: float | None = None
    preemph: float = 0.97
    ceplifter: int = 22
    append_energy: bool = True
    winfunc: str = "rect"
    window_frames: int = 98

    frontend_type: ClassVar[str] = "mfcc"
    #: one 100 ms hop per capture block
    default_block_ms: ClassVar[int] = 100

    def __post_init__(self) -> None:
        check_field_types(self, "MFCC parameters")
        problems = []
        if not 4000 <= self.sample_rate_hz <= 48000:
            problems.append(f"sample_rate_hz must be 4000-48000, got {self.sample_rate_hz}")
        if self.winfunc not in WINDOW_FUNCTIONS:
            problems.append(f"winfunc must be one of {sorted(WINDOW_FUNCTIONS)}, got {self.winfunc!r}")
        if not (0 < self.winlen_s <= 1 and 0 < self.winstep_s <= 1):
            problems.append("winlen_s and winstep_s must be above 0 and at most 1 s")
        elif self.frame_step_samples < 1:
            problems.append(f"winstep_s {self.winstep_s} is under one sample at {self.sample_rate_hz} Hz")
        elif not self.frame_len_samples <= self.nfft <= MAX_NFFT:
            problems.append(f"nfft must be from a frame ({self.frame_len_samples} samples) to {MAX_NFFT}, got {self.nfft}")
        if not 1 <= self.nfilt <= MAX_FILTERS:
            problems.append(f"nfilt must be 1-{MAX_FILTERS}, got {self.nfilt}")
        if self.numcep < 1 or self.numcep > self.nfilt:
            problems.append(f"numcep must be between 1 and nfilt ({self.nfilt}), got {self.numcep}")
        nyquist = self.sample_rate_hz / 2
        high = nyquist if self.highfreq_hz is None else self.highfreq_hz
        if not 0 <= self.lowfreq_hz < high <= nyquist:
            problems.append(f"the filter bank must satisfy 0 <= lowfreq_hz < highfreq_hz <= {nyquist:g} Hz (Nyquist), "
                            f"got {self.lowfreq_hz:g} and {high:g}")
        if not 0 <= self.preemph < 1:
            problems.append(f"preemph must be from 0 to below 1, got {self.preemph}")
        if not 0 <= self.ceplifter <= 1000:
            problems.append(f"ceplifter must be 0 (none) to 1000, got {self.ceplifter}")
        if not 1 <= self.window_frames <= MAX_WINDOW_FRAMES:
            problems.append(f"window_frames must be 1-{MAX_WINDOW_FRAMES}, got {self.window_frames}")
        if problems:
            raise ModelError("MFCC parameters: " + "; ".join(problems))

    @property
    def frame_len_samples(self) -> int:
        return _round_half_up(self.winlen_s * self.sample_rate_hz)

    @property
    def frame_step_samples(self) -> int:
        return _round_half_up(self.winstep_s * self.sample_rate_hz)

    @property
    def feature_dim(self) -> int:
        return self.numcep

    @property
    def frame_step_s(self) -> float:
        return self.winstep_s

    def frame_end_samples(self, ends: np.ndarray) -> np.ndarray:
        """Exclusive frame indices -> one past the last sample of frame ends-1."""
        return (ends - 1) * self.frame_step_samples + self.frame_len_samples

    @property
    def window_samples(self) -> int:
        """Samples spanned by one window of `window_frames` complete frames."""
        return self.frame_len_samples + (self.window_frames - 1) * self.frame_step_samples

    @property
    def band_hz(self) -> tuple[float, float]:
        """The mel filterbank's edges: lowfreq_hz to highfreq_hz (or the Nyquist frequency)."""
        return float(self.lowfreq_hz), float(self.highfreq_hz or self.sample_rate_hz / 2)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "MfccParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown MFCC parameter(s): {', '.join(unknown)}")
        return cls(**data)

    def check_available(self) -> None:
        """The MFCC front end needs nothing beyond the runtime's own dependencies."""

    def open_stream(self) -> "MfccStream":
        return MfccStream(self)


def complete_frames(n_samples: int, params: MfccParams) -> int:
    """Number of complete frames in `n_samples` samples."""
    if n_samples < params.frame_len_samples:
        return 0
    return 1 + (n_samples - params.frame_len_samples) // params.frame_step_samples


def mfcc_window(signal: np.ndarray, params: MfccParams) -> np.ndarray:
    """Whole-signal MFCCs through python_speech_features.mfcc, complete frames only.

    signal: 1-D float audio at params.sample_rate_hz (any scale; we use [-1, 1]).
    Returns float32 (frames, numcep).
    """
    signal = np.asarray(signal, dtype=np.float64)
    n = complete_frames(len(signal), params)
    if n == 0:
        return np.zeros((0, params.numcep), dtype=np.float32)
    feats = psf_base.mfcc(
        signal,
        samplerate=params.sample_rate_hz,
        winlen=params.winlen_s,
        winstep=params.winstep_s,
        numcep=params.numcep,
        nfilt=params.nfilt,
        nfft=params.nfft,
        lowfreq=params.lowfreq_hz,
        highfreq=params.highfreq_hz,
        preemph=params.preemph,
        ceplifter=params.ceplifter,
        appendEnergy=params.append_energy,
        winfunc=WINDOW_FUNCTIONS[params.winfunc],
    )
    return feats[:n].astype(np.float32)


@functools.lru_cache(maxsize=8)
def _filterbank(params: MfccParams) -> np.ndarray:
    return psf_base.get_filterbanks(
        params.nfilt,
        params.nfft,
        params.sample_rate_hz,
        params.lowfreq_hz,
        params.highfreq_hz or params.sample_rate_hz / 2,
    )


@functools.lru_cache(maxsize=8)
def _window(params: MfccParams) -> np.ndarray:
    return WINDOW_FUNCTIONS[params.winfunc](params.frame_len_samples)


def frames_to_mfcc(frames: np.ndarray, params: MfccParams) -> np.ndarray:
    """MFCCs of already pre-emphasised frames, float64 (n, frame_len) -> float32 (n, numcep).

    The same steps as python_speech_features.mfcc after its framing step, using its own
    power spectrum, filterbank, DCT and lifter.
    """
    eps = np.finfo(float).eps
    pspec = psf_sigproc.powspec(frames * _window(params), params.nfft)
    energy = np.sum(pspec, axis=1)
    energy = np.where(energy == 0, eps, energy)
    feat = pspec @ _filterbank(params).T
    feat = np.where(feat == 0, eps, feat)
    feat = psf_base.dct(np.log(feat), type=2, axis=1, norm="ortho")[:, : params.numcep]
    feat = psf_base.lifter(feat, params.ceplifter)
    if params.append_energy:
        feat[:, 0] = np.log(energy)
    return feat.astype(np.float32)


def _dct_lifter_matrix(params: MfccParams) -> np.ndarray:
    """float64 (nfilt, numcep): the orthonormal DCT-II's first numcep rows (as scipy's dct with
    norm="ortho" computes them) times python_speech_features' sinusoidal lifter, so that
    log filterbank energies @ this = lifted cepstra in one product."""
    n, k = params.nfilt, np.arange(params.numcep)
    basis = np.cos(np.pi * k[None, :] * (2 * np.arange(n)[:, None] + 1) / (2 * n)) * np.sqrt(2.0 / n)
    basis[:, 0] /= np.sqrt(2.0)
    lift = 1 + (params.ceplifter / 2.0) * np.sin(np.pi * k / params.ceplifter) if params.ceplifter > 0 else np.ones(len(k))
    return basis * lift[None, :]


class MfccStream:
    """Incremental MFCCs: push samples of any block length, get the frames they complete.

    push(float array at params.sample_rate_hz) -> float32 (new_frames, numcep). Every frame
    is computed once; the pre-emphasis filter and the partial frame carry over between
    pushes, so the frames do not depend on how the signal was cut into blocks.

    The steps are python_speech_features' (frames_to_mfcc), with the window, filterbank and
    DCT-with-lifter matrices made once here rather than looked up or rebuilt on every push:
    the live daemon pushes ten blocks a second, and per-call overhead was most of its cost.
    The DCT as a matrix product agrees with scipy's to about 1e-15 (relative).
    """

    def __init__(self, params: MfccParams):
        self.params = params
        self._window = np.asarray(_window(params), dtype=np.float64)
        self._filterbank_t = np.ascontiguousarray(_filterbank(params).T)  # (nfft/2+1, nfilt)
        self._dct_lifter = _dct_lifter_matrix(params)
        self._eps = np.finfo(np.float64).eps
        self._frame_len, self._step = params.frame_len_samples, params.frame_step_samples
        self.reset()

    def reset(self) -> None:
        self._prev_sample: float | None = None
        self._pending = np.zeros(0, dtype=np.float64)  # pre-emphasised, not yet framed
        self.frames_emitted = 0

    def _mfcc(self, frames: np.ndarray) -> np.ndarray:
        """Pre-emphasised frames, float64 (n, frame_len) -> float32 (n, numcep)."""
        p = self.params
        spectrum = np.fft.rfft(frames * self._window, p.nfft)
        power = np.square(np.abs(spectrum)) / p.nfft  # psf's powspec
        energy = power.sum(axis=1)
        energy[energy == 0] = self._eps
        bands = power @ self._filterbank_t
        bands[bands == 0] = self._eps
        out = np.log(bands) @ self._dct_lifter
        if p.append_energy:
            out[:, 0] = np.log(energy)
        return out.astype(np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        p = self.params
        samples = np.asarray(samples).reshape(-1)
        piece = FRAMES_PER_CHUNK * p.frame_step_samples
        if len(samples) > piece:
            # a long block in pieces: the same frames, with float64 temporaries of ~2 s, not 10 s
            return np.concatenate([self.push(samples[i : i + piece]) for i in range(0, len(samples), piece)])
        x = samples.astype(np.float64)
        if x.size == 0:
            return np.zeros((0, p.numcep), dtype=np.float32)
        pending = np.empty(len(self._pending) + len(x))
        pending[: len(self._pending)] = self._pending
        emphasised = pending[len(self._pending) :]
        np.subtract(x[1:], p.preemph * x[:-1], out=emphasised[1:])
        # The very first sample of a stream passes unchanged, as in python_speech_features.
        emphasised[0] = x[0] if self._prev_sample is None else x[0] - p.preemph * self._prev_sample
        self._prev_sample = float(x[-1])
        n = 0 if len(pending) < self._frame_len else 1 + (len(pending) - self._frame_len) // self._step
        if n == 0:
            self._pending = pending
            return np.zeros((0, p.numcep), dtype=np.float32)
        step = self._step
        # frame i = pending[i * step : i * step + frame_len], as a view (ndarray's own
        # constructor: sliding_window_view's checks cost more than the frames themselves here)
        frames = np.ndarray((n, self._frame_len), np.float64, buffer=pending,
                            strides=(step * pending.itemsize, pending.itemsize))
        out = self._mfcc(frames)
        self._pending = pending[n * step :]
        self.frames_emitted += n
        return out


PARAMS = MfccParams
