"""The one scorer: window scores the way the daemon computes them, detections the way it counts them.

Every figure (training-time mining and validation, `evaluate`, cross-validation, the model card
and the benchmarks) comes from here:

- `score_stream` feeds audio through `wakeword.detector.Pipeline`, the daemon's own path (the
  runtime's resampler, front end, StreamingDetector and normalisation), and records every
  window's scores. A model still in training runs through the same Pipeline behind a
  `PredictorModel`, which can also keep the windows it saw (for hard-negative mining).
- `fire_times` is the one vectorised replay of the trigger (trigger.KeywordTrigger's smoothing,
  patience, re-arming and refractory period) over recorded scores, for one keyword at one
  threshold: the DET curves replay it for every threshold. A test pins it to feeding Pipeline
  block by block. `replay` runs the daemon's Trigger itself (several keywords at once).
- `hits_per_event` and `attribute_detections` turn detection times into misses and causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..detector import ModelSetup, Pipeline
from ..settings import TriggerSettings
from ..sidecar import ModelSpec
from ..trigger import build_trigger

#: Block fed to the Pipeline: long blocks score many windows per interpreter call, and the
#: scores do not depend on the block size (a test of the detector checks this).
BLOCK_S = 10.0


@dataclass
class WindowScores:
    """One model's window scores on one continuous stream.

    ends: int64 (n,) window ends in model-rate samples from the stream start; scores: float32
    (n, len(keywords)) probabilities; sample_rate_hz: the model's rate.
    """

    ends: np.ndarray
    scores: np.ndarray
    sample_rate_hz: int
    keywords: tuple[str, ...]

    @property
    def ends_s(self) -> np.ndarray:
        return self.ends.astype(np.float64) / self.sample_rate_hz

    def column(self, keyword: str) -> np.ndarray:
        return self.scores[:, self.keywords.index(keyword)]

    @classmethod
    def empty(cls, sample_rate_hz: int, keywords) -> "WindowScores":
        return cls(np.zeros(0, np.int64), np.zeros((0, len(keywords)), np.float32), sample_rate_hz, tuple(keywords))

    @classmethod
    def concat(cls, parts: list["WindowScores"]) -> "WindowScores":
        return cls(np.concatenate([p.ends for p in parts]), np.concatenate([p.scores for p in parts]),
                   parts[0].sample_rate_hz, parts[0].keywords)


class PredictorModel:
    """A model in training behind the TfliteModel interface, so that Pipeline scores it.

    spec: the ModelSpec the exported model will have (front end, normalisation, input shape);
    predict_fn(float32 (n, *input_shape[1:]) normalised windows) -> (n, len(labels))
    probabilities; predict() returns the keywords' columns, as TfliteModel does. With keep_min_score, the windows whose highest score reaches it are kept
    (kept_windows(), normalised, with their scores) for hard-negative mining.
    """

    backend = "training"

    def __init__(self, spec: ModelSpec, predict_fn, keep_min_score: float | None = None, path: str = "in-training"):
        self.spec = spec
        self.path = path
        self._predict_fn = predict_fn
        self._keep_min = keep_min_score
        self._kept: list[np.ndarray] = []
        self._kept_scores: list[np.ndarray] = []
        self._columns = None if spec.labels == spec.keywords else [spec.labels.index(k) for k in spec.keywords]

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.spec.keywords

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x.reshape((len(x), *self.spec.input_shape[1:])), dtype=np.float32)
        y = np.asarray(self._predict_fn(x), dtype=np.float32).reshape(len(x), -1)
        if self._columns is not None:
            y = y[:, self._columns]
        if self._keep_min is not None:
            keep = y.max(axis=1) >= self._keep_min
            if keep.any():
                self._kept.append(x[keep].copy())
                self._kept_scores.append(y[keep].max(axis=1))
        return y

    def kept_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(normalised windows (k, *input_shape[1:]), their highest scores (k,)) kept so far."""
        if not self._kept:
            return np.zeros((0, *self.spec.input_shape[1:]), np.float32), np.zeros(0, np.float32)
        return np.concatenate(self._kept), np.concatenate(self._kept_scores)


def score_stream(setup: ModelSetup, blocks, rate_hz: int) -> WindowScores:
    """Feed `blocks` (float32 or int16 arrays at rate_hz, one continuous stream, any lengths)
    through a fresh Pipeline and record every window's scores. No trigger output is used here:
    detections come from replaying the scores (fire_times, replay)."""
    ends, scores = [], []

    def record(e, s, _setup):
        ends.append(np.asarray(e, np.int64).copy())
        scores.append(np.asarray(s, np.float32).copy())

    pipe = Pipeline(setup, rate_hz, on_scores=record)
    for block in blocks:
        pipe.feed(np.asarray(block))
    if not ends:
        return WindowScores.empty(setup.model.spec.sample_rate_hz, setup.keywords)
    return WindowScores(np.concatenate(ends), np.concatenate(scores), setup.model.spec.sample_rate_hz, setup.keywords)


