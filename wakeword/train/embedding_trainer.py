"""The speech-embedding trainer: small heads on frozen speech embeddings (the `speech_embedding` front end).

    wakeword-train --frontend speech_embedding --data ../shared/data --folds 5 --out runs/cv/emb
    wakeword-train --frontend speech_embedding --tiny --out /tmp/tiny-embedding     # a smoke run

The head reads `window_frames` (16) embeddings of 96 values, about 2 s of audio, so every training
window is 2 s (32352 samples: exactly 16 embeddings) made by the same augmentation as the MFCC
trainer. See runner.py for the steps around fitting. Here: the heads (a dense and a conv head,
each trained `--head-seeds` times, their logits averaged into one graph), extra always-noisy
windows, plain negatives drawn from the mining stream, rounds of hard-negative mining, and a
float32 TFLite export with a logit output. The two feature models are not trained and not part
of the exported file: the runtime loads them from the openwakeword package ([embedding] extra).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..frontends.embedding import EmbeddingParams, installed_openwakeword_version
from ..settings import TriggerSettings
from ..sidecar import ModelSpec
from .common import add_classes_argument, add_data_arguments, add_tts_arguments, configure_tensorflow
from .crossval import DEFAULT_EVAL_HOURS
from .examples import UNKNOWN_LABEL
from .featureset import NEGATIVE, EmbeddingFeaturizer
from .fitting import fit, keras_predictor
from .models import HEADS, average_logits, build_head, macs_per_window
from .runner import keywords_and_labels, main_with

log = logging.getLogger(__name__)

PROG = "wakeword-train --frontend speech_embedding"
#: One window per embedding: the daemon scores every 80 ms.
HOP_S = 0.08
HEAD_CHOICES = (*HEADS, "ensemble")
#: "ensemble": these heads trained separately (each mines its own hard negatives), their logits
#: averaged in one exported graph. Their mistakes differ enough that the average has fewer
#: confident false accepts than either.
ENSEMBLE_HEADS = ("dense", "conv")
#: --noisy-windows: SNR range of the extra windows, dB. The general augmentation draws 0-35 dB and
#: adds noise 85 % of the time, so only about a quarter of the keywords are at 10 dB or worse.
NOISY_SNR_DB_RANGE = (-5.0, 15.0)
#: With --classes, how a bank's negative windows divide between the other classes' words (all
#: together), unknown speech and background; the keyword keeps its --positives windows, so the
#: head sees as many "stop"s as the binary one, and the command words become classes of their own
#: instead of a share of the negatives.
CLASS_NEGATIVE_SHARES = {"words": 0.45, UNKNOWN_LABEL: 0.40, "background": 0.15}
FEATURE_NOTE = ("feature models: openwakeword 0.5.0 resources melspectrogram.tflite + embedding_model.tflite "
                "(Google speech_embedding, arXiv:2002.01322, Apache-2.0)")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_data_arguments(p)
    p.add_argument("--out", type=Path, required=True,
                   help="output prefix (PREFIX.tflite and PREFIX.json), or with --folds the run folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--positives", type=int, default=None, help="augmented keyword windows over all banks (default 6000)")
    p.add_argument("--negatives", type=int, default=None, help="augmented negative windows over all banks (default 12000)")
    p.add_argument("--noisy-windows", type=int, default=None,
                   help="extra windows (half keyword) with a noise bed always on at NOISY_SNR_DB_RANGE (default 6000)")
    p.add_argument("--mining-hours", type=float, default=None, help="hours of training-audio negative stream (default 3)")
    p.add_argument("--stream-negatives", type=int, default=None, help="random stream windows used as plain negatives (default 40000)")
    p.add_argument("--epochs", type=int, default=None, help="first-stage epochs (default 30)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="epochs after each mining round (default 10)")
    p.add_argument("--mining-rounds", type=int, default=None, help="hard-negative mining rounds (default 3)")
    p.add_argument("--mined-per-round", type=int, default=None, help="mined windows added per round (default negatives/2)")
    p.add_argument("--pos-weight", type=float, default=1.0, help="loss weight of keyword windows (default %(default)s)")
    p.add_argument("--head", choices=HEAD_CHOICES, default="ensemble", help="head architecture (default %(default)s)")
    add_classes_argument(p)
    p.add_argument("--head-seeds", type=int, default=2, metavar="K",
                   help="train each head K times with different seeds and average all their logits (default %(default)s)")
    add_tts_arguments(p, default_on=True)
    return p.parse_args(argv)


def resolve_sizes(args) -> dict:
    tiny = args.tiny
    defaults = dict(positives=16 if tiny else 6000, negatives=32 if tiny else 12000, noisy_windows=0 if tiny else 6000,
                    mining_hours=0.01 if tiny else 3.0, stream_negatives=64 if tiny else 40000,
                    epochs=1 if tiny else 30, finetune_epochs=1 if tiny else 10, mining_rounds=1 if tiny else 3,
                    mined_per_round=None, eval_hours=0.02 if tiny else DEFAULT_EVAL_HOURS)
    sizes = {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in defaults.items()}
    if sizes["mined_per_round"] is None:
        sizes["mined_per_round"] = max(16, sizes["negatives"] // 2)
    return sizes


def head_plan(head: str, head_seeds: int, seed: int) -> list[tuple[str, str, int]]:
    """(name, kind, seed) of every head to train. Repeat j of a kind gets seed + 1000 j, so that
    --head-seeds 1 trains the heads it always did (dense seed+0, conv seed+100)."""
    if head_seeds < 1:
        raise ValueError(f"--head-seeds must be at least 1, not {head_seeds}")
    kinds = ENSEMBLE_HEADS if head == "ensemble" else (head,)
    return [(kind if j == 0 else f"{kind}_{j}", kind, seed + 100 * i + 1000 * j)
            for j in range(head_seeds) for i, kind in enumerate(kinds)]


class EmbeddingTrainer:
    """runner.Trainer for heads on the speech embedding."""

    name = "speech_embedding"
    hop_s = HOP_S

    def __init__(self, args, sizes: dict):
        self.args, self.sizes = args, sizes
        self.params = EmbeddingParams()
        self.featurizer = EmbeddingFeaturizer(self.params)
        self.keywords, self.labels, self.train_labels = keywords_and_labels(args, getattr(args, "classes", None))
        if len(self.keywords) != 1:
            raise ValueError("the embedding trainer trains one keyword")
        self.multiclass = self.labels[-1] != NEGATIVE

    def bank_plan(self, positives: int, negatives: int) -> dict:
        """{label: windows} of one bank, in label order: the keyword and NEGATIVE, or with
        --classes the keyword, each other word, unknown speech and background."""
        kw = self.keywords[0]
        if not self.multiclass:
            return {kw: positives, NEGATIVE: negatives}
        words = self.labels[1:-2]
        per_word = int(negatives * CLASS_NEGATIVE_SHARES["words"] / len(words)) if words else 0
        return {kw: positives, **{w: per_word for w in words},
                self.labels[-2]: int(negatives * CLASS_NEGATIVE_SHARES[UNKNOWN_LABEL]),
                self.labels[-1]: int(negatives * CLASS_NEGATIVE_SHARES["background"])}

    def bank_variants(self, settings, n_banks: int) -> list:
        n = self.sizes["noisy_windows"]
        banks = [("main", self.bank_plan(-(-self.sizes["positives"] // n_banks), -(-self.sizes["negatives"] // n_banks)), settings)]
        if n:
            noisy = replace(settings, snr_db_range=NOISY_SNR_DB_RANGE, p_noise=1.0)
            per = -(-n // n_banks)
            banks.append(("noisy", self.bank_plan(per // 2, per - per // 2), noisy))
        return banks

    def spec_template(self, mean=None, std=None, thresholds=None, trigger=None) -> ModelSpec:
        p = self.params
        return ModelSpec(model_file="", keywords=self.keywords, thresholds=thresholds or dict.fromkeys(self.keywords, 0.5),
                         frontend=p, mean=tuple(mean if mean is not None else [0.0] * p.feature_dim),
                         std=tuple(std if std is not None else [1.0] * p.feature_dim),
                         input_shape=(1, p.window_frames, p.feature_dim), input_dtype="float32",
                         trigger=trigger or TriggerSettings(hop_s=HOP_S),
                         labels=self.labels if self.multiclass else self.keywords,
                         output_activation="softmax_logit" if self.multiclass else "logit")

    def fit_and_export(self, X, y, pools, seed: int, out_prefix: Path, thresholds: dict,
                       trigger: TriggerSettings, record: dict) -> Path:
        from .export import to_tflite, write_model

        args, sizes = self.args, self.sizes
        rng = np.random.default_rng([seed, 17])
        stream = pools(0).windows
        n_plain = min(sizes["stream_negatives"], len(stream))
        plain = stream[np.sort(rng.choice(len(stream), size=n_plain, replace=False))] if n_plain else X[:0]
        del stream
        X_all = np.concatenate((X, plain))
        multiclass = self.multiclass
        # targets: 1/0 for the keyword (label 0), or with --classes the class index; the plain and
        # the mined stream windows are other speech and noise (NEGATIVE, or unknown speech)
        other = self.labels.index(UNKNOWN_LABEL) if multiclass else 0.0
        dtype = np.int64 if multiclass else np.float32
        t = np.concatenate((y.astype(np.int64) if multiclass else (y == 0).astype(np.float32),
                            np.full(len(plain), other, dtype)))
        n_out = len(self.labels) if multiclass else 1

        def is_keyword(targets):
            return targets == 0 if multiclass else targets > 0.5
        flat = X_all.reshape(-1, self.params.feature_dim).astype(np.float64)
        mean, std = flat.mean(axis=0), np.maximum(flat.std(axis=0), 1e-3)
        del flat
        Xn = ((X_all - mean) / std).astype(np.float32)
        _, keras = configure_tensorflow(seed, args.threads)
        started = time.monotonic()
        heads, losses, mining, state = [], {}, {}, []
        for key, kind, head_seed in head_plan(args.head, args.head_seeds, seed):
            keras.utils.set_random_seed(head_seed)
            head = build_head(Xn.shape[1:], kind, key, n_outputs=n_out)
            weights = np.where(is_keyword(t), args.pos_weight, 1.0).astype(np.float32)
            losses[key] = {"stage1": fit(keras, head, Xn, t, sizes["epochs"], 1e-3, head_seed, multiclass, from_logits=True,
                                         sample_weight=weights)}
            mining[key] = []
            heads.append(head)
            state.append([key, head_seed, head, Xn, t])
        for r in range(sizes["mining_rounds"]):
            pool = pools(r)  # round r's stream, captured once for every head
            for entry in state:
                key, head_seed, head, Xh, th = entry
                # each head mines its own hard negatives
                W, summary = pools(r).mine(keras_predictor(head, multiclass=multiclass, from_logits=True), mean, std,
                                           sizes["mined_per_round"], [0])
                print(f"  {key} mining round {r + 1}: {summary} of {len(pool.windows)}", flush=True)
                mining[key].append(summary)
                if len(W):
                    Xh, th = np.concatenate((Xh, W)), np.concatenate((th, np.full(len(W), other, dtype)))
                weights = np.where(is_keyword(th), args.pos_weight, 1.0).astype(np.float32)
                losses[key][f"finetune{r + 1}"] = fit(keras, head, Xh, th, sizes["finetune_epochs"], 3e-4, head_seed + r + 1,
                                                      multiclass, from_logits=True, sample_weight=weights)
                entry[3], entry[4] = Xh, th
        model = heads[0] if len(heads) == 1 else average_logits(heads, "embeddings", "embedding_head_ensemble")
        train_s = time.monotonic() - started
        tflite_bytes = to_tflite(model, (self.params.window_frames, self.params.feature_dim), None)
        record["arch"] = f"embedding_head_{args.head}"
        record["frontend"] = {"openwakeword_installed": installed_openwakeword_version(), "note": FEATURE_NOTE}
        record["settings"].update(head=args.head, head_seeds=args.head_seeds, pos_weight=args.pos_weight,
                                  stream_negatives=int(n_plain), labels=list(self.labels), multiclass=multiclass)
        record["figures"].update(params=int(model.count_params()), training_s=round(train_s, 1), losses=losses,
                                 mining=mining, macs_per_window=macs_per_window(model), size_bytes=len(tflite_bytes))
        model_path, _ = write_model(tflite_bytes, out_prefix, self.keywords, self.params, mean, std,
                                    (self.params.window_frames, self.params.feature_dim), "float32", thresholds,
                                    trigger, record, Path(out_prefix).name,
                                    output_activation="softmax_logit" if multiclass else "logit",
                                    labels=self.labels if multiclass else ())
        print(f"wrote {model_path} ({len(tflite_bytes)} bytes) after {train_s:.0f} s of training", flush=True)
        return model_path


def main(argv=None) -> int:
    return main_with(PROG, argv, parse_args, resolve_sizes, EmbeddingTrainer, {"--head-seeds": ("head_seeds", 1)})
