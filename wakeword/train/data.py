"""The training corpus: which clips exist, who spoke them, and folds that keep speakers apart.

`load_corpus` reads `manifest.csv` (path,label,speaker,source) when the data folder has one and
otherwise walks label folders, including the standard Speech Commands layout
`<word>/<speaker>_nohash_<n>.wav`. Every clip gets a speaker id, so `speaker_folds` can put each
speaker in exactly one fold: a clip-level split would put one voice on both sides and make the
held-out figures meaningless. Noise files are grouped by class (`noise_class`), never split.

Speaker ids, in order of preference: the manifest's `speaker` column; the hex prefix before
`_nohash_`; LibriSpeech's number before the first '-'; otherwise "file:<stem>" (the Mycroft
Precise data names no speakers, so each file counts as its own) and "noise:<stem>" for noise.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudioFormatError
from ..resample import resample_signal

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")

KIND_KEYWORD = "keyword"
KIND_COMMAND = "command"
KIND_WAKEWORD = "wakeword"
KIND_SILENCE = "silence"
KIND_SPEECH = "speech"
KIND_NOISE = "noise"
KINDS = (KIND_KEYWORD, KIND_COMMAND, KIND_WAKEWORD, KIND_SILENCE, KIND_SPEECH, KIND_NOISE)

LABEL_SILENCE = "_silence_"
LABEL_SPEECH = "_speech_"
LABEL_NOISE = "_noise_"

#: Folder names (anywhere in a clip's path) that identify a source when there is no manifest.
_FOLDER_KINDS = {
    "other_wake_words": KIND_WAKEWORD,
    "sentences": KIND_SPEECH,
    "librispeech": KIND_SPEECH,
    "noise": KIND_NOISE,
    "_background_noise_": KIND_NOISE,
}


@dataclass(frozen=True)
class Clip:
    """One audio file with its label, speaker id, source (dataset name) and kind (see KINDS)."""

    path: Path
    label: str
    speaker: str
    source: str
    kind: str


def _kind_for(label: str, source: str, path: Path, keywords) -> str:
    if label in keywords:
        return KIND_KEYWORD
    if label == LABEL_NOISE or "background_noise" in source:
        return KIND_NOISE
    if label == LABEL_SILENCE:
        return KIND_SILENCE
    if label == LABEL_SPEECH or source == "librispeech":
        return KIND_SPEECH
    if source.startswith("precise"):
        return KIND_WAKEWORD
    for part in path.parts:
        if part in _FOLDER_KINDS:
            return _FOLDER_KINDS[part]
    return KIND_COMMAND


def _speaker_for(given: str, path: Path, kind: str) -> str:
    if given:
        return given
    stem = path.stem
    if kind == KIND_NOISE:
        return f"noise:{stem}"
    if "_nohash_" in stem:
        return stem.split("_nohash_")[0]
    if kind == KIND_SPEECH and "-" in stem and stem.split("-")[0].isdigit():
        return stem.split("-")[0]
    return f"file:{stem}"


def _label_from_folders(rel: Path) -> str:
    """Label of a clip found by walking folders: its parent folder, mapped for known layouts."""
    parts = rel.parts[:-1]
    if any(p in ("noise", "_background_noise_") for p in parts):
        return LABEL_NOISE
    if any(p in ("sentences", "librispeech") for p in parts):
        return LABEL_SPEECH
    if parts and parts[0] == "other_wake_words" and len(parts) > 1:
        return parts[1]
    return parts[-1] if parts else rel.stem


def load_corpus(root: Path, keyword="stop") -> list[Clip]:
    """Every clip under `root` as a Clip, sorted by path; clips of `keyword` (a label, or a tuple
    of labels for a multi-class model) get kind "keyword".

    Reads root/manifest.csv if present (paths relative to root), else walks folders by label.
    """
    keywords = (keyword,) if isinstance(keyword, str) else tuple(keyword)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found (pass --data DIR)")
    rows: list[tuple[Path, str, str, str]] = []
    manifest = root / MANIFEST_NAME
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows.append((root / row["path"], row["label"], row.get("speaker", "") or "", row.get("source", "") or ""))
    else:
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(root)
            rows.append((path, _label_from_folders(rel), "", rel.parts[0] if len(rel.parts) > 1 else ""))
    clips = []
    for path, label, speaker, source in rows:
        kind = _kind_for(label, source, path.relative_to(root) if path.is_relative_to(root) else path, keywords)
        clips.append(Clip(path=path, label=label, speaker=_speaker_for(speaker, path, kind), source=source, kind=kind))
    clips.sort(key=lambda c: str(c.path))
    log.info("%s: %d clips, %d of them %s", root, len(clips), sum(c.kind == KIND_KEYWORD for c in clips), "/".join(keywords))
    return clips


def speaker_fraction(speaker: str, seed: int = 0) -> float:
    """A deterministic number in [0, 1) for a speaker id and seed (SHA-1, not Python's hash)."""
    digest = hashlib.sha1(f"{seed}:{speaker}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def read_audio(path, sample_rate_hz: int) -> np.ndarray:
    """float32 (n,) mono audio in [-1, 1] at sample_rate_hz (channels averaged; resampled by the
    runtime's own resampler, so training hears what the daemon hears)."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioFormatError(f"{path}: cannot read audio ({exc})") from None
    x = data.mean(axis=1)
    if rate != sample_rate_hz:
        x = resample_signal(x, int(rate), int(sample_rate_hz))
    return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------------------------- folds

#: The recordings copied into tests/data (its README lists them), as paths in the data folder.
#: Every training run leaves them out, so the integration and live tests play recordings no
#: shipped model has trained on (their speakers' other clips are trained on: every speaker is).
RESERVED_CLIPS = frozenset(
    f"speech_commands/{name}_nohash_0.flac"
    for name in ("stop/1f653d27", "stop/1fe4c891", "stop/3f170018", "go/0bac8a71", "up/5c8af87a", "off/5e3dde6b",
                 "go/837a0f64", "stop/6f689791", "up/85834399", "stop/80c45ed6")
)


def without_reserved(clips) -> list[Clip]:
    """The clips that are not one of RESERVED_CLIPS."""
    return [c for c in clips if "/".join(c.path.parts[-3:]) not in RESERVED_CLIPS]


def speaker_folds(clips, k: int, seed: int = 0, balance=None) -> dict[str, int]:
    """{speaker: fold in 0..k-1}, every speaker in one fold, noise clips left out.

    Speakers with keyword clips are dealt out largest first (then in hash order) to the fold
    that holds the fewest keyword clips so far, so that the folds hold about as many keyword
    clips each; a speaker with many clips (the single-speaker folder) is one speaker and sits in
    one fold. The other speakers go to folds by hash. Deterministic for (clips, k, seed).

    balance: the labels whose clips are balanced (default: every keyword clip). Training and
    scoring must deal the same folds, so both pass the evaluated keywords here: a multi-class
    run marks its other classes' words as keywords too, and balancing on them moved 144
    speakers, 82 of them "stop" speakers, into other folds than the scoring plan's.
    """
    if k < 2:
        raise ValueError(f"folds must be at least 2, got {k}")
    keyword_counts = Counter(c.speaker for c in clips
                             if c.kind == KIND_KEYWORD and (balance is None or c.label in set(balance)))
    speakers = sorted({c.speaker for c in clips if c.kind != KIND_NOISE})
    order = sorted(keyword_counts, key=lambda sp: (-keyword_counts[sp], speaker_fraction(sp, seed)))
    load = [0] * k
    fold_of: dict[str, int] = {}
    for sp in order:
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of[sp] = f
        load[f] += keyword_counts[sp]
    for sp in speakers:
        if sp not in fold_of:
            fold_of[sp] = int(speaker_fraction(sp, seed) * k)
    return fold_of


def fold_clips(clips, fold_of: dict[str, int], fold: int) -> list[Clip]:
    """The (non-noise) clips of one fold."""
    return [c for c in clips if c.kind != KIND_NOISE and fold_of.get(c.speaker) == fold]


def noise_class(clip: Clip) -> str:
    """The class a noise file belongs to: an ESC-10 class, "music", or the file's own name."""
    parts = clip.path.parts
    if "esc10" in parts:
        return f"esc10:{parts[parts.index('esc10') + 1]}"
    if "music" in parts:
        return "music"
    return clip.path.stem


#: Noise classes never held out: the trainers synthesise white and pink noise anyway.
ALWAYS_TRAIN_NOISE = frozenset({"white_noise", "pink_noise"})


def noise_groups(clips, k: int) -> dict[str, int]:
    """{noise class: fold} for the classes held out in turn: fold f's models never hear its classes,
    and its noisy evaluation conditions use only them (whole classes, never single clips)."""
    classes = sorted({noise_class(c) for c in clips if c.kind == KIND_NOISE} - ALWAYS_TRAIN_NOISE)
    return {cls: i % k for i, cls in enumerate(classes)}


def noises_of(clips, groups: dict[str, int], folds) -> list[Clip]:
    """Noise clips whose class belongs to one of `folds` (held-out groups), plus the classes
    that are always trained on; folds=None: every noise clip."""
    out = []
    for c in clips:
        if c.kind != KIND_NOISE:
            continue
        cls = noise_class(c)
        if folds is None or cls in ALWAYS_TRAIN_NOISE or groups.get(cls) in folds:
            out.append(c)
    return out
