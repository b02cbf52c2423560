"""Evaluation through the daemon's own audio path: streaming detector, 100 ms hop, trigger.

Every figure comes from audio fed in 10 s blocks through `wakeword.detector.Pipeline`, the same
path as the daemon and `--dry-run`: 1 s windows, the model's front end, resampling from the
stream's 16 kHz to the model's rate, and the trigger (smoothing, patience, re-arm, refractory).

Three kinds of audio are built from one split's clips (deterministic for a seed):

- keyword trials: each keyword clip placed at a random onset in a few seconds of near-silent bed,
  clean and mixed with the held-out noise type at each SNR. A trial counts as detected when the
  trigger fires while a window still overlaps the clip (window end in [onset, offset + window]).
- a long negative stream (>= 2 h by default; cached under runs/): the split's command words,
  other wake words, sentences and silence clips joined with pauses at varied levels over varied
  noise beds, reshuffled pass after pass until long enough. Every detection in it is a false
  accept, attributed to the clip that overlaps the firing window most.
- command-word / wake-word trials: each clip alone with padding; FA% = clips that fire.

The model is run once per audio set and the per-window scores are recorded (`on_scores`).
Every threshold of the DET curve then replays only the trigger (`detector.build_trigger`, the
daemon's own logic) over the recorded scores, skipping stretches where the trigger provably
cannot fire (see `replay_trigger`).

Evaluation needs the runtime, numpy, soundfile and matplotlib (for the plot), not TensorFlow.

    python -m wakeword.train.evaluate --split test \
        --model baseline=models/baseline-stop.tflite --model ours=models/stop.tflite \
        --out models/eval-results.json --det models/det.png --card models/README.md
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..detector import ModelSetup, Pipeline
from ..settings import TriggerConfig, TriggerSettings
from ..trigger import build_trigger
from ..errors import ConfigError, WakewordError
from ..model import load_model
from ..sidecar import load_sidecar, sidecar_path_for
from .data import (
    KIND_COMMAND,
    KIND_KEYWORD,
    KIND_SILENCE,
    KIND_SPEECH,
    KIND_WAKEWORD,
    Clip,
    count_table,
    hashed_side,
    load_corpus,
    noise_split,
    read_audio,
    parse_pins,
    split_by_speaker,
)

log = logging.getLogger(__name__)

#: Rate the evaluation audio is built at (the corpus rate); Pipeline resamples to each model's.
STREAM_RATE_HZ = 16000
#: Block size fed to the Pipeline: long blocks score many windows per interpreter call.
BLOCK_S = 10.0
INT16_FULL_SCALE = 32767.0

DEFAULT_DATA_ROOT = Path("/work/shared/data")
DEFAULT_CACHE_DIR = Path("runs/eval-cache")
DEFAULT_KEYWORD = "stop"
DEFAULT_STREAM_HOURS = 2.0
DEFAULT_SNRS_DB = (10.0, 5.0)
#: Placements of every keyword clip (different onsets and noise segments): the test split has
#: few keyword clips, so this steadies the FRR against placement luck (not against speaker luck).
DEFAULT_PLACEMENTS = 3

#: Operating-point targets.
TARGET_FA_PER_HOUR = 0.5
TARGET_FRR = 0.03  # 97 % recall
#: choose_threshold: an optional cap on the false accepts the validation stream may hold besides
#: the FA/h target (None: the target alone, i.e. at most one in a 2 h stream), and the margin
#: added above the lowest threshold that meets them, in logit units (log-odds): 0.5 lifts 0.5 to
#: 0.62, 0.9 to 0.94 and 0.99 to 0.994, so the margin means the same at every confidence.
DEFAULT_MAX_FA_COUNT = None
DEFAULT_THRESHOLD_MARGIN_LOGIT = 0.5
#: ...but the margin may cost at most this much validation FRR (a fraction).
DEFAULT_MARGIN_FRR_COST = 0.02
#: Poisson: with zero events in T hours, the 95 % upper bound on the rate is -ln(0.05)/T per hour.
POISSON_ZERO_UPPER95 = -math.log(0.05)

#: Thresholds of the DET curve: a 0.01 grid up to 0.99, then 1 - 10^-k for k = 2.1 ... 6 in steps of
#: 0.1 (0.9921 ... 0.999999): a confident model's low-FA operating points all live above 0.99, and
#: logit-output models resolve scores that close to 1.
THRESHOLD_GRID = tuple(
    sorted(set(np.round(np.concatenate((np.arange(1, 100) / 100, 1 - 10 ** -np.arange(2.1, 6.05, 0.1))), 8).tolist()))
)

CONDITION_CLEAN = "clean"
#: The DET plot starts at this threshold (the JSON holds the whole grid).
PLOT_MIN_THRESHOLD = 0.05

#: Keyword trials: clip onset uniform in this range after the trial start; after the clip, the
#: trial runs on for one window plus this much so that a late detection still lands in the trial
#: and the refractory period cannot reach into the next trial's clip.
TRIAL_ONSET_RANGE_S = (1.0, 2.0)
TRIAL_TAIL_S = 1.0
#: The longest model window the trial layout allows for (MFCC models: ~1 s; the speech_embedding
#: front end: ~2 s). Fixed, so that the audio, and so every model's figures, do not depend on
#: which other models are evaluated alongside.
TRIAL_WINDOW_ALLOWANCE_S = 2.0
#: The near-silent bed under clean trials: a real microphone's noise floor, never digital zero
#: (zero padding is a shortcut a model can learn).
FLOOR_DBFS = -60.0
#: Command / wake-word trials: padding before each clip; after it, one window plus TRIAL_TAIL_S.
SOLO_PAD_BEFORE_S = 1.0

#: Negative stream: pauses between clips, each clip's active-speech level, the noise beds.
PAUSE_RANGE_S = (0.1, 1.5)
SPEECH_LEVEL_DBFS = (-38.0, -16.0)
BED_LEVEL_DBFS = (-62.0, -34.0)
BED_SEGMENT_S = (20.0, 60.0)
PEAK_LIMIT = 0.98
#: Bump when the stream builder changes, so stale caches are not reused.
STREAM_BUILDER_VERSION = 1
NEGATIVE_KINDS = (KIND_COMMAND, KIND_WAKEWORD, KIND_SPEECH, KIND_SILENCE)
#: Label of a false accept caused by a sentence (their manifest label is a placeholder).
SENTENCE_LABEL = "sentence"
#: Label given to a false accept whose window overlaps no clip (the noise bed alone).
BED_LABEL_PREFIX = "bed:"
BED_KIND = "bed"

#: Active-speech level: frames within this many dB of the loudest frame count as speech.
ACTIVE_FRAME_S = 0.025
ACTIVE_RANGE_DB = 30.0


# ----------------------------------------------------------------------------- audio building


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def active_rms(x: np.ndarray, rate_hz: int) -> float:
    """RMS of the active part of a float32 (n,) clip: 25 ms frames within 30 dB of the loudest.

    Used as the speech level for SNR mixing and level normalisation, so that a short word in a
    long quiet clip is not credited with the clip's silence.
    """
    frame = max(1, int(ACTIVE_FRAME_S * rate_hz))
    n = len(x) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    power = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    top = power.max()
    if top <= 0:
        return 0.0
    active = power[power >= top * 10 ** (-ACTIVE_RANGE_DB / 10)]
    return float(np.sqrt(active.mean()))


def noise_segment(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of `noise` from a random offset, looping; float32 (n,) at unit RMS."""
    if len(noise) == 0:
        raise ValueError("empty noise")
    start = int(rng.integers(0, len(noise)))
    reps = (start + n) // len(noise) + 1
    seg = np.tile(noise, reps)[start : start + n].astype(np.float32)
    rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64))))
    return seg / rms if rms > 0 else seg


