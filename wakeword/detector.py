"""The streaming detector and the one audio path shared by the daemon, --dry-run and benchmarks.

StreamingDetector turns samples at the model's rate into window scores. It computes only the
MFCC frames the new samples complete, keeps the last window's worth of normalised frames, and
scores every window the new frames complete in one batched interpreter call. A 100 ms block
gives one window; a 10 s block gives a hundred in one call, with identical scores.

Pipeline adds what sits around it: int16/float conversion, resampling from the source's rate
(the one place that happens) and the trigger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import ConfigError
from .frontend import open_stream
from .model import TfliteModel
from .resample import Resampler
from .trigger import Detection, KeywordTrigger, Trigger

log = logging.getLogger(__name__)

INT16_FULL_SCALE = 32768.0
#: RMS of the dither a dry-run pads files with (about -100 dBFS): as quiet as a still room,
#: without the log(0) energies of digital silence that no microphone produces.
PAD_DITHER_RMS = 1e-5


def hop_frames_for(hop_s: float, frame_step_s: float) -> int:
    """Window hop in front-end frames; the hop must be a whole number of frames."""
    frames = hop_s / frame_step_s
    rounded = int(round(frames))
    if rounded < 1 or abs(frames - rounded) > 1e-6:
        raise ConfigError(
            f"trigger.hop_ms must be a positive multiple of the model's frame step "
            f"({frame_step_s * 1000:g} ms), got {hop_s * 1000:g} ms"
        )
    return rounded


class StreamingDetector:
    """process(float32 samples at the model rate, any length) -> (ends, scores).

    ends: int64 (n,) sample index (from the stream start, model rate) one past each completed
    window's last sample. scores: float32 (n, n_keywords) probabilities.
    """

    def __init__(self, model: TfliteModel, hop_s: float):
        self.model = model
        self.spec = model.spec
        self.params = model.spec.frontend
        self.hop_frames = hop_frames_for(hop_s, self.params.frame_step_s)
        self.window_frames = self.params.window_frames
        self._stream = open_stream(self.params)
        self._tail = np.zeros((0, self.params.feature_dim), dtype=np.float32)  # last window-1 frames

    def reset(self) -> None:
        self._stream.reset()
        self._tail = np.zeros((0, self.params.feature_dim), dtype=np.float32)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        new = self._stream.push(samples)
        total = self._stream.frames_emitted
        if len(new) == 0:
            return np.zeros(0, np.int64), np.zeros((0, len(self.spec.keywords)), np.float32)
        frames = np.concatenate((self._tail, self.spec.normalise(new)))
        first_index = total - len(frames)  # absolute index of frames[0]
        w, h = self.window_frames, self.hop_frames
        # window ends e (exclusive frame index) completed by the new frames: e >= w, (e - w) % h == 0
        lo = max(total - len(new) + 1, w)
        first_end = lo + (-(lo - w)) % h
        ends = np.arange(first_end, total + 1, h, dtype=np.int64)
        keep = w - 1
        self._tail = frames[-keep:] if keep > 0 else frames[:0]
        if len(ends) == 0:
            return np.zeros(0, np.int64), np.zeros((0, len(self.spec.keywords)), np.float32)
        views = np.lib.stride_tricks.sliding_window_view(frames, w, axis=0)  # (k, feature_dim, w)
        batch = np.ascontiguousarray(views[ends - w - first_index].transpose(0, 2, 1))
        scores = self.model.predict(batch)
        return self.params.frame_end_samples(ends), scores


@dataclass(frozen=True)
class TriggerSettings:
    """Trigger settings in user units; thresholds maps keyword -> threshold in (0, 1)."""

    thresholds: dict
    hop_s: float = 0.1
    smoothing_windows: int = 1
    patience_windows: int = 1
    refractory_s: float = 1.0


def build_trigger(settings: TriggerSettings, keywords, sample_rate_hz: int) -> Trigger:
    return Trigger(
        [
            KeywordTrigger(
                kw,
                settings.thresholds[kw],
                sample_rate_hz,
                smoothing_windows=settings.smoothing_windows,
                patience_windows=settings.patience_windows,
                refractory_samples=int(round(settings.refractory_s * sample_rate_hz)),
            )
            for kw in keywords
        ]
    )


def default_trigger_settings(model: TfliteModel) -> TriggerSettings:
    """The sidecar's recommended thresholds and trigger settings."""
    t = model.spec.trigger
    return TriggerSettings(
        thresholds=dict(model.spec.thresholds),
        hop_s=t.hop_s,
        smoothing_windows=t.smoothing_windows,
        patience_windows=t.patience_windows,
        refractory_s=t.refractory_s,
    )


def to_float_mono(block: np.ndarray) -> np.ndarray:
    """int16 or float block, shape (n,) or (n, channels) -> float32 (n,) in [-1, 1]."""
    block = np.asarray(block)
    if block.dtype == np.int16:
        block = block.astype(np.float32) / INT16_FULL_SCALE
    elif block.dtype != np.float32:
        block = block.astype(np.float32)
    if block.ndim == 2:
        block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return block


@dataclass
class Pipeline:
    """Source blocks at source_rate_hz -> detections. The path every mode goes through.

    feed(block) -> list[Detection]; each window's scores also go to on_scores(ends, scores)
    if given (for --debug and evaluation). Detection times are in model-rate samples from the
    start of the stream.
    """

    model: TfliteModel
    settings: TriggerSettings
    source_rate_hz: int
    on_scores: object = None
    windows_scored: int = field(default=0, init=False)

    def __post_init__(self):
        self.detector = StreamingDetector(self.model, self.settings.hop_s)
        self.resampler = Resampler(self.source_rate_hz, self.model.spec.sample_rate_hz)
        self.trigger = build_trigger(self.settings, self.model.spec.keywords, self.model.spec.sample_rate_hz)

    def feed(self, block: np.ndarray) -> list[Detection]:
        samples = self.resampler.process(to_float_mono(block))
        ends, scores = self.detector.process(samples)
        self.windows_scored += len(ends)
        if self.on_scores is not None and len(ends):
            self.on_scores(ends, scores)
        found = []
        for end, row in zip(ends, scores):
            found.extend(self.trigger.update(row, int(end)))
        return found


def window_span_s(model: TfliteModel) -> float:
    """Seconds of audio one model window spans (about 1 s for MFCC, 2 s for embeddings)."""
    p = model.spec.frontend
    return float(p.frame_end_samples(np.array([p.window_frames]))[0]) / p.sample_rate_hz


def detect_in_file(pipeline: Pipeline, blocks, on_detection=None) -> list[Detection]:
    """Run one file's blocks (at pipeline.source_rate_hz) through a fresh pipeline.

    The file is framed by one window of near-silence on each side, as if the microphone had
    been listening to a quiet room before and after it: a word at either end of a file, or a
    clip shorter than the window, is then scored as the live daemon would score it. Detection
    times stay relative to the start of the file. on_detection(det) is called as each is found.
    """
    pad_s = window_span_s(pipeline.model)
    rng = np.random.default_rng(0)
    pad = (rng.standard_normal(int(round(pad_s * pipeline.source_rate_hz))) * PAD_DITHER_RMS).astype(np.float32)
    lead_samples = int(round(pad_s * pipeline.model.spec.sample_rate_hz))
    found = []

    def feed(block):
        for det in pipeline.feed(block):
            det = replace(det, t_samples=det.t_samples - lead_samples)
            found.append(det)
            if on_detection is not None:
                on_detection(det)

    feed(pad)
    for block in blocks:
        feed(block)
    feed(pad)
    return found
