"""What every trainer does around fitting: the data, the banks, the folds, the cross-validation and
the final model.

    corpus -> FoldPlan (speakers in K folds, noise classes in K groups)
           -> one bank of augmented feature windows per fold (cached)
           -> fold k: fit on the other banks, mine hard negatives from a stream of the other folds'
              audio, export runs/.../fold<k>.tflite
           -> crossval.cross_validate: every fold model scored on its own fold, pooled
           -> final: fit on every bank, with the trigger settings and threshold chosen on the
              pooled out-of-fold scores; cv.json beside it

A trainer (mfcc_trainer.MfccTrainer, embedding_trainer.EmbeddingTrainer) supplies the front end,
the bank plan and `fit_and_export`. Without --folds one model is trained on every speaker with a
provisional threshold.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import numpy as np

from ..settings import TriggerSettings
from . import data as datamod
from .common import FoldPlan, keywords_of
from .evalsets import NEGATIVE_KINDS, AudioCache, NegativeStream
from .examples import AudioStore, make_rooms
from .featureset import WINDOW_CODE, bank_seed, build_bank, cache_key, cached, code_fingerprint
from .fitting import MiningPool, capture_windows

log = logging.getLogger(__name__)

#: Threshold written when no cross-validation chose one (a run without --folds, or --tiny).
PROVISIONAL_THRESHOLD = 0.5
CV_RESULTS = "cv.json"
ATTRIBUTION = (
    "Speech Commands (Warden 2018, CC BY 4.0); LibriSpeech (Panayotov et al. 2015, CC BY 4.0); "
    "Mycroft Precise community data (public-domain waivers); ros_speech_commands_classification (felixchenfy, MIT); "
    "ESC-10 (Piczak 2015; clips CC0 1.0 / CC BY 3.0, authors in the data's noise/LICENCES.csv); "
    "music by Kevin MacLeod, Karissa Hobbs and Mihai Sorohan (public domain / CC BY 3.0)"
)


class Trainer(Protocol):
    """One front end's training. labels: the bank's class labels (plan order); keywords: the
    labels the exported model triggers on; train_labels: labels load_corpus marks as "keyword"."""

    name: str
    params: object
    featurizer: object
    labels: tuple
    keywords: tuple
    train_labels: tuple
    hop_s: float
    # bank_variants(settings, n_banks) -> [(name, {label: windows per bank}, AugmentSettings)]

    def bank_variants(self, settings, n_banks: int) -> list: ...

    def spec_template(self): ...

    def fit_and_export(self, X: np.ndarray, y: np.ndarray, pools: "MiningPools", seed: int, out_prefix: Path,
                       thresholds: dict, trigger: TriggerSettings, record: dict) -> Path: ...


def _tts_clips(args, keywords, n_banks: int) -> list[list]:
    """Synthetic voices (training only), dealt to banks by voice."""
    banks = [[] for _ in range(n_banks)]
    if not getattr(args, "tts", False):
        return banks
    from .tts import DEFAULT_CACHE_DIR, tts_clips

    clips = []
    engines = tuple(e.strip() for e in args.tts_engines.split(",") if e.strip())
    for kw in keywords:
        clips += tts_clips(kw, seed=args.seed, cache_dir=args.tts_cache or DEFAULT_CACHE_DIR, n_espeak=6 if args.tiny else 120,
                           engines=engines)
    if args.tiny:
        clips = clips[:8]
    for c in clips:
        banks[int(hashlib.sha1(c.speaker.encode()).hexdigest()[:8], 16) % n_banks].append(c)
    return banks


def _false_accept_clips(args, n_banks: int) -> list[list]:
    """The user's captured false activations (capture.dir/false), training only, dealt to banks
    in turn: extra negatives for every model, never scored (they are not the corpus's)."""
    banks = [[] for _ in range(n_banks)]
    if getattr(args, "false_accepts", None) is None:
        return banks
    from .custom_data import FALSE_ACCEPT_LABEL, audio_clips

    clips = audio_clips(Path(args.false_accepts) / "false", FALSE_ACCEPT_LABEL, datamod.KIND_COMMAND, "--false-accepts")
    for i, c in enumerate(clips):
        banks[i % n_banks].append(c)
    print(f"false accepts: {len(clips)} captured clip(s) from {args.false_accepts}/false as negatives", flush=True)
    return banks


class MiningPools:
    """pools(round) -> a MiningPool over a fresh remixed negative stream of the training folds'
    audio for each mining round, its windows cut by the daemon's detector; each round's windows
    are captured once (a second call for the same round shares them, with its own bookkeeping)."""

    def __init__(self, trainer: Trainer, plan: FoldPlan, folds: list[int], hours: float, seed: int, cache: AudioCache):
        self.trainer, self.hours, self.seed = trainer, hours, seed
        self.clips = [c for c in plan.speech(folds) if c.kind in NEGATIVE_KINDS]
        self.noises = [(datamod.noise_class(c) + ":" + c.path.stem, cache.get(c.path)) for c in plan.noises(folds)]
        self.cache = cache
        self._windows: dict[int, np.ndarray] = {}

    def __call__(self, round_index: int) -> MiningPool:
        if round_index not in self._windows:
            self._windows.clear()  # one round's windows at a time: they are hundreds of MB
            stream = NegativeStream(self.clips, self.noises, self.hours, self.seed * 100 + round_index, self.cache, name="mining")
            started = time.monotonic()
            self._windows[round_index] = capture_windows(self.trainer.spec_template(), stream, self.trainer.hop_s)
            print(f"  mining stream {round_index}: {len(self._windows[round_index])} windows of {stream.hours:.2f} h "
                  f"in {time.monotonic() - started:.0f} s", flush=True)
        return MiningPool(self._windows[round_index])


def main_with(prog: str, argv, parse_args, resolve_sizes, make_trainer, minimums: dict[str, tuple[str, int]]) -> int:
    """A trainer's command line: parse, check, print the command, run; bad input is one line and exit 2.
    minimums maps a flag to its attribute on the parsed arguments and its least value
    ({"--ensemble": ("ensemble", 1)}); --folds (at least 2 when given) is checked for every trainer."""
    from ..errors import WakewordError
    from .common import augment_options

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    settings = augment_options(args, prog)
    if settings is None:
        return 2
    for flag, (attr, least) in {**minimums, "--folds": ("folds", 2)}.items():
        value = getattr(args, attr)
        if value is not None and value < least:
            print(f"{prog}: {flag} must be at least {least}, not {value}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command_line = f"{prog} " + " ".join(shlex.quote(a) for a in argv)
    print(f"== {command_line}", flush=True)
    sizes = resolve_sizes(args)
    try:
        return run(make_trainer(args, sizes), args, settings, command_line, sizes)
    except WakewordError as exc:  # bad data or flags found on the way: one line, exit 2
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2


def run(trainer: Trainer, args, settings, command_line: str, sizes: dict) -> int:
    """Train as the arguments say (see the module docstring); 0 on success."""
    started = time.monotonic()
    clips = datamod.load_corpus(args.data, trainer.train_labels)
    # folds balanced on the keywords alone, as the scoring plan below is (not on --classes' words)
    plan = FoldPlan.make(clips, args.folds, args.fold_seed, args.hold_out_source, args.tiny, balance=trainer.keywords)
    n = plan.n_banks
    tts = _tts_clips(args, trainer.keywords, n)
    false = _false_accept_clips(args, n)
    rooms = make_rooms(args.seed)
    cache = AudioCache()
    variants = trainer.bank_variants(settings, n)
    bank_plan = {name: vplan for name, vplan, _ in variants}
    banks = []
    feature_started = time.monotonic()
    window_code = code_fingerprint(WINDOW_CODE)  # a bank made by other window code is made again
    for j in range(n):
        speech = plan.speech([j]) + tts[j] + false[j]
        if args.perturb:
            from .perturb import perturbed_clips

            speech += perturbed_clips(plan.speech([j]), args.perturb, args.seed, Path(args.runs) / "cache" / "perturbed", args.workers)
        noises = plan.noises([j]) if plan.k else plan.noises([0])
        parts, store = [], None
        for v, (variant, vplan, vsettings) in enumerate(variants):
            seed_j = bank_seed(args.seed + v, j)
            key = cache_key(trainer.name, trainer.params.to_dict(), vplan, seed_j, asdict(vsettings),
                            [str(c.path) for c in speech], [str(c.path) for c in noises], window_code)
            path = Path(args.runs) / "cache" / "banks" / f"{trainer.name}-{variant}-{key}.npz"

            def build(speech=speech, noises=noises, vplan=vplan, vsettings=vsettings, seed_j=seed_j, label=f"bank {j + 1}/{n} {variant}"):
                nonlocal store
                store = store or AudioStore(speech, noises)
                print(f"{label}: {store.summary()}", flush=True)
                return build_bank(store, trainer.featurizer, vplan, seed_j, vsettings, rooms, args.workers, label=label)

            parts.append(cached(path, build))
        banks.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    feature_s = time.monotonic() - feature_started
    print(f"banks: {[len(b[1]) for b in banks]} windows in {feature_s:.0f} s", flush=True)

    code = training_code()

    def train(fold, prefix, thresholds, trigger, extra=None):
        use = plan.training_folds(fold)
        X = np.concatenate([banks[j][0] for j in use])
        y = np.concatenate([banks[j][1] for j in use])
        seed = args.seed if fold is None else args.seed + 10007 * (fold + 1)
        pools = MiningPools(trainer, plan, use, sizes["mining_hours"], seed, cache)
        record = {
            "command": command_line,
            "code": code,
            "data": {"root": str(args.data), "plan": plan.record(fold), "windows": {"bank": bank_plan, "trained": int(len(y))},
                     "tts": {"enabled": bool(getattr(args, "tts", False)), "clips": sum(len(t) for t in tts)},
                     "false_accepts": sum(len(f) for f in false),
                     "perturb_variants": int(args.perturb)},
            "settings": {"seed": args.seed, "fold_seed": seed, "sizes": sizes, "augment": asdict(settings)},
            "figures": {"feature_s": round(feature_s, 1)},
            "attribution": ATTRIBUTION,
            **(extra or {}),
        }
        return trainer.fit_and_export(X, y, pools, seed, prefix, thresholds, trigger, record)

    provisional = {kw: PROVISIONAL_THRESHOLD for kw in trainer.keywords}
    default_trigger = TriggerSettings(hop_s=trainer.hop_s)
    if not args.folds:
        path = train(None, args.out, provisional, default_trigger)
        print(f"wrote {path} (threshold {PROVISIONAL_THRESHOLD}: provisional, use --folds to choose it) "
              f"in {time.monotonic() - started:.0f} s")
        return 0
    run_dir = Path(args.out)
    for fold in range(args.folds):
        if _same_recipe(run_dir / f"fold{fold}.json", command_line, plan, fold, code):
            print(f"== fold {fold + 1}/{args.folds}: {run_dir}/fold{fold}.tflite was trained by this recipe; kept", flush=True)
            continue
        print(f"== fold {fold + 1}/{args.folds}", flush=True)
        train(fold, run_dir / f"fold{fold}", provisional, default_trigger)
    from .crossval import cross_validate

    keyword = trainer.keywords[0]
    eval_clips = datamod.load_corpus(args.data, trainer.keywords)
    eval_plan = FoldPlan.make(eval_clips, args.folds, args.fold_seed, args.hold_out_source, args.tiny,
                              balance=trainer.keywords)
    if len(trainer.keywords) > 1:
        return _commands_cv(trainer, args, eval_plan, run_dir, sizes, command_line, train, started)
    results = cross_validate({run_dir.name: run_dir}, eval_plan, keyword, seed=0, hours=sizes["eval_hours"],
                             cache_dir=Path(args.runs) / "eval-cache", extra_sources=args.hold_out_source, all_clips=eval_clips)
    results["command"] = command_line
    entry = results["models"][0]
    (run_dir / CV_RESULTS).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    point = entry["at_chosen"]
    print(f"cross-validated ({args.folds} folds): threshold {entry['threshold_choice']['threshold']:.5f}, trigger "
          f"{entry['trigger']}; FRR " + ", ".join(f"{c} {100 * v:.1f} %" for c, v in point["frr"].items())
          + f"; {point['fa_per_hour']:.2f} FA/h ({point['fa_count']} in {point['hours']:.1f} h)", flush=True)
    if args.final:
        trigger = TriggerSettings(**entry["trigger"])
        thresholds = {kw: float(entry["threshold_choice"]["threshold"]) for kw in trainer.keywords}
        cv_record = {"crossval": {"results": str(run_dir / CV_RESULTS), "threshold_choice": entry["threshold_choice"],
                                  "trigger": entry["trigger"], "at_chosen": {k: point[k] for k in ("frr", "fa_per_hour", "fa_count", "hours")}}}
        path = train(None, run_dir / "final", thresholds, trigger, cv_record)
        print(f"wrote {path}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


def _commands_cv(trainer, args, eval_plan, run_dir: Path, sizes, command_line, train, started) -> int:
    """Several keywords: commands_cv's per-word thresholds and figures, then the final model."""
    from .commands_cv import cross_validate_commands

    results = cross_validate_commands(run_dir, eval_plan, trainer.keywords, seed=0, hours=sizes["eval_hours"],
                                      cache_dir=Path(args.runs) / "eval-cache")
    results["command"] = command_line
    (run_dir / CV_RESULTS).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    a = results["at_chosen"]
    print(f"cross-validated ({args.folds} folds): trigger {results['trigger']}; per word FRR clean "
          + ", ".join(f"{kw} {100 * v:.0f} %" for kw, v in a["frr"]["clean"].items())
          + f"; {a['fa_per_hour']:.2f} FA/h all words; wrong word {100 * a['wrong_word']['clean']['share']:.1f} %", flush=True)
    if args.final:
        trigger = TriggerSettings(**results["trigger"])
        cv_record = {"crossval": {"results": str(run_dir / CV_RESULTS), "thresholds": results["thresholds"],
                                  "trigger": results["trigger"],
                                  "at_chosen": {k: a[k] for k in ("frr", "fa_per_hour", "fa_count", "hours", "wrong_word")}}}
        path = train(None, run_dir / "final", results["thresholds"], trigger, cv_record)
        print(f"wrote {path}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


#: The files whose code decides what a fold model is: those that make its windows (WINDOW_CODE),
#: the trainers, fitting and mining (which cut their windows through the daemon's detector), the
#: export and the sidecar format. A fold model trained by other code than this is trained again,
#: never kept (_same_recipe). Reporting, scoring-only and custom-word modules are not in it.
MODEL_CODE = WINDOW_CODE + ("train/runner.py", "train/common.py", "train/evalsets.py", "train/scoring.py",
                            "train/models.py", "train/fitting.py", "train/export.py", "train/mfcc_trainer.py",
                            "train/embedding_trainer.py", "detector.py", "settings.py", "checks.py", "sidecar.py")


def training_code(package: Path | None = None) -> str:
    """A fingerprint (16 hex digits) of the code that decides what a trained model is."""
    return code_fingerprint(MODEL_CODE, package)


#: Flags that change what a run does with the fold models, not what they are.
RUN_ONLY_FLAGS = ("--final", "--no-final", "-v", "--verbose")


def recipe_of(command: str) -> list[str]:
    """A training command without the flags that do not change the fold models."""
    import shlex

    return [w for w in shlex.split(command) if w not in RUN_ONLY_FLAGS]


def _same_recipe(sidecar: Path, command: str, plan=None, fold: int | None = None, code: str | None = None) -> bool:
    """Was the fold model beside this sidecar trained by the same recipe, on this plan's split of
    the speakers, and (given `code`, training_code()) by the same training code? Then a rerun (say,
    with --final after --no-final) keeps it instead of training it again. A sidecar that does not
    record its code (an older run) does not match a given code."""
    if not sidecar.is_file() or not sidecar.with_suffix(".tflite").is_file():
        return False
    try:
        training = json.loads(sidecar.read_text(encoding="utf-8"))["training"]
        trained = training["command"]
        recorded = training["data"]["plan"] if plan is not None else {}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if code is not None and training.get("code") != code:
        log.info("%s: trained by other training code (%s, now %s); training it again", sidecar, training.get("code"), code)
        return False
    if plan is not None:
        from .crossval import plan_mismatch

        if plan_mismatch(recorded, plan, fold):
            return False
    return recipe_of(trained) == recipe_of(command)


def keywords_and_labels(args, classes: str | None):
    """(keywords, bank labels, train labels) for --keyword and --classes.

    One keyword and no classes: a binary model (labels keyword, negative). Otherwise a softmax over
    the classes (the keywords among them) plus unknown speech and background."""
    from .examples import BACKGROUND_LABEL, UNKNOWN_LABEL
    from .featureset import NEGATIVE

    keywords = keywords_of(args)
    extra = tuple(k.strip() for k in (classes or "").split(",") if k.strip())
    classes_all = tuple(dict.fromkeys(keywords + extra))
    if len(classes_all) == 1:
        return keywords, (keywords[0], NEGATIVE), keywords
    return keywords, (*classes_all, UNKNOWN_LABEL, BACKGROUND_LABEL), classes_all
