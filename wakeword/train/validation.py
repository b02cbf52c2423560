"""Validation during training: keyword clips and long negative streams, scored like the runtime.

This is the trainer's own yardstick for choices (TTS or not, trigger settings, the threshold
placeholder); the model card's figures come from evaluate.py. Windows are taken every hop from
the start of a signal's MFCC frames, which is what StreamingDetector scores, and false accepts
are counted with the trigger's semantics (smoothing, patience, re-arming, refractory).

Long negative streams are remixes: clips and sentence snippets joined with pauses at varied
gains over varied noise beds, because one false accept in one hour decides nothing and the
split holds well under an hour of distinct negative audio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..frontends.mfcc import MfccParams, mfcc_window
from . import augment
from .examples import AUG_RATE_HZ, AudioStore, to_model_rate

log = logging.getLogger(__name__)

#: Context around each keyword clip when it is scored, in seconds (a word inside a stream).
CLIP_PAD_S = 0.6
#: Noise floor of "clean" material, dBFS rms: a quiet room, not digital silence.
CLEAN_FLOOR_DBFS = -65.0
#: Segment of a negative stream that shares one noise bed and SNR, in seconds.
STREAM_SEGMENT_S = 30.0
PREDICT_BATCH = 4096


def frame_windows(feats: np.ndarray, window_frames: int, hop_frames: int) -> np.ndarray:
    """(frames, numcep) -> (n, window_frames, numcep) windows starting at frame 0, hop, 2*hop, ..."""
    if len(feats) < window_frames:
        return np.zeros((0, window_frames, feats.shape[1]), dtype=np.float32)
    views = np.lib.stride_tricks.sliding_window_view(feats, window_frames, axis=0)[::hop_frames]
    return np.ascontiguousarray(views.transpose(0, 2, 1))


def signal_windows(audio_16k: np.ndarray, params: MfccParams, hop_frames: int) -> np.ndarray:
    """float32 audio at AUG_RATE_HZ -> raw MFCC windows float32 (n, window_frames, numcep) at the model rate."""
    x = audio_16k
    if params.sample_rate_hz != AUG_RATE_HZ:
        n_out = int(len(x) * params.sample_rate_hz / AUG_RATE_HZ)
        x = to_model_rate(x, params.sample_rate_hz, n_out)
    return frame_windows(mfcc_window(x, params), params.window_frames, hop_frames)


@dataclass
class ScoredClips:
    """Per-clip window scores: scores float32 (n_windows,), owner int (n_windows,) clip index."""

    scores: np.ndarray
    owner: np.ndarray
    n_clips: int

    def max_smoothed(self, smoothing_windows: int = 1, patience_windows: int = 1) -> np.ndarray:
        """Per clip, the highest score the trigger would act on: the max over windows of the
        smoothed score's running minimum over `patience_windows` windows. float32 (n_clips,)."""
        out = np.zeros(self.n_clips, dtype=np.float32)
        bounds = np.flatnonzero(np.diff(self.owner)) + 1
        for idx, seg in zip(np.unique(self.owner), np.split(self.scores, bounds)):
            out[idx] = float(np.max(trigger_series(seg, smoothing_windows, patience_windows), initial=0.0))
        return out


def trigger_series(scores: np.ndarray, smoothing_windows: int, patience_windows: int) -> np.ndarray:
    """The value the trigger compares with its threshold at each window: the mean of the last
    `smoothing_windows` scores, then the min over the last `patience_windows` of those."""
    s = np.asarray(scores, dtype=np.float64)
    if smoothing_windows > 1:
        c = np.concatenate(([0.0], np.cumsum(s)))
        idx = np.arange(1, len(s) + 1)
        lo = np.maximum(0, idx - smoothing_windows)
        s = (c[idx] - c[lo]) / (idx - lo)
    if patience_windows > 1 and len(s):
        padded = np.concatenate((np.full(patience_windows - 1, -np.inf), s))
        s = np.lib.stride_tricks.sliding_window_view(padded, patience_windows).min(axis=1)
    return s


