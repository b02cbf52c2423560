"""The negative bank: speech embeddings of ordinary audio, shipped so that a custom wake word can
be trained with no corpus on the user's machine.

    python -m wakeword.train.negbank --data ../shared/data --out wakeword/train/negbank.npz

It is a remixed negative stream (evalsets.NegativeStream: command words, sentences, silences and
the single speaker's words over noise and music beds) embedded by the speech-embedding front end
exactly as the daemon embeds audio: one 96-value embedding every 80 ms, stored as uint8 with a
per-value scale and offset. Any 16 consecutive embeddings are a window the head would see, so
the bank serves as training negatives and as a stream on which a threshold's false accepts per
hour are counted (scoring.score_frames runs it through the daemon's own detector). The
other-wake-words folder is left out: its phrases ("amelia", "athena", ...) are the ones custom
training is measured on. The attribution of every source travels in the file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as datamod
from .evalsets import NEGATIVE_KINDS, AudioCache, NegativeStream

log = logging.getLogger(__name__)

#: The shipped bank, beside this module (package data of the [train] extra).
SHIPPED_BANK = Path(__file__).resolve().parent / "negbank.npz"
#: The bank's size limit: about 31,000 embeddings, 42 minutes of audio.
MAX_BYTES = 3_000_000
EMBEDDING_STEP_S = 0.08
DEFAULT_MINUTES = 40.0
#: Sources left out of the bank (the phrases custom words are measured on).
EXCLUDED_SOURCES = ("precise_community_data",)
ATTRIBUTION = (
    "Speech Commands (Warden 2018, CC BY 4.0); LibriSpeech (Panayotov et al. 2015, CC BY 4.0); "
    "ros_speech_commands_classification (felixchenfy, MIT); ESC-10 (Piczak 2015; clips CC0 1.0 / CC BY 3.0, authors "
    "in the data's noise/LICENCES.csv); music by Kevin MacLeod, Karissa Hobbs and Mihai Sorohan (public domain / "
    "CC BY 3.0); embedded by Google's speech_embedding (Apache-2.0) as openWakeWord 0.5.0 ships it"
)


@dataclass
class NegativeBank:
    """Embeddings float32 (n, 96) of one continuous negative stream, and where they came from."""

    embeddings: np.ndarray
    info: dict

    @property
    def hours(self) -> float:
        return len(self.embeddings) * EMBEDDING_STEP_S / 3600.0

    def windows(self, window_frames: int) -> np.ndarray:
        """Every window of window_frames consecutive embeddings: (n - w + 1, w, 96), a view."""
        return np.lib.stride_tricks.sliding_window_view(self.embeddings, window_frames, axis=0).transpose(0, 2, 1)


def quantise(emb: np.ndarray) -> dict:
    lo, hi = emb.min(axis=0), emb.max(axis=0)
    scale = np.maximum(hi - lo, 1e-6) / 255.0
    return {"codes": np.round((emb - lo) / scale).astype(np.uint8), "offset": lo.astype(np.float32), "scale": scale.astype(np.float32)}


def save_bank(path: Path, emb: np.ndarray, info: dict) -> Path:
    import json

    q = quantise(emb)
    np.savez_compressed(path, **q, info=np.array(json.dumps(info)))
    return Path(path)


def load_bank(path: Path = SHIPPED_BANK) -> NegativeBank:
    """The bank at path (default: the shipped one); FileNotFoundError naming the build command."""
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no negative bank (build one with python -m wakeword.train.negbank --data DIR --out {path})")
    with np.load(path, allow_pickle=False) as d:
        emb = d["codes"].astype(np.float32) * d["scale"] + d["offset"]
        info = json.loads(str(d["info"]))
    return NegativeBank(emb.astype(np.float32), info)


def build(data_root: Path, minutes: float = DEFAULT_MINUTES, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Embeddings of a remixed negative stream of `minutes` from the corpus (minus EXCLUDED_SOURCES)."""
    from ..frontends.embedding import EmbeddingParams, FeatureModels, embeddings_of

    clips = [c for c in datamod.without_reserved(datamod.load_corpus(data_root, ())) if c.source not in EXCLUDED_SOURCES]
    negatives = [c for c in clips if c.kind in NEGATIVE_KINDS]
    cache = AudioCache()
    noises = [(datamod.noise_class(c) + ":" + c.path.stem, cache.get(c.path)) for c in clips if c.kind == datamod.KIND_NOISE]
    stream = NegativeStream(negatives, noises, minutes / 60.0, seed, cache, name="negbank")
    params = EmbeddingParams()
    models = FeatureModels(params)
    audio = np.concatenate(list(stream.blocks()))
    emb = embeddings_of(audio, params, models)
    info = {"minutes": round(len(emb) * EMBEDDING_STEP_S / 60, 2), "seed": seed, "embeddings": int(len(emb)),
            "stream": stream.info, "excluded_sources": list(EXCLUDED_SOURCES), "attribution": ATTRIBUTION,
            "command": f"python -m wakeword.train.negbank --data {data_root} --minutes {minutes:g} --seed {seed}",
            "openwakeword_version": params.openwakeword_version}
    return emb, info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.negbank", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="data folder with manifest.csv")
    p.add_argument("--out", type=Path, default=SHIPPED_BANK, help="where to write the bank (default: the shipped one)")
    p.add_argument("--minutes", type=float, default=DEFAULT_MINUTES, help="minutes of remixed audio (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    emb, info = build(args.data, args.minutes, args.seed)
    save_bank(args.out, emb, info)
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(emb)} embeddings ({info['minutes']} min), {size} bytes in {time.monotonic() - started:.0f} s")
    if size > MAX_BYTES:
        print(f"python -m wakeword.train.negbank: {args.out} is {size} bytes, over the {MAX_BYTES}-byte limit; "
              "use fewer --minutes", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
