"""The MFCC trainer: a small CNN on MFCC windows, exported as an int8 TFLite model with its sidecar.

    wakeword-train --data ../shared/data --arch ours --folds 5 --out runs/cv/ours     # the recipe, cross-validated
    wakeword-train --data ../shared/data --arch ours --out runs/ours                  # one model, provisional threshold
    wakeword-train --keyword stop --classes go,up,down,... --folds 5 --out runs/cv/mc # p(stop) of a multi-class net
    wakeword-train --keyword yes,no,up,... --folds 5 --out runs/cv/commands           # several keywords
    wakeword-train --tiny --out /tmp/tiny                                              # a smoke run

See runner.py for the steps around fitting. Here: the network (one sigmoid, or a softmax over the
classes plus unknown speech and background), SpecAugment-style masks, the first stage, rounds of
hard-negative mining and fine-tuning, and the int8 export (logit outputs; the runtime applies the
sigmoid or softmax in float). Same data and seed give the same bytes.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from pathlib import Path

import numpy as np

from ..settings import TriggerSettings
from ..sidecar import ModelSpec
from .common import add_classes_argument, add_data_arguments, add_tts_arguments, configure_tensorflow
from .crossval import DEFAULT_EVAL_HOURS
from .examples import UNKNOWN_LABEL
from .featureset import NEGATIVE, MfccFeaturizer, normalisation
from .fitting import fit, keras_predictor
from .models import ARCHITECTURES, ensemble_models, logit_model, macs_per_window
from .runner import keywords_and_labels, main_with

log = logging.getLogger(__name__)

PROG = "wakeword-train"
HOP_S = 0.1
#: SpecAugment-style masks per architecture: (widest time mask in frames, widest band in coefficients).
MASKS = {"ours": (8, 4), "ours_cmn": (8, 4), "baseline": (3, 3)}
#: Of a multi-class bank, the share of the windows that are each keyword, unknown speech and background.
MULTICLASS_SHARES = {"keyword": 0.55, UNKNOWN_LABEL: 0.35, "background": 0.10}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add_data_arguments(p)
    add_classes_argument(p)
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default="ours")
    p.add_argument("--out", type=Path, required=True,
                   help="output prefix (PREFIX.tflite and PREFIX.json), or with --folds the run folder")
    p.add_argument("--seed", type=int, default=0, help="seed of augmentation, initialisation and shuffling")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the first stage (default 12, tiny 1)")
    p.add_argument("--finetune-epochs", type=int, default=None, help="epochs after each mining round (default 5, tiny 1)")
    p.add_argument("--mining-rounds", type=int, default=None, help="hard-negative mining rounds (default 3, tiny 1)")
    p.add_argument("--mining-hours", type=float, default=None, help="hours of training-audio negative stream to mine (default 3)")
    p.add_argument("--positives", type=int, default=None, help="keyword windows over all banks (default 20000)")
    p.add_argument("--negatives", type=int, default=None, help="negative windows over all banks (default 90000)")
    p.add_argument("--width", type=int, default=None, help="channels of ours' convolutions (default 64)")
    p.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="train K networks (seeds SEED, SEED+1000, ...) and export the mean of their logits (default %(default)s)")
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=True,
                   help="mask random frame spans and coefficient bands afresh each epoch")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="binary cross-entropy label smoothing")
    add_tts_arguments(p, default_on=False)
    return p.parse_args(argv)


def resolve_sizes(args) -> dict:
    """Run sizes: full defaults, or the --tiny smoke-test sizes; explicit flags win."""
    tiny = args.tiny
    defaults = dict(epochs=1 if tiny else 12, finetune_epochs=1 if tiny else 5, mining_rounds=1 if tiny else 3,
                    mining_hours=0.01 if tiny else 3.0, positives=32 if tiny else 20000, negatives=96 if tiny else 90000,
                    eval_hours=0.02 if tiny else DEFAULT_EVAL_HOURS)
    return {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in defaults.items()}


class MfccTrainer:
    """runner.Trainer for the MFCC networks."""

    name = "mfcc"
    hop_s = HOP_S

    def __init__(self, args, sizes: dict):
        self.args, self.sizes = args, sizes
        self.arch = ARCHITECTURES[args.arch]
        self.params = self.arch.params
        self.featurizer = MfccFeaturizer(self.params)
        self.keywords, self.labels, self.train_labels = keywords_and_labels(args, args.classes)
        self.multiclass = self.labels[-1] != NEGATIVE

    def bank_plan(self, n_banks: int) -> dict:
        pos, neg = self.sizes["positives"], self.sizes["negatives"]
        if not self.multiclass:
            plan = {self.keywords[0]: -(-pos // n_banks), NEGATIVE: -(-neg // n_banks)}
        else:
            words = self.labels[:-2]
            total = (pos + neg) / n_banks
            per_word = int(total * MULTICLASS_SHARES["keyword"] / len(words))
            plan = {**{w: per_word for w in words}, self.labels[-2]: int(total * MULTICLASS_SHARES[UNKNOWN_LABEL]),
                    self.labels[-1]: int(total * MULTICLASS_SHARES["background"])}
        return plan

    def bank_variants(self, settings, n_banks: int) -> list:
        return [("main", self.bank_plan(n_banks), settings)]

    def spec_template(self, mean=None, std=None, thresholds=None, trigger=None) -> ModelSpec:
        dim = self.params.feature_dim
        return ModelSpec(model_file="", keywords=self.keywords, thresholds=thresholds or dict.fromkeys(self.keywords, 0.5),
                         frontend=self.params, mean=tuple(mean if mean is not None else [0.0] * dim),
                         std=tuple(std if std is not None else [1.0] * dim), input_shape=(1, *self.arch.input_shape),
                         input_dtype="float32", trigger=trigger or TriggerSettings(hop_s=HOP_S),
                         labels=self.labels if self.multiclass else self.keywords)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        return y.astype(np.int64) if self.multiclass else (y == 0).astype(np.float32)

    def fit_and_export(self, X, y, pools, seed: int, out_prefix: Path, thresholds: dict,
                       trigger: TriggerSettings, record: dict) -> Path:
        from .export import representative_windows, to_tflite, write_model

        args, sizes, arch = self.args, self.sizes, self.arch
        mean, std = normalisation(X)
        Xn = ((X - mean) / std).astype(np.float32).reshape((len(X), *arch.input_shape))
        t = self._targets(y)
        n_out = len(self.labels) if self.multiclass else 1
        columns = [self.labels.index(k) for k in self.keywords] if self.multiclass else [0]
        mined_label = self.labels.index(UNKNOWN_LABEL) if self.multiclass else 0.0
        masks = MASKS[arch.name] if args.spec_augment else None
        _, keras = configure_tensorflow(seed, args.threads)
        started = time.monotonic()
        members, losses, mining = [], {}, []
        for j in range(args.ensemble):
            member_seed = seed + 1000 * j
            if j:
                keras.utils.set_random_seed(member_seed)
            kw = {"width": args.width} if args.width else {}
            member = arch.build(arch.input_shape, n_outputs=n_out, **kw)
            prefix = f"member{j}_" if args.ensemble > 1 else ""
            print(f"model {arch.name}: {member.count_params()} parameters", flush=True)
            losses[prefix + "stage1"] = fit(keras, member, Xn, t, sizes["epochs"], 2e-3, member_seed, self.multiclass,
                                            masks=masks, label_smoothing=args.label_smoothing)
            predict = keras_predictor(member, self.multiclass, from_logits=False)
            Xj, tj = Xn, t
            for r in range(sizes["mining_rounds"]):
                W, summary = pools(r).mine(lambda x: predict(x.reshape((len(x), *arch.input_shape))), mean, std,
                                       max(8, sizes["negatives"] // 6), columns)
                print(f"  mining round {r + 1}: {summary}", flush=True)
                mining.append(summary)
                if len(W):
                    Xj = np.concatenate((Xj, W.reshape((len(W), *arch.input_shape))))
                    tj = np.concatenate((tj, np.full(len(W), mined_label, dtype=tj.dtype)))
                losses[f"{prefix}finetune{r + 1}"] = fit(keras, member, Xj, tj, sizes["finetune_epochs"], 5e-4,
                                                         member_seed + r + 1, self.multiclass, masks=masks,
                                                         label_smoothing=args.label_smoothing)
            members.append(member)
        exported = logit_model(members[0]) if len(members) == 1 else ensemble_models(members)[1]
        train_s = time.monotonic() - started
        positive = np.isin(y, [self.labels.index(k) for k in self.keywords]) if self.multiclass else (y == 0)
        rep = representative_windows(Xn, positive, np.random.default_rng([seed, 31]))
        int8_bytes = to_tflite(exported, arch.input_shape, rep)
        record["arch"] = arch.name
        record["settings"].update(width=args.width, ensemble=args.ensemble, spec_augment_masks=list(masks) if masks else None,
                                  label_smoothing=args.label_smoothing, labels=list(self.labels), multiclass=self.multiclass)
        record["figures"].update(params=int(sum(m.count_params() for m in members)), training_s=round(train_s, 1),
                                 losses=losses, mining=mining, macs_per_window=int(sum(macs_per_window(m) for m in members)),
                                 size_bytes=len(int8_bytes))
        model_path, _ = write_model(int8_bytes, out_prefix, self.keywords, self.params, mean, std, arch.input_shape, "int8",
                                    thresholds, trigger, record, Path(out_prefix).name,
                                    output_activation="softmax_logit" if self.multiclass else "logit",
                                    labels=self.labels if self.multiclass else ())
        record["figures"]["runtime_cost"] = ms_per_window(model_path, arch)
        print(f"wrote {model_path} ({len(int8_bytes)} bytes) after {train_s:.0f} s of training", flush=True)
        return model_path


def ms_per_window(model_path: Path, arch, n: int = 2000) -> dict:
    """Runtime (TfliteModel, 1 thread) cost per window: batched like a file, and one at a time like live."""
    from ..model import load_model

    model = load_model(model_path)
    X = np.random.default_rng(0).standard_normal((n, *arch.input_shape)).astype(np.float32)
    model.predict(X[:10])
    t0 = time.perf_counter()
    model.predict(X)
    batched = (time.perf_counter() - t0) / n * 1000
    model.predict(X[:1])
    t0 = time.perf_counter()
    for i in range(200):
        model.predict(X[i : i + 1])
    single = (time.perf_counter() - t0) / 200 * 1000
    return {"batched_ms": round(batched, 4), "single_ms": round(single, 4), "backend": model.backend,
            "cpu": platform.processor() or platform.machine()}


def main(argv=None) -> int:
    return main_with(PROG, argv, parse_args, resolve_sizes, MfccTrainer, {"--ensemble": ("ensemble", 1)})