@dataclass(frozen=True)
class Event:
    """One clip placed in built audio: samples [start, end) at the audio's rate."""

    start: int
    end: int
    label: str
    kind: str
    source: str
    path: str


@dataclass
class EvalAudio:
    """Built evaluation audio: (n,) int16 or float32 at rate_hz, with the clips placed in it."""

    name: str
    audio: np.ndarray
    rate_hz: int
    events: list[Event]
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def hours(self) -> float:
        return len(self.audio) / self.rate_hz / 3600.0

    def event_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ends) in seconds, float64 (n_events,)."""
        starts = np.array([e.start for e in self.events], np.float64) / self.rate_hz
        ends = np.array([e.end for e in self.events], np.float64) / self.rate_hz
        return starts, ends


class AudioCache:
    """Reads each clip once per run: path -> float32 (n,) at STREAM_RATE_HZ."""

    def __init__(self, rate_hz: int = STREAM_RATE_HZ):
        self.rate_hz = rate_hz
        self._audio: dict[str, np.ndarray] = {}

    def get(self, path) -> np.ndarray:
        key = str(path)
        if key not in self._audio:
            self._audio[key] = read_audio(path, self.rate_hz)
        return self._audio[key]


def build_keyword_trials(
    clips: list[Clip],
    noise: np.ndarray | None,
    snr_db: float | None,
    seed: int,
    placements: int = DEFAULT_PLACEMENTS,
    window_s: float = TRIAL_WINDOW_ALLOWANCE_S,
    audio_cache: AudioCache | None = None,
    rate_hz: int = STREAM_RATE_HZ,
) -> EvalAudio:
    """Keyword clips in trials: float32 audio, one Event per trial (the clip's placement).

    Each clip appears `placements` times; a trial is [random onset in TRIAL_ONSET_RANGE_S, clip,
    window_s + TRIAL_TAIL_S]. The layout (order, onsets) depends only on `seed` and the clips, so
    the clean and noisy conditions hold the same placements. snr_db=None: clean, on a
    FLOOR_DBFS white-noise floor; else `noise` (float32 at rate_hz) is mixed over the whole
    trial at snr_db below the clip's active-speech level.
    """
    audio_cache = audio_cache or AudioCache(rate_hz)
    layout_rng = np.random.default_rng([seed, 1])
    noise_rng = np.random.default_rng([seed, 2, 0 if snr_db is None else int(round(snr_db * 10)) + 1000])
    order = [i for _ in range(placements) for i in layout_rng.permutation(len(clips))]
    pieces, events, pos = [], [], 0
    tail = int(round((window_s + TRIAL_TAIL_S) * rate_hz))
    for i in order:
        clip = clips[i]
        x = audio_cache.get(clip.path)
        onset = int(round(layout_rng.uniform(*TRIAL_ONSET_RANGE_S) * rate_hz))
        trial = np.zeros(onset + len(x) + tail, np.float32)
        trial[onset : onset + len(x)] = x
        if snr_db is None or noise is None:
            trial += noise_rng.normal(0.0, db_to_amplitude(FLOOR_DBFS), len(trial)).astype(np.float32)
        else:
            level = active_rms(x, rate_hz) * db_to_amplitude(-snr_db)
            trial += level * noise_segment(noise, len(trial), noise_rng)
        events.append(Event(pos + onset, pos + onset + len(x), clip.label, clip.kind, clip.source, str(clip.path)))
        pieces.append(trial)
        pos += len(trial)
    audio = np.clip(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), -1.0, 1.0)
    name = CONDITION_CLEAN if snr_db is None else snr_name(snr_db)
    return EvalAudio(name, audio, rate_hz, events, {"placements": placements, "clips": len(clips)})


def snr_name(snr_db: float) -> str:
    return f"snr{snr_db:g}db"


def build_solo_trials(
    clips: list[Clip],
    seed: int,
    window_s: float = TRIAL_WINDOW_ALLOWANCE_S,
    audio_cache: AudioCache | None = None,
    rate_hz: int = STREAM_RATE_HZ,
    name: str = "solo",
) -> EvalAudio:
    """Each clip once, alone: [SOLO_PAD_BEFORE_S, clip, window_s + TRIAL_TAIL_S] on the noise floor."""
    audio_cache = audio_cache or AudioCache(rate_hz)
    rng = np.random.default_rng([seed, 3])
    pre = int(round(SOLO_PAD_BEFORE_S * rate_hz))
    tail = int(round((window_s + TRIAL_TAIL_S) * rate_hz))
    pieces, events, pos = [], [], 0
    for clip in clips:
        x = audio_cache.get(clip.path)
        trial = rng.normal(0.0, db_to_amplitude(FLOOR_DBFS), pre + len(x) + tail).astype(np.float32)
        trial[pre : pre + len(x)] += x
        events.append(Event(pos + pre, pos + pre + len(x), clip.label, clip.kind, clip.source, str(clip.path)))
        pieces.append(trial)
        pos += len(trial)
    audio = np.clip(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), -1.0, 1.0)
    return EvalAudio(name, audio, rate_hz, events, {"clips": len(clips)})


def build_negative_stream(
    clips: list[Clip],
    noises: list[tuple[str, np.ndarray]],
    hours: float,
    seed: int,
    audio_cache: AudioCache | None = None,
    rate_hz: int = STREAM_RATE_HZ,
) -> EvalAudio:
    """A long keyword-free stream: int16 (n,) audio with n >= hours * 3600 * rate_hz.

    The clips (none of kind "keyword") are reshuffled each pass and joined with pauses drawn
    from PAUSE_RANGE_S, each at an active-speech level drawn from SPEECH_LEVEL_DBFS (peaks
    limited to PEAK_LIMIT), over noise beds that change every BED_SEGMENT_S: a noise from
    `noises` (name, float32 audio at rate_hz) or a plain white floor, at a level drawn from
    BED_LEVEL_DBFS. Deterministic for (clips, noises, hours, seed).
    """
    if any(c.kind == KIND_KEYWORD for c in clips):
        raise ValueError("the negative stream must not contain keyword clips")
    if not clips:
        raise ValueError("no clips to build a negative stream from")
    audio_cache = audio_cache or AudioCache(rate_hz)
    rng = np.random.default_rng([seed, 4])
    target = int(math.ceil(hours * 3600 * rate_hz))
    placed: list[tuple[int, Clip, float]] = []
    pos = int(round(rng.uniform(*PAUSE_RANGE_S) * rate_hz))
    passes = 0
    while pos < target:
        passes += 1
        for i in rng.permutation(len(clips)):
            clip = clips[i]
            x = audio_cache.get(clip.path)
            level = db_to_amplitude(rng.uniform(*SPEECH_LEVEL_DBFS))
            placed.append((pos, clip, level))
            pos += len(x) + int(round(rng.uniform(*PAUSE_RANGE_S) * rate_hz))
            if pos >= target:
                break
    n = pos
    audio = np.zeros(n, np.float32)
    events = []
    for start, clip, level in placed:
        x = audio_cache.get(clip.path)
        rms = active_rms(x, rate_hz)
        gain = level / rms if rms > 0 else 0.0
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak * gain > PEAK_LIMIT:
            gain = PEAK_LIMIT / peak
        audio[start : start + len(x)] += gain * x
        events.append(Event(start, start + len(x), clip.label, clip.kind, clip.source, str(clip.path)))
    bed_names = [name for name, _ in noises] + ["white_floor"]
    beds = []
    t = 0
    while t < n:
        seg = min(n - t, int(round(rng.uniform(*BED_SEGMENT_S) * rate_hz)))
        k = int(rng.integers(0, len(bed_names)))
        level = db_to_amplitude(rng.uniform(*BED_LEVEL_DBFS))
        if k < len(noises):
            audio[t : t + seg] += level * noise_segment(noises[k][1], seg, rng)
        else:
            audio[t : t + seg] += rng.normal(0.0, level, seg).astype(np.float32)
        beds.append((t, t + seg, bed_names[k]))
        t += seg
    audio = np.round(np.clip(audio, -1.0, 1.0) * INT16_FULL_SCALE).astype(np.int16)
    info = {
        "hours": n / rate_hz / 3600.0,
        "passes": passes,
        "clips_placed": len(events),
        "distinct_clips": len(clips),
        "by_kind": dict(sorted(Counter(e.kind for e in events).items())),
        "noise_beds": sorted(set(bed_names)),
        "beds": beds,
    }
    return EvalAudio("negative", audio, rate_hz, events, info)


def stream_cache_key(clips: list[Clip], noises: list[tuple[str, np.ndarray]], hours: float, seed: int) -> str:
    """A digest of everything that determines the negative stream."""
    h = hashlib.sha1()
    h.update(f"v{STREAM_BUILDER_VERSION}:{hours:.6f}:{seed}:{STREAM_RATE_HZ}".encode())
    for c in clips:
        h.update(f"|{c.path}:{c.label}:{c.kind}".encode())
    for name, x in noises:
        h.update(f"|{name}:{len(x)}".encode())
    return h.hexdigest()[:12]


def cached_negative_stream(
    clips: list[Clip],
    noises: list[tuple[str, np.ndarray]],
    hours: float,
    seed: int,
    split: str,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    audio_cache: AudioCache | None = None,
) -> EvalAudio:
    """build_negative_stream, cached as <cache_dir>/neg-<split>-seed<seed>-<hours>h-<key>.npy + .json."""
    if cache_dir is None:
        return build_negative_stream(clips, noises, hours, seed, audio_cache)
    key = stream_cache_key(clips, noises, hours, seed)
    stem = Path(cache_dir) / f"neg-{split}-seed{seed}-{hours:g}h-{key}".replace(".", "p")
    npy, meta = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if npy.is_file() and meta.is_file():
        data = json.loads(meta.read_text(encoding="utf-8"))
        audio = np.load(npy, mmap_mode="r")
        events = [Event(**e) for e in data["events"]]
        log.info("negative stream from cache %s (%.2f h)", npy, len(audio) / STREAM_RATE_HZ / 3600)
        return EvalAudio("negative", audio, STREAM_RATE_HZ, events, data["info"])
    t0 = time.perf_counter()
    stream = build_negative_stream(clips, noises, hours, seed, audio_cache)
    npy.parent.mkdir(parents=True, exist_ok=True)
    # write-then-rename: a training run may read the same cache while we write it
    tmp_npy, tmp_meta = npy.with_suffix(f".tmp{os.getpid()}.npy"), meta.with_suffix(f".tmp{os.getpid()}.json")
    np.save(tmp_npy, stream.audio)
    tmp_meta.write_text(
        json.dumps({"info": stream.info, "events": [dataclasses.asdict(e) for e in stream.events]}), encoding="utf-8"
    )
    os.replace(tmp_npy, npy)
    os.replace(tmp_meta, meta)
    log.info("built negative stream %s (%.2f h) in %.1f s", npy, stream.hours, time.perf_counter() - t0)
    return stream


# ----------------------------------------------------------------------------- scoring and trigger


@dataclass
class WindowScores:
    """Per-window keyword scores of one model on one EvalAudio.

    ends: int64 (n,) window end, in model-rate samples from the audio start; scores: float32 (n,)
    probabilities for the evaluated keyword; sample_rate_hz: the model's rate.
    """

    ends: np.ndarray
    scores: np.ndarray
    sample_rate_hz: int

    @property
    def ends_s(self) -> np.ndarray:
        return self.ends.astype(np.float64) / self.sample_rate_hz


def score_audio(model, settings: TriggerSettings, audio: EvalAudio, keyword: str, block_s: float = BLOCK_S) -> WindowScores:
    """Run `audio` through a Pipeline in block_s blocks and record every window's keyword score."""
    k = model.spec.keywords.index(keyword)
    ends, scores = [], []

    def record(e, s, _setup):
        ends.append(np.asarray(e, np.int64).copy())
        scores.append(np.asarray(s[:, k], np.float32).copy())

    pipe = Pipeline(ModelSetup(model, dict(model.spec.thresholds), settings), audio.rate_hz, on_scores=record)
    block = int(round(block_s * audio.rate_hz))
    for i in range(0, len(audio.audio), block):
        pipe.feed(np.asarray(audio.audio[i : i + block]))
    return WindowScores(
        np.concatenate(ends) if ends else np.zeros(0, np.int64),
        np.concatenate(scores) if scores else np.zeros(0, np.float32),
        model.spec.sample_rate_hz,
    )


def replay_trigger(
    scores: np.ndarray,
    ends: np.ndarray,
    threshold: float,
    settings: TriggerSettings,
    sample_rate_hz: int,
    keyword: str = DEFAULT_KEYWORD,
    skip_quiet: bool = True,
) -> np.ndarray:
    """Detection times (int64 window ends, model-rate samples) of the daemon's trigger at `threshold`.

    scores: float32 (n,) per-window scores; ends: int64 (n,) their window ends. Uses
    detector.build_trigger with `settings` (smoothing, patience, refractory) and this threshold.

    skip_quiet: feed only windows within reach of a score >= threshold (s - 1 windows before it,
    s after, s = smoothing_windows). This is exact: elsewhere the smoothed score is a mean of
    scores below the threshold, so the trigger can only reset (run 0, re-armed); the s - 1
    windows before a hot window refill the smoothing buffer with the true scores, and the first
    of them resets the state exactly as the skipped windows would have. The refractory clock is
    in samples and is carried across. A unit test checks this against feeding every window.
    """
    scores = np.asarray(scores, np.float32)
    ends = np.asarray(ends, np.int64)
    trig = build_trigger([keyword], {keyword: threshold}, settings, sample_rate_hz)
    kt = trig.triggers[0]
    if skip_quiet:
        s = settings.smoothing_windows
        hot = scores >= threshold
        if not hot.any():
            return np.zeros(0, np.int64)
        # dilate: window j is fed if a hot window lies in [j - s, j + s - 1]
        idx = np.flatnonzero(hot)
        mark = np.zeros(len(scores) + 1, np.int64)
        np.add.at(mark, np.maximum(idx - (s - 1), 0), 1)
        np.add.at(mark, np.minimum(idx + s + 1, len(scores)), -1)
        feed = np.flatnonzero(np.cumsum(mark[:-1]) > 0)
    else:
        feed = np.arange(len(scores))
    found = []
    update = kt.update
    for i in feed:
        if update(float(scores[i]), int(ends[i])) is not None:
            found.append(int(ends[i]))
    return np.asarray(found, np.int64)


def hits_per_event(
    detections_s: np.ndarray, starts_s: np.ndarray, ends_s: np.ndarray, window_s: float
) -> np.ndarray:
    """bool (n_events,): some detection time lies in [start, end + window_s] of the event.

    A window ending at t covers [t - window_s, t]; it overlaps the clip while t is in that range.
    """
    detections_s = np.sort(np.asarray(detections_s, np.float64))
    lo = np.searchsorted(detections_s, starts_s, side="left")
    hi = np.searchsorted(detections_s, np.asarray(ends_s) + window_s, side="right")
    return hi > lo


def attribute_detections(
    detections_s: np.ndarray, audio: EvalAudio, window_s: float
) -> list[tuple[str, str]]:
    """For each detection, (label, kind) of the clip overlapping its window [t - window_s, t] most.

    Sentences are labelled SENTENCE_LABEL. A window that overlaps no clip is attributed to the
    noise bed under it: ("bed:<name>", "bed").
    """
    starts, ends = audio.event_arrays()
    order = np.argsort(starts)
    starts, ends = starts[order], ends[order]
    events = [audio.events[i] for i in order]
    beds = audio.info.get("beds", [])
    labels = []
    for t in np.asarray(detections_s, np.float64):
        w0 = t - window_s
        j_hi = np.searchsorted(starts, t, side="left")
        best, best_overlap = None, 0.0
        # events are short (seconds) and ordered by start; look back over those that can overlap
        j = j_hi - 1
        while j >= 0 and starts[j] > w0 - 60.0:
            overlap = min(ends[j], t) - max(starts[j], w0)
            if overlap > best_overlap:
                best, best_overlap = events[j], overlap
            j -= 1
        if best is not None:
            labels.append((SENTENCE_LABEL if best.kind == KIND_SPEECH else best.label, best.kind))
        else:
            t_samples = t * audio.rate_hz
            bed = next((b[2] for b in beds if b[0] <= t_samples < b[1]), "unknown")
            labels.append((BED_LABEL_PREFIX + bed, BED_KIND))
    return labels


# ----------------------------------------------------------------------------- curves and operating points


@dataclass
class ModelScores:
    """One model's recorded window scores on every evaluation audio set."""

    name: str
    path: str
    spec: object  # wakeword.sidecar.ModelSpec
    settings: TriggerSettings
    sample_rate_hz: int
    window_s: float
    keyword_trials: dict  # condition -> WindowScores
    negative: WindowScores
    solo: WindowScores | None
    cached_sets: list = dataclasses.field(default_factory=list)  # set names whose scores came from the cache


def frr_at(scores: WindowScores, audio: EvalAudio, threshold: float, settings: TriggerSettings, window_s: float, keyword: str) -> float:
    """Fraction of keyword trials with no detection in their tolerance, at `threshold`."""
    det = replay_trigger(scores.scores, scores.ends, threshold, settings, scores.sample_rate_hz, keyword)
    starts, ends = audio.event_arrays()
    if len(starts) == 0:
        return float("nan")
    hit = hits_per_event(det / scores.sample_rate_hz, starts, ends, window_s)
    return float(1.0 - hit.mean())


def stray_detections(scores: WindowScores, audio: EvalAudio, threshold: float, settings: TriggerSettings, window_s: float, keyword: str) -> int:
    """Detections in keyword-trial audio outside every trial's tolerance: firing on the bed alone."""
    det = replay_trigger(scores.scores, scores.ends, threshold, settings, scores.sample_rate_hz, keyword) / scores.sample_rate_hz
    starts, ends = audio.event_arrays()
    inside = np.zeros(len(det), bool)
    for lo, hi in zip(starts, ends + window_s):
        inside |= (det >= lo) & (det <= hi)
    return int((~inside).sum())


def det_curve(
    ms: ModelScores, sets: "EvalSets", thresholds=THRESHOLD_GRID, keyword: str = DEFAULT_KEYWORD
) -> dict:
    """{"thresholds": [...], "fa_count": [...], "fa_per_hour": [...], "frr": {condition: [...]}}."""
    hours = sets.negative.hours
    out = {"thresholds": list(thresholds), "fa_count": [], "fa_per_hour": [], "frr": {c: [] for c in sets.keyword_trials}}
    for t in thresholds:
        det = replay_trigger(ms.negative.scores, ms.negative.ends, t, ms.settings, ms.sample_rate_hz, keyword)
        out["fa_count"].append(int(len(det)))
        out["fa_per_hour"].append(len(det) / hours)
        for cond, audio in sets.keyword_trials.items():
            out["frr"][cond].append(frr_at(ms.keyword_trials[cond], audio, t, ms.settings, ms.window_s, keyword))
    return out


def lowest_threshold_meeting(ok) -> int | None:
    """Index into ascending thresholds of the lowest from which `ok` holds at every higher one, or None.

    FA counts are not strictly monotone in the threshold (a higher threshold can split one
    firing run into two), hence "and every threshold above".
    """
    ok = list(ok)
    best = None
    for i in range(len(ok) - 1, -1, -1):
        if not ok[i]:
            break
        best = i
    return best


def highest_threshold_meeting(ok) -> int | None:
    """Index into ascending thresholds of the highest at which `ok` holds, or None.

    Used for "the threshold giving 97 % recall": the highest threshold whose FRR is within the
    target. Not "at every lower threshold too": at the lowest thresholds the score of a noisy
    stream may never fall below the threshold, the trigger never re-arms and FRR rises again.
    """
    hits = [i for i, good in enumerate(ok) if good]
    return hits[-1] if hits else None


@dataclass(frozen=True)
class ThresholdChoice:
    """The recommended threshold and how it was reached (for the sidecar's `training` dict)."""

    threshold: float
    rule: str
    stream_hours: float
    fa_count: int
    fa_per_hour: float
    fa_per_hour_upper95: float
    met: bool
    frr: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def choose_threshold_from_curve(
    thresholds,
    fa_counts,
    stream_hours: float,
    frrs=None,
    max_fa_per_hour: float = TARGET_FA_PER_HOUR,
    max_fa_count: int | None = DEFAULT_MAX_FA_COUNT,
    margin_logit: float = DEFAULT_THRESHOLD_MARGIN_LOGIT,
    max_margin_frr_cost: float = DEFAULT_MARGIN_FRR_COST,
) -> ThresholdChoice:
    """Pick the recommended threshold from a validation curve.

    thresholds: ascending floats in (0, 1); fa_counts: false accepts at each on a negative stream
    of stream_hours; frrs: optional validation FRR (0..1) at each.

    Rule: t0 = the lowest threshold at which the stream holds <= max_fa_per_hour (and, if given,
    <= max_fa_count false accepts), at it and at every higher threshold. Then go up the grid by
    at most `margin_logit` in log-odds, but only while the FRR stays within max_margin_frr_cost
    of FRR(t0).

    Why: a 2 h stream resolves little (one false accept is 0.5 FA/h; even none only bounds the
    rate below -ln(0.05)/hours per hour, 95 %), so the margin keeps the threshold off the edge of
    the highest-scoring negatives seen, where that costs (almost) no recall. Requiring zero false
    accepts instead (max_fa_count=0) was the first default; on the validation split, where one
    speaker holds two thirds of the clips, it cost the embedding model half its test recall for
    no test FA/h gain, so the FA/h target plus the guarded margin is the default. The FRR limit
    also matters for saturating int8 outputs, where a fixed score margin could lift the threshold
    above every keyword score.

    Not met (met=False, with a warning) if no threshold qualifies or the one that does fires on no
    keyword trial (FRR 1): then the lowest threshold with <= max_fa_per_hour at it and above that
    still fires on some keyword trial, else the highest such threshold, so the model stays usable.
    """
    thresholds = [float(t) for t in thresholds]
    if thresholds != sorted(thresholds) or len(thresholds) != len(fa_counts) or not thresholds:
        raise ValueError("thresholds must be ascending and match fa_counts")
    if frrs is not None and len(frrs) != len(thresholds):
        raise ValueError("frrs must match thresholds")
    if stream_hours <= 0:
        raise ValueError("stream_hours must be positive")
    n = len(thresholds)
    reachable = [True] * n if frrs is None else [f < 1.0 for f in frrs]
    strict = [(max_fa_count is None or c <= max_fa_count) and c / stream_hours <= max_fa_per_hour for c in fa_counts]
    i = lowest_threshold_meeting(strict)
    met = i is not None and reachable[i]
    if met:
        j = i
        while (
            j + 1 < n
            and logit(thresholds[j + 1]) <= logit(thresholds[i]) + margin_logit + 1e-9
            and (frrs is None or frrs[j + 1] <= frrs[i] + max_margin_frr_cost)
        ):
            j += 1
    else:
        relaxed = lowest_threshold_meeting([c / stream_hours <= max_fa_per_hour for c in fa_counts])
        usable = [k for k in range(n) if reachable[k]]
        if relaxed is not None and reachable[relaxed]:
            j = relaxed
        else:
            j = usable[-1] if usable else n - 1
        log.warning(
            "no threshold gives <= %g FA/h (max %s false accepts) in %.2f h while still detecting the keyword; "
            "using %.5g (%d false accepts)",
            max_fa_per_hour, max_fa_count, stream_hours, thresholds[j], fa_counts[j],
        )
    count = int(fa_counts[j])
    upper = (POISSON_ZERO_UPPER95 if count == 0 else _poisson_upper95(count)) / stream_hours
    count_rule = "" if max_fa_count is None else f" and <= {max_fa_count} false accepts"
    rule = (
        f"lowest threshold with <= {max_fa_per_hour:g} FA/h{count_rule} on "
        f"{stream_hours:.2f} h of validation negatives at it and every higher threshold, raised by up to "
        f"{margin_logit:g} in log-odds while validation FRR rises by <= {100 * max_margin_frr_cost:g} points"
    )
    frr = {} if frrs is None else {"at_threshold": float(frrs[j])}
    return ThresholdChoice(thresholds[j], rule, stream_hours, count, count / stream_hours, upper, met, frr)


def logit(p: float) -> float:
    """log(p / (1 - p)) for p in (0, 1)."""
    return math.log(p / (1.0 - p))


def _poisson_upper95(count: int) -> float:
    """One-sided 95 % upper bound on a Poisson mean after `count` events (Wilson-Hilferty)."""
    k = count + 1
    z = 1.6448536269514722
    return k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3


# ----------------------------------------------------------------------------- evaluation sets


@dataclass
class EvalSets:
    """All audio one split is evaluated on (built once, shared by every model)."""

    split: str
    keyword_trials: dict  # condition name -> EvalAudio
    negative: EvalAudio
    solo: EvalAudio | None
    info: dict


def build_eval_sets(
    data_root: Path = DEFAULT_DATA_ROOT,
    split: str = "test",
    keyword: str = DEFAULT_KEYWORD,
    split_seed: int = 0,
    seed: int = 0,
    stream_hours: float = DEFAULT_STREAM_HOURS,
    snrs_db=DEFAULT_SNRS_DB,
    placements: int = DEFAULT_PLACEMENTS,
    solo: bool = True,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    window_s: float = TRIAL_WINDOW_ALLOWANCE_S,
    pinned: dict | None = None,
) -> EvalSets:
    """Build the keyword trials (clean + each SNR), the negative stream and the solo trials.

    pinned: {speaker: side} as the model's training split had it (split_by_speaker)."""
    clips = load_corpus(Path(data_root), keyword=keyword)
    splits = split_by_speaker(clips, seed=split_seed, pinned=pinned)
    if split not in splits:
        raise ConfigError(f"--split must be one of {', '.join(splits)}, got {split!r}")
    chosen = splits[split]
    train_noises, held_out = noise_split(clips)
    if not held_out:
        raise ConfigError(f"{data_root}: no held-out noise file found (noise_split)")
    cache = AudioCache()
    held = np.concatenate([cache.get(c.path) for c in held_out])
    keyword_clips = [c for c in chosen if c.kind == KIND_KEYWORD]
    if not keyword_clips:
        raise ConfigError(f"split {split!r} holds no '{keyword}' clips")
    trials = {CONDITION_CLEAN: build_keyword_trials(keyword_clips, None, None, seed, placements, window_s, cache)}
    for snr in snrs_db:
        trials[snr_name(snr)] = build_keyword_trials(keyword_clips, held, snr, seed, placements, window_s, cache)
    negatives = [c for c in chosen if c.kind in NEGATIVE_KINDS]
    noises = [(c.path.stem, cache.get(c.path)) for c in train_noises + held_out]
    negative = cached_negative_stream(negatives, noises, stream_hours, seed, split, cache_dir, cache)
    solo_set = None
    if solo:
        solo_clips = [c for c in chosen if c.kind in (KIND_COMMAND, KIND_WAKEWORD)]
        solo_set = build_solo_trials(solo_clips, seed, window_s, cache, name="solo")
    info = {
        "data_root": str(data_root),
        "split": split,
        "split_seed": split_seed,
        "pinned": dict(pinned or {}),
        "seed": seed,
        "keyword": keyword,
        "split_counts": count_table(splits),
        "held_out_noise": [c.path.stem for c in held_out],
        "train_noises": [c.path.stem for c in train_noises],
        "keyword_clips": len(keyword_clips),
        "keyword_speakers": len({c.speaker for c in keyword_clips}),
        "placements": placements,
        "snrs_db": list(snrs_db),
        "negative_stream": {k: v for k, v in negative.info.items() if k != "beds"},
        "solo_clips": dict(sorted(Counter(c.kind for c in solo_set.events).items())) if solo_set else {},
    }
    return EvalSets(split, trials, negative, solo_set, info)


def load_for_evaluation(path, keyword: str, hop_s: float | None = None):
    """(model, TriggerSettings) exactly as the daemon runs them with its default config.

    The daemon's config leaves hop, smoothing, patience and refractory to the sidecar unless
    config.yaml overrides them; hop_s overrides the hop like trigger.hop_ms does.
    """
    model = load_model(Path(path))
    if keyword not in model.spec.keywords:
        raise ConfigError(f"{path}: model has no keyword {keyword!r} (it has {list(model.spec.keywords)})")
    trigger_config = TriggerConfig() if hop_s is None else TriggerConfig.from_keys(hop_ms=int(round(hop_s * 1000)))
    return model, ModelSetup.configured(model, trigger_config, where=str(path)).trigger


def _set_names(sets: EvalSets) -> list[str]:
    """Names of the audio sets in `sets`, largest first (so parallel workers finish together)."""
    names = [f"trials:{c}" for c in sets.keyword_trials] + ["negative"] + (["solo"] if sets.solo is not None else [])
    return sorted(names, key=lambda n: -_set_audio(sets, n).hours)


def _set_audio(sets: EvalSets, name: str) -> EvalAudio:
    if name.startswith("trials:"):
        return sets.keyword_trials[name.split(":", 1)[1]]
    return sets.negative if name == "negative" else sets.solo


#: The sets a forked worker scores: inherited from the parent by fork, never pickled.
_WORKER_SETS: EvalSets | None = None


def _score_task(task) -> tuple[int, str, WindowScores]:
    index, path, keyword, hop_s, name = task
    model, settings = load_for_evaluation(path, keyword, hop_s)
    return index, name, score_audio(model, settings, _set_audio(_WORKER_SETS, name), keyword)


def audio_digest(audio: EvalAudio) -> str:
    """SHA-1 of the samples and rate of built audio (what a model's scores depend on)."""
    h = hashlib.sha1(f"{audio.rate_hz}:{np.asarray(audio.audio).dtype}:".encode())
    h.update(memoryview(np.ascontiguousarray(audio.audio)).cast("B"))
    return h.hexdigest()[:16]


def score_cache_path(cache_dir: Path, model_path, settings: TriggerSettings, keyword: str, audio_sha: str) -> Path:
    """Where one model's scores on one audio set are cached: keyed by the model and sidecar
    bytes, the hop (the only setting that changes the scores) and the audio digest."""
    model_path = Path(model_path)
    h = hashlib.sha1(model_path.read_bytes())
    sidecar = model_path.with_suffix(".json")
    if sidecar.is_file():
        # the threshold and the free-form training record do not change a score; the rest may
        data = {k: v for k, v in json.loads(sidecar.read_text(encoding="utf-8")).items() if k not in ("thresholds", "training")}
        h.update(json.dumps(data, sort_keys=True).encode())
    h.update(f"{settings.hop_s:.6f}:{keyword}:{audio_sha}:{STREAM_BUILDER_VERSION}".encode())
    return Path(cache_dir) / "scores" / f"{model_path.stem}-{h.hexdigest()[:16]}.npz"


def load_scores(path: Path) -> WindowScores | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return WindowScores(data["ends"], data["scores"], int(data["sample_rate_hz"]))


def save_scores(path: Path, ws: WindowScores) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, ends=ws.ends, scores=ws.scores, sample_rate_hz=ws.sample_rate_hz)
    os.replace(tmp, path)


