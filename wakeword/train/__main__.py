"""wakeword-train: train, validate and export a keyword model with its sidecar.

    wakeword-train --data ../shared/data --arch ours --out models/stop
    wakeword-train --data ../shared/data --arch baseline --out models/baseline-stop
    wakeword-train --tiny --out /tmp/tiny          # a minute-long smoke run for tests
    wakeword-train --frontend speech_embedding --out models/stop-embedding   # see embedding_head.py

Steps: load and split the corpus by speaker; optionally add text-to-speech voices to the train
side; build augmented feature windows once (cached); train; mine the highest-scoring windows of
long negative streams made from train audio and fine-tune on them; validate on the validation
speakers; export int8 (shipped) and float (for comparison, under runs/) TFLite models with the
sidecar. Same data and seed give the same model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..errors import WakewordError
from ..settings import TriggerSettings
from . import data as datamod
from .examples import AUG_RATE_HZ, AudioStore, AugmentSettings, augment_settings
from .featureset import build_features, cache_key, cached, normalisation
from .models import ARCHITECTURES
from .validation import (
    keyword_material,
    negative_stream,
    operating_points,
    pick_threshold,
    score_clips,
    score_stream,
    trigger_series,
)

log = logging.getLogger(__name__)

#: Front ends this command trains for; speech_embedding hands over to embedding_head.main.
FRONTENDS = ("mfcc", "speech_embedding")
DEFAULT_DATA = Path("../shared/data")
DEFAULT_CACHE = Path("runs/cache")
SINGLE_SPEAKER = "felixchenfy"
HOP_S = 0.1
REFRACTORY_S = 1.0
TARGET_FA_PER_HOUR = 0.5
#: Trigger settings tried on validation: (smoothing_windows, patience_windows).
TRIGGER_GRID = ((1, 1), (2, 1), (1, 2), (3, 1), (2, 2))
#: Thresholds searched, evenly spaced in logit space from 0.05 to 0.999994 (fine near 1, where
#: low false-accept rates live).
THRESHOLDS = 1.0 / (1.0 + np.exp(-np.arange(-3.0, 12.01, 0.1)))
VAL_SNR_DB = 10.0
#: SpecAugment-style masks per architecture: (widest time mask in frames, widest band in coefficients).
MASKS = {"ours": (8, 4), "baseline": (3, 3)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="wakeword-train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder with manifest.csv (default %(default)s)")
    p.add_argument("--keyword", default="stop")
    p.add_argument("--frontend", choices=FRONTENDS, default="mfcc",
                   help="mfcc: this trainer; speech_embedding: a head on frozen speech embeddings "
                        "(python -m wakeword.train.embedding_head --help lists its options)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="ours")
    p.add_argument("--out", type=Path, required=True, help="output prefix: writes PREFIX.tflite (int8) and PREFIX.json")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="where the float model and report go (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of augmentation, initialisation and shuffling")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the speaker split (evaluation uses 0)")
    add_data_arguments(p)
    p.add_argument("--epochs", type=int, default=None, help="epochs of the first stage (default 12, tiny 1)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="epochs after each mining round (default 5, tiny 1)")
    p.add_argument("--mining-rounds", type=int, default=None, help="hard-negative mining rounds (default 3, tiny 1)")
    p.add_argument("--mining-hours", type=float, default=None, help="hours of train-audio negative stream to mine (default 3)")
    p.add_argument("--val-hours", type=float, default=None, help="hours of validation negative stream (default 2)")
    p.add_argument("--positives", type=int, default=None, help="augmented keyword windows (default 20000)")
    p.add_argument("--negatives", type=int, default=None, help="augmented negative windows (default 90000)")
    p.add_argument("--width", type=int, default=None, help="channels of ours' convolutions (default 64)")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="train K networks (seeds SEED, SEED+1000, ...) on the same features, each mining its own hard "
                        "negatives, and export the mean of their logits as one model (K times the size; default %(default)s)")
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=True,
                   help="mask random frame spans and coefficient bands afresh each epoch")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="binary cross-entropy label smoothing")
    p.add_argument("--tiny", action="store_true", help="a few dozen clips and one epoch: a smoke test under a minute")
    p.add_argument("--tts", action=argparse.BooleanOptionalAction, default=False,
                   help="add synthetic voices to training (off by default: they raised validation FRR, see the report)")
    p.add_argument("--tts-cache", type=Path, default=None, help="TTS wav cache (default ~/.cache/wakeword-tts)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="feature cache folder (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="processes making feature windows")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow threads")
    p.add_argument("--choose-threshold", action=argparse.BooleanOptionalAction, default=True,
                   help="set the threshold with evaluate.choose_threshold on validation (else the trainer's own pick)")
    p.add_argument("--compare-with", type=Path, default=None,
                   help="a previous run's report JSON (e.g. the --no-tts run) to record next to this one's figures")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def resolve_sizes(args) -> dict:
    """Run sizes: full defaults, or the --tiny smoke-test sizes; explicit flags win."""
    tiny = args.tiny
    defaults = dict(
        epochs=1 if tiny else 12,
        finetune_epochs=1 if tiny else 5,
        mining_rounds=1 if tiny else 3,
        mining_hours=0.02 if tiny else 3.0,
        val_hours=0.02 if tiny else 2.0,
        positives=48 if tiny else 20000,
        negatives=144 if tiny else 90000,
    )
    return {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in defaults.items()}


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--pin and --augment, read back by data_options (both trainers)."""
    p.add_argument("--pin", action="append", metavar="SPEAKER=SIDE", help="put a speaker on a fixed side of the split (repeatable)")
    p.add_argument("--augment", action="append", metavar="KEY=VALUE", help="override an augmentation setting (JSON value, repeatable)")


