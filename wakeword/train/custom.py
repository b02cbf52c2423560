"""wakeword-train custom: your own wake word from a few recordings, on the frozen speech embedding.

    wakeword-train custom --phrase "hey robot" --positives takes/ --out models/hey_robot.tflite \\
        [--background room/] [--false-accepts captures/]

custom_data.py makes what it trains on (its docstring lists the steps). Here each variant (with
or without synthetic voices) is a pair of heads fitted on the same windows, fine-tuned on the
negative bank's highest-scoring windows, and judged through the daemon's own path: the held-out takes placed in quiet audio go through the Pipeline, the bank's held-out part
through the StreamingDetector (scoring.score_frames), the background recording through the
Pipeline too. The threshold rule is thresholds.choose_threshold_from_curve on those streams.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from ..detector import ModelSetup
from ..errors import ConfigError, WakewordError
from ..settings import TriggerSettings
from ..sidecar import ModelSpec
from . import custom_data as c
from .common import configure_tensorflow
from .data import KIND_COMMAND, KIND_KEYWORD, KIND_SPEECH, Clip
from .evalsets import FLOOR_DBFS, TRIAL_TAIL_S, TRIAL_WINDOW_ALLOWANCE_S, NegativeStream, db_to_amplitude
from .examples import AUG_RATE_HZ
from .featureset import EmbeddingFeaturizer
from .fitting import MiningPool, fit, keras_predictor
from .models import average_logits, build_head, macs_per_window
from .negbank import SHIPPED_BANK, load_bank
from .scoring import Event, EventIndex, PredictorModel, in_blocks, score_frames, score_stream
from .takes import MIN_TAKES, load_takes
from .thresholds import THRESHOLD_GRID, ScoredSet, choose_threshold_from_curve
from .tts import DEFAULT_ENGINES

log = logging.getLogger(__name__)

PROG = "wakeword-train custom"

#: Below this the trainer warns: the weakest held-out take held the threshold down.
LOW_THRESHOLD = 0.9

TRIGGER = TriggerSettings(hop_s=c.HOP_S, smoothing_windows=1, patience_windows=1, refractory_s=1.0)


def trial_set(takes, seed: int) -> tuple[np.ndarray, list[Event]]:
    """Held-out takes placed in quiet audio (a -60 dBFS floor), with their events."""
    from .augment import active_region

    rng = np.random.default_rng([seed, 5])
    pieces, events, pos = [], [], 0
    tail = int((TRIAL_WINDOW_ALLOWANCE_S + TRIAL_TAIL_S) * AUG_RATE_HZ)
    for t in takes:
        onset = int(rng.uniform(1.0, 2.0) * AUG_RATE_HZ)
        trial = rng.normal(0, db_to_amplitude(FLOOR_DBFS), onset + len(t.audio) + tail).astype(np.float32)
        trial[onset : onset + len(t.audio)] += t.audio
        events.append(Event(pos + onset, pos + onset + len(t.audio), "phrase", KIND_KEYWORD, "takes", str(t.path), t.speaker,
                            pos + onset + active_region(t.audio, AUG_RATE_HZ)[1]))
        pieces.append(trial)
        pos += len(trial)
    return np.concatenate(pieces), events


def _spec(keyword, params, mean, std) -> ModelSpec:
    return ModelSpec("", (keyword,), {keyword: 0.5}, params, tuple(mean), tuple(std),
                     (1, params.window_frames, params.feature_dim), "float32", trigger=TRIGGER)


def judge(model, keyword, params, mean, std, trials, bank_frames, background_clips) -> dict:
    """The threshold rule on held-out material, and the held-out FRR there, for one fitted model."""
    predict = keras_predictor(model, multiclass=False, from_logits=True)
    setup = ModelSetup(PredictorModel(_spec(keyword, params, mean, std), predict), {keyword: 0.5}, TRIGGER)
    audio, events = trials
    window_s = params.window_samples / params.sample_rate_hz
    held = ScoredSet("takes", score_stream(setup, in_blocks(audio, AUG_RATE_HZ), AUG_RATE_HZ), EventIndex(events, AUG_RATE_HZ), window_s)
    bank = ScoredSet("bank", score_frames(setup, bank_frames), EventIndex([], AUG_RATE_HZ), window_s,
                     len(bank_frames) * c.HOP_S / 3600.0)
    streams = [bank]
    if background_clips:
        bg = NegativeStream(background_clips, [], sum(len(_read(x.path)) for x in background_clips) / AUG_RATE_HZ / 3600 + 1e-6, 0)
        streams.append(ScoredSet("background", score_stream(setup, bg.blocks(), AUG_RATE_HZ), bg.index(), window_s, bg.hours))
    hours = sum(s.hours for s in streams)
    fa = [sum(s.false_accepts(keyword, t, TRIGGER) for s in streams) for t in THRESHOLD_GRID]
    hit = np.array([held.hits(keyword, t, TRIGGER) for t in THRESHOLD_GRID])  # (thresholds, takes)
    frr = [1.0 - float(h.mean()) for h in hit]
    choice = choose_threshold_from_curve(THRESHOLD_GRID, fa, hours, frr, margin_logit=c.THRESHOLD_MARGIN_LOGIT,
                                         negatives="held-out bank and background")
    i = THRESHOLD_GRID.index(choice.threshold)
    # the highest threshold at which each held-out take is still detected: the weakest one caps the rise
    reach = [max((t for t, h in zip(THRESHOLD_GRID, hit[:, k]) if h), default=0.0) for k in range(hit.shape[1])]
    weakest = int(np.argmin(reach)) if reach else None
    return {"choice": choice, "frr": frr[i], "fa_count": fa[i], "hours": hours,
            "weakest_take": (held.index.events[weakest].path, reach[weakest]) if weakest is not None else None}


def _read(path):
    from .data import read_audio

    return read_audio(path, AUG_RATE_HZ)


def fit_heads(keras, X, y, pool: MiningPool, mean, std, seed: int, epochs: int, finetune: int, rounds: int, per_round: int):
    """A dense and a conv head on normalised windows, each mining the bank's part A; their logits averaged."""
    Xn = ((X - mean) / std).astype(np.float32)
    heads, losses = [], {}
    for i, kind in enumerate(("dense", "conv")):
        head_seed = seed + 100 * i
        keras.utils.set_random_seed(head_seed)
        head = build_head(Xn.shape[1:], kind, kind)
        losses[kind] = {"stage1": fit(keras, head, Xn, y, epochs, 1e-3, head_seed, from_logits=True)}
        Xh, yh = Xn, y
        for r in range(rounds):
            W, summary = pool.mine(keras_predictor(head, multiclass=False, from_logits=True), mean, std, per_round, [0])
            if len(W):
                Xh, yh = np.concatenate((Xh, W)), np.concatenate((yh, np.zeros(len(W), np.float32)))
            losses[kind][f"finetune{r + 1}"] = fit(keras, head, Xh, yh, finetune, 3e-4, head_seed + r + 1, from_logits=True)
        heads.append(head)
    return average_logits(heads, "embeddings", "custom_head"), losses