def score_models(
    models: list[tuple[str | None, Path]],
    sets: EvalSets,
    keyword: str = DEFAULT_KEYWORD,
    hop_s: float | None = None,
    jobs: int = 1,
    cache_dir: Path | None = None,
) -> list[ModelScores]:
    """Record every model's window scores on every set of `sets` (the expensive part).

    jobs > 1 scores (model, set) pairs in that many forked processes; each pair is still one
    continuous Pipeline run, so the scores are identical to jobs=1. With cache_dir, scores are
    cached per (model and sidecar bytes, hop, audio digest): re-evaluating an unchanged model
    (the baseline, say) costs only the trigger replays.
    """
    global _WORKER_SETS
    loaded = [load_for_evaluation(path, keyword, hop_s) for _, path in models]
    tasks = [(i, str(path), keyword, hop_s, name) for i, (_, path) in enumerate(models) for name in _set_names(sets)]
    tasks.sort(key=lambda t: -_set_audio(sets, t[4]).hours)
    t0 = time.perf_counter()
    done, todo, keys, from_cache = [], [], {}, []
    audio_digests = {name: audio_digest(_set_audio(sets, name)) for name in _set_names(sets)} if cache_dir else {}
    for task in tasks:
        i, path, _, _, name = task
        if cache_dir is not None:
            keys[(i, name)] = score_cache_path(cache_dir, path, loaded[i][1], keyword, audio_digests[name])
            cached = load_scores(keys[(i, name)])
            if cached is not None:
                done.append((i, name, cached))
                from_cache.append((i, name))
                continue
        todo.append(task)
    if todo:
        log.info("scoring %d (model, audio) pair(s), %d from the score cache", len(todo), len(done))
    if jobs > 1 and len(todo) > 1:
        import multiprocessing

        _WORKER_SETS = sets
        try:
            with multiprocessing.get_context("fork").Pool(min(jobs, len(todo))) as pool:
                fresh = pool.map(_score_task, todo, chunksize=1)
        finally:
            _WORKER_SETS = None
    else:
        fresh = [(i, name, score_audio(loaded[i][0], loaded[i][1], _set_audio(sets, name), keyword)) for i, _, _, _, name in todo]
    for i, name, ws in fresh:
        if cache_dir is not None:
            save_scores(keys[(i, name)], ws)
    done += fresh
    log.info("scored %d model(s) on %.2f h of audio each in %.1f s (%d job(s))", len(models), _hours(sets), time.perf_counter() - t0, jobs)
    by_model: list[dict] = [{} for _ in models]
    for i, name, ws in done:
        by_model[i][name] = ws
    out = []
    for (name, path), (model, settings), scored in zip(models, loaded, by_model):
        spec = model.spec
        trials = {c: scored[f"trials:{c}"] for c in sets.keyword_trials}
        out.append(
            ModelScores(
                name or spec.name, str(path), spec, settings, spec.sample_rate_hz, spec.frontend.window_samples / spec.sample_rate_hz,
                trials, scored["negative"], scored.get("solo"), [n for j, n in from_cache if j == len(out)],
            )
        )
    return out