def data_options(args, prog: str) -> tuple[dict, AugmentSettings] | None:
    """(pins, augmentation settings) from --pin and --augment; None after printing a one-line
    error naming a bad one (both trainers)."""
    try:
        return datamod.parse_pins(args.pin), augment_settings(args.augment)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return None


def tiny_subset(splits: dict, keyword_per_split: int = 8, others_per_split: int = 24) -> dict:
    """A few dozen clips per split (every kind represented) for --tiny."""
    out = {}
    for name, clips in splits.items():
        kw = [c for c in clips if c.kind == datamod.KIND_KEYWORD][:keyword_per_split]
        rest = []
        for kind in (datamod.KIND_COMMAND, datamod.KIND_WAKEWORD, datamod.KIND_SPEECH, datamod.KIND_SILENCE):
            rest += [c for c in clips if c.kind == kind][: others_per_split // 4]
        out[name] = kw + rest
    return out


def configure_tensorflow(seed: int, threads: int):
    """Import TensorFlow quietly, seeded and deterministic; return (tf, keras).

    clear_session resets Keras's layer-name counters, which end up in the .tflite: without it a
    second training run in one process writes different bytes for the same weights."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    keras.backend.clear_session()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def train_stage(keras, model, X, y, epochs: int, learning_rate: float, seed: int, masks: tuple[int, int] | None,
                label_smoothing: float) -> list[float]:
    """Fit for `epochs` with Adam and cosine decay; with masks (max frames, max coefficients) each
    epoch sees freshly masked features (augment.mask_features). Returns the loss per epoch."""
    from .augment import mask_features

    if epochs <= 0:
        return []
    batch = 256
    steps = epochs * int(np.ceil(len(X) / batch))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing))
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng([seed, 41])
    losses = []
    for epoch in range(epochs):
        Xe = mask_features(X, rng, *masks) if masks else X
        hist = model.fit(Xe, y, batch_size=batch, epochs=epoch + 1, initial_epoch=epoch, shuffle=True, verbose=2)
        losses.append(round(float(hist.history["loss"][-1]), 5))
    return losses


def keras_predictor(model):
    """predict(float32 (n, *input_shape)) -> (n,) probabilities, for validation and mining."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(x):
        return model(x, training=False)

    return lambda X: run(X).numpy().reshape(-1)


def train_network(keras, arch, model, Xn, y, train_store, sizes: dict, seed: int, masks, label_smoothing: float, mean, std):
    """First stage, then rounds of hard-negative mining on the train stream and fine-tuning.

    Returns (losses per stage, mining summaries, Xn and y with this network's mined negatives)."""
    losses = {"stage1": train_stage(keras, model, Xn, y, sizes["epochs"], 2e-3, seed, masks, label_smoothing)}
    predict = keras_predictor(model)
    mining = []
    mine_rng = np.random.default_rng([seed, 21])
    for round_index in range(sizes["mining_rounds"]):
        W, summary = mine_hard_negatives(predict, arch, train_store, sizes["mining_hours"], mine_rng, mean, std,
                                         max_windows=max(8, sizes["negatives"] // 6))
        print(f"  mining round {round_index + 1}: {summary}")
        mining.append(summary)
        if len(W):
            Xn = np.concatenate((Xn, reshape_for(arch, ((W - mean) / std).astype(np.float32))))
            y = np.concatenate((y, np.zeros(len(W), np.float32)))
        losses[f"finetune{round_index + 1}"] = train_stage(
            keras, model, Xn, y, sizes["finetune_epochs"], 5e-4, seed + round_index + 1, masks, label_smoothing
        )
    return losses, mining, Xn, y


def reshape_for(arch, X: np.ndarray) -> np.ndarray:
    return X.reshape((len(X), *arch.input_shape))


def mine_hard_negatives(predict, arch, store: AudioStore, hours: float, rng, mean, std, max_windows: int) -> tuple[np.ndarray, dict]:
    """Score a remixed negative stream of train audio; return the raw MFCC windows scoring
    highest (float32 (k, frames, numcep), score >= 0.05, at most max_windows) and a summary."""
    from .validation import signal_windows

    params = arch.params
    hop_frames = int(round(HOP_S / params.winstep_s))
    stream = negative_stream(store, rng, hours * 3600)
    chunk = int(300 * AUG_RATE_HZ)
    hop_16k = hop_frames * params.frame_step_samples * AUG_RATE_HZ // params.sample_rate_hz
    chunk -= chunk % hop_16k
    window_16k = params.window_samples * AUG_RATE_HZ // params.sample_rate_hz
    kept_w, kept_s = [], []
    started = time.monotonic()
    for start in range(0, len(stream), chunk):
        part = stream[start : start + chunk + window_16k]
        w = signal_windows(part, params, hop_frames)[: len(range(0, min(chunk, len(stream) - start), hop_16k))]
        if not len(w):
            continue
        s = predict(reshape_for(arch, ((w - mean) / std).astype(np.float32)))
        keep = s >= 0.05
        kept_w.append(w[keep])
        kept_s.append(s[keep])
        done = min(len(stream), start + chunk) / len(stream)
        print(f"\r  mining: {done:4.0%} of {hours:g} h ({time.monotonic() - started:.0f} s)   ", end="", flush=True)
    print()
    W = np.concatenate(kept_w) if kept_w else np.zeros((0, params.window_frames, params.numcep), np.float32)
    S = np.concatenate(kept_s) if kept_s else np.zeros(0, np.float32)
    order = np.argsort(-S, kind="stable")[:max_windows]
    summary = {
        "stream_hours": hours,
        "windows_over_0.05": int(len(S)),
        "windows_over_0.5": int(np.sum(S >= 0.5)),
        "kept": int(len(order)),
    }
    return W[order], summary


def validate(predict, arch, val: dict, mean, std) -> dict:
    """Validation figures for predict on the prepared validation material (see prepare_validation)."""
    params = arch.params
    hop_frames = int(round(HOP_S / params.winstep_s))

    def pred(X):
        return predict(reshape_for(arch, X))

    pos = {name: score_clips(pred, mat, params, mean, std, hop_frames) for name, mat in val["positives"].items()}
    neg_clips = score_clips(pred, val["commands"], params, mean, std, hop_frames)
    stream_scores = score_stream(pred, val["stream"], params, mean, std, hop_frames)
    hours = len(val["stream"]) / AUG_RATE_HZ / 3600
    results = {}
    for smoothing, patience in TRIGGER_GRID:
        pos_max = {name: sc.max_smoothed(smoothing, patience) for name, sc in pos.items()}
        rows = operating_points(
            pos_max,
            trigger_series(stream_scores, smoothing, patience),
            neg_clips.max_smoothed(smoothing, patience),
            hours,
            HOP_S,
            REFRACTORY_S,
            THRESHOLDS,
        )
        chosen = pick_threshold(rows, TARGET_FA_PER_HOUR)
        at_half = min(rows, key=lambda r: abs(r["threshold"] - 0.5))
        results[f"s{smoothing}p{patience}"] = {
            "smoothing_windows": smoothing, "patience_windows": patience, "at_target": chosen, "at_0.5": at_half, "rows": rows,
        }
    best = min(results.values(), key=lambda r: (r["at_target"]["frr_clean"] + r["at_target"][f"frr_{VAL_SNR_DB:g}dB"], r["smoothing_windows"] + r["patience_windows"]))
    return {"stream_hours": round(hours, 3), "trigger_grid": results, "best": best}


def prepare_validation(
    store: AudioStore, keyword_audio: list[np.ndarray], command_audio: list[np.ndarray], noises, hours: float, seed: int,
    many_speakers: list[bool],
) -> dict:
    """Validation material at AUG_RATE_HZ: keyword clips clean and at VAL_SNR_DB, single command
    clips, and a remixed negative stream of `hours`. many_speakers marks keyword clips not from the
    single-speaker set, whose clean FRR is also reported alone ("clean_multi")."""
    rng = np.random.default_rng([seed, 11])
    clean = keyword_material(keyword_audio, rng, noises, None)
    return {
        "positives": {
            "clean": clean,
            f"{VAL_SNR_DB:g}dB": keyword_material(keyword_audio, rng, noises, VAL_SNR_DB),
            "clean_multi": [x for x, keep in zip(clean, many_speakers) if keep],
        },
        "commands": keyword_material(command_audio, rng, noises, None),
        "stream": negative_stream(store, rng, hours * 3600),
    }


def ms_per_window(model_path: Path, arch, n: int = 2000) -> dict:
    """Runtime (TfliteModel, 1 thread) cost per window: batched like a file, and one at a time like live."""
    from ..model import load_model

    model = load_model(model_path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, *arch.input_shape)).astype(np.float32)
    model.predict(X[:10])
    t0 = time.perf_counter()
    model.predict(X)
    batched = (time.perf_counter() - t0) / n * 1000
    model.predict(X[:1])
    t0 = time.perf_counter()
    for i in range(200):
        model.predict(X[i : i + 1])
    single = (time.perf_counter() - t0) / 200 * 1000
    return {"batched_ms": round(batched, 4), "single_ms": round(single, 4), "backend": model.backend, "cpu": platform.processor() or platform.machine()}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--frontend", choices=FRONTENDS, default="mfcc")
    known, rest = pre.parse_known_args(argv)
    if known.frontend == "speech_embedding":
        from .embedding_head import main as embedding_main

        return embedding_main(rest)
    args = parse_args(argv)
    options = data_options(args, "wakeword-train")
    if options is None:
        return 2
    pins, settings = options
    if args.ensemble < 1:
        print(f"wakeword-train: --ensemble must be at least 1, not {args.ensemble}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    sizes = resolve_sizes(args)
    arch = ARCHITECTURES[args.arch]
    command_line = "wakeword-train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"== {command_line}")

    # -- data -------------------------------------------------------------------------------
    clips = datamod.load_corpus(args.data, args.keyword)
    splits = datamod.split_by_speaker(clips, seed=args.split_seed, pinned=pins)
    train_noises, held_out_noises = datamod.noise_split(clips)
    if args.tiny:
        splits = tiny_subset(splits)
    datamod.print_counts(splits)
    single_side = datamod.speaker_side(splits, SINGLE_SPEAKER)
    print(f"single speaker {SINGLE_SPEAKER}: {single_side}; held-out noise: {[c.path.stem for c in held_out_noises]}")
    tts = []
    if args.tts:
        from .tts import DEFAULT_CACHE_DIR, tts_clips

        tts = tts_clips(args.keyword, seed=args.seed, cache_dir=args.tts_cache or DEFAULT_CACHE_DIR, n_espeak=6 if args.tiny else 120)
        if args.tiny:
            tts = tts[:8]
        print(f"text-to-speech: {sum(c.kind == datamod.KIND_KEYWORD for c in tts)} keyword clips, "
              f"{sum(c.kind != datamod.KIND_KEYWORD for c in tts)} near-miss clips, train side only")
    train_clips = splits["train"] + tts

    print("loading train audio")
    train_store = AudioStore(train_clips, train_noises)
    print(f"  {train_store.summary()}")

    # -- features (before TensorFlow is imported: the workers are forked) -------------------------
    key = cache_key(
        arch.params.to_dict(), sizes["positives"], sizes["negatives"], args.seed, asdict(settings),
        [str(c.path) for c in train_clips], [str(c.path) for c in train_noises],
    )
    feature_started = time.monotonic()
    X, y = cached(
        args.cache / f"{arch.name}-{key}.npz",
        lambda: build_features(train_store, arch.params, sizes["positives"], sizes["negatives"], args.seed, settings, args.workers),
    )
    feature_s = time.monotonic() - feature_started
    mean, std = normalisation(X)
    print(f"features: {X.shape} ({int(y.sum())} keyword windows) in {feature_s:.0f} s")

    print("preparing validation material")
    val_store = AudioStore(splits["val"], train_noises)
    val_kw = [datamod.read_audio(c.path, AUG_RATE_HZ) for c in splits["val"] if c.kind == datamod.KIND_KEYWORD]
    val_cmd = [datamod.read_audio(c.path, AUG_RATE_HZ) for c in splits["val"] if c.kind == datamod.KIND_COMMAND]
    many = [c.speaker != SINGLE_SPEAKER for c in splits["val"] if c.kind == datamod.KIND_KEYWORD]
    val_mat = prepare_validation(val_store, val_kw, val_cmd, train_store.noises, sizes["val_hours"], args.seed, many)

    # -- training -----------------------------------------------------------------------------
    tf, keras = configure_tensorflow(args.seed, args.threads)
    train_started = time.monotonic()
    Xn0 = reshape_for(arch, ((X - mean) / std).astype(np.float32))
    masks = MASKS[arch.name] if args.spec_augment else None
    members, losses, mining = [], {}, []
    for j in range(args.ensemble):
        seed = args.seed + 1000 * j
        if j:
            keras.utils.set_random_seed(seed)  # member 0 keeps configure_tensorflow's seeding: --ensemble 1 is the old run
        member = arch.build(arch.input_shape, width=args.width) if args.width else arch.build(arch.input_shape)
        print(f"model {arch.name}" + (f" (ensemble member {j + 1}/{args.ensemble}, seed {seed})" if args.ensemble > 1 else "")
              + f": {member.count_params()} parameters")
        member_losses, member_mining, Xn_j, y_j = train_network(keras, arch, member, Xn0, y, train_store, sizes, seed, masks,
                                                               args.label_smoothing, mean, std)
        if j == 0:
            rep_X, rep_y = Xn_j, y_j  # member 0's windows calibrate the int8 export
        members.append(member)
        losses.update(member_losses if args.ensemble == 1 else {f"member{j}_{k}": v for k, v in member_losses.items()})
        mining += member_mining
    from .models import ensemble_models, logit_model

    model, exported = (members[0], logit_model(members[0])) if args.ensemble == 1 else ensemble_models(members)
    predict = keras_predictor(model)
    train_s = time.monotonic() - train_started
    print(f"training took {train_s:.0f} s")

    # -- validation of the float model ----------------------------------------------------------
    print("validating (float)")
    val_float = validate(predict, arch, val_mat, mean, std)
    best = val_float["best"]
    trigger = TriggerSettings(hop_s=HOP_S, smoothing_windows=best["smoothing_windows"], patience_windows=best["patience_windows"], refractory_s=REFRACTORY_S)
    threshold = float(best["at_target"]["threshold"])
    print(f"  float, trigger s{trigger.smoothing_windows}p{trigger.patience_windows}: {best['at_target']}")

    # -- export -------------------------------------------------------------------------------
    from .export import representative_windows, to_tflite, write_model

    args.runs.mkdir(parents=True, exist_ok=True)
    name = args.out.name
    rep = representative_windows(rep_X, rep_y, np.random.default_rng([args.seed, 31]))
    int8_bytes = to_tflite(exported, arch.input_shape, rep)
    float_bytes = to_tflite(exported, arch.input_shape, None)
    model.save(args.runs / f"{name}.keras")
    training = {
        "keyword": args.keyword,
        "arch": arch.name,
        "command": command_line,
        "data": {
            "root": str(args.data),
            "split": "by speaker, sha1(seed:speaker) -> train 0.70 / val 0.15 / test 0.15",
            "split_seed": args.split_seed,
            "pinned": pins,
            "counts": datamod.count_table(splits),
            "single_speaker": {"speaker": SINGLE_SPEAKER, "split": single_side},
            "train_noises": [c.path.stem for c in train_noises],
            "held_out_noise": [c.path.stem for c in held_out_noises],
            "tts": {"enabled": bool(args.tts), "keyword_clips": sum(c.kind == datamod.KIND_KEYWORD for c in tts),
                    "near_miss_clips": sum(c.kind != datamod.KIND_KEYWORD for c in tts),
                    "voices": len({c.speaker for c in tts})},
            "store": train_store.summary(),
            "windows": {"positives": int(sizes["positives"]), "negatives": int(sizes["negatives"]),
                        "mined": int(sum(m["kept"] for m in mining))},
        },
        "settings": {
            "seed": args.seed, "sizes": sizes, "augment": asdict(settings), "optimizer": "Adam, cosine decay, 2e-3 then 5e-4",
            "batch": 256, "tiny": bool(args.tiny), "width": args.width, "ensemble": args.ensemble,
            "spec_augment_masks": list(masks) if masks else None, "label_smoothing": args.label_smoothing, "output": "logit (runtime applies the sigmoid)",
        },
        "figures": {
            "params": int(model.count_params()),
            "training_s": round(train_s, 1),
            "feature_s": round(feature_s, 1),
            "losses": losses,
            "mining": mining,
            "validation_float": without_rows(val_float),
        },
        "attribution": "Speech Commands (Warden 2018, CC BY 4.0); LibriSpeech (Panayotov et al. 2015, CC BY 4.0); "
        "Mycroft Precise community data (public-domain waivers); ros_speech_commands_classification (felixchenfy, MIT)",
    }
    float_prefix = args.runs / f"{name}-float"
    float_path, _ = write_model(float_bytes, float_prefix, args.keyword, arch.params, mean, std, arch.input_shape,
                                "float32", threshold, trigger, training, f"{name}-float")
    model_path, sidecar_path = write_model(int8_bytes, args.out, args.keyword, arch.params, mean, std, arch.input_shape,
                                           "int8", threshold, trigger, training, name)

    # -- validation of the int8 model through the runtime wrapper --------------------------------
    from ..model import load_model

    print("validating (int8, runtime interpreter)")
    tfl = load_model(model_path)
    val_int8 = validate(lambda X: tfl.predict(X).reshape(-1), arch, val_mat, mean, std)
    key_best = f"s{trigger.smoothing_windows}p{trigger.patience_windows}"
    int8_at_float_thr = row_at(val_int8["trigger_grid"][key_best], threshold)
    figures = training["figures"]
    figures["validation_int8"] = without_rows(val_int8)
    figures["int8_vs_float_at_float_threshold"] = {"float": best["at_target"], "int8": int8_at_float_thr}
    figures["size_bytes"] = {"int8": len(int8_bytes), "float": len(float_bytes)}
    figures["runtime_cost"] = ms_per_window(model_path, arch)
    from .models import macs_per_window

    figures["macs_per_window"] = int(sum(macs_per_window(m) for m in members))
    threshold_info = {"value": threshold, "rule": f"trainer's pick: lowest threshold with <= {TARGET_FA_PER_HOUR} FA/h on "
                      f"{val_float['stream_hours']} h of remixed validation negatives (float model)"}
    if args.choose_threshold and not args.tiny:
        from .evaluate import choose_threshold

        try:
            choice = choose_threshold(model_path, data_root=args.data, split="val", keyword=args.keyword,
                                      split_seed=args.split_seed, pinned=pins)
        except WakewordError as exc:
            print(f"wakeword-train: choosing the threshold on validation failed: {exc}; {model_path} keeps the "
                  f"trainer's own threshold {threshold:.3f} (--no-choose-threshold skips this step)", file=sys.stderr)
            return 2
        choice_dict = choice.to_dict()
        training["threshold_choice"] = choice_dict
        print(f"  evaluate.choose_threshold: {choice_dict}")
        if choice.met:
            threshold = float(choice.threshold)
            threshold_info = {**choice_dict, "value": threshold}
        else:
            threshold_info["evaluate_choice_not_met"] = choice_dict
    figures["threshold"] = threshold_info
    figures["int8_vs_float_at_shipped_threshold"] = {
        "float": row_at(val_float["trigger_grid"][key_best], threshold),
        "int8": row_at(val_int8["trigger_grid"][key_best], threshold),
    }
    if args.compare_with and args.compare_with.is_file():
        other = json.loads(args.compare_with.read_text())
        figures["comparison"] = {"other_run": str(args.compare_with), "other_tts": other.get("data", {}).get("tts", {}).get("enabled"),
                                 "other_validation_float_best": other.get("figures", {}).get("validation_float", {}).get("best"),
                                 "this_validation_float_best": without_rows(val_float)["best"]}
    figures["total_s"] = round(time.monotonic() - started, 1)
    write_model(float_bytes, float_prefix, args.keyword, arch.params, mean, std, arch.input_shape, "float32", threshold, trigger, training, f"{name}-float")
    write_model(int8_bytes, args.out, args.keyword, arch.params, mean, std, arch.input_shape, "int8", threshold, trigger, training, name)
    report = args.runs / f"{name}-report.json"
    report.write_text(json.dumps(training, indent=2, default=str) + "\n")
    print(f"wrote {model_path} ({len(int8_bytes)} bytes), {sidecar_path}, {float_path}, {report}")
    print(f"threshold {threshold:.3f}; validation (float) {best['at_target']}; int8 at that threshold {int8_at_float_thr}")
    print(f"training {train_s:.0f} s, total {figures['total_s']:.0f} s")
    return 0


def row_at(result: dict, threshold: float) -> dict:
    """The operating-point row of one trigger setting's validation result nearest to `threshold`."""
    return min(result["rows"], key=lambda r: abs(r["threshold"] - threshold))


def without_rows(val: dict) -> dict:
    """A validation result without the per-threshold rows (too long for the sidecar)."""
    out = dict(val)
    out["trigger_grid"] = {k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in val["trigger_grid"].items()}
    out["best"] = {k: v for k, v in val["best"].items() if k != "rows"}
    return out


if __name__ == "__main__":
    sys.exit(main())
