"""The audio models are judged on: keyword trials, long negative streams and single-clip trials.

Built from one set of held-out clips (a fold's speakers, or a split), deterministic for a seed:

- keyword trials: each keyword clip placed `placements` times at a random onset in a few seconds
  of near-silence; the same layout in every condition: clean (a -60 dBFS floor), mixed with a
  held-out noise class at each SNR, and "room": the talker in a simulated room from the
  held-out RT60 band, with held-out noise from another place in the room. A trial is detected
  when a detection's window still overlaps the clip.
- a negative stream of any length (>= 10 h for cross-validation): the clips (none a keyword)
  reshuffled pass after pass and joined with pauses at varied levels, over noise beds that
  change every 20-60 s. It is laid out once (cheap) and rendered in chunks on demand, so ten
  hours never sit in memory. Every detection in it is a false accept.
- solo trials: each command word and other wake word alone with padding; FA % = clips that fire.

Hard-negative mining in the trainers uses the same NegativeStream, built from training audio.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .data import KIND_COMMAND, KIND_KEYWORD, KIND_SILENCE, KIND_SPEECH, KIND_WAKEWORD, Clip, read_audio
from .rooms import Room, simulate_room
from .scoring import Event, EventIndex, in_blocks

#: Rate the evaluation audio is built at (the corpus rate); Pipeline resamples to each model's.
STREAM_RATE_HZ = 16000
CONDITION_CLEAN = "clean"
CONDITION_ROOM = "room"
DEFAULT_SNRS_DB = (10.0, 5.0)
#: SNR at the microphone between the reverberant talker and the reverberant noise, room condition.
ROOM_SNR_DB = 15.0
DEFAULT_PLACEMENTS = 3
#: Keyword trials: onset uniform in this range; after the clip the trial runs on for one window
#: plus TRIAL_TAIL_S, so a late detection lands in the trial and the refractory period cannot
#: reach into the next one. TRIAL_WINDOW_ALLOWANCE_S is the longest model window (the speech
#: embedding's ~2 s): fixed, so the audio does not depend on which models are evaluated.
TRIAL_ONSET_RANGE_S = (1.0, 2.0)
TRIAL_TAIL_S = 1.0
TRIAL_WINDOW_ALLOWANCE_S = 2.0
#: A real microphone's noise floor under clean trials, never digital zero (a shortcut).
FLOOR_DBFS = -60.0
SOLO_PAD_BEFORE_S = 1.0
#: Negative stream: pauses between clips, each clip's active-speech level, the noise beds.
PAUSE_RANGE_S = (0.1, 1.5)
SPEECH_LEVEL_DBFS = (-38.0, -16.0)
BED_LEVEL_DBFS = (-62.0, -34.0)
BED_SEGMENT_S = (20.0, 60.0)
PEAK_LIMIT = 0.98
#: A negative stream is rendered in chunks of this length.
STREAM_CHUNK_S = 600.0
#: Bump when a builder here changes, so cached scores are not reused.
BUILDER_VERSION = 2
NEGATIVE_KINDS = (KIND_COMMAND, KIND_WAKEWORD, KIND_SPEECH, KIND_SILENCE)
WHITE_FLOOR_BED = "white_floor"
#: Active-speech level: frames within this many dB of the loudest frame count as speech.
ACTIVE_FRAME_S = 0.025
ACTIVE_RANGE_DB = 30.0


def db_to_amplitude(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def active_rms(x: np.ndarray, rate_hz: int) -> float:
    """RMS of the active part of a clip: 25 ms frames within 30 dB of the loudest. The speech
    level for SNR mixing, so a short word in a long quiet clip is not credited with its silence."""
    frame = max(1, int(ACTIVE_FRAME_S * rate_hz))
    n = len(x) // frame
    if n == 0:
        return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    power = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1)
    top = power.max()
    if top <= 0:
        return 0.0
    return float(np.sqrt(power[power >= top * 10 ** (-ACTIVE_RANGE_DB / 10)].mean()))


def noise_segment(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of `noise` from a random offset, looping; float32 (n,) at unit RMS."""
    if len(noise) == 0:
        raise ValueError("empty noise")
    start = int(rng.integers(0, len(noise)))
    reps = (start + n) // len(noise) + 1
    seg = np.tile(noise, reps)[start : start + n].astype(np.float32)
    rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64))))
    return seg / rms if rms > 0 else seg