def score_model(path, sets: EvalSets, name: str | None = None, keyword: str = DEFAULT_KEYWORD, hop_s: float | None = None) -> ModelScores:
    """One model's window scores on every set of `sets`, in this process."""
    return score_models([(name, Path(path))], sets, keyword, hop_s, jobs=1)[0]


def _hours(sets: EvalSets) -> float:
    total = sets.negative.hours + sum(a.hours for a in sets.keyword_trials.values())
    return total + (sets.solo.hours if sets.solo is not None else 0.0)


def operating_point(ms: ModelScores, sets: EvalSets, threshold: float, keyword: str = DEFAULT_KEYWORD) -> dict:
    """All figures at one threshold: FRR per condition, FA/h and its causes, solo FA% per kind/label."""
    neg = replay_trigger(ms.negative.scores, ms.negative.ends, threshold, ms.settings, ms.sample_rate_hz, keyword)
    neg_s = neg / ms.sample_rate_hz
    attributed = attribute_detections(neg_s, sets.negative, ms.window_s)
    causes = Counter(label for label, _ in attributed)
    point = {
        "threshold": float(threshold),
        "frr": {c: frr_at(ms.keyword_trials[c], a, threshold, ms.settings, ms.window_s, keyword) for c, a in sets.keyword_trials.items()},
        "stray_detections": {
            c: stray_detections(ms.keyword_trials[c], a, threshold, ms.settings, ms.window_s, keyword) for c, a in sets.keyword_trials.items()
        },
        "fa_count": int(len(neg)),
        "fa_per_hour": len(neg) / sets.negative.hours,
        "fa_by_label": dict(causes.most_common()),
        "fa_by_kind": dict(Counter(kind for _, kind in attributed).most_common()),
    }
    if sets.solo is not None and ms.solo is not None:
        det = replay_trigger(ms.solo.scores, ms.solo.ends, threshold, ms.settings, ms.sample_rate_hz, keyword)
        starts, ends = sets.solo.event_arrays()
        fired = hits_per_event(det / ms.sample_rate_hz, starts, ends, ms.window_s)
        by_kind, by_label = {}, Counter()
        for kind in sorted({e.kind for e in sets.solo.events}):
            mask = np.array([e.kind == kind for e in sets.solo.events])
            by_kind[kind] = {"clips": int(mask.sum()), "fired": int(fired[mask].sum()), "fa_pct": float(100 * fired[mask].mean())}
        for e, f in zip(sets.solo.events, fired):
            if f:
                by_label[e.label] += 1
        point["solo_fa"] = by_kind
        point["solo_fa_by_label"] = dict(by_label.most_common())
    return point