def score_frames(setup: ModelSetup, frames: np.ndarray, chunk_frames: int = 4096) -> WindowScores:
    """Window scores of one continuous stream of front-end frames (raw, float32 (n, feature_dim))
    through the daemon's StreamingDetector: what the Pipeline gives for the audio those frames
    were computed from. For streams stored as features (the negative bank's embeddings)."""
    from ..detector import StreamingDetector

    model = setup.model
    det = StreamingDetector(model, setup.trigger.hop_s)
    ends, scores, total = [], [], 0
    for i in range(0, len(frames), chunk_frames):
        part = np.asarray(frames[i : i + chunk_frames], np.float32)
        total += len(part)
        e, s = det.process_frames(part, total)
        if len(e):
            ends.append(e)
            scores.append(s)
    if not ends:
        return WindowScores.empty(model.spec.sample_rate_hz, setup.keywords)
    return WindowScores(np.concatenate(ends), np.concatenate(scores), model.spec.sample_rate_hz, setup.keywords)


def in_blocks(audio: np.ndarray, rate_hz: int, block_s: float = BLOCK_S):
    """Cut one array into block_s blocks (the last may be shorter)."""
    block = int(round(block_s * rate_hz))
    for i in range(0, len(audio), block):
        yield audio[i : i + block]


# ---------------------------------------------------------------------------------- replay


def _smoothed(scores: np.ndarray, smoothing_windows: int) -> np.ndarray:
    """KeywordTrigger's smoothed score at every window: the mean of the last smoothing_windows
    scores (fewer at the stream start), summed oldest first in float64 as Python's sum() does,
    so the comparison with the threshold agrees with the trigger to the last bit."""
    s = scores.astype(np.float64)
    if smoothing_windows <= 1:
        return s
    n = len(s)
    total = np.zeros(n)
    count = np.zeros(n)
    for back in range(smoothing_windows - 1, -1, -1):  # oldest first
        idx = np.arange(n) - back
        ok = idx >= 0
        total[ok] += s[idx[ok]]
        count[ok] += 1
    return total / count