def train_custom(args, keyword: str, takes, command: str) -> Path:
    """The whole of `wakeword-train custom` after the takes are read; returns the .tflite path."""
    started = time.monotonic()
    scale = c.TINY_SCALE if args.tiny else 1.0
    featurizer = EmbeddingFeaturizer(_params())
    params = featurizer.params
    train_takes, held_takes = c.split_takes(takes, args.seed)
    print(f"{len(takes)} takes: {len(train_takes)} to train on, {len(held_takes)} held out", flush=True)
    positives = [Clip(t.path, keyword, t.speaker, "takes", KIND_KEYWORD) for t in train_takes]
    background = c.audio_clips(args.background, "_speech_", KIND_SPEECH, "--background", min_s=1.0)
    false = c.audio_clips(Path(args.false_accepts) / "false", c.FALSE_ACCEPT_LABEL, KIND_COMMAND, "--false-accepts") \
        if args.false_accepts else []
    tts_pos, near = [], []
    if args.tts:
        engines = tuple(e.strip() for e in args.tts_engines.split(",") if e.strip())
        tts_pos, near = c.synthetic_clips(args.phrase, keyword, args.seed, args.tts_cache, engines)
        print(f"text-to-speech: {len(tts_pos)} voices saying the phrase, {len(near)} near-misses", flush=True)
    others = near + false
    bank = load_bank(args.bank or SHIPPED_BANK)
    cut = int(len(bank.embeddings) * (1 - c.BANK_HELD_OUT_SHARE))
    bank_train = bank.embeddings[:cut]
    bank_held = bank.embeddings[cut:]
    pool_windows = np.lib.stride_tricks.sliding_window_view(bank_train, params.window_frames, axis=0).transpose(0, 2, 1)
    rng = np.random.default_rng([args.seed, 17])
    n_bank = min(int(c.BANK_NEGATIVES * scale) + 8, len(pool_windows))
    X_bank = np.ascontiguousarray(pool_windows[np.sort(rng.choice(len(pool_windows), n_bank, replace=False))])

    n_pos, n_neg = max(8, int(c.POSITIVE_WINDOWS * scale)), max(8, int(c.NEGATIVE_WINDOWS * scale))
    X, y = c.make_windows(positives + others + background, keyword, featurizer, n_pos, n_neg, args.seed, args.workers,
                          bool(background), bool(others))
    feature_s = time.monotonic() - started
    trials = trial_set(held_takes, args.seed)
    _, keras = configure_tensorflow(args.seed, args.threads)
    epochs = (1, 1, 1) if args.tiny else (c.EPOCHS, c.FINETUNE_EPOCHS, c.MINING_ROUNDS)
    results = {}

    def variants():
        yield "takes", X, y
        if not tts_pos:
            return
        if results["takes"][4]["frr"] == 0.0:
            # a tie keeps the simpler model, so the voices could not be kept: skip their windows and fit
            print("  takes+tts: not fitted (the takes alone miss no held-out take; a tie keeps the simpler model)",
                  flush=True)
            return
        Xt, yt = c.make_windows(tts_pos + others + background, keyword, featurizer, max(8, int(c.TTS_WINDOWS * scale)), 0,
                                args.seed + 1, args.workers, bool(background), bool(others))
        yield "takes+tts", np.concatenate((X, Xt)), np.concatenate((y, yt))

    for name, Xv, yv in variants():
        X_all = np.concatenate((Xv, X_bank))
        t_all = np.concatenate(((yv == 0).astype(np.float32), np.zeros(len(X_bank), np.float32)))
        flat = X_all.reshape(-1, params.feature_dim).astype(np.float64)
        mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
        model, losses = fit_heads(keras, X_all, t_all, MiningPool(pool_windows), mean, std, args.seed, *epochs,
                                  max(16, int(c.MINED_PER_ROUND * scale)))
        verdict = judge(model, keyword, params, mean, std, trials, bank_held, background)
        results[name] = (model, mean, std, losses, verdict)
        print(f"  {name}: held-out FRR {100 * verdict['frr']:.0f} % at threshold {verdict['choice'].threshold:.5f} "
              f"({verdict['fa_count']} false accepts in {verdict['hours']:.2f} h)", flush=True)
    # the synthetic voices stay only if they miss fewer held-out takes (a tie keeps the simpler model)
    best = min(results, key=lambda k: (results[k][4]["frr"], k != "takes"))
    model, mean, std, losses, verdict = results[best]
    if verdict["choice"].threshold < LOW_THRESHOLD and verdict["weakest_take"]:
        path, reach = verdict["weakest_take"]
        log.warning("the threshold is only %.3f: held-out take %s scores no higher than %.3f, and the threshold may rise "
                    "only while every held-out take is still detected. Listen to it (re-record it if it is poor), or "
                    "measure the model with `wakeword-train report --negatives DIR` and set the threshold it gives",
                    verdict["choice"].threshold, path, reach)
    from .export import to_tflite, write_model

    tflite = to_tflite(model, (params.window_frames, params.feature_dim), None)
    record = {
        "keyword": keyword, "phrase": args.phrase, "command": command, "arch": "embedding_head_custom",
        "takes": {"used": len(takes), "trained": len(train_takes), "held_out": len(held_takes),
                  "speakers": len({t.speaker for t in takes})},
        "negatives": {"bank": bank.info.get("command"), "bank_windows": int(n_bank), "near_misses": len(near),
                      "false_accepts": len(false), "background_files": len(background)},
        "tts": {"tried": bool(tts_pos), "voices": len(tts_pos), "kept": best == "takes+tts",
                "fitted": sorted(results), "held_out_frr": {k: v[4]["frr"] for k, v in results.items()}},
        "figures": {"threshold": {**verdict["choice"].to_dict(), "value": verdict["choice"].threshold},
                    "held_out_frr": verdict["frr"], "params": int(model.count_params()), "macs_per_window": macs_per_window(model),
                    "losses": losses, "feature_s": round(feature_s, 1), "total_s": round(time.monotonic() - started, 1)},
        "attribution": bank.info.get("attribution", ""),
    }
    out = Path(args.out).with_suffix("")
    path, _ = write_model(tflite, out, (keyword,), params, mean, std, (params.window_frames, params.feature_dim), "float32",
                          {keyword: verdict["choice"].threshold}, TRIGGER, record, keyword, output_activation="logit")
    return path