def summarise_model(ms: ModelScores, sets: EvalSets, keyword: str = DEFAULT_KEYWORD, thresholds=THRESHOLD_GRID) -> dict:
    """The results-JSON entry of one model: DET curve and the operating points."""
    curve = det_curve(ms, sets, thresholds, keyword)
    spec = ms.spec
    sidecar_threshold = float(spec.thresholds[keyword])
    ths = curve["thresholds"]
    i_fa = lowest_threshold_meeting([f <= TARGET_FA_PER_HOUR for f in curve["fa_per_hour"]])
    i_rec = highest_threshold_meeting([r <= TARGET_FRR for r in curve["frr"][CONDITION_CLEAN]])
    entry = {
        "name": ms.name,
        "path": ms.path,
        "size_bytes": Path(ms.path).stat().st_size,
        "params": _sidecar_params(spec.training) or count_tflite_params(ms.path),
        "sample_rate_hz": spec.sample_rate_hz,
        "window_s": ms.window_s,
        "input": {"shape": list(spec.input_shape), "dtype": spec.input_dtype},
        "frontend": {"type": spec.frontend.frontend_type, **spec.frontend.to_dict()},
        "frontend_files": frontend_model_files(spec),
        "output_activation": getattr(spec, "output_activation", "sigmoid"),
        "trigger": dataclasses.asdict(ms.settings) | {"threshold": sidecar_threshold},
        "training": spec.training,
        "scores_from_cache": list(ms.cached_sets),
        "at_sidecar_threshold": operating_point(ms, sets, sidecar_threshold, keyword),
        "at_target_fa": (operating_point(ms, sets, ths[i_fa], keyword) if i_fa is not None else None),
        "at_target_recall": (operating_point(ms, sets, ths[i_rec], keyword) if i_rec is not None else None),
        "det": curve,
    }
    entry["trigger"].pop("thresholds", None)
    return entry