class AudioCache:
    """Reads each clip once: path -> float32 (n,) at STREAM_RATE_HZ."""

    def __init__(self, rate_hz: int = STREAM_RATE_HZ):
        self.rate_hz = rate_hz
        self._audio: dict[str, np.ndarray] = {}

    def get(self, path) -> np.ndarray:
        key = str(path)
        if key not in self._audio:
            self._audio[key] = read_audio(path, self.rate_hz)
        return self._audio[key]


def _event(clip: Clip, start: int, x: np.ndarray, rate_hz: int = STREAM_RATE_HZ) -> Event:
    from .augment import active_region

    return Event(start, start + len(x), clip.label, clip.kind, clip.source, str(clip.path), clip.speaker,
                 start + active_region(x, rate_hz)[1])


@dataclass
class TrialSet:
    """Built trial audio held in memory: float32 (n,) at rate_hz, with the clips placed in it."""

    name: str
    audio: np.ndarray
    rate_hz: int
    events: list[Event]
    info: dict = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return len(self.audio) / self.rate_hz / 3600.0

    def blocks(self):
        return in_blocks(self.audio, self.rate_hz)

    def index(self) -> EventIndex:
        return EventIndex(self.events, self.rate_hz)

    def digest(self) -> str:
        h = hashlib.sha1(f"v{BUILDER_VERSION}:{self.rate_hz}:".encode())
        h.update(memoryview(np.ascontiguousarray(self.audio, np.float32)).cast("B"))
        return h.hexdigest()[:16]


def _mix_noise(trial: np.ndarray, speech_rms: float, snr_db: float, noise: np.ndarray, rng) -> np.ndarray:
    return trial + speech_rms * db_to_amplitude(-snr_db) * noise_segment(noise, len(trial), rng)


def _reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(x, rir)[: len(x)].astype(np.float32)


def build_keyword_trials(clips: list[Clip], condition: str, seed: int, noises: list[np.ndarray] | None = None,
                         placements: int = DEFAULT_PLACEMENTS, audio_cache: AudioCache | None = None,
                         rate_hz: int = STREAM_RATE_HZ) -> TrialSet:
    """Keyword clips in trials under one condition: "clean", "snr<X>db" or "room".

    Each clip appears `placements` times in an order and at onsets that depend only on `seed` and
    the clips, so every condition holds the same placements. noises (float32 arrays at rate_hz,
    held-out classes) feed the noisy and room conditions: each trial draws one.
    """
    audio_cache = audio_cache or AudioCache(rate_hz)
    layout_rng = np.random.default_rng([seed, 1])
    cond_key = sum(condition.encode())  # a stable per-condition stream of noise draws
    noise_rng = np.random.default_rng([seed, 2, cond_key])
    snr_db = parse_snr(condition)
    if (snr_db is not None or condition == CONDITION_ROOM) and not noises:
        raise ValueError(f"condition {condition!r} needs held-out noise")
    order = [i for _ in range(placements) for i in layout_rng.permutation(len(clips))]
    tail = int(round((TRIAL_WINDOW_ALLOWANCE_S + TRIAL_TAIL_S) * rate_hz))
    pieces, events, pos, rooms = [], [], 0, []
    floor = db_to_amplitude(FLOOR_DBFS)
    for i in order:
        clip = clips[i]
        x = audio_cache.get(clip.path)
        onset = int(round(layout_rng.uniform(*TRIAL_ONSET_RANGE_S) * rate_hz))
        trial = np.zeros(onset + len(x) + tail, np.float32)
        trial[onset : onset + len(x)] = x
        if condition == CONDITION_ROOM:
            room: Room = simulate_room(noise_rng, rate_hz, held_out=True)
            rooms.append(room.info(rate_hz))
            trial = _reverberate(trial, room.talker_rir)
            noise = noises[int(noise_rng.integers(len(noises)))]
            bed = _reverberate(noise_segment(noise, len(trial), noise_rng), room.noise_rir)
            level = active_rms(trial, rate_hz) * db_to_amplitude(-ROOM_SNR_DB)
            bed_rms = float(np.sqrt(np.mean(np.square(bed, dtype=np.float64)))) or 1.0
            trial = trial + bed * (level / bed_rms)
            trial += noise_rng.normal(0.0, floor, len(trial)).astype(np.float32)
        elif snr_db is not None:
            trial = _mix_noise(trial, active_rms(x, rate_hz), snr_db, noises[int(noise_rng.integers(len(noises)))], noise_rng)
        else:
            trial += noise_rng.normal(0.0, floor, len(trial)).astype(np.float32)
        events.append(_event(clip, pos + onset, x, rate_hz))
        pieces.append(np.asarray(trial, np.float32))
        pos += len(trial)
    audio = np.clip(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), -1.0, 1.0)
    info = {"placements": placements, "clips": len(clips)}
    if rooms:
        info["rooms"] = {"rt60_s": [min(r["rt60_s"] for r in rooms), max(r["rt60_s"] for r in rooms)],
                         "distance_m": [min(r["distance_m"] for r in rooms), max(r["distance_m"] for r in rooms)],
                         "t20_s": [round(float(v), 3) for v in np.nanpercentile([r["t20_s"] for r in rooms], [5, 95])],
                         "snr_db": ROOM_SNR_DB}
    return TrialSet(condition, audio, rate_hz, events, info)


