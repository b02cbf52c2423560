"""More voices from the real ones: keyword clips re-rendered by sox with another pitch and rate.

sox's `pitch` shifts the pitch and the formants together (a shorter or longer vocal tract, near
enough), `tempo` changes the speaking rate without the pitch. Each variant keeps its speaker's id,
so it lands in the same fold as the recording it came from and cross-validation never trains on
a transformed copy of a held-out speaker. Variants are cached as WAV files named by their source
and settings; sox that is missing is a one-line error from the trainer.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from .data import KIND_KEYWORD, Clip

log = logging.getLogger(__name__)

#: Pitch (and formant) shift, cents; speaking rate factor. A semitone is 100 cents.
PITCH_CENTS = (-500, 500)
TEMPO = (0.85, 1.2)
#: Shifts smaller than this are not worth a variant.
MIN_PITCH_CENTS = 100
SOX_TIMEOUT_S = 30
PERTURBED_SOURCE = "perturbed"
RATE_HZ = 16000


def sox_available() -> bool:
    return shutil.which("sox") is not None


def _variant(clip: Clip, cents: int, tempo: float, cache_dir: Path) -> Path | None:
    digest = hashlib.sha1(str(clip.path).encode()).hexdigest()[:12]
    out = Path(cache_dir) / f"{clip.label}-{digest}-p{cents:+d}-t{tempo:.3f}.wav"
    if out.is_file() and out.stat().st_size > 1000:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.wav")
    cmd = ["sox", str(clip.path), "-r", str(RATE_HZ), "-c", "1", "-b", "16", str(tmp), "pitch", str(cents), "tempo", "-s", f"{tempo:.3f}"]
    try:
        subprocess.run(cmd, capture_output=True, timeout=SOX_TIMEOUT_S, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("sox failed on %s: %s", clip.path, exc)
        return None
    tmp.replace(out)
    return out


def perturbed_clips(clips: list[Clip], variants: int, seed: int, cache_dir: Path, workers: int = 2) -> list[Clip]:
    """`variants` sox variants of every real keyword clip in `clips` (kind "keyword", source
    "perturbed", the original speaker's id). Deterministic for (clips, variants, seed)."""
    if variants <= 0:
        return []
    if not sox_available():
        raise FileNotFoundError("sox is not installed (apt-get install sox), needed by --perturb")
    jobs = []
    for clip in clips:
        if clip.kind != KIND_KEYWORD or clip.source in ("tts", PERTURBED_SOURCE):
            continue
        rng = np.random.default_rng([seed, int(hashlib.sha1(str(clip.path).encode()).hexdigest()[:8], 16)])
        for _ in range(variants):
            cents = int(rng.uniform(*PITCH_CENTS))
            if abs(cents) < MIN_PITCH_CENTS:
                cents = MIN_PITCH_CENTS if cents >= 0 else -MIN_PITCH_CENTS
            jobs.append((clip, cents, float(round(rng.uniform(*TEMPO), 3))))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(lambda job: _variant(job[0], job[1], job[2], cache_dir), jobs))
    out = [replace(clip, path=path, source=PERTURBED_SOURCE) for (clip, _, _), path in zip(jobs, paths) if path is not None]
    log.info("perturbed voices: %d variants of %d keyword clips", len(out), len(jobs) // max(1, variants))
    return out
