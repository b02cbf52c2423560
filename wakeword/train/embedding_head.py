"""Train a small keyword head on frozen speech embeddings (the `speech_embedding` front end).

    python -m wakeword.train.embedding_head --data /work/shared/data --out models/stop-embedding
    python -m wakeword.train.embedding_head --tiny --out /tmp/tiny-embedding   # smoke run

The head reads `window_frames` (16) embeddings of 96 values, about 2 s of audio, so every
training example is a 2 s window (32352 samples: exactly 16 embeddings) made by the same
augmentation as the MFCC trainer (examples.WindowFactory): the keyword somewhere inside 2 s of
other speech, noise or silence, and negatives with the same treatment. Steps:

1. load and split the corpus by speaker (data.split_by_speaker; test speakers never seen), add
   cached text-to-speech voices to the train side;
2. embed augmented windows (forked workers, cached under runs/embedding-cache/);
3. embed a long remixed negative stream of train audio (validation.negative_stream): a random
   part of its windows are plain negatives, the rest is the pool hard negatives are mined from;
4. train the head (logit output), mine the stream's highest-scoring windows, fine-tune, repeat;
5. export a float32 TFLite head and its sidecar (output activation "logit"), then set the
   threshold on validation speakers with evaluate.choose_threshold (<= 0.5 FA/h rule).

Same data and seed give the same model. The two feature models are not trained and not part of
the exported file: the runtime loads them from the openwakeword package ([embedding] extra).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..frontends.embedding import EmbeddingParams, FeatureModels, embeddings_of, installed_openwakeword_version
from ..settings import TriggerSettings
from ..sidecar import save_sidecar
from . import augment
from . import data as datamod
from .examples import AUG_RATE_HZ, RIR_BANK_SIZE, AudioStore, AugmentSettings, WindowFactory
from .__main__ import add_data_arguments, configure_tensorflow, data_options
from .featureset import cache_key, cached
from .models import average_logits
from .validation import negative_stream

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("/work/shared/data")
DEFAULT_OUT = Path("models/stop-embedding")
DEFAULT_CACHE = Path("runs/embedding-cache")
#: One window per embedding: the daemon scores every 80 ms.
HOP_S = 0.08
REFRACTORY_S = 1.0
#: Threshold written before choose_threshold replaces it (and kept by --tiny / --no-choose-threshold).
PROVISIONAL_THRESHOLD = 0.5
#: Examples per worker task; each task has its own seed so results do not depend on --workers.
CHUNK_EXAMPLES = 128
#: Bump when the meaning of cached embeddings changes.
CACHE_VERSION = 2
#: Negative-stream audio is generated and embedded in pieces of this many seconds (memory).
STREAM_PIECE_S = 600.0
#: Mined windows must score at least this (probability) to be worth adding.
MINING_MIN_SCORE = 0.05
#: Dense head layers.
HIDDEN_UNITS = (128, 64)
DROPOUT = (0.5, 0.3)
#: Conv head: temporal convolutions over the embeddings, then the max over time, so the word
#: may sit anywhere in the 2 s window without the head learning each position separately.
CONV_CHANNELS = (64, 64)
CONV_KERNEL = 3
CONV_DENSE_UNITS = 64
HEADS = ("conv", "dense", "ensemble")
#: "ensemble": these heads trained separately (each mines its own hard negatives), their logits
#: averaged in one exported graph. Their mistakes differ enough that the average has fewer
#: confident false accepts than either (measured on validation).
ENSEMBLE_HEADS = ("dense", "conv")
BATCH = 256
#: --noisy-windows: SNR range of the extra windows, dB. The general augmentation draws 0-35 dB
#: and adds noise 85 % of the time, so only about a quarter of the keywords are at 10 dB or worse.
NOISY_SNR_DB_RANGE = (-5.0, 15.0)

# Set before forking workers; read in the children (copy-on-write).
_JOB: dict = {}


# ----------------------------------------------------------------------------- embedding windows


def _models() -> FeatureModels:
    """This process's feature models, created on first use (interpreters are not fork-safe)."""
    if "models" not in _JOB or _JOB.get("pid") != os.getpid():
        _JOB["models"] = FeatureModels(_JOB["params"])
        _JOB["pid"] = os.getpid()
    return _JOB["models"]