def _params():
    from ..frontends.embedding import EmbeddingParams

    return EmbeddingParams()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--phrase", required=True, help="the wake phrase, as the takes say it")
    p.add_argument("--positives", type=Path, required=True, help=f"folder of WAV/FLAC takes of the phrase (at least {MIN_TAKES})")
    p.add_argument("--out", type=Path, required=True, help="the model to write (PATH.tflite and PATH.json)")
    p.add_argument("--background", type=Path, default=None, help="recordings of the room and of other talk, as negatives")
    p.add_argument("--false-accepts", type=Path, default=None, help="a capture folder whose false/ holds false activations")
    p.add_argument("--bank", type=Path, default=None, help="negative bank (default: the shipped one)")
    p.add_argument("--tts", action=argparse.BooleanOptionalAction, default=True,
                   help="try synthetic voices saying the phrase (kept only if they help on held-out takes)")
    p.add_argument("--tts-engines", default=",".join(DEFAULT_ENGINES),
                   help="engines to try (default %(default)s; add piper for PyPI's piper-tts voice, whose output "
                        "is random, so a model trained with it cannot be reproduced byte for byte)")
    p.add_argument("--tts-cache", type=Path, default=None, help="TTS wav cache (default ~/.cache/wakeword-tts)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tiny", action="store_true", help="a smoke run: few windows, one epoch")
    p.add_argument("--force", action="store_true", help="replace an existing --out model")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        keyword = c.phrase_keyword(args.phrase)
        out = Path(args.out).with_suffix(".tflite")
        if out.exists() and not args.force:
            raise ConfigError(f"--out {out} exists; pass --force to replace it")
        takes, rejected = load_takes(args.positives)
        for line in rejected:
            print(f"  skipped {line}", flush=True)
        command = f"{PROG} " + " ".join(shlex.quote(a) for a in argv)
        path = train_custom(args, keyword, takes, command)
    except (WakewordError, FileNotFoundError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} and {path.with_suffix('.json')} in {time.monotonic() - started:.0f} s")
    return 0