def frontend_model_files(spec) -> dict:
    """{file name: bytes} of models the front end runs besides the .tflite (none for MFCC).

    The learned speech_embedding front end runs two pretrained models on every window; their
    size belongs next to the head's when models are compared.
    """
    if spec.frontend.frontend_type == "mfcc":
        return {}
    try:
        from ..frontends.embedding import resource_paths

        return {Path(p).name: Path(p).stat().st_size for p in resource_paths()}
    except Exception as exc:  # noqa: BLE001 - informative only; the evaluation itself already ran
        log.warning("cannot size the %s front end's models (%s)", spec.frontend.frontend_type, exc)
        return {}


def _sidecar_params(training: dict) -> int | None:
    """The trainer's parameter count: training["params"] or training["figures"]["params"]."""
    for value in (training.get("params"), (training.get("figures") or {}).get("params")):
        if isinstance(value, int):
            return value
    return None


def count_tflite_params(path) -> int | None:
    """Weights in a .tflite: elements of the constant tensors (no op produces them, not inputs).

    Uses the interpreter's op list; None if the backend does not expose it.
    """
    try:
        from ..interpreter import load_interpreter_class

        cls, _ = load_interpreter_class()
        interp = cls(model_path=str(path))
        produced = {int(o) for op in interp._get_ops_details() for o in op["outputs"]}
        inputs = {d["index"] for d in interp.get_input_details()}
        total = 0
        for d in interp.get_tensor_details():
            if d["index"] in produced or d["index"] in inputs:
                continue
            total += int(np.prod(d["shape"])) if len(d["shape"]) else 1
        return total
    except Exception as exc:  # noqa: BLE001 - a private API may change; the count is informative only
        log.warning("%s: cannot count parameters (%s)", path, exc)
        return None