def window_audio_samples(params: EmbeddingParams) -> int:
    """Audio samples that give exactly window_frames embeddings (32352 for the defaults)."""
    groups = (params.first_mel_frame + params.mel_frames_per_embedding) // params.embedding_step_mel_frames + params.window_frames - 1
    return (groups - 1) * params.frame_step_samples + params.mel_call_samples


def _embed_chunk(task: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    chunk_index, n_pos, n_neg = task
    job = _JOB
    params: EmbeddingParams = job["params"]
    rng = np.random.default_rng([job["seed"], 11, chunk_index])
    factory = WindowFactory(job["store"], window_audio_samples(params), rng, job["settings"], job["rirs"])
    models = _models()
    X = np.empty((n_pos + n_neg, params.window_frames, params.feature_dim), np.float32)
    y = np.zeros(n_pos + n_neg, np.float32)
    y[:n_pos] = 1.0
    for i in range(n_pos + n_neg):
        audio = factory.positive() if i < n_pos else factory.negative()
        X[i] = embeddings_of(audio, params, models)
    return X, y


def embed_windows(store: AudioStore, params: EmbeddingParams, n_pos: int, n_neg: int, seed: int,
                  settings: AugmentSettings, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Augmented windows -> (X float32 (n, 16, 96) raw embeddings, y float32 (n,) 1 = keyword)."""
    rirs = augment.rir_bank(np.random.default_rng([seed, 2]), AUG_RATE_HZ, RIR_BANK_SIZE)
    _JOB.update(store=store, params=params, seed=seed, settings=settings, rirs=rirs)
    total = n_pos + n_neg
    n_chunks = max(1, -(-total // CHUNK_EXAMPLES))
    pos_per = np.diff(np.linspace(0, n_pos, n_chunks + 1).round().astype(int))
    neg_per = np.diff(np.linspace(0, n_neg, n_chunks + 1).round().astype(int))
    tasks = [(i, int(pos_per[i]), int(neg_per[i])) for i in range(n_chunks)]
    started, results = time.monotonic(), []
    if workers > 1 and n_chunks > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for res in pool.imap(_embed_chunk, tasks):
                results.append(res)
                _progress("windows", len(results), n_chunks, started)
    else:
        for task in tasks:
            results.append(_embed_chunk(task))
            _progress("windows", len(results), n_chunks, started)
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def _progress(label: str, done: int, total: int, started: float) -> None:
    if done == total or (done * 10 // total) != ((done - 1) * 10 // total):
        elapsed = time.monotonic() - started
        print(f"  {label}: {done}/{total} ({elapsed:.0f} s, ~{elapsed / done * (total - done):.0f} s left)", flush=True)


def stream_embeddings(store: AudioStore, params: EmbeddingParams, hours: float, seed: int) -> np.ndarray:
    """Embeddings float32 (n, 96) of a remixed negative stream of `hours` of the store's audio.

    Made in STREAM_PIECE_S pieces, each embedded on its own (a piece's last ~0.8 s of embeddings
    are lost at the seam, which does not matter for negatives).
    """
    models = FeatureModels(params)
    rng = np.random.default_rng([seed, 13])
    out, done_s, total_s, started = [], 0.0, hours * 3600.0, time.monotonic()
    while done_s < total_s:
        piece_s = min(STREAM_PIECE_S, total_s - done_s)
        audio = negative_stream(store, rng, piece_s)
        out.append(embeddings_of(audio, params, models))
        done_s += piece_s
        print(f"  negative stream: {done_s / 3600:.2f}/{hours:g} h ({time.monotonic() - started:.0f} s)", flush=True)
    return np.concatenate(out)


def stream_windows(emb: np.ndarray, window_frames: int) -> np.ndarray:
    """(n, 96) consecutive embeddings -> (n - window_frames + 1, window_frames, 96) windows (a view)."""
    return np.lib.stride_tricks.sliding_window_view(emb, window_frames, axis=0).transpose(0, 2, 1)


# ----------------------------------------------------------------------------- the head


def build_head(input_shape: tuple[int, int], kind: str = "conv", name: str | None = None):
    """(batch, 16, 96) normalised embeddings -> (batch, 1) keyword logit.

    "dense": two dense layers on the flattened window; "conv": two temporal convolutions, the
    max over time and one dense layer.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="embeddings")
    if kind == "dense":
        x = layers.Flatten()(inputs)
        for units, drop in zip(HIDDEN_UNITS, DROPOUT):
            x = layers.Dense(units)(x)
            x = layers.LayerNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.Dropout(drop)(x)
    elif kind == "conv":
        x = layers.Dropout(0.1)(inputs)
        for channels in CONV_CHANNELS:
            x = layers.Conv1D(channels, CONV_KERNEL)(x)
            x = layers.LayerNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.GlobalMaxPooling1D()(x)
        x = layers.Dropout(0.3)(x)
        x = layers.Dense(CONV_DENSE_UNITS, activation="relu")(x)
    else:
        raise ValueError(f"unknown head {kind!r} (expected one of {HEADS})")
    outputs = layers.Dense(1, name="keyword_logit")(x)
    return keras.Model(inputs, outputs, name=f"embedding_head_{name or kind}")


def macs_per_window(model) -> int:
    """Multiply-accumulates of one window through the Conv1D/Dense layers (a cost estimate)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if hasattr(layer, "layers"):  # a head inside the ensemble
            total += macs_per_window(layer)
        elif kind in ("Dense", "Conv1D"):
            out_shape = layer.output.shape
            positions = int(np.prod([d for d in out_shape[1:-1]])) if len(out_shape) > 2 else 1
            total += positions * int(np.prod(layer.kernel.shape))
    return total


def fit(keras, model, X, y, epochs: int, learning_rate: float, seed: int, pos_weight: float) -> list[float]:
    """Adam with cosine decay on logits; positives weighted by pos_weight. Returns loss per epoch."""
    if epochs <= 0:
        return []
    steps = epochs * int(np.ceil(len(X) / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    weights = np.where(y > 0.5, pos_weight, 1.0).astype(np.float32)
    keras.utils.set_random_seed(seed)
    hist = model.fit(X, y, sample_weight=weights, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=2)
    return [round(float(v), 5) for v in hist.history["loss"]]


def predict_prob(model, X: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Keyword probabilities float32 (n,) for normalised windows X (n, 16, 96)."""
    out = [model(np.ascontiguousarray(X[i : i + batch]), training=False).numpy().reshape(-1) for i in range(0, len(X), batch)]
    logits = np.concatenate(out) if out else np.zeros(0, np.float32)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def mine(model, pool_windows: np.ndarray, mean, std, max_windows: int) -> tuple[np.ndarray, dict]:
    """The pool's highest-scoring windows (score >= MINING_MIN_SCORE, at most max_windows), normalised."""
    scores = np.concatenate([
        predict_prob(model, ((pool_windows[i : i + 8192] - mean) / std).astype(np.float32))
        for i in range(0, len(pool_windows), 8192)
    ]) if len(pool_windows) else np.zeros(0, np.float32)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= MINING_MIN_SCORE][:max_windows]
    summary = {"pool_windows": int(len(scores)), "over_0.05": int(np.sum(scores >= 0.05)),
               "over_0.5": int(np.sum(scores >= 0.5)), "kept": int(len(order))}
    return ((pool_windows[np.sort(order)] - mean) / std).astype(np.float32), summary


