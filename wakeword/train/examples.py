"""Training windows: augmented one-window audio examples for the keyword and for everything else.

The lesson from the first throwaway model is built in here: positives and negatives go through
the *same* treatment. A negative word is cut out of its clip, sped up or slowed down, placed at a
random offset on digital silence, given a neighbouring word or sentence snippet, reverberated
and mixed with a noise bed exactly as a keyword is, so neither padding, pauses, level nor noise
says "keyword". Long files (sentences, long wake-word clips) are cut into windows that cross
word boundaries, and keywords pushed mostly out of the window are negatives, so the model fires
only on a whole "stop".

All audio here is float32 at AUG_RATE_HZ (16 kHz, the data's rate); `to_model_rate` converts a
window for a model with another rate (the 8 kHz baseline).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..resample import resample_signal
from . import augment
from .channel import ChannelSettings, apply_channel
from .data import KIND_COMMAND, KIND_KEYWORD, KIND_SILENCE, KIND_SPEECH, KIND_WAKEWORD, Clip, read_audio
from .rooms import Room, room_bank

log = logging.getLogger(__name__)

AUG_RATE_HZ = 16000
#: Clips at least this long are also used as long material cut into windows (sentences always).
LONG_CLIP_S = 1.6
#: Number of rooms simulated per training run (rooms are slow to simulate; windows reuse them).
ROOM_BANK_SIZE = 120
#: Clip sources drawn as "synthetic" keywords (tts_share of the draws): text-to-speech voices and
#: sox-perturbed copies of real ones (perturb.py).
SYNTHETIC_SOURCES = ("tts", "perturbed")
#: The labels of the two non-word classes of a multi-class model.
UNKNOWN_LABEL = "_unknown_"
BACKGROUND_LABEL = "_background_"
#: Negative kinds that make a "background" window (no speech); the others make "unknown" ones.
BACKGROUND_KINDS = ("burst", "background")


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and ranges of the augmentations (dB, seconds, factors)."""

    speed_range: tuple[float, float] = (0.85, 1.15)
    #: recording background kept on each side of a word, seconds (tight cuts to whole clips)
    margin_s: tuple[float, float] = (0.0, 0.6)
    p_speed: float = 0.8
    peak_dbfs_range: tuple[float, float] = (-40.0, -1.0)
    snr_db_range: tuple[float, float] = (0.0, 35.0)
    p_noise: float = 0.85
    #: a simulated room (rooms.py, training RT60 range) for the word and its context
    p_reverb: float = 0.35
    #: in a room, the noise bed comes from another position in the same room (its own RIR)
    room_noise: bool = False
    #: the channel chain (channel.py: microphone response, gain, clipping, DC, bits, abrupt edges)
    p_channel: float = 0.0
    p_context: float = 0.35
    context_gap_s: tuple[float, float] = (0.03, 0.4)
    floor_dbfs_range: tuple[float, float] = (-80.0, -50.0)
    p_digital_silence: float = 0.03  # no floor at all: files with true zeros exist
    #: positive draws: clip weight = (clips its speaker has) ** -speaker_balance. 0 draws clips
    #: uniformly (the shipped models); 0.5 keeps a speaker with 136 of 333 clips at 9 % of draws
    #: instead of 41 % (tried with felixchenfy pinned to train, see data.SINGLE_SPEAKER_PIN).
    speaker_balance: float = 0.0
    #: what the overall level (peak_dbfs_range) is set on: "mix", the peak of speech plus noise;
    #: or "speech", the peak before the noise is added, so that a sparse loud knock does not push
    #: the word down to the noise floor (a positive nobody could hear is a wrong label)
    level_reference: str = "mix"
    #: noise beds and their weights: real train noise, coloured noise, silence clips, babble,
    #: and synthetic impulsive transients (knocks, clicks, taps). The defaults are the settings the
    #: embedding and baseline models were trained with; the shipped MFCC model adds transients
    #: at 0.15 with level_reference "speech" through --augment (its sidecar's command; the card's
    #: "What was tried" says why). With the level set on the mix, transients hurt: sparse knocks
    #: have peaks far above the word, so normalising the mix's peak pushed the word to the floor.
    bed_mix: dict = field(
        default_factory=lambda: {"real": 0.45, "coloured": 0.25, "silence": 0.15, "babble": 0.15, "transients": 0.0}
    )
    #: share of positive draws taken from synthetic voices (TTS, and sox-perturbed real ones) when there are any
    tts_share: float = 0.35
    #: negative types and their weights
    negative_mix: dict = field(
        default_factory=lambda: {"word": 0.40, "long": 0.20, "multi": 0.10, "partial_keyword": 0.06, "burst": 0.10, "background": 0.14}
    )


