"""What a custom wake word is trained on: the phrase, its near-misses, synthetic voices, the user's
recordings, and the augmented windows made from them (custom.py fits and exports the model).

The steps of `wakeword-train custom`:

1. The takes (takes.py) are split: a share is held out to set the threshold and to judge the
   synthetic voices; the rest are augmented (rooms, synthetic noise, speed, gain, the recording
   channel) into 2 s windows embedded by the daemon's own front end.
2. Negatives need no corpus: the shipped negative bank of speech embeddings (negbank.py), windows
   of synthetic near-misses of the phrase (its parts, and words that share its sounds), the
   user's background recording, and the false activations moved into a capture's `false/` folder.
3. Two heads (a dense and a conv head, logits averaged) are fitted, then fine-tuned on the
   bank's highest-scoring windows. With text-to-speech installed, unless the takes alone already
   detect every held-out take, they are fitted again with synthetic voices saying the phrase
   added, and the voices are kept only if they detect more held-out takes at the chosen threshold.
4. The threshold: the lowest with no false accept (<= 0.5 FA/h) in the part of the bank kept out
   of training and in the background recording, then raised as far as it still detects every
   held-out take (THRESHOLD_MARGIN_LOGIT). `wakeword-train report` measures a model on your own audio.

Needs the [train,embedding] extras. The model and its sidecar have the shipped models' format.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .data import KIND_COMMAND, KIND_KEYWORD, Clip, read_audio
from .examples import AUG_RATE_HZ, AudioStore, AugmentSettings, make_rooms
from .featureset import NEGATIVE, build_bank
from .takes import AUDIO_SUFFIXES

log = logging.getLogger(__name__)

HOP_S = 0.08
#: Share of the takes held out for the threshold and the TTS check (at least HELD_OUT_MIN).
HELD_OUT_SHARE = 0.25
HELD_OUT_MIN = 2
#: The part of the negative bank kept out of training, for the threshold.
BANK_HELD_OUT_SHARE = 0.25
#: How far above the lowest threshold with no false accept in the held-out bank the threshold may
#: rise (log-odds), while it still detects every held-out take: in effect, as far as the takes
#: allow. The held-out bank is 10 minutes of the speech the heads were mined on, and no false
#: accept there says little about other talk (bench/custom_word.py on 10 h of other audio:
#: "amelia" 5.3 FA/h at that lowest threshold, 1.7 at a 3-log-odds margin, none in 10 h with
#: 83 % recall as high as its takes allow). The takes are the better guide.
THRESHOLD_MARGIN_LOGIT = 15.0
#: Windows made from the takes (and from the synthetic voices, when tried), and negatives.
POSITIVE_WINDOWS = 1600
TTS_WINDOWS = 800
NEGATIVE_WINDOWS = 800
BANK_NEGATIVES = 12000
EPOCHS = 25
FINETUNE_EPOCHS = 8
MINING_ROUNDS = 2
MINED_PER_ROUND = 2000
TINY_SCALE = 0.02
#: Text-to-speech: espeak-ng voices drawn, and near-miss words said by each voice.
TTS_ESPEAK_VOICES = 40
NEAR_MISSES_PER_VOICE = 4
#: Onsets swapped in for a word's own, to make words that share its sounds.
ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "sh", "ch")
VOWELS = "aeiou"
FALSE_ACCEPT_LABEL = "false_accept"


def phrase_keyword(phrase: str) -> str:
    """"Hey Robot!" -> "hey_robot"; ConfigError if the phrase has no letters."""
    words = re.findall(r"[a-z0-9']+", phrase.lower())
    if not any(re.search(r"[a-z]", w) for w in words):
        raise ConfigError(f"--phrase {phrase!r} has no letters to say")
    return "_".join(w.replace("'", "") for w in words)


def near_misses(phrase: str, limit: int = 24) -> list[str]:
    """Texts that share the phrase's sounds but are not it: parts of a longer phrase, its words with
    another onset or another last vowel, a word without its first letter. Deterministic."""
    words = re.findall(r"[a-z']+", phrase.lower())
    whole = " ".join(words)
    parts, variants = [], []
    for i in range(len(words) - 1):  # the parts people say on their own
        parts += [words[i], " ".join(words[: i + 1]), " ".join(words[i + 1 :])]
    for i, w in enumerate(words):
        onset = re.match(r"[^aeiou]*", w).group(0)
        rest = w[len(onset) :] or w
        variants += [" ".join(words[:i] + [o + rest] + words[i + 1 :]) for o in ONSETS if o != onset]
        last_vowels = [k for k, ch in enumerate(w) if ch in VOWELS]
        if last_vowels:
            k = last_vowels[-1]
            variants += [" ".join(words[:i] + [w[:k] + v + w[k + 1 :]] + words[i + 1 :]) for v in VOWELS if v != w[k]]
        if len(w) > 4:
            variants.append(" ".join(words[:i] + [w[1:]] + words[i + 1 :]))
    variants = [v for v in dict.fromkeys(variants) if v != whole]
    rng = np.random.default_rng(sum(map(ord, whole)))
    picked = [variants[i] for i in sorted(rng.choice(len(variants), size=min(limit, len(variants)), replace=False))] if variants else []
    return [t for t in dict.fromkeys(parts + picked) if t and t != whole][:limit]


def synthetic_clips(phrase: str, keyword: str, seed: int, cache_dir, engines) -> tuple[list[Clip], list[Clip]]:
    """(synthetic voices saying the phrase, the same voices saying near-misses); empty without engines."""
    from concurrent.futures import ThreadPoolExecutor

    from .tts import DEFAULT_CACHE_DIR, synthesise, voice_grid

    voices = voice_grid(np.random.default_rng([seed, 7919]), TTS_ESPEAK_VOICES, engines)
    misses = near_misses(phrase)
    rng = np.random.default_rng([seed, 71])
    jobs = []
    for v in voices:
        jobs.append((v, phrase, keyword, KIND_KEYWORD))
        for w in (rng.choice(misses, size=min(NEAR_MISSES_PER_VOICE, len(misses)), replace=False) if misses else []):
            jobs.append((v, str(w), "near_miss", KIND_COMMAND))
    with ThreadPoolExecutor(max_workers=2) as pool:
        paths = list(pool.map(lambda j: synthesise(j[0], j[1], cache_dir or DEFAULT_CACHE_DIR), jobs))
    said = [Clip(p, label, v.speaker, "tts", kind) for (v, _, label, kind), p in zip(jobs, paths) if p is not None]
    return [c for c in said if c.kind == KIND_KEYWORD], [c for c in said if c.kind != KIND_KEYWORD]


def audio_clips(folder: Path | None, label: str, kind: str, what: str, min_s: float = 0.2) -> list[Clip]:
    """Every WAV/FLAC of at least min_s under folder as a Clip; ConfigError if there is none."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{what} {folder}: not a folder")
    out = [Clip(p, label, what.strip("-"), what.strip("-"), kind) for p in sorted(folder.rglob("*"))
           if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file() and len(read_audio(p, AUG_RATE_HZ)) >= min_s * AUG_RATE_HZ]
    if not out:
        raise ConfigError(f"{what} {folder}: no WAV or FLAC of at least {min_s:g} s")
    return out


