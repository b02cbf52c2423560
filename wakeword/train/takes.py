"""A folder of recordings of one phrase ("takes"), checked before any training: the user's own input.

Any folder of WAV or FLAC files will do (`wakeword record` writes one, with a manifest that names
each take's speaker). Each take is read at 16 kHz mono through the runtime's resampler and must
hold speech: enough level above its own background, not clipped, not too long. A take that fails
is named with its reason; too few good takes is one line and exit 2 from the command.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AudioFormatError, ConfigError
from .augment import active_region
from .data import read_audio

log = logging.getLogger(__name__)

RATE_HZ = 16000
AUDIO_SUFFIXES = (".wav", ".flac")
MIN_TAKES = 5
#: A take's active part must stand this far above its quietest tenth (dB), or it is not speech.
MIN_SPEECH_DB = 12.0
#: Clipped: this share of samples at full scale. Training accepts some clipping (real
#: microphones clip, and the channel augmentation clips too); a take that is mostly flat tops
#: is rejected.
CLIP_LEVEL = 0.999
MAX_CLIPPED_SHARE = 0.05
MAX_PHRASE_S = 3.0
MIN_PHRASE_S = 0.15
MIN_PEAK_DBFS = -45.0
MANIFEST = "manifest.json"


@dataclass
class Take:
    """One good take: float32 audio at 16 kHz, the phrase's (start, end) samples, its speaker."""

    path: Path
    audio: np.ndarray
    region: tuple[int, int]
    speaker: str


def problem_with(x: np.ndarray) -> str | None:
    """Why a take is unusable, or None: silence, no speech over the background, clipped, too long."""
    if len(x) < int(MIN_PHRASE_S * RATE_HZ):
        return "too short"
    peak = float(np.max(np.abs(x)))
    if peak <= 0 or 20 * np.log10(peak) < MIN_PEAK_DBFS:
        return f"too quiet (peak below {MIN_PEAK_DBFS:g} dBFS)"
    if np.mean(np.abs(x) >= CLIP_LEVEL) > MAX_CLIPPED_SHARE:
        return "clipped"
    frame = RATE_HZ // 100
    n = len(x) // frame
    energy = np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1) + 1e-12
    level_db = 10 * np.log10(energy)
    if level_db.max() - np.percentile(level_db, 10) < MIN_SPEECH_DB:
        return f"no speech above the background (less than {MIN_SPEECH_DB:g} dB of contrast)"
    a, b = active_region(x, RATE_HZ)
    if (b - a) / RATE_HZ > MAX_PHRASE_S:
        return f"too long ({(b - a) / RATE_HZ:.1f} s of sound, at most {MAX_PHRASE_S:g} s)"
    return None


def _speakers(folder: Path) -> dict[str, str]:
    """{file name: speaker} from a `wakeword record` manifest, if there is one."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {t["file"]: str(t.get("speaker", "")) for t in data.get("takes", [])}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
        log.warning("%s: not a recording manifest; speakers unknown", path)
        return {}


def load_takes(folder: Path, minimum: int = MIN_TAKES, what: str = "--positives") -> tuple[list[Take], list[str]]:
    """(good takes, one line per rejected file) of every WAV/FLAC under folder; ConfigError if the
    folder is missing or holds fewer than `minimum` good takes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{what} {folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()
                   and "false" not in p.relative_to(folder).parts[:-1])
    speakers = _speakers(folder)
    takes, rejected = [], []
    for path in files:
        try:
            x = read_audio(path, RATE_HZ)
        except AudioFormatError as exc:
            rejected.append(f"{path.name}: not audio ({str(exc).split(': ', 1)[-1]})")
            continue
        why = problem_with(x)
        if why:
            rejected.append(f"{path.name}: {why}")
            continue
        takes.append(Take(path, x, active_region(x, RATE_HZ), speakers.get(path.name, "") or f"take:{path.stem}"))
    if len(takes) < minimum:
        detail = f" ({len(rejected)} rejected: {'; '.join(rejected[:3])}{'...' if len(rejected) > 3 else ''})" if rejected else ""
        raise ConfigError(f"{what} {folder}: {len(takes)} usable take(s) of the phrase, at least {minimum} needed{detail}")
    return takes, rejected


def false_accepts(folder: Path) -> list[np.ndarray]:
    """Audio of the captured false activations the user moved into folder/false (16 kHz float32)."""
    out = []
    for path in sorted((Path(folder) / "false").glob("*")) if (Path(folder) / "false").is_dir() else []:
        if path.suffix.lower() in AUDIO_SUFFIXES:
            try:
                out.append(read_audio(path, RATE_HZ))
            except AudioFormatError as exc:
                log.warning("%s: skipped (%s)", path, exc)
    return out