def fire_times(scores: np.ndarray, ends: np.ndarray, threshold: float, trigger: TriggerSettings,
               sample_rate_hz: int) -> np.ndarray:
    """Detection times (int64 window ends) of one keyword's KeywordTrigger at `threshold`.

    scores: (n,) one keyword's window scores, ends: (n,) their window ends (model-rate samples).
    Vectorised: a detection can only happen in a run of windows whose smoothed score reaches
    the threshold, at most once per run (re-arming needs a window below it), at the first window
    of the run that has `patience_windows` of them in a row and is a refractory period past the
    previous detection. Only the runs are visited in Python.
    """
    smoothed = _smoothed(np.asarray(scores, np.float32), trigger.smoothing_windows)
    above = smoothed >= threshold
    if not above.any():
        return np.zeros(0, np.int64)
    ends = np.asarray(ends, np.int64)
    edges = np.diff(np.concatenate(([0], above.view(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # runs [start, stop)
    refractory = int(round(trigger.refractory_s * sample_rate_hz))
    patience = trigger.patience_windows
    out, last = [], None
    for a, b in zip(starts, stops):
        first = a + patience - 1
        if first >= b:
            continue
        if last is None or ends[first] - last >= refractory:
            i = first
        else:
            i = first + int(np.searchsorted(ends[first:b], last + refractory, side="left"))
            if i >= b:
                continue
        last = int(ends[i])
        out.append(last)
    return np.asarray(out, np.int64)


def replay(ws: WindowScores, thresholds: dict, trigger: TriggerSettings) -> list:
    """The daemon's own Trigger over recorded scores: [Detection] (keyword, score, window end).

    Only windows within reach of a score at or above some keyword's threshold are fed (and the
    smoothing_windows - 1 before them, which refill the smoothing exactly): elsewhere every
    keyword's smoothed score is below its threshold, where the trigger can only reset. A contest
    between keywords that a skipped window would have ended is ended before the next fed one,
    and one still open at the end is decided, as the daemon's end of stream does.
    """
    trig = build_trigger(ws.keywords, thresholds, trigger, ws.sample_rate_hz)
    limits = np.array([thresholds[k] for k in ws.keywords], np.float32)
    hot = (ws.scores >= limits[None, :]).any(axis=1)
    if not hot.any():
        return []
    s = trigger.smoothing_windows
    idx = np.flatnonzero(hot)
    mark = np.zeros(len(hot) + 1, np.int64)
    np.add.at(mark, np.maximum(idx - (s - 1), 0), 1)
    np.add.at(mark, np.minimum(idx + s + 1, len(hot)), -1)
    found = []
    for i in np.flatnonzero(np.cumsum(mark[:-1]) > 0):
        deadline = trig.deadline
        if deadline is not None and i > 0 and ws.ends[i - 1] >= deadline:
            found.extend(trig.flush())  # a skipped (quiet) window would have ended the contest
        found.extend(trig.update(ws.scores[i], int(ws.ends[i])))
    return found + trig.flush()


# ---------------------------------------------------------------------------------- events


def hits_per_event(detections_s: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray, window_s: float) -> np.ndarray:
    """bool (n_events,): some detection time lies in [start, end + window_s] of the event.

    A window ending at t covers [t - window_s, t]; it overlaps the clip while t is in that range.
    """
    return ~np.isnan(first_hit_s(detections_s, starts_s, ends_s, window_s))


def first_hit_s(detections_s: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray, window_s: float) -> np.ndarray:
    """float (n_events,): the first detection time in [start, end + window_s] of each event, NaN if none."""
    detections_s = np.sort(np.asarray(detections_s, np.float64))
    lo = np.searchsorted(detections_s, starts_s, side="left")
    hi = np.searchsorted(detections_s, np.asarray(ends_s) + window_s, side="right")
    out = np.full(len(lo), np.nan)
    hit = hi > lo
    out[hit] = detections_s[lo[hit]]
    return out


@dataclass(frozen=True)
class Event:
    """One clip placed in built audio: samples [start, end) at the audio's rate."""

    start: int
    end: int
    label: str
    kind: str
    source: str
    path: str
    speaker: str = ""
    #: where the word itself ends (energy VAD), samples from the audio start; -1 if not known
    word_end: int = -1


@dataclass
class EventIndex:
    """Events of a stream sorted by start, for attributing detections to what was playing.

    beds: [(start, end, name)] noise-bed segments, for detections over no clip.
    """

    events: list[Event]
    rate_hz: int
    beds: list = field(default_factory=list)

    def __post_init__(self):
        order = np.argsort([e.start for e in self.events], kind="stable")
        self.events = [self.events[i] for i in order]
        self._starts = np.array([e.start for e in self.events], np.float64) / self.rate_hz
        self._ends = np.array([e.end for e in self.events], np.float64) / self.rate_hz

    def arrays_s(self) -> tuple[np.ndarray, np.ndarray]:
        return self._starts, self._ends

    def hours_by_source(self, total_hours: float) -> dict[str, float]:
        """Hours of a stream of total_hours each source's clips take up. A clip's slot runs from
        its start to the next clip's (its pause included; the last one's to the end), so the
        slots add up to the stream less the lead-in before the first clip."""
        ends = np.append(self._starts[1:], total_hours * 3600.0)
        slots: dict[str, float] = {}
        for e, a, b in zip(self.events, self._starts, ends):
            slots[e.source] = slots.get(e.source, 0.0) + (b - a) / 3600.0
        return dict(sorted(slots.items()))

    def attribute(self, detections_s: np.ndarray, window_s: float, speech_label: str, speech_kind: str,
                  bed_prefix: str = "bed:") -> list[tuple[str, str, str]]:
        """For each detection, (label, kind, source) of the clip overlapping its window
        [t - window_s, t] most; a sentence is labelled speech_label; a window over no clip is put
        down to the noise bed under it: ("bed:<name>", "bed", "")."""
        out = []
        for t in np.asarray(detections_s, np.float64):
            w0 = t - window_s
            j = int(np.searchsorted(self._starts, t, side="left")) - 1
            best, best_overlap = None, 0.0
            # events are short (seconds) and ordered by start; look back over those that can overlap
            while j >= 0 and self._starts[j] > w0 - 60.0:
                overlap = min(self._ends[j], t) - max(self._starts[j], w0)
                if overlap > best_overlap:
                    best, best_overlap = self.events[j], overlap
                j -= 1
            if best is not None:
                out.append((speech_label if best.kind == speech_kind else best.label, best.kind, best.source))
            else:
                t_samples = t * self.rate_hz
                bed = next((b[2] for b in self.beds if b[0] <= t_samples < b[1]), "unknown")
                out.append((bed_prefix + bed, "bed", ""))
        return out