# ----------------------------------------------------------------------------- high-level entry points


def choose_threshold(
    model_path,
    data_root: Path = DEFAULT_DATA_ROOT,
    split: str = "val",
    keyword: str = DEFAULT_KEYWORD,
    split_seed: int = 0,
    seed: int = 0,
    stream_hours: float = DEFAULT_STREAM_HOURS,
    max_fa_per_hour: float = TARGET_FA_PER_HOUR,
    max_fa_count: int | None = DEFAULT_MAX_FA_COUNT,
    margin_logit: float = DEFAULT_THRESHOLD_MARGIN_LOGIT,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    thresholds=THRESHOLD_GRID,
    max_margin_frr_cost: float = DEFAULT_MARGIN_FRR_COST,
    pinned: dict | None = None,
) -> ThresholdChoice:
    """Recommended threshold for a model (.tflite with its sidecar) from VALIDATION data.

    Runs the model through the Pipeline (the sidecar's trigger settings; its current threshold
    is ignored) on the split's negative stream (stream_hours, cached) and clean keyword trials
    (one placement per clip), then applies `choose_threshold_from_curve`. The returned
    ThresholdChoice carries the clean FRR on the split at the chosen threshold in `.frr`.
    """
    sets = build_eval_sets(
        data_root, split, keyword, split_seed, seed, stream_hours, snrs_db=(), placements=1, solo=False, cache_dir=cache_dir,
        pinned=pinned,
    )
    ms = score_models([(None, Path(model_path))], sets, keyword, jobs=1, cache_dir=cache_dir)[0]
    fa_counts, frrs = [], []
    clean_scores, clean_audio = ms.keyword_trials[CONDITION_CLEAN], sets.keyword_trials[CONDITION_CLEAN]
    for t in thresholds:
        fa_counts.append(len(replay_trigger(ms.negative.scores, ms.negative.ends, t, ms.settings, ms.sample_rate_hz, keyword)))
        frrs.append(frr_at(clean_scores, clean_audio, t, ms.settings, ms.window_s, keyword))
    choice = choose_threshold_from_curve(
        thresholds, fa_counts, sets.negative.hours, frrs, max_fa_per_hour, max_fa_count, margin_logit, max_margin_frr_cost
    )
    frr = choice.frr["at_threshold"]
    choice = dataclasses.replace(choice, frr={f"{split}_{CONDITION_CLEAN}": frr})
    log.info("%s: threshold %.3f (%s), %s clean FRR %.3f", model_path, choice.threshold, choice.rule, split, frr)
    return choice


def evaluate(
    models: list[tuple[str | None, Path]],
    data_root: Path = DEFAULT_DATA_ROOT,
    split: str = "test",
    keyword: str = DEFAULT_KEYWORD,
    split_seed: int = 0,
    seed: int = 0,
    stream_hours: float = DEFAULT_STREAM_HOURS,
    snrs_db=DEFAULT_SNRS_DB,
    placements: int = DEFAULT_PLACEMENTS,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
    hop_s: float | None = None,
    jobs: int = 1,
    no_score_cache: bool = False,
    pinned: dict | None = None,
) -> dict:
    """Evaluate models on one split; return the results dict (JSON-serialisable)."""
    t0 = time.perf_counter()
    sets = build_eval_sets(data_root, split, keyword, split_seed, seed, stream_hours, snrs_db, placements, True, cache_dir, pinned=pinned)
    t_built = time.perf_counter()
    scored = score_models(
        [(name, Path(path)) for name, path in models], sets, keyword, hop_s, jobs, None if no_score_cache else cache_dir
    )
    t_scored = time.perf_counter()
    entries = [summarise_model(ms, sets, keyword) for ms in scored]
    return {
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "targets": {"fa_per_hour": TARGET_FA_PER_HOUR, "frr": TARGET_FRR},
        "conditions": list(sets.keyword_trials),
        "sets": sets.info,
        "audio_hours": _hours(sets),
        "build_time_s": t_built - t0,
        "score_time_s": t_scored - t_built,
        "trigger_replay_time_s": time.perf_counter() - t_scored,
        "jobs": jobs,
        "models": entries,
    }


# ----------------------------------------------------------------------------- reporting


def fmt_threshold(t: float) -> str:
    """A threshold with enough digits to tell grid steps near 1 apart: 0.500, 0.9960, 0.99999874."""
    digits = max(3, math.ceil(-math.log10(max(1.0 - t, 1e-9))) + 2)
    return f"{t:.{digits}f}"


def pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def table_rows(results: dict) -> list[list[str]]:
    """Rows (header first) of the comparison table; shared by the console and the model card."""
    conds = results["conditions"]
    header = ["model", "threshold"] + [f"FRR {c}" for c in conds] + ["FA/h", "FA cmd %", "FA wake %"]
    rows = [header]
    for m in results["models"]:
        for key, what in (("at_sidecar_threshold", "chosen"), ("at_target_fa", f"<= {TARGET_FA_PER_HOUR:g} FA/h")):
            p = m.get(key)
            if p is None:
                rows.append([m["name"], f"{what}: not reached"] + [""] * (len(header) - 2))
                continue
            solo = p.get("solo_fa", {})
            rows.append(
                [m["name"], f"{fmt_threshold(p['threshold'])} ({what})"]
                + [pct(p["frr"][c]) for c in conds]
                + [f"{p['fa_per_hour']:.2f} ({p['fa_count']})"]
                + [f"{solo[k]['fa_pct']:.1f}" if k in solo else "n/a" for k in (KIND_COMMAND, KIND_WAKEWORD)]
            )
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def plot_det(results: dict, path: Path, conditions=None) -> None:
    """DET curves: FRR (y, %) against FA/h (x, log) over thresholds >= PLOT_MIN_THRESHOLD, every model on one plot.

    Zero false accepts cannot sit on a log axis: those points are drawn at half of one FA in
    the stream (marked by the grey line, "0 FA").
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = conditions or results["conditions"]
    hours = results["sets"]["negative_stream"]["hours"]
    floor = 0.5 / hours
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=80)
    for mi, m in enumerate(results["models"]):
        det = m["det"]
        # below PLOT_MIN_THRESHOLD the score rarely falls under the threshold, so the trigger
        # rarely re-arms and the curve hooks back; those thresholds are never usable
        keep = np.asarray(det["thresholds"], float) >= PLOT_MIN_THRESHOLD
        fa = np.maximum(np.asarray(det["fa_per_hour"], float), floor)[keep]
        color = f"C{mi}"
        for ci, cond in enumerate(conditions):
            frr = 100 * np.asarray(det["frr"][cond], float)[keep]
            # markers show where the thresholds actually fall: a saturating model leaves long gaps
            ax.plot(fa, frr, styles[ci % len(styles)], color=color, lw=1.2, marker=".", ms=3, label=f"{m['name']} {cond}")
        p = m.get("at_sidecar_threshold")
        if p:
            ax.plot(max(p["fa_per_hour"], floor), 100 * p["frr"][conditions[0]], "o", color=color, ms=5)
    ax.axvline(floor, color="0.6", lw=0.8)
    ax.axvline(TARGET_FA_PER_HOUR, color="0.3", lw=0.8, ls=":")
    ax.text(floor, 1, " 0 FA", color="0.4", fontsize=7, va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour ({hours:.1f} h {results['sets']['split']} negatives)")
    ax.set_ylabel("false rejects (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6.5, loc="best")
    ax.set_title(f"DET, '{results['sets']['keyword']}' on the {results['sets']['split']} split (dot: chosen threshold)", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def print_report(results: dict, out=sys.stdout) -> None:
    s = results["sets"]
    neg = s["negative_stream"]
    print(
        f"split {s['split']}: {s['keyword_clips']} '{s['keyword']}' clips from {s['keyword_speakers']} speakers "
        f"x {s['placements']} placements; negatives {neg['hours']:.2f} h ({neg['clips_placed']} clips placed, "
        f"{neg['distinct_clips']} distinct); held-out noise {', '.join(s['held_out_noise'])}",
        file=out,
    )
    print(format_table(table_rows(results)), file=out)
    for m in results["models"]:
        rec = m.get("at_target_recall")
        rec_txt = f"{rec['fa_per_hour']:.2f} FA/h at threshold {fmt_threshold(rec['threshold'])}" if rec else "not reached"
        print(f"{m['name']}: at 97% recall (clean): {rec_txt}", file=out)
        p = m["at_sidecar_threshold"]
        causes = ", ".join(f"{k} {v}" for k, v in p["fa_by_label"].items()) or "none"
        print(f"{m['name']}: false accepts in the stream at the chosen threshold by cause: {causes}", file=out)
        if p.get("solo_fa_by_label"):
            print(f"{m['name']}: solo clips that fired: " + ", ".join(f"{k} {v}" for k, v in p["solo_fa_by_label"].items()), file=out)


def check_training_split(models: list[tuple[str | None, Path]], split: str, split_seed: int, pinned: dict) -> None:
    """ConfigError if a model's training may have heard speakers of the evaluated split.

    Its sidecar records the split it was trained on. Another --split-seed, a speaker the model had
    pinned to train that this evaluation does not pin there too, or an evaluation pin moving one of
    its training speakers into `split` would all test it on training speech (training-side
    figures are exempt). Models without a training record are not checked."""
    if split == "train":
        return
    for _name, path in models:
        try:
            spec = load_sidecar(sidecar_path_for(path))
        except WakewordError:
            continue  # scoring reports a missing or bad sidecar in its own words
        data = (spec.training or {}).get("data") or {}
        seed = data.get("split_seed", split_seed)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"{sidecar_path_for(path)}: training.data.split_seed must be a whole number, got {seed!r}")
        if seed != split_seed:
            raise ConfigError(f"{path} was trained on the split with --split-seed {seed}; evaluating it with "
                              f"--split-seed {split_seed} would test it on its own training speakers")
        trained_pins = data.get("pinned") or {}
        for speaker, side in sorted(trained_pins.items()):
            if side == "train" and pinned.get(speaker) != "train":
                raise ConfigError(f"{path} was trained with {speaker} pinned to train; give evaluate "
                                  f"--pin {speaker}=train too, or its {split} figures include training speech")
        for speaker, side in sorted(pinned.items()):
            if side == split and trained_pins.get(speaker, hashed_side(speaker, seed)) == "train":
                raise ConfigError(f"--pin {speaker}={side} moves a speaker {path} was trained on into the {split} split")


def parse_model_arg(text: str) -> tuple[str | None, Path]:
    """'name=path' or 'path' -> (name or None, path)."""
    if "=" in text:
        name, path = text.split("=", 1)
        return name, Path(path)
    return None, Path(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m wakeword.train.evaluate",
        description="Evaluate wake-word models through the daemon's streaming path (FRR, FA/h, DET).",
    )
    p.add_argument("--model", action="append", required=True, metavar="[NAME=]PATH", help=".tflite (sidecar beside it); repeat for several")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="data folder with manifest.csv")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--keyword", default=DEFAULT_KEYWORD)
    p.add_argument("--split-seed", type=int, default=0, help="seed of split_by_speaker (as in training)")
    p.add_argument("--pin", action="append", metavar="SPEAKER=SIDE", help="speakers pinned to a side, as in training (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation audio (placements, stream)")
    p.add_argument("--hours", type=float, default=DEFAULT_STREAM_HOURS, help="negative stream length (h)")
    p.add_argument("--snr-db", type=float, action="append", help=f"noisy conditions (default {list(DEFAULT_SNRS_DB)})")
    p.add_argument("--placements", type=int, default=DEFAULT_PLACEMENTS, help="placements per keyword clip")
    p.add_argument("--hop-ms", type=int, default=None, help="window hop (default: the daemon's, config.yaml trigger.hop_ms)")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="negative streams and window scores (default %(default)s)")
    p.add_argument("--no-score-cache", action="store_true", help="score every model afresh (timing runs)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes scoring in parallel (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("runs/eval-results.json"), help="results JSON")
    p.add_argument("--det", type=Path, default=None, help="DET plot PNG (default: beside --out)")
    p.add_argument("--card", type=Path, default=None, help="also write the model card (e.g. models/README.md)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    try:
        try:
            pinned = parse_pins(args.pin)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        models = [parse_model_arg(m) for m in args.model]
        check_training_split(models, args.split, args.split_seed, pinned)
        results = evaluate(
            models,
            data_root=args.data,
            split=args.split,
            keyword=args.keyword,
            split_seed=args.split_seed,
            seed=args.seed,
            stream_hours=args.hours,
            snrs_db=tuple(args.snr_db) if args.snr_db else DEFAULT_SNRS_DB,
            placements=args.placements,
            cache_dir=args.cache_dir,
            hop_s=None if args.hop_ms is None else args.hop_ms / 1000.0,
            jobs=args.jobs,
            no_score_cache=args.no_score_cache,
            pinned=pinned,
        )
        det_path = args.det or args.out.with_name(args.out.stem + "-det.png")
        results["det_png"] = str(det_path)
        results["command"] = "python -m wakeword.train.evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        plot_det(results, det_path)
        results["wall_time_s"] = time.perf_counter() - t0
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print_report(results)
        print(f"wrote {args.out} and {det_path} in {results['wall_time_s']:.0f} s")
        if args.card is not None:
            from .card import write_card

            write_card(args.out, args.card)
            print(f"wrote {args.card}")
    except WakewordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
