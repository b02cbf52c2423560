"""Training windows as features, built once per fold and cached: the "banks" both trainers train on.

A bank is made from one fold's clips: augmented windows (examples.WindowFactory) of each class
in a plan, turned into the model's input features by the runtime's own front end: MFCC frames
(frontends.mfcc.mfcc_window, which a test pins to the streaming path) or speech embeddings
(frontends.embedding.embeddings_of, bit-identical to the stream). Windows are made in fixed
chunks, each with its own seed derived from the run's, so a bank does not depend on the number of
worker processes; workers are forked and share the in-memory audio.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from ..frontends.mfcc import mfcc_window
from .common import pool_job, run_pool
from .examples import AudioStore, AugmentSettings, WindowFactory, aug_window_samples, to_model_rate

log = logging.getLogger(__name__)

CHUNK_EXAMPLES = 256
#: Bump when the window-making code changes meaning, so stale caches are not reused. The bank's
#: cache key also holds code_fingerprint(WINDOW_CODE), so an edit of those files makes new banks.
CACHE_VERSION = 6
#: The files (below wakeword/) whose code makes a bank's windows and their features.
WINDOW_CODE = ("train/data.py", "train/augment.py", "train/channel.py", "train/rooms.py", "train/perturb.py",
               "train/tts.py", "train/examples.py", "train/featureset.py", "frontends/__init__.py",
               "frontends/mfcc.py", "frontends/embedding.py", "resample.py")
#: The plan label of "any negative window" (examples.WindowFactory.negative) in binary models.
NEGATIVE = "_negative_"


class MfccFeaturizer:
    """Audio at AUG_RATE_HZ -> the window's MFCC frames float32 (window_frames, numcep)."""

    def __init__(self, params):
        self.params = params
        self.audio_samples = aug_window_samples(params.window_samples, params.sample_rate_hz)

    def features(self, audio: np.ndarray) -> np.ndarray:
        p = self.params
        x = to_model_rate(audio, p.sample_rate_hz, p.window_samples)
        return mfcc_window(x, p)[: p.window_frames]


class EmbeddingFeaturizer:
    """Audio at AUG_RATE_HZ -> the window's speech embeddings float32 (window_frames, 96).

    The two pretrained feature models are loaded in each process on first use (TFLite
    interpreters are not fork-safe)."""

    def __init__(self, params):
        self.params = params
        groups = (params.first_mel_frame + params.mel_frames_per_embedding) // params.embedding_step_mel_frames
        groups += params.window_frames - 1
        # the fewest samples that give exactly window_frames embeddings (32352 for the defaults)
        self.audio_samples = (groups - 1) * params.frame_step_samples + params.mel_call_samples
        self._models, self._pid = None, None

    def features(self, audio: np.ndarray) -> np.ndarray:
        from ..frontends.embedding import FeatureModels, embeddings_of

        if self._models is None or self._pid != os.getpid():
            self._models, self._pid = FeatureModels(self.params), os.getpid()
        return embeddings_of(audio, self.params, self._models)[-self.params.window_frames :]

    def __getstate__(self):  # never ship interpreters between processes
        return {"params": self.params, "audio_samples": self.audio_samples, "_models": None, "_pid": None}


def featurizer_for(params):
    """The training-side featurizer of a front end's parameters."""
    return {"mfcc": MfccFeaturizer, "speech_embedding": EmbeddingFeaturizer}[params.frontend_type](params)


def _make_chunk(task: tuple[int, list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
    chunk_index, counts = task
    job = pool_job()
    rng = np.random.default_rng([job["seed"], 1, chunk_index])
    featurizer = job["featurizer"]
    factory = WindowFactory(job["store"], featurizer.audio_samples, rng, job["settings"], job["rooms"])
    labels = job["labels"]
    n = sum(c for _, c in counts)
    p = featurizer.params
    X = np.empty((n, p.window_frames, p.feature_dim), np.float32)
    y = np.empty(n, np.int64)
    i = 0
    for label_index, count in counts:
        label = labels[label_index]
        for _ in range(count):
            audio = factory.negative() if label == NEGATIVE else factory.example(label)
            X[i] = featurizer.features(audio)
            y[i] = label_index
            i += 1
    return X, y


def build_bank(store: AudioStore, featurizer, plan: dict, seed: int, settings: AugmentSettings, rooms,
               workers: int = 2, label: str = "windows") -> tuple[np.ndarray, np.ndarray]:
    """Windows of each class in `plan` ({label: count}, in label order; NEGATIVE for any negative).

    Returns (X float32 (n, window_frames, feature_dim) raw features, y int64 (n,) index into the
    plan's labels), chunk by chunk in label order within each chunk.
    """
    labels = list(plan)
    total = sum(plan.values())
    n_chunks = max(1, -(-total // CHUNK_EXAMPLES))
    # spread each class evenly over the chunks so that each chunk's mix is the same
    per = {lab: np.diff(np.linspace(0, plan[lab], n_chunks + 1).round().astype(int)) for lab in labels}
    tasks = [(i, [(j, int(per[lab][i])) for j, lab in enumerate(labels) if per[lab][i]]) for i in range(n_chunks)]
    job = dict(store=store, featurizer=featurizer, seed=seed, settings=settings, rooms=rooms, labels=labels)
    results = run_pool(_make_chunk, tasks, workers, job, label)
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def cache_key(*parts) -> str:
    """A short stable hash of JSON-able parts (parameters, clip lists, seeds)."""
    blob = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha1(blob).hexdigest()[:16]


def code_fingerprint(files, package: Path | None = None) -> str:
    """16 hex digits of the named files' contents (paths relative to the wakeword package, or to
    `package`, a folder laid out as it is)."""
    package = Path(__file__).resolve().parents[1] if package is None else Path(package)
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached(path: Path, build):
    """Load arrays X, y from path (.npz) if present, else build() -> (X, y) and save them."""
    path = Path(path)
    if path.is_file():
        with np.load(path) as data:
            log.info("from cache %s", path)
            return data["X"], data["y"]
    X, y = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, X=X, y=y)
    tmp.replace(path)
    return X, y


def normalisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (float64 (feature_dim,)) over all frames of X (n, frames, dim)."""
    flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = np.maximum(flat.std(axis=0), 1e-3)
    return mean, std


def bank_seed(seed: int, fold: int) -> int:
    """The seed of fold's bank: distinct per fold, fixed by the run's seed."""
    return int(hashlib.sha1(f"{seed}:bank:{fold}".encode()).hexdigest()[:8], 16)