def snr_name(snr_db: float) -> str:
    return f"snr{snr_db:g}db"


def parse_snr(condition: str) -> float | None:
    """The SNR of a "snr<X>db" condition, else None."""
    if condition.startswith("snr") and condition.endswith("db"):
        return float(condition[3:-2])
    return None


def build_solo_trials(clips: list[Clip], seed: int, audio_cache: AudioCache | None = None,
                      rate_hz: int = STREAM_RATE_HZ) -> TrialSet:
    """Each clip once, alone: [SOLO_PAD_BEFORE_S, clip, window + TRIAL_TAIL_S] on the noise floor."""
    audio_cache = audio_cache or AudioCache(rate_hz)
    rng = np.random.default_rng([seed, 3])
    pre = int(round(SOLO_PAD_BEFORE_S * rate_hz))
    tail = int(round((TRIAL_WINDOW_ALLOWANCE_S + TRIAL_TAIL_S) * rate_hz))
    pieces, events, pos = [], [], 0
    for clip in clips:
        x = audio_cache.get(clip.path)
        trial = rng.normal(0.0, db_to_amplitude(FLOOR_DBFS), pre + len(x) + tail).astype(np.float32)
        trial[pre : pre + len(x)] += x
        events.append(_event(clip, pos + pre, x, rate_hz))
        pieces.append(trial)
        pos += len(trial)
    audio = np.clip(np.concatenate(pieces) if pieces else np.zeros(0, np.float32), -1.0, 1.0)
    return TrialSet("solo", audio, rate_hz, events, {"clips": len(clips)})