def train_head(keras, kind: str, Xn, y, pool, mean, std, sizes: dict, seed: int, pos_weight: float, name: str | None = None):
    """Build and train one head, with rounds of hard-negative mining on the stream pool.

    Xn float32 (n, 16, 96) normalised windows, y float32 (n,) labels; pool: raw stream windows.
    Returns (keras model, losses per stage, mining summaries).
    """
    keras.utils.set_random_seed(seed)
    model = build_head(Xn.shape[1:], kind, name)
    losses = {"stage1": fit(keras, model, Xn, y, sizes["epochs"], 1e-3, seed, pos_weight)}
    mining = []
    for r in range(sizes["mining_rounds"]):
        W, summary = mine(model, pool, mean, std, max_windows=max(16, sizes["negatives"] // 2))
        print(f"  {name or kind} mining round {r + 1}: {summary}")
        mining.append(summary)
        if len(W):
            Xn = np.concatenate((Xn, W))
            y = np.concatenate((y, np.zeros(len(W), np.float32)))
        losses[f"finetune{r + 1}"] = fit(keras, model, Xn, y, sizes["finetune_epochs"], 3e-4, seed + r + 1, pos_weight)
    return model, losses, mining


def head_plan(head: str, head_seeds: int, seed: int) -> list[tuple[str, str, int]]:
    """(name, kind, seed) of every head to train. Repeat j of a kind gets seed + 1000 j, so that
    --head-seeds 1 trains exactly the heads it always did (dense seed+0, conv seed+100)."""
    if head_seeds < 1:
        raise ValueError(f"--head-seeds must be at least 1, not {head_seeds}")
    kinds = ENSEMBLE_HEADS if head == "ensemble" else (head,)
    return [(kind if j == 0 else f"{kind}_{j}", kind, seed + 100 * i + 1000 * j)
            for j in range(head_seeds) for i, kind in enumerate(kinds)]


# ----------------------------------------------------------------------------- export


def write_head(tflite_bytes: bytes, out_prefix: Path, keyword: str, params: EmbeddingParams, mean, std,
               threshold: float, training: dict, name: str, smoothing_windows: int = 1) -> tuple[Path, Path]:
    """Write PREFIX.tflite and its sidecar PREFIX.json (float input, logit output, 80 ms hop)."""
    from .export import write_model

    trigger = TriggerSettings(hop_s=HOP_S, smoothing_windows=smoothing_windows, patience_windows=1, refractory_s=REFRACTORY_S)
    return write_model(tflite_bytes, out_prefix, keyword, params, mean, std,
                       input_shape=(params.window_frames, params.feature_dim), input_dtype="float32",
                       threshold=threshold, trigger=trigger, training=training, name=name, output_activation="logit")


# ----------------------------------------------------------------------------- command line


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.embedding_head", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder with manifest.csv (default %(default)s)")
    p.add_argument("--keyword", default="stop")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output prefix: PREFIX.tflite and PREFIX.json (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=0, help="seed of the speaker split (evaluation uses 0)")
    add_data_arguments(p)
    p.add_argument("--positives", type=int, default=None, help="augmented keyword windows (default 6000)")
    p.add_argument("--negatives", type=int, default=None, help="augmented negative windows (default 12000)")
    p.add_argument("--noisy-windows", type=int, default=None,
                   help="extra augmented windows (half keyword) with a noise bed always on at NOISY_SNR_DB_RANGE (default 0)")
    p.add_argument("--stream-hours", type=float, default=None, help="hours of train negative stream (default 3)")
    p.add_argument("--stream-negatives", type=int, default=None, help="random stream windows used as plain negatives (default 20000)")
    p.add_argument("--epochs", type=int, default=None, help="first-stage epochs (default 30)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="epochs after each mining round (default 10)")
    p.add_argument("--mining-rounds", type=int, default=None, help="hard-negative mining rounds (default 2)")
    p.add_argument("--pos-weight", type=float, default=1.0, help="loss weight of keyword windows (default %(default)s)")
    p.add_argument("--head", choices=HEADS, default="ensemble", help="head architecture (default %(default)s)")
    p.add_argument("--head-seeds", type=int, default=1, metavar="K",
                   help="train each head K times with different seeds on the same windows and average all their "
                        "logits (K times the head's size and cost; default %(default)s)")
    p.add_argument("--smoothing-windows", type=int, default=None, help="trigger smoothing written to the sidecar (default 1)")
    p.add_argument("--tts", action=argparse.BooleanOptionalAction, default=True, help="add synthetic voices to training")
    p.add_argument("--tts-cache", type=Path, default=None, help="TTS wav cache (default ~/.cache/wakeword-tts)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes embedding windows")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow threads")
    p.add_argument("--choose-threshold", action=argparse.BooleanOptionalAction, default=True,
                   help="set the threshold with evaluate.choose_threshold on validation speakers")
    p.add_argument("--tiny", action="store_true", help="a few clips, one epoch: a smoke test")
    p.add_argument("--rethreshold", type=Path, default=None, metavar="MODEL",
                   help="do not train: set MODEL's (.tflite) sidecar threshold with evaluate.choose_threshold "
                        "(and --smoothing-windows), e.g. after choosing between heads")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def resolve_sizes(args) -> dict:
    tiny = args.tiny
    defaults = dict(
        positives=16 if tiny else 6000,
        negatives=32 if tiny else 12000,
        stream_hours=0.01 if tiny else 3.0,
        stream_negatives=64 if tiny else 40000,
        noisy_windows=0,
        epochs=1 if tiny else 30,
        finetune_epochs=1 if tiny else 10,
        mining_rounds=1 if tiny else 3,
    )
    return {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in defaults.items()}


def rethreshold(model_path: Path, data_root: Path, keyword: str, split_seed: int, smoothing_windows: int | None,
                pinned: dict | None = None) -> dict:
    """Rewrite a model's sidecar with the validation threshold from evaluate.choose_threshold.

    The sidecar's trigger settings (smoothing_windows, if given, replaces its own) are what the
    threshold is chosen with. Returns the threshold record written to training.figures.threshold.
    """
    import dataclasses

    from ..sidecar import load_sidecar, sidecar_path_for
    from .evaluate import choose_threshold

    sidecar = sidecar_path_for(model_path)
    spec = load_sidecar(sidecar)
    if smoothing_windows is not None:
        spec = dataclasses.replace(spec, trigger=dataclasses.replace(spec.trigger, smoothing_windows=smoothing_windows))
        save_sidecar(spec, sidecar)
    choice = choose_threshold(model_path, data_root=data_root, split="val", keyword=keyword, split_seed=split_seed, pinned=pinned)
    info = {k: (v if isinstance(v, (int, float, str, bool, dict, type(None))) else str(v)) for k, v in choice.to_dict().items()}
    info["value"] = float(choice.threshold)
    training = dict(spec.training)
    figures = dict(training.get("figures", {}))
    figures["threshold"] = info
    training["figures"] = figures
    save_sidecar(dataclasses.replace(spec, thresholds={keyword: float(choice.threshold)}, training=training), sidecar)
    print(f"{sidecar}: threshold {choice.threshold:.5f} ({info})")
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    options = data_options(args, "python -m wakeword.train.embedding_head")
    if options is None:
        return 2
    pins, settings = options
    if args.head_seeds < 1:
        print(f"python -m wakeword.train.embedding_head: --head-seeds must be at least 1, not {args.head_seeds}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.rethreshold is not None:
        rethreshold(args.rethreshold, args.data, args.keyword, args.split_seed, args.smoothing_windows, pins)
        return 0
    started = time.monotonic()
    sizes = resolve_sizes(args)
    params = EmbeddingParams()
    command_line = "python -m wakeword.train.embedding_head " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"== {command_line}")

    # -- data -------------------------------------------------------------------------------
    clips = datamod.load_corpus(args.data, args.keyword)
    splits = datamod.split_by_speaker(clips, seed=args.split_seed, pinned=pins)
    train_noises, held_out_noises = datamod.noise_split(clips)
    if args.tiny:
        from .__main__ import tiny_subset

        splits = tiny_subset(splits)
    datamod.print_counts(splits)
    tts = []
    if args.tts:
        from .tts import DEFAULT_CACHE_DIR, tts_clips

        tts = tts_clips(args.keyword, seed=args.seed, cache_dir=args.tts_cache or DEFAULT_CACHE_DIR, n_espeak=6 if args.tiny else 120)
        if args.tiny:
            tts = tts[:8]
        print(f"text-to-speech: {sum(c.kind == datamod.KIND_KEYWORD for c in tts)} keyword clips, "
              f"{sum(c.kind != datamod.KIND_KEYWORD for c in tts)} near-miss clips, train side only")
    train_clips = splits["train"] + tts
    train_store = AudioStore(train_clips, train_noises)
    print(f"train store: {train_store.summary()}")

    # -- embeddings (before TensorFlow is imported: the workers are forked) ---------------------
    feature_started = time.monotonic()
    # only what changes the embedding values keys the cache (mel_window_end_samples is timing bookkeeping)
    value_params = {k: v for k, v in params.to_dict().items() if k != "mel_window_end_samples"}
    base_key = [value_params, args.seed, asdict(settings), [str(c.path) for c in train_clips], [str(c.path) for c in train_noises]]
    X, y = cached(
        args.cache / f"windows-{cache_key(CACHE_VERSION, *base_key, sizes['positives'], sizes['negatives'])}.npz",
        lambda: embed_windows(train_store, params, sizes["positives"], sizes["negatives"], args.seed, settings, args.workers),
    )
    if sizes["noisy_windows"]:
        noisy = replace(settings, snr_db_range=NOISY_SNR_DB_RANGE, p_noise=1.0)
        n_noisy_pos = sizes["noisy_windows"] // 2
        Xq, yq = cached(
            args.cache / f"noisy-{cache_key(CACHE_VERSION, *base_key, asdict(noisy), sizes['noisy_windows'])}.npz",
            lambda: embed_windows(train_store, params, n_noisy_pos, sizes["noisy_windows"] - n_noisy_pos, args.seed + 1, noisy, args.workers),
        )
        X, y = np.concatenate((X, Xq)), np.concatenate((y, yq))
    S, _ = cached(
        args.cache / f"stream-{cache_key(CACHE_VERSION, *base_key, sizes['stream_hours'])}.npz",
        lambda: (stream_embeddings(train_store, params, sizes["stream_hours"], args.seed), np.zeros(0, np.float32)),
    )
    feature_s = time.monotonic() - feature_started
    pool = stream_windows(S, params.window_frames)
    rng = np.random.default_rng([args.seed, 17])
    plain = rng.choice(len(pool), size=min(sizes["stream_negatives"], len(pool)), replace=False) if len(pool) else np.zeros(0, int)
    X_stream = np.ascontiguousarray(pool[np.sort(plain)])
    X_all = np.concatenate((X, X_stream))
    y_all = np.concatenate((y, np.zeros(len(X_stream), np.float32)))
    flat = X_all.reshape(-1, params.feature_dim).astype(np.float64)
    mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
    del flat
    print(f"embeddings: {X.shape[0]} augmented windows ({int(y.sum())} keyword), stream {len(S)} embeddings "
          f"({len(pool)} windows, {len(X_stream)} used as plain negatives) in {feature_s:.0f} s")

    # -- training ------------------------------------------------------------------------------
    keras = configure_tensorflow(args.seed, args.threads)[1]
    train_started = time.monotonic()
    Xn = ((X_all - mean) / std).astype(np.float32)
    heads, losses, mining = [], {}, {}
    for key, kind, seed in head_plan(args.head, args.head_seeds, args.seed):
        head, head_losses, head_mining = train_head(keras, kind, Xn, y_all, pool, mean, std, sizes, seed, args.pos_weight, key)
        heads.append(head)
        losses[key], mining[key] = head_losses, head_mining
    model = heads[0] if len(heads) == 1 else average_logits(heads, "embeddings", "embedding_head_ensemble")
    n_mined = {k: sum(m["kept"] for m in v) for k, v in mining.items()}
    train_s = time.monotonic() - train_started
    print(f"training took {train_s:.0f} s ({model.count_params()} parameters)")

    # -- export --------------------------------------------------------------------------------
    from .export import to_tflite

    tflite_bytes = to_tflite(model, (params.window_frames, params.feature_dim), None)
    training = {
        "keyword": args.keyword,
        "arch": f"embedding_head_{args.head}",
        "command": command_line,
        "frontend": {"openwakeword_installed": installed_openwakeword_version(),
                     "note": "feature models: openwakeword 0.5.0 resources melspectrogram.tflite + embedding_model.tflite "
                             "(Google speech_embedding, arXiv:2002.01322, Apache-2.0)"},
        "data": {
            "root": str(args.data),
            "split": "by speaker, sha1(seed:speaker) -> train 0.70 / val 0.15 / test 0.15",
            "split_seed": args.split_seed,
            "pinned": pins,
            "counts": datamod.count_table(splits),
            "train_noises": [c.path.stem for c in train_noises],
            "held_out_noise": [c.path.stem for c in held_out_noises],
            "tts": {"enabled": bool(args.tts), "keyword_clips": sum(c.kind == datamod.KIND_KEYWORD for c in tts),
                    "near_miss_clips": sum(c.kind != datamod.KIND_KEYWORD for c in tts), "voices": len({c.speaker for c in tts})},
            "store": train_store.summary(),
            "windows": {"positives": int(sizes["positives"] + sizes["noisy_windows"] // 2),
                        "negatives": int(sizes["negatives"] + sizes["noisy_windows"] - sizes["noisy_windows"] // 2 + len(X_stream)),
                        "mined": n_mined},
        },
        "settings": {"seed": args.seed, "sizes": sizes, "augment": asdict(settings), "pos_weight": args.pos_weight,
                     "optimizer": "Adam, cosine decay, 1e-3 then 3e-4", "batch": BATCH, "tiny": bool(args.tiny),
                     "head": args.head, "head_seeds": args.head_seeds},
        "figures": {"params": int(model.count_params()), "training_s": round(train_s, 1), "feature_s": round(feature_s, 1),
                    "losses": losses, "mining": mining,
                    "macs_per_window": macs_per_window(model)},
        "attribution": "Speech Commands (Warden 2018, CC BY 4.0); LibriSpeech (Panayotov et al. 2015, CC BY 4.0); "
        "Mycroft Precise community data (public-domain waivers); ros_speech_commands_classification (felixchenfy, MIT); "
        "speech_embedding (Google, Apache-2.0) via openWakeWord 0.5.0 (Apache-2.0)",
    }
    name = args.out.name
    threshold = PROVISIONAL_THRESHOLD
    training["figures"]["threshold"] = {"value": threshold, "rule": "provisional (no choose_threshold run)"}
    training["figures"]["total_s"] = round(time.monotonic() - started, 1)
    model_path, sidecar_path = write_head(tflite_bytes, args.out, args.keyword, params, mean, std, threshold, training, name, args.smoothing_windows or 1)
    if args.choose_threshold and not args.tiny:
        threshold = rethreshold(model_path, args.data, args.keyword, args.split_seed, None, pins)["value"]
    print(f"wrote {model_path} ({len(tflite_bytes)} bytes) and {sidecar_path}; threshold {threshold:.4f}; "
          f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