def count_detections(series: np.ndarray, threshold: float, hop_s: float, refractory_s: float) -> int:
    """Detections the trigger makes on a trigger_series: rising crossings of `threshold` (it
    re-arms below the threshold) at least refractory_s after the previous detection."""
    above = series >= threshold
    starts = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
    count, last_s = 0, -np.inf
    for i in starts:
        t = i * hop_s
        if t - last_s >= refractory_s:
            count += 1
            last_s = t
        else:
            # still refractory: the trigger fires at the first window in this run that is
            # both above threshold and past the refractory period
            run_end = i + int(np.argmin(above[i:])) if not above[i:].all() else len(above)
            first_ok = int(np.ceil((last_s + refractory_s) / hop_s))
            if first_ok < run_end:
                count += 1
                last_s = first_ok * hop_s
    return count


def keyword_material(clips_audio: list[np.ndarray], rng: np.random.Generator, noises: list[np.ndarray], snr_db: float | None) -> list[np.ndarray]:
    """Each clip padded with CLIP_PAD_S each side on a quiet floor; with snr_db, a noise bed at
    that SNR relative to the clip's speech. float32 arrays at AUG_RATE_HZ."""
    pad = int(CLIP_PAD_S * AUG_RATE_HZ)
    out = []
    for x in clips_audio:
        a, b = augment.active_region(x, AUG_RATE_HZ)
        speech_rms = augment.rms(x[a:b])
        y = np.concatenate((np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)))
        y = y + augment.db_to_gain(CLEAN_FLOOR_DBFS) * rng.standard_normal(len(y)).astype(np.float32)
        if snr_db is not None:
            bed = augment.random_crop(rng, noises[int(rng.integers(len(noises)))], len(y))
            y = augment.mix_at_snr(y, bed, snr_db, speech_rms)
        out.append(np.clip(y, -1, 1).astype(np.float32))
    return out


def negative_stream(store: AudioStore, rng: np.random.Generator, duration_s: float) -> np.ndarray:
    """A remixed negative stream of about duration_s seconds at AUG_RATE_HZ from a store's
    non-keyword audio: words, wake words, sentence snippets and silences joined with pauses, at
    varied gains, over noise beds (store noises, coloured noise, babble) at 5-35 dB SNR."""
    pieces, total = [], 0
    target = int(duration_s * AUG_RATE_HZ)
    while total < target:
        r = rng.random()
        if r < 0.45:
            item = store.words[int(rng.integers(len(store.words)))]
        elif r < 0.85:
            src = store.long[int(rng.integers(len(store.long)))]
            item = augment.random_crop(rng, src, int(min(len(src), rng.uniform(2.0, 15.0) * AUG_RATE_HZ)))
        else:
            item = np.zeros(int(rng.uniform(0.5, 3.0) * AUG_RATE_HZ), np.float32)
        item = item / (np.max(np.abs(item)) + 1e-9) * augment.db_to_gain(rng.uniform(-30, -3))
        pause = np.zeros(int(rng.uniform(0.05, 1.5) * AUG_RATE_HZ), np.float32)
        pieces += [item.astype(np.float32), pause]
        total += len(item) + len(pause)
    stream = np.concatenate(pieces)[:target]
    seg = int(STREAM_SEGMENT_S * AUG_RATE_HZ)
    for start in range(0, len(stream), seg):
        part = stream[start : start + seg]
        r = rng.random()
        if r < 0.5 and store.noises:
            bed = augment.random_crop(rng, store.noises[int(rng.integers(len(store.noises)))], len(part))
        elif r < 0.75:
            bed = augment.coloured_noise(rng, len(part), float(rng.uniform(0, 2)))
        else:
            bed = augment.babble(rng, store.sentences, len(part), int(rng.integers(3, 8)))
        level = augment.rms(part) or augment.db_to_gain(-40)
        stream[start : start + seg] = augment.mix_at_snr(part, bed, float(rng.uniform(5, 35)), level)
    stream += augment.db_to_gain(CLEAN_FLOOR_DBFS) * rng.standard_normal(len(stream)).astype(np.float32)
    return np.clip(stream, -1, 1).astype(np.float32)