def split_takes(takes: list, seed: int) -> tuple[list, list]:
    """(training takes, held-out takes): whole speakers held out where the takes name several."""
    rng = np.random.default_rng([seed, 3])
    n_held = max(HELD_OUT_MIN, int(round(HELD_OUT_SHARE * len(takes))))
    speakers = sorted({t.speaker for t in takes})
    if len(speakers) > 2 and not all(s.startswith("take:") for s in speakers):
        held, order = [], [speakers[i] for i in rng.permutation(len(speakers))]
        for sp in order:
            if len(held) >= n_held:
                break
            held += [t for t in takes if t.speaker == sp]
        held_set = {id(t) for t in held}
        return [t for t in takes if id(t) not in held_set], held
    order = rng.permutation(len(takes))
    return [takes[i] for i in order[n_held:]], [takes[i] for i in order[:n_held]]


def make_windows(store_clips: list[Clip], keyword: str, featurizer, n_pos: int, n_neg: int, seed: int, workers: int,
                 has_long: bool, has_others: bool):
    """Embedded augmented windows (X raw (n, 16, 96), y 0 = keyword) with synthetic noise beds:
    no noise corpus is needed."""
    bed_mix = {"real": 0.0, "coloured": 0.5, "silence": 0.0, "babble": 0.2 if has_long else 0.0, "transients": 0.3}
    neg_mix = {"word": 0.35 if has_others else 0.0, "long": 0.2 if has_long else 0.0, "multi": 0.1 if has_others else 0.0,
               "partial_keyword": 0.2, "burst": 0.1, "background": 0.05}
    settings = AugmentSettings(bed_mix=bed_mix, negative_mix=neg_mix, p_channel=0.5, room_noise=True, p_reverb=0.5,
                               level_reference="speech", tts_share=0.35)
    plan = {keyword: n_pos, NEGATIVE: n_neg} if n_neg else {keyword: n_pos}
    return build_bank(AudioStore(store_clips, []), featurizer, plan, seed, settings, make_rooms(seed), workers, label="windows")
