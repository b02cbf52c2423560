"""What both trainers share: data and cross-validation flags, the fold plan, TensorFlow set-up,
tiny subsets for smoke runs, and the forked process pool that makes training windows.

The fold plan is the heart of cross-validation. Speakers are dealt into K folds (data.speaker_folds)
and noise classes into K groups (data.noise_groups). Fold k's model trains on every other fold's
speakers and noise groups; its held-out speakers are scored under noise of group k only, so the
noisy figures are always on sounds the model never heard. Training windows are made once per
fold ("banks"): fold k's model trains on the banks of the other folds, the final model on all.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import data as datamod
from .examples import AugmentSettings, augment_settings

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("../shared/data")
DEFAULT_RUNS = Path("runs")
DEFAULT_FOLDS = 5
#: --tiny: clips kept per kind in each fold (a smoke run of a minute or two).
TINY_KEYWORD_CLIPS = 6
TINY_OTHER_CLIPS = 6

# Set before forking workers; read in the children (copy-on-write, never pickled).
_POOL_JOB: dict = {}


def add_data_arguments(p: argparse.ArgumentParser, keyword_default: str = "stop") -> None:
    """--data, --keyword, --augment, --hold-out-source and the cross-validation flags."""
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder with manifest.csv (default %(default)s)")
    p.add_argument("--keyword", "--keywords", default=keyword_default,
                   help="the keyword, or several separated by commas for a multi-class model (default %(default)s)")
    p.add_argument("--augment", action="append", metavar="KEY=VALUE", help="override an augmentation setting (JSON value, repeatable)")
    p.add_argument("--perturb", type=int, default=0, metavar="N",
                   help="add N sox variants (pitch/formants and tempo) of every real keyword clip, in its speaker's fold (default 0)")
    p.add_argument("--false-accepts", type=Path, default=None, metavar="DIR",
                   help="the daemon's capture.dir: the clips you moved into DIR/false are trained on as hard negatives")
    p.add_argument("--hold-out-source", action="append", default=[], metavar="SOURCE",
                   help="leave every clip of this manifest source out of training (cross-corpus check; repeatable)")
    p.add_argument("--folds", type=int, default=None, metavar="K",
                   help="cross-validate: train K fold models on the other folds' speakers, score each on its own, "
                        "then train the final model on every speaker with the threshold from the pooled out-of-fold scores")
    p.add_argument("--fold-seed", type=int, default=0, help="seed of the speaker folds (default %(default)s)")
    p.add_argument("--final", action=argparse.BooleanOptionalAction, default=True,
                   help="with --folds: also train the final model on every speaker (default on)")
    p.add_argument("--eval-hours", type=float, default=None,
                   help="with --folds: hours of remixed held-out negative stream per fold (default 10, tiny 0.02)")
    p.add_argument("--tiny", action="store_true", help="a few clips and one epoch: a smoke run")
    p.add_argument("--workers", type=int, default=2, help="processes making training windows")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow threads")
    p.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="cache and report folder (default %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true")


def add_classes_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--classes", default=None, metavar="WORDS",
                   help="more output classes besides the keyword(s), comma-separated: a softmax over all of them "
                        "plus unknown speech and background; the detector reads the keyword's probability")


def add_tts_arguments(p: argparse.ArgumentParser, default_on: bool) -> None:
    """--tts, --tts-cache and --tts-engines (the engines' names and default from tts.py)."""
    from .tts import DEFAULT_ENGINES

    p.add_argument("--tts", action=argparse.BooleanOptionalAction, default=default_on, help="add synthetic voices to training")
    p.add_argument("--tts-cache", type=Path, default=None, help="TTS wav cache (default ~/.cache/wakeword-tts)")
    p.add_argument("--tts-engines", default=",".join(DEFAULT_ENGINES),
                   help="comma-separated engines for --tts, among espeak-ng, flite, festival, piper (default %(default)s)")


def keywords_of(args) -> tuple[str, ...]:
    return tuple(k.strip() for k in str(args.keyword).split(",") if k.strip())


def augment_options(args, prog: str) -> AugmentSettings | None:
    """The augmentation settings from --augment; None after printing a one-line error."""
    try:
        return augment_settings(args.augment)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def configure_tensorflow(seed: int, threads: int):
    """Import TensorFlow quietly, seeded and deterministic; return (tf, keras).

    clear_session resets Keras's layer-name counters, which end up in the .tflite: without it a
    second training run in one process writes different bytes for the same weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow already ran in this process (a test session): its pools stay as they are
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf, keras


# ---------------------------------------------------------------------------------- the fold plan


@dataclass
class FoldPlan:
    """Which speakers and noise classes each fold holds.

    clips: the corpus minus reserved speakers and held-out sources (noise clips included);
    fold_of: {speaker: fold}; noise_group: {noise class: fold}; k: number of folds (None: one
    model on everything, no folds). held_out_sources: manifest sources kept out of training.
    """

    clips: list
    k: int | None
    fold_seed: int
    fold_of: dict = field(default_factory=dict)
    noise_group: dict = field(default_factory=dict)
    held_out_sources: tuple = ()

    @classmethod
    def make(cls, clips, k: int | None, fold_seed: int = 0, held_out_sources=(), tiny: bool = False,
             balance=None) -> "FoldPlan":
        clips = datamod.without_reserved(clips)  # the tests/data recordings
        clips = [c for c in clips if c.source not in set(held_out_sources)]
        n = k or 1
        fold_of = datamod.speaker_folds(clips, max(2, n), fold_seed, balance)
        if n == 1:
            fold_of = dict.fromkeys(fold_of, 0)
        if tiny:
            clips = _tiny(clips, fold_of, n)
        return cls(clips, k, fold_seed, fold_of, datamod.noise_groups(clips, max(2, n)), tuple(held_out_sources))

    @property
    def n_banks(self) -> int:
        return self.k or 1

    def speech(self, folds) -> list:
        """The non-noise clips of the given folds."""
        wanted = set(folds)
        return [c for c in self.clips if c.kind != datamod.KIND_NOISE and self.fold_of.get(c.speaker) in wanted]

    def noises(self, folds) -> list:
        """Noise clips a model trained on `folds` may hear: those folds' noise groups and the
        always-trained classes (with one bank, every noise)."""
        return datamod.noises_of(self.clips, self.noise_group, None if self.k is None else set(folds))

    def held_out_noises(self, fold: int) -> list:
        """The noise clips of fold's own group, for its noisy evaluation conditions."""
        return [c for c in self.clips if c.kind == datamod.KIND_NOISE and self.noise_group.get(datamod.noise_class(c)) == fold]

    def training_folds(self, fold: int | None) -> list[int]:
        """The folds a model trains on: all but `fold` (None: all)."""
        return [j for j in range(self.n_banks) if j != fold]

    def record(self, fold: int | None) -> dict:
        """What a model's sidecar says about the data it trained on (evaluate checks it)."""
        speakers = {sp for sp, f in self.fold_of.items() if fold is None or f != fold}
        kw_speakers = {c.speaker for c in self.clips if c.kind == datamod.KIND_KEYWORD and c.speaker in speakers}
        held_out = sorted(sp for sp, f in self.fold_of.items() if fold is not None and f == fold)
        return {
            "folds": self.k, "fold": fold, "fold_seed": self.fold_seed,
            "held_out_speakers_sha256": hashlib.sha256("\n".join(held_out).encode()).hexdigest(),
            "held_out_sources": list(self.held_out_sources),
            "reserved_clips_excluded": sorted(datamod.RESERVED_CLIPS),
            "speakers": len(speakers), "keyword_speakers": len(kw_speakers),
            "keyword_clips": sum(1 for c in self.clips if c.kind == datamod.KIND_KEYWORD and c.speaker in speakers),
            "noise_classes": sorted({datamod.noise_class(c) for c in self.noises(self.training_folds(fold))}),
        }


def _tiny(clips, fold_of, k):
    """A few clips of every kind in every fold, plus a few noise files: for --tiny."""
    out, noise = [], [c for c in clips if c.kind == datamod.KIND_NOISE]
    for f in range(k):
        mine = [c for c in clips if c.kind != datamod.KIND_NOISE and fold_of.get(c.speaker) == f]
        for label in sorted({c.label for c in mine if c.kind == datamod.KIND_KEYWORD}):
            out += [c for c in mine if c.kind == datamod.KIND_KEYWORD and c.label == label][:TINY_KEYWORD_CLIPS]
        for kind in (datamod.KIND_COMMAND, datamod.KIND_WAKEWORD, datamod.KIND_SPEECH, datamod.KIND_SILENCE):
            out += [c for c in mine if c.kind == kind][:TINY_OTHER_CLIPS]
    by_class = {}
    for c in noise:
        by_class.setdefault(datamod.noise_class(c), c)
    return out + list(by_class.values())


# ---------------------------------------------------------------------------------- worker pool


def run_pool(fn, tasks: list, workers: int, job: dict, label: str) -> list:
    """fn(task) for every task, in that many forked processes (or here), in task order.

    job is made available to fn through pool_job() in every worker without pickling it (the
    workers are forked and share the parent's memory copy-on-write). Prints progress each tenth.
    """
    _POOL_JOB.clear()
    _POOL_JOB.update(job)
    started, results = time.monotonic(), []
    try:
        if workers > 1 and len(tasks) > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for res in pool.imap(fn, tasks):
                    results.append(res)
                    progress(label, len(results), len(tasks), started)
        else:
            for task in tasks:
                results.append(fn(task))
                progress(label, len(results), len(tasks), started)
    finally:
        _POOL_JOB.clear()
    return results


def pool_job() -> dict:
    return _POOL_JOB


def progress(label: str, done: int, total: int, started: float) -> None:
    """A progress line each time another tenth of the work is done (readable in logs too)."""
    if done == total or (done * 10 // total) != ((done - 1) * 10 // total):
        elapsed = time.monotonic() - started
        print(f"  {label}: {done}/{total} ({elapsed:.0f} s, ~{elapsed / done * (total - done):.0f} s left)", flush=True)
