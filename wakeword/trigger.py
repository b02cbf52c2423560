"""The debouncing trigger: a pure state machine from window scores to detections.

Time is counted in audio samples at the model's rate, never wall-clock time, so a file read
at 500x real time behaves exactly like the live microphone.

Per keyword, each window's score goes through:
  1. smoothing: the mean of the last `smoothing_windows` scores;
  2. threshold: the smoothed score must reach the keyword's threshold;
  3. patience: for `patience_windows` windows in a row;
  4. re-arming: after a detection the smoothed score must fall below the threshold again,
     so one long "stooop" fires once however long it lasts;
  5. refractory: and at least `refractory_samples` must pass since the keyword's own last
     detection (a word's refractory period never holds back a different word).

Between keywords (a model with several), a word that qualifies opens a contest: every word that
qualifies in the same window, or within `contest_samples` after it, competes, and only the
highest smoothed score fires, at the end of its own window; the others are disarmed like a word
that fired, without a refractory period. With contest_samples 0 the contest is the one window,
so a single-keyword model never waits; a longer contest delays the detection by that much.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .settings import TriggerSettings


@dataclass(frozen=True)
class Detection:
    """A keyword detection. t_samples is the end of the window that fired, counted from the
    start of the stream in samples at sample_rate_hz; score is the smoothed score. model names
    the model file that fired when several models share the keyword (None otherwise)."""

    keyword: str
    score: float
    t_samples: int
    sample_rate_hz: int
    model: str | None = None

    @property
    def time_s(self) -> float:
        return self.t_samples / self.sample_rate_hz

    def to_dict(self) -> dict:
        out = {"keyword": self.keyword, "time_s": round(self.time_s, 3), "score": round(self.score, 4)}
        if self.model is not None:
            out["model"] = self.model
        return out


class KeywordTrigger:
    """update(score in [0, 1], t_samples) -> Detection | None, for one keyword.

    check() and commit() are update() in two steps, for Trigger's contests: check(score, t)
    advances the state and returns the smoothed score if the keyword would fire now (else None);
    commit(t) records the detection; disarm() makes it wait for its score to fall below the
    threshold again, with no refractory period.
    """

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

    def check(self, score: float, t_samples: int) -> float | None:
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
        return smoothed

    def commit(self, t_samples: int) -> None:
        self._armed = False
        self._last_fire = t_samples

    def disarm(self) -> None:
        self._armed = False

    def update(self, score: float, t_samples: int) -> Detection | None:
        smoothed = self.check(score, t_samples)
        if smoothed is None:
            return None
        self.commit(t_samples)
        return Detection(self.keyword, smoothed, int(t_samples), self.sample_rate_hz)


class Trigger:
    """One KeywordTrigger per keyword. update(scores (n_keywords,), t_samples) -> [Detection].

    contest_samples: how long after a word qualifies other words may still compete with it (see
    the module docstring); its detection is returned when the contest ends. flush() ends an open
    contest at the end of a stream.
    """

    def __init__(self, triggers: list[KeywordTrigger], contest_samples: int = 0):
        self.triggers = triggers
        self.keywords = tuple(t.keyword for t in triggers)
        self.contest_samples = int(contest_samples)
        self._contest: list[tuple[float, int, KeywordTrigger]] = []  # (smoothed, t, trigger)
        self._deadline: int | None = None

    def update(self, scores: np.ndarray, t_samples: int) -> list[Detection]:
        if len(self.triggers) == 1:  # nothing to contest: the plain trigger, no waiting
            det = self.triggers[0].update(scores[0], t_samples)
            return [] if det is None else [det]
        for trig, score in zip(self.triggers, scores):
            smoothed = trig.check(score, t_samples)
            if smoothed is not None:
                trig.disarm()
                self._contest.append((smoothed, int(t_samples), trig))
                if self._deadline is None:
                    self._deadline = int(t_samples) + self.contest_samples
        if self._deadline is not None and t_samples >= self._deadline:
            return self.flush()
        return []

    @property
    def deadline(self) -> int | None:
        """When the open contest between keywords ends (samples), or None."""
        return self._deadline

    def flush(self) -> list[Detection]:
        """The winner of an open contest, if any (the stream ended before its deadline)."""
        if not self._contest:
            return []
        smoothed, t, trig = max(self._contest, key=lambda c: (c[0], -c[1]))
        trig.commit(t)
        self._contest, self._deadline = [], None
        return [Detection(trig.keyword, smoothed, t, trig.sample_rate_hz)]


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
        ],
        contest_samples=int(round(settings.contest_s * sample_rate_hz)),
    )
