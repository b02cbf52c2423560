"""The debouncing trigger: a pure state machine from window scores to detections.

Time is counted in audio samples at the model's rate, never wall-clock time, so a file read
at 500x real time behaves exactly like the live microphone.

Per keyword, each window's score goes through:
  1. smoothing: the mean of the last `smoothing_windows` scores;
  2. threshold: the smoothed score must reach the keyword's threshold;
  3. patience: for `patience_windows` windows in a row;
  4. re-arming: after a detection the smoothed score must fall below the threshold again,
     so one long "stooop" fires once however long it lasts;
  5. refractory: and at least `refractory_samples` must pass since the last detection.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .settings import TriggerSettings


@dataclass(frozen=True)
class Detection:
    """A keyword detection. t_samples is the end of the window that fired, counted from the
    start of the stream in samples at sample_rate_hz; score is the smoothed score."""

    keyword: str
    score: float
    t_samples: int
    sample_rate_hz: int

    @property
    def time_s(self) -> float:
        return self.t_samples / self.sample_rate_hz

    def to_dict(self) -> dict:
        return {"keyword": self.keyword, "time_s": round(self.time_s, 3), "score": round(self.score, 4)}


class KeywordTrigger:
    """update(score in [0, 1], t_samples) -> Detection | None, for one keyword."""

    def __init__(
        self,
        keyword: str,
        threshold: float,
        sample_rate_hz: int,
        smoothing_windows: int = 1,
        patience_windows: int = 1,
        refractory_samples: int = 0,
    ):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if smoothing_windows < 1 or patience_windows < 1 or refractory_samples < 0:
            raise ValueError("smoothing_windows and patience_windows must be >= 1, refractory >= 0")
        self.keyword = keyword
        self.threshold = threshold
        self.sample_rate_hz = sample_rate_hz
        self.patience_windows = patience_windows
        self.refractory_samples = refractory_samples
        self._recent = deque(maxlen=smoothing_windows)
        self._run = 0
        self._armed = True
        self._last_fire: int | None = None

    def update(self, score: float, t_samples: int) -> Detection | None:
        self._recent.append(float(score))
        smoothed = sum(self._recent) / len(self._recent)
        if smoothed < self.threshold:
            self._run = 0
            self._armed = True
            return None
        self._run += 1
        if not self._armed or self._run < self.patience_windows:
            return None
        if self._last_fire is not None and t_samples - self._last_fire < self.refractory_samples:
            return None
        self._armed = False
        self._last_fire = t_samples
        return Detection(self.keyword, smoothed, int(t_samples), self.sample_rate_hz)


class Trigger:
    """One KeywordTrigger per keyword. update(scores (n_keywords,), t_samples) -> [Detection]."""

    def __init__(self, triggers: list[KeywordTrigger]):
        self.triggers = triggers
        self.keywords = tuple(t.keyword for t in triggers)

    def update(self, scores: np.ndarray, t_samples: int) -> list[Detection]:
        found = []
        for trig, score in zip(self.triggers, scores):
            det = trig.update(score, t_samples)
            if det is not None:
                found.append(det)
        return found


def build_trigger(keywords, thresholds: dict, settings: TriggerSettings, sample_rate_hz: int) -> Trigger:
    """A Trigger for `keywords` (in the model's output order) with thresholds {keyword: float}
    and the trigger settings, counting time in samples at sample_rate_hz."""
    return Trigger(
        [
            KeywordTrigger(
                kw,
                thresholds[kw],
                sample_rate_hz,
                smoothing_windows=settings.smoothing_windows,
                patience_windows=settings.patience_windows,
                refractory_samples=int(round(settings.refractory_s * sample_rate_hz)),
            )
            for kw in keywords
        ]
    )