class NegativeStream:
    """A long keyword-free stream, laid out at construction and rendered chunk by chunk.

    clips: none of kind "keyword"; noises: [(name, float32 array at rate_hz)]. The clips are
    reshuffled each pass and joined with pauses (PAUSE_RANGE_S), each at an active-speech level
    from SPEECH_LEVEL_DBFS (peaks limited to PEAK_LIMIT), over noise beds that change every
    BED_SEGMENT_S: a noise or a plain white floor, at a level from BED_LEVEL_DBFS. blocks()
    yields the same samples whatever the chunk size. Deterministic for (clips, noises, hours, seed).
    """

    def __init__(self, clips: list[Clip], noises: list[tuple[str, np.ndarray]], hours: float, seed: int,
                 audio_cache: AudioCache | None = None, rate_hz: int = STREAM_RATE_HZ, name: str = "negative"):
        if any(c.kind == KIND_KEYWORD for c in clips):
            raise ValueError("the negative stream must not contain keyword clips")
        if not clips:
            raise ValueError("no clips to build a negative stream from")
        self.name, self.rate_hz, self.seed = name, rate_hz, seed
        self.clips, self.noises, self.hours_asked = list(clips), list(noises), hours
        self._cache = audio_cache or AudioCache(rate_hz)
        rng = np.random.default_rng([seed, 4])
        target = int(math.ceil(hours * 3600 * rate_hz))
        self._placed: list[tuple[int, int, float]] = []  # (start, clip index, gain)
        pos = int(round(rng.uniform(*PAUSE_RANGE_S) * rate_hz))
        passes = 0
        while pos < target:
            passes += 1
            for i in rng.permutation(len(self.clips)):
                x = self._cache.get(self.clips[i].path)
                level = db_to_amplitude(rng.uniform(*SPEECH_LEVEL_DBFS))
                rms = active_rms(x, rate_hz)
                gain = level / rms if rms > 0 else 0.0
                peak = float(np.max(np.abs(x))) if len(x) else 0.0
                if peak * gain > PEAK_LIMIT:
                    gain = PEAK_LIMIT / peak
                self._placed.append((pos, int(i), gain))
                pos += len(x) + int(round(rng.uniform(*PAUSE_RANGE_S) * rate_hz))
                if pos >= target:
                    break
        self.n_samples = pos
        self.bed_names = [name for name, _ in self.noises] + [WHITE_FLOOR_BED]
        self.beds: list[tuple[int, int, str, float]] = []  # (start, end, name, level)
        t = 0
        while t < self.n_samples:
            seg = min(self.n_samples - t, int(round(rng.uniform(*BED_SEGMENT_S) * rate_hz)))
            k = int(rng.integers(0, len(self.bed_names)))
            self.beds.append((t, t + seg, self.bed_names[k], db_to_amplitude(rng.uniform(*BED_LEVEL_DBFS))))
            t += seg
        self.events = [Event(start, start + len(self._cache.get(self.clips[i].path)), self.clips[i].label, self.clips[i].kind,
                             self.clips[i].source, str(self.clips[i].path), self.clips[i].speaker) for start, i, _ in self._placed]
        self.info = {
            "hours": self.hours,
            "passes": passes,
            "clips_placed": len(self.events),
            "distinct_clips": len(self.clips),
            "by_kind": dict(sorted(Counter(e.kind for e in self.events).items())),
            "hours_by_source": self.index().hours_by_source(self.hours),
            "noise_beds": sorted(set(self.bed_names)),
        }

    @property
    def hours(self) -> float:
        return self.n_samples / self.rate_hz / 3600.0

    def index(self) -> EventIndex:
        return EventIndex(self.events, self.rate_hz, [(a, b, n) for a, b, n, _ in self.beds])

    def render(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of the stream, float32."""
        out = np.zeros(stop - start, np.float32)
        starts = np.array([p[0] for p in self._placed], np.int64)
        first = max(0, int(np.searchsorted(starts, start, side="right")) - 1)
        # clips are at most a few tens of seconds long: step back until one ends before `start`
        while first > 0 and starts[first] + 60 * self.rate_hz > start:
            first -= 1
        for pos, i, gain in self._placed[first:]:
            if pos >= stop:
                break
            x = self._cache.get(self.clips[i].path)
            lo, hi = max(pos, start), min(pos + len(x), stop)
            if hi > lo:
                out[lo - start : hi - start] += gain * x[lo - pos : hi - pos]
        noises = dict(self.noises)
        for b, (a, z, name, level) in enumerate(self.beds):
            lo, hi = max(a, start), min(z, stop)
            if hi <= lo:
                continue
            rng = np.random.default_rng([self.seed, 5, b])  # the whole bed, whatever the chunk
            bed = noise_segment(noises[name], z - a, rng) if name in noises else rng.normal(0.0, 1.0, z - a).astype(np.float32)
            out[lo - start : hi - start] += level * bed[lo - a : hi - a]
        return np.clip(out, -1.0, 1.0)

    def blocks(self, chunk_s: float = STREAM_CHUNK_S):
        """The stream in chunks of chunk_s (float32)."""
        step = int(round(chunk_s * self.rate_hz))
        for start in range(0, self.n_samples, step):
            yield self.render(start, min(self.n_samples, start + step))

    def digest(self) -> str:
        """What the stream's samples depend on (its samples are never all in memory at once).

        Clip paths enter as absolute paths, so `--data ../shared/data` and `--data /work/shared/data`
        name the same stream (and share the cached scores of it)."""
        h = hashlib.sha1(f"v{BUILDER_VERSION}:{self.hours_asked:.6f}:{self.seed}:{self.rate_hz}".encode())
        for c in self.clips:
            h.update(f"|{os.path.abspath(c.path)}:{c.label}:{c.kind}".encode())
        for name, x in self.noises:
            h.update(f"|{name}:{len(x)}".encode())
        return h.hexdigest()[:16]