def augment_settings(overrides=None) -> AugmentSettings:
    """AugmentSettings with ["key=value", ...] overrides (the trainers' --augment; values are JSON,
    e.g. speaker_balance=0.5, snr_db_range=[-3,30], bed_mix={"real":0.35,...}, level_reference=speech).
    ValueError names an unknown key or a value that is not JSON."""
    import dataclasses
    import json

    known = {f.name for f in dataclasses.fields(AugmentSettings)}
    changes = {}
    for item in overrides or ():
        key, sep, text = str(item).partition("=")
        if not sep or key not in known:
            raise ValueError(f"--augment must be KEY=VALUE with KEY one of {', '.join(sorted(known))}, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if isinstance(getattr(AugmentSettings(), key), str):
                value = text  # level_reference=speech
            else:
                raise ValueError(f"--augment {key}: value must be JSON (a number, [lo, hi] or {{...}}), got {text!r}") from None
        changes[key] = _checked_setting(key, tuple(value) if isinstance(value, list) else value, getattr(AugmentSettings(), key))
    return dataclasses.replace(AugmentSettings(), **changes)


#: The noise bed kinds WindowFactory._bed knows, and the values level_reference takes.
BED_KINDS = ("real", "coloured", "silence", "babble", "transients")
LEVEL_REFERENCES = ("mix", "speech")


def _checked_setting(key: str, value, default):
    """value if it has the shape of the default (number, [lo, hi] range, bed weights, or one of
    the known words), else ValueError naming the key."""
    def bad(what: str):
        return ValueError(f"--augment {key}: {what}, got {value!r}")

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    if isinstance(default, tuple):
        is_range = isinstance(value, tuple) and len(value) == 2 and all(number(v) for v in value) and value[0] <= value[1]
        if not is_range:
            raise bad("must be [low, high] numbers with low <= high")
    elif isinstance(default, dict):
        if key == "bed_mix":
            ok = (isinstance(value, dict) and value and set(value) <= set(BED_KINDS)
                  and all(number(v) and v >= 0 for v in value.values()) and sum(value.values()) > 0)
            if not ok:
                raise bad(f"must be {{kind: weight}} with kinds among {', '.join(BED_KINDS)}, weights >= 0, some > 0")
            value = {kind: float(value.get(kind, 0.0)) for kind in BED_KINDS}
        else:  # negative_mix
            if not (isinstance(value, dict) and value and set(value) <= set(default)
                    and all(number(v) and v >= 0 for v in value.values()) and sum(value.values()) > 0):
                raise bad(f"must be {{type: weight}} with types among {', '.join(default)}, weights >= 0, some > 0")
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("must be true or false")
    elif isinstance(default, str):
        if key == "level_reference" and value not in LEVEL_REFERENCES:
            raise bad(f"must be one of {', '.join(LEVEL_REFERENCES)}")
    elif number(default):
        if not number(value) or value < 0 or (key.startswith("p_") and value > 1) or (key == "tts_share" and value > 1):
            raise bad("must be a number >= 0 (a probability: <= 1)")
    return value


class AudioStore:
    """The audio of one set of clips held in memory at AUG_RATE_HZ, grouped by how it is used.

    words: every single-word clip (float32 arrays), with word_regions (start, end) of the word,
    word_labels, word_speakers and word_synthetic (from TTS); keyword_pools maps each keyword to
    (real indices, synthetic indices) into words, and other_words holds the rest. long:
    sentences and long clips; silence: background clips; noises: long noise beds; sentences: for
    babble. Clips of kind "keyword" are the keywords (load_corpus marks them).
    """

    def __init__(self, clips: list[Clip], noise_clips: list[Clip], progress=None):
        self.words: list[np.ndarray] = []
        self.word_regions: list[tuple[int, int]] = []
        self.word_labels: list[str] = []
        self.word_speakers: list[str] = []
        self.word_synthetic: list[bool] = []
        self.long: list[np.ndarray] = []
        self.silence: list[np.ndarray] = []
        self.sentences: list[np.ndarray] = []
        self.noises = [read_audio(c.path, AUG_RATE_HZ) for c in noise_clips]
        keyword_labels = set()
        for i, clip in enumerate(clips):
            if progress:
                progress(i + 1, len(clips))
            x = read_audio(clip.path, AUG_RATE_HZ)
            if len(x) < 160:
                continue
            if clip.kind == KIND_SILENCE:
                self.silence.append(x)
                continue
            if clip.kind == KIND_SPEECH:
                self.long.append(x)
                self.sentences.append(x)
                continue
            if clip.kind not in (KIND_KEYWORD, KIND_COMMAND, KIND_WAKEWORD):
                continue
            if clip.kind == KIND_KEYWORD:
                keyword_labels.add(clip.label)
            self.words.append(x)
            self.word_regions.append(augment.active_region(x, AUG_RATE_HZ))
            self.word_labels.append(clip.label)
            self.word_speakers.append(clip.speaker)
            self.word_synthetic.append(clip.source in SYNTHETIC_SOURCES)
            if clip.kind != KIND_KEYWORD and len(x) >= LONG_CLIP_S * AUG_RATE_HZ:
                self.long.append(x)
        labels = np.asarray(self.word_labels, dtype=object)
        synthetic = np.asarray(self.word_synthetic, dtype=bool)
        self.keywords = tuple(sorted(keyword_labels))
        self.keyword_pools = {
            kw: (np.flatnonzero((labels == kw) & ~synthetic), np.flatnonzero((labels == kw) & synthetic))
            for kw in self.keywords
        }
        self.other_words = np.flatnonzero(~np.isin(labels, list(self.keywords))) if len(labels) else np.zeros(0, int)
        if not self.keywords:
            raise ValueError("the training clips need keyword clips")
        if not self.sentences:  # babble needs speech; fall back to words strung together
            others = [self.words[i] for i in self.other_words]
            self.sentences = [np.concatenate(others[i : i + 8]) for i in range(0, len(others), 8)]
        if not self.long:
            self.long = list(self.sentences)

    def speaker_weights(self, idx: np.ndarray, balance: float) -> np.ndarray:
        """Draw probabilities (float64, sums to 1) for word entries `idx`: each clip weighted by
        (clips of its speaker among idx) ** -balance."""
        speakers = [self.word_speakers[i] for i in idx]
        counts = Counter(speakers)
        w = np.array([counts[sp] ** -balance for sp in speakers], dtype=np.float64)
        return w / w.sum()

    def summary(self) -> dict:
        return {
            "keyword_real": {kw: int(len(pools[0])) for kw, pools in self.keyword_pools.items()},
            "keyword_tts": {kw: int(len(pools[1])) for kw, pools in self.keyword_pools.items()},
            "words": int(len(self.other_words)),
            "long": len(self.long),
            "silence": len(self.silence),
            "noises": len(self.noises),
        }


class WindowFactory:
    """Draw augmented windows at AUG_RATE_HZ, float32 (window_samples,):

    positive(keyword) - the keyword somewhere inside, fully augmented; negative() - no whole
    keyword, its type drawn from settings.negative_mix; example(label) - either, by class label
    (a keyword, UNKNOWN_LABEL or BACKGROUND_LABEL) for multi-class training.
    """

    def __init__(
        self,
        store: AudioStore,
        window_samples: int,
        rng: np.random.Generator,
        settings: AugmentSettings,
        rooms: list[Room],
    ):
        self.store = store
        self.n = window_samples
        self.rng = rng
        self.s = settings
        self.rooms = rooms  # made once per run (rooms.room_bank): rooms are slow to simulate
        self.channel = ChannelSettings()
        kinds = list(settings.negative_mix)
        weights = np.asarray([settings.negative_mix[k] for k in kinds], dtype=np.float64)
        self._neg_kinds, self._neg_w = kinds, weights
        self._neg_p = weights / weights.sum()
        beds = list(settings.bed_mix)
        bed_w = np.asarray([settings.bed_mix[k] for k in beds], dtype=np.float64)
        self._bed_kinds, self._bed_cdf = beds, np.cumsum(bed_w / bed_w.sum())
        # cumulative draw weights of each keyword's real and synthetic clips (speaker_balance only)
        self._pos_cdf = {
            (kw, name): np.cumsum(store.speaker_weights(idx, settings.speaker_balance))
            for kw, pools in store.keyword_pools.items()
            for name, idx in zip(("real", "tts"), pools)
            if settings.speaker_balance and len(idx)
        }

    # -- pieces -------------------------------------------------------------------------
    def _pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def _cut(self, x: np.ndarray, region: tuple[int, int]) -> tuple[np.ndarray, int, int]:
        """The word with a random amount of its recording's own background on each side (so
        neither a tight cut nor a long one says which class a clip is), speed-perturbed.
        Returns (segment, word start, word end) in segment samples."""
        a, b = region
        lo = max(0, a - int(self.rng.uniform(*self.s.margin_s) * AUG_RATE_HZ))
        hi = min(len(x), b + int(self.rng.uniform(*self.s.margin_s) * AUG_RATE_HZ))
        seg, a, b = x[lo:hi], a - lo, b - lo
        if self.rng.random() < self.s.p_speed:
            factor = float(self.rng.uniform(*self.s.speed_range))
            seg = augment.speed(seg, factor)
            a, b = int(a / factor), min(len(seg), int(np.ceil(b / factor)))
        return seg, a, b

    def _word(self) -> tuple[np.ndarray, int, int]:
        """A word that is none of the keywords (a snippet of a sentence if there are none)."""
        if not len(self.store.other_words):
            snippet = augment.random_crop(self.rng, self._pick(self.store.long), int(self.rng.uniform(0.3, 0.8) * AUG_RATE_HZ))
            return snippet, 0, len(snippet)
        i = int(self.store.other_words[int(self.rng.integers(len(self.store.other_words)))])
        return self._cut(self.store.words[i], self.store.word_regions[i])

    def _keyword(self, keyword: str | None = None) -> tuple[np.ndarray, int, int]:
        st = self.store
        keyword = keyword or (st.keywords[0] if len(st.keywords) == 1 else self._pick(st.keywords))
        real, tts = st.keyword_pools[keyword]
        use_tts = len(tts) and (self.rng.random() < self.s.tts_share or not len(real))
        pool = tts if use_tts else real
        if self.s.speaker_balance:
            cdf = self._pos_cdf[(keyword, "tts" if use_tts else "real")]
            i = int(pool[min(len(pool) - 1, int(np.searchsorted(cdf, self.rng.random(), side="right")))])
        else:  # uniform: the same draws as before speaker weighting existed
            i = int(pool[int(self.rng.integers(len(pool)))])
        return self._cut(st.words[i], st.word_regions[i])

    def _place(self, canvas: np.ndarray, seg: np.ndarray, a: int, b: int) -> tuple[int, int]:
        """Add seg at a random offset that keeps its word [a, b) inside the canvas (centred if the
        word is longer than the canvas); the rest of seg may spill out. Returns the word's span."""
        n = len(canvas)
        if b - a >= n:
            o = -(a + (b - a - n) // 2)
        else:
            o = int(self.rng.integers(-a, n - b + 1))
        lo, hi = max(0, o), min(n, o + len(seg))
        canvas[lo:hi] += seg[lo - o : hi - o]
        return max(0, o + a), min(n, o + b)

    def _add_context(self, canvas: np.ndarray, span: tuple[int, int], level_rms: float) -> None:
        """Put another word or speech snippet before or after span, separated by a pause (may spill out)."""
        if not len(self.store.other_words) and not self.store.long:
            return  # nothing else was recorded (a custom word's takes alone)
        if self.rng.random() < 0.5:
            other, a, b = self._word()
            other = other[a:b]
        else:
            src = self._pick(self.store.long)
            length = int(self.rng.uniform(0.2, 0.8) * AUG_RATE_HZ)
            other = augment.random_crop(self.rng, src, length)
        other = other / (augment.rms(other) + 1e-9) * level_rms * augment.db_to_gain(self.rng.uniform(-10, 6))
        gap = int(self.rng.uniform(*self.s.context_gap_s) * AUG_RATE_HZ)
        n = len(canvas)
        if self.rng.random() < 0.5:  # before
            end = span[0] - gap
            start = end - len(other)
        else:
            start = span[1] + gap
            end = start + len(other)
        lo, hi = max(0, start), min(n, end)
        if hi > lo:
            canvas[lo:hi] += other[lo - start : hi - start]

    def _bed(self) -> np.ndarray:
        """A noise bed drawn from settings.bed_mix, unit-free (the caller sets the level)."""
        kind = self._bed_kinds[min(len(self._bed_kinds) - 1, int(np.searchsorted(self._bed_cdf, self.rng.random(), side="right")))]
        if kind == "real":
            if self.store.noises:
                return augment.random_crop(self.rng, self._pick(self.store.noises), self.n)
            kind = "coloured"
        if kind == "silence":
            if self.store.silence:
                return augment.random_crop(self.rng, self._pick(self.store.silence), self.n)
            kind = "babble"
        if kind == "babble":
            return augment.babble(self.rng, self.store.sentences, self.n, int(self.rng.integers(3, 8)))
        if kind == "transients":
            return augment.transients(self.rng, self.n, AUG_RATE_HZ)
        return augment.coloured_noise(self.rng, self.n, float(self.rng.uniform(0.0, 2.0)))

    def _finish(self, canvas: np.ndarray, speech_rms: float) -> np.ndarray:
        """Room, noise bed at a random SNR (relative to speech_rms), overall level, noise floor and
        the recording channel."""
        room = None
        if self.rng.random() < self.s.p_reverb:
            room = self._pick(self.rooms)
            canvas = augment.reverberate(canvas, room.talker_rir)
        if speech_rms <= 0:
            speech_rms = augment.rms(canvas) or 0.05
        # "speech": the level is set on the peak before the noise (a loud knock over a word may clip)
        speech_peak = float(np.max(np.abs(canvas))) if self.s.level_reference == "speech" else 0.0
        if self.rng.random() < self.s.p_noise:
            bed = self._bed()
            if room is not None and self.s.room_noise:
                bed = augment.reverberate(bed, room.noise_rir)  # the noise plays elsewhere in the room
            canvas = augment.mix_at_snr(canvas, bed, float(self.rng.uniform(*self.s.snr_db_range)), speech_rms)
        peak = speech_peak or float(np.max(np.abs(canvas))) or 1.0
        out = canvas * (augment.db_to_gain(self.rng.uniform(*self.s.peak_dbfs_range)) / peak)
        if self.rng.random() >= self.s.p_digital_silence:
            floor = augment.db_to_gain(self.rng.uniform(*self.s.floor_dbfs_range))
            out = out + floor * self.rng.standard_normal(self.n)
        if self.s.p_channel and self.rng.random() < self.s.p_channel:
            out = apply_channel(np.clip(out, -1.0, 1.0).astype(np.float32), self.rng, AUG_RATE_HZ, self.channel)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def _word_window(self, seg: np.ndarray, a: int, b: int) -> np.ndarray:
        canvas = np.zeros(self.n, dtype=np.float32)
        span = self._place(canvas, seg, a, b)
        level = augment.rms(seg[a:b])
        if self.rng.random() < self.s.p_context:
            self._add_context(canvas, span, level)
        return self._finish(canvas, level)

    def _burst(self) -> np.ndarray:
        """A stretch of noise (0.05-1 s, random fades) on silence: shaped like a word, but not
        speech. Without these a box of background noise between pauses reads as "stop" (whose
        /s/ is noise too)."""
        length = int(self.rng.uniform(0.05, 1.0) * AUG_RATE_HZ)
        r = self.rng.random()
        if r < 0.4 and self.store.noises:
            seg = augment.random_crop(self.rng, self._pick(self.store.noises), length)
        elif r < 0.7 and self.store.silence:
            seg = augment.random_crop(self.rng, self._pick(self.store.silence), length)
        else:
            seg = augment.coloured_noise(self.rng, length, float(self.rng.uniform(-1.0, 2.0)))
        seg = seg.copy()
        for side in (0, 1):
            fade = int(self.rng.uniform(0, 0.3) * length)
            if fade > 1:
                ramp = np.linspace(0, 1, fade, dtype=np.float32)
                if side == 0:
                    seg[:fade] *= ramp
                else:
                    seg[-fade:] *= ramp[::-1]
        return seg

    # -- examples -------------------------------------------------------------------------
    def positive(self, keyword: str | None = None) -> np.ndarray:
        """A whole keyword (the only one, or a random one of several) somewhere inside the window."""
        return self._word_window(*self._keyword(keyword))

    def example(self, label: str) -> np.ndarray:
        """A window of class `label`: a keyword, UNKNOWN_LABEL (other speech) or BACKGROUND_LABEL."""
        if label == UNKNOWN_LABEL:
            return self.negative([k for k in self._neg_kinds if k not in BACKGROUND_KINDS])
        if label == BACKGROUND_LABEL:
            return self.negative(list(BACKGROUND_KINDS))
        return self.positive(label)

    def negative(self, kinds: list[str] | None = None) -> np.ndarray:
        """A window without a whole keyword; its type drawn from settings.negative_mix (among
        `kinds` only, if given)."""
        if kinds is None:
            kind = self._neg_kinds[int(self.rng.choice(len(self._neg_kinds), p=self._neg_p))]
        else:
            w = np.array([self._neg_w[self._neg_kinds.index(k)] for k in kinds])
            kind = kinds[int(self.rng.choice(len(kinds), p=w / w.sum()))]
        if kind == "word":
            return self._word_window(*self._word())
        if kind == "burst":
            seg = self._burst()
            return self._word_window(seg, 0, len(seg))
        if kind == "long":
            crop = augment.random_crop(self.rng, self._pick(self.store.long), self.n)
            return self._finish(crop.copy(), augment.rms(crop))
        if kind == "multi":
            canvas = np.zeros(self.n, dtype=np.float32)
            pos = int(self.rng.integers(-self.n // 4, self.n // 4))
            level = 0.0
            while pos < self.n:
                seg, a, b = self._word()
                word = seg[a:b]
                lo, hi = max(0, pos), min(self.n, pos + len(word))
                if hi > lo:
                    canvas[lo:hi] += word[lo - pos : hi - pos]
                level = max(level, augment.rms(word))
                pos += len(word) + int(self.rng.uniform(0.05, 0.5) * AUG_RATE_HZ)
            return self._finish(canvas, level)
        if kind == "partial_keyword":
            seg, a, b = self._keyword()
            word = seg[a:b]
            keep = int(len(word) * self.rng.uniform(0.1, 0.35))  # at most about a third stays inside
            canvas = np.zeros(self.n, dtype=np.float32)
            if self.rng.random() < 0.5:
                canvas[:keep] = word[len(word) - keep :]  # the word's end at the window start
            else:
                canvas[self.n - keep :] = word[:keep]  # the word's start at the window end
            return self._finish(canvas, augment.rms(word))
        # background only: a bed at a random level, or a silence clip
        canvas = self._bed() * augment.db_to_gain(self.rng.uniform(-50, -10))
        return self._finish(canvas.astype(np.float32), 0.0)


def aug_window_samples(window_samples: int, sample_rate_hz: int) -> int:
    """Samples at AUG_RATE_HZ needed to cover a model window of window_samples at sample_rate_hz."""
    return int(math.ceil(window_samples * AUG_RATE_HZ / sample_rate_hz))


def to_model_rate(x: np.ndarray, sample_rate_hz: int, window_samples: int) -> np.ndarray:
    """float32 audio at AUG_RATE_HZ -> float32 (window_samples,) at sample_rate_hz (last samples
    kept), through the runtime's resampler."""
    if sample_rate_hz != AUG_RATE_HZ:
        x = resample_signal(x, AUG_RATE_HZ, sample_rate_hz)
    return x[-window_samples:]


def make_rooms(seed: int) -> list[Room]:
    """The run's room bank (training RT60 range), the same for a seed."""
    return room_bank(np.random.default_rng([seed, 2]), AUG_RATE_HZ, ROOM_BANK_SIZE)