def score_clips(predict, material: list[np.ndarray], params: MfccParams, mean, std, hop_frames: int) -> ScoredClips:
    """Score every window of every padded clip with predict(normalised windows) -> (n,) probabilities."""
    if not material:
        return ScoredClips(np.zeros(0, np.float32), np.zeros(0, np.int64), 0)
    windows, owner = [], []
    for i, x in enumerate(material):
        w = signal_windows(x, params, hop_frames)
        windows.append(w)
        owner.append(np.full(len(w), i))
    X = (np.concatenate(windows) - mean) / std
    return ScoredClips(predict_batched(predict, X.astype(np.float32)), np.concatenate(owner), len(material))


def score_stream(predict, stream_16k: np.ndarray, params: MfccParams, mean, std, hop_frames: int, chunk_s: float = 600.0) -> np.ndarray:
    """Window scores float32 (n,) of a long stream, computed in chunks that overlap by one window."""
    step = int(chunk_s * AUG_RATE_HZ)
    hop_16k = hop_frames * params.frame_step_samples * AUG_RATE_HZ // params.sample_rate_hz
    window_16k = params.window_samples * AUG_RATE_HZ // params.sample_rate_hz
    step -= step % hop_16k  # chunks start on window boundaries
    scores = []
    for start in range(0, len(stream_16k), step):
        part = stream_16k[start : start + step + window_16k]
        w = signal_windows(part, params, hop_frames)
        n_keep = len(range(0, min(step, len(stream_16k) - start), hop_16k))
        w = w[:n_keep]
        if len(w):
            scores.append(predict_batched(predict, ((w - mean) / std).astype(np.float32)))
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def predict_batched(predict, X: np.ndarray) -> np.ndarray:
    """predict over X in batches of PREDICT_BATCH -> float32 (n,)."""
    out = [np.asarray(predict(X[i : i + PREDICT_BATCH]), dtype=np.float32).reshape(-1) for i in range(0, len(X), PREDICT_BATCH)]
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def operating_points(
    pos_max: dict[str, np.ndarray],
    neg_stream_series: np.ndarray,
    neg_clip_max: np.ndarray,
    hours: float,
    hop_s: float,
    refractory_s: float,
    thresholds: np.ndarray,
) -> list[dict]:
    """For each threshold: FRR per positive condition, false accepts per hour on the stream and
    the false-accept rate on single negative clips."""
    rows = []
    for t in thresholds:
        fa = count_detections(neg_stream_series, float(t), hop_s, refractory_s)
        row = {"threshold": float(t), "fa_per_hour": fa / hours, "false_accepts": fa}
        for name, m in pos_max.items():
            row[f"frr_{name}"] = float(np.mean(m < t)) if len(m) else float("nan")
        row["command_fa_rate"] = float(np.mean(neg_clip_max >= t)) if len(neg_clip_max) else float("nan")
        rows.append(row)
    return rows


def pick_threshold(rows: list[dict], max_fa_per_hour: float) -> dict:
    """The lowest threshold whose stream false accepts per hour are at most max_fa_per_hour (and
    every higher one too), i.e. the best recall that meets the budget."""
    ok = [r for r in rows if r["fa_per_hour"] <= max_fa_per_hour]
    if not ok:
        return rows[-1]
    # take the lowest threshold above the highest failing one, so noise in the curve cannot pick
    # an isolated lucky threshold
    failing = [r["threshold"] for r in rows if r["fa_per_hour"] > max_fa_per_hour]
    floor = max(failing) if failing else -1.0
    candidates = [r for r in ok if r["threshold"] > floor]
    return min(candidates, key=lambda r: r["threshold"]) if candidates else rows[-1]
