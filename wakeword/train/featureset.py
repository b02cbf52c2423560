"""Precomputed training features: augmented windows -> MFCC arrays, built once and cached.

Epochs then cost only the network's time. Windows are made in fixed chunks, each with its own
seed derived from the run's seed, so the arrays do not depend on the number of worker
processes. Workers are forked and share the in-memory audio store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

from ..frontends.mfcc import MfccParams, mfcc_window
from . import augment
from .examples import AUG_RATE_HZ, RIR_BANK_SIZE, AudioStore, AugmentSettings, WindowFactory, aug_window_samples, to_model_rate

log = logging.getLogger(__name__)

CHUNK_EXAMPLES = 256
#: Bump when the example-making code changes meaning, so stale caches are not reused.
CACHE_VERSION = 5

# Set before forking workers; read by _make_chunk in the children (copy-on-write sharing).
_JOB: dict = {}


def _make_chunk(task: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    chunk_index, n_pos, n_neg = task
    job = _JOB
    rng = np.random.default_rng([job["seed"], 1, chunk_index])
    factory = WindowFactory(job["store"], job["aug_samples"], rng, job["settings"], job["rirs"])
    params: MfccParams = job["params"]
    feats = np.empty((n_pos + n_neg, params.window_frames, params.numcep), dtype=np.float32)
    labels = np.zeros(n_pos + n_neg, dtype=np.float32)
    labels[:n_pos] = 1.0
    for i in range(n_pos + n_neg):
        audio = factory.positive() if i < n_pos else factory.negative()
        x = to_model_rate(audio, params.sample_rate_hz, params.window_samples)
        f = mfcc_window(x, params)
        feats[i] = f[: params.window_frames]
    return feats, labels


def _progress_line(label: str, done: int, total: int, started: float, previous: int) -> None:
    """Print a progress line each time another tenth of the work is done (readable in logs too)."""
    if done != total and done * 10 // total == previous * 10 // total:
        return
    elapsed = time.monotonic() - started
    eta = elapsed / max(done, 1) * (total - done)
    print(f"  {label}: {done}/{total} ({elapsed:.0f} s, ~{eta:.0f} s left)", flush=True)


def build_features(
    store: AudioStore,
    params: MfccParams,
    n_pos: int,
    n_neg: int,
    seed: int,
    settings: AugmentSettings,
    workers: int = 2,
    label: str = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 (n, window_frames, numcep) raw MFCCs, y float32 (n,) 1 = keyword), positives first."""
    rirs = augment.rir_bank(np.random.default_rng([seed, 2]), AUG_RATE_HZ, RIR_BANK_SIZE)
    _JOB.update(
        store=store,
        params=params,
        seed=seed,
        settings=settings,
        rirs=rirs,
        aug_samples=aug_window_samples(params.window_samples, params.sample_rate_hz),
    )
    total = n_pos + n_neg
    n_chunks = max(1, -(-total // CHUNK_EXAMPLES))
    # spread positives evenly over chunks so each chunk's mix is the same
    pos_per = np.diff(np.linspace(0, n_pos, n_chunks + 1).round().astype(int))
    neg_per = np.diff(np.linspace(0, n_neg, n_chunks + 1).round().astype(int))
    tasks = [(i, int(pos_per[i]), int(neg_per[i])) for i in range(n_chunks)]
    started = time.monotonic()
    results = []
    if workers > 1 and n_chunks > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_make_chunk, tasks):
                previous = sum(len(r[1]) for r in results)
                results.append(res)
                _progress_line(label, previous + len(res[1]), total, started, previous)
    else:
        for task in tasks:
            previous = sum(len(r[1]) for r in results)
            results.append(_make_chunk(task))
            _progress_line(label, previous + len(results[-1][1]), total, started, previous)
    feats = np.concatenate([r[0] for r in results])
    labels = np.concatenate([r[1] for r in results])
    order = np.argsort(-labels, kind="stable")  # positives first, chunk order kept
    return feats[order], labels[order]


def cache_key(*parts) -> str:
    """A short stable hash of JSON-able parts (parameters, clip lists, seeds)."""
    blob = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha1(blob).hexdigest()[:16]


def cached(path: Path, build):
    """Load arrays X, y from path (.npz) if present, else build() -> (X, y) and save them."""
    path = Path(path)
    if path.is_file():
        with np.load(path) as data:
            log.info("features from cache %s", path)
            return data["X"], data["y"]
    X, y = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, X=X, y=y)
    tmp.replace(path)
    return X, y


def normalisation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient mean and std (float64 (numcep,)) over all frames of X (n, frames, numcep)."""
    flat = X.reshape(-1, X.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = np.maximum(flat.std(axis=0), 1e-3)
    return mean, std
