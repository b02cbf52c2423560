"""Cross-validated evaluation of one or several recipes, through the daemon's own audio path.

    python -m wakeword.train.evaluate --folds 5 --model ours=runs/cv/ours --model emb=runs/cv/emb \\
        --out models/eval-results.json --det models/det.png --card models/README.md

Each --model names a run folder written by `wakeword-train ... --folds K --out FOLDER`: its fold
models fold0..fold<K-1>.tflite, each trained without that fold's speakers and noise classes. Every
fold model is scored on its own fold (crossval.py): keyword trials clean, at each SNR and in a
held-out room; a remixed negative stream of --hours per fold; and each command or wake word
alone. The results JSON holds, per recipe, the trigger settings and threshold chosen on the
pooled out-of-fold scores (<= 0.5 FA/h), the pooled figures there with each fold's beside them,
the oracle points and the DET curve. Window scores are cached (--cache-dir), so adding a recipe
to a comparison costs only its own scoring. --add-to RESULTS adds the recipes to an earlier results
file made with the same evaluation (the same fold plan, seeds, hours and conditions, checked), keeping
its recipes and pairs as they were scored, so that a recipe can join a comparison whose fold models
are no longer on this machine. Needs the runtime, soundfile, scipy and matplotlib
(for the plot), not TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

PROG = "python -m wakeword.train.evaluate"
if __name__ == "__main__":  # run as a script: name a missing extra before the imports below fail on it
    from . import require_or_exit

    require_or_exit(PROG, "soundfile", "matplotlib")

from ..errors import ConfigError, WakewordError  # noqa: E402 - after the check above
from ..settings import COINCIDENCE_MS_RANGE, DEFAULT_COINCIDENCE_S
from ..textfile import read_text_file
from . import data as datamod
from .common import DEFAULT_DATA, DEFAULT_FOLDS, FoldPlan
from .crossval import DEFAULT_CACHE_DIR, DEFAULT_EVAL_HOURS, cross_validate
from .evalsets import DEFAULT_PLACEMENTS, DEFAULT_SNRS_DB
from .fusion import parse_fusions
from .report import plot_det, print_report

log = logging.getLogger(__name__)


def parse_model_arg(text: str) -> tuple[str, Path]:
    """'name=folder' or 'folder' -> (name, folder)."""
    if "=" in text:
        name, path = text.split("=", 1)
        return name, Path(path)
    return Path(text).name, Path(text)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog,
                                description="Cross-validate recipes through the daemon's streaming path (FRR, FA/h, DET).")
    p.add_argument("--model", action="append", required=True, metavar="[NAME=]RUN_DIR",
                   help="a run folder of fold models (wakeword-train --folds K --out RUN_DIR); repeat for several")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data folder with manifest.csv")
    p.add_argument("--keyword", default="stop")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS, help="the K the recipes were trained with (default %(default)s)")
    p.add_argument("--fold-seed", type=int, default=0, help="the --fold-seed they were trained with")
    p.add_argument("--hold-out-source", action="append", default=[], metavar="SOURCE",
                   help="a manifest source the recipes were trained without: scored as its own negative stream")
    p.add_argument("--fuse", action="append", default=[], metavar="NAME+NAME",
                   help="also figure these recipes run together (a models: list with both; the keyword fires when "
                        "either fires), from the same scores; repeatable")
    p.add_argument("--fuse-all", action="append", default=[], metavar="NAME+NAME",
                   help="also figure these recipes as a keyword that fires only when every one of them fires "
                        "within --coincidence-ms of the others, from the same scores; repeatable")
    p.add_argument("--coincidence-ms", type=float, default=None, metavar="MS",
                   help=f"the --fuse-all window (default {1000 * DEFAULT_COINCIDENCE_S:g})")
    p.add_argument("--fuse-refractory-ms", type=float, default=None, metavar="MS",
                   help="the --fuse and --fuse-all pairs' refractory period (config.yaml's trigger.refractory_ms; "
                        "default: each model's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation audio (placements, streams)")
    p.add_argument("--hours", type=float, default=DEFAULT_EVAL_HOURS, help="negative stream per fold, hours (default %(default)s)")
    p.add_argument("--snr-db", type=float, action="append", help=f"noisy conditions (default {list(DEFAULT_SNRS_DB)})")
    p.add_argument("--placements", type=int, default=DEFAULT_PLACEMENTS, help="placements per keyword clip")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="window score cache (default %(default)s)")
    p.add_argument("--out", type=Path, default=Path("runs/eval-results.json"), help="results JSON")
    p.add_argument("--det", type=Path, default=None, help="DET plot PNG (default: beside --out)")
    p.add_argument("--card", type=Path, default=None, help="also write the model card (e.g. models/README.md)")
    p.add_argument("--add-to", type=Path, default=None, metavar="RESULTS",
                   help="add these recipes to an earlier results JSON of the same evaluation (checked), keeping its "
                        "recipes and pairs as they were scored")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


#: What must be equal for two results files to be one comparison: the fold plan (fold_info holds
#: every fold's speakers, clips, noise classes, rooms and negative stream) and the evaluation's settings.
SAME_EVALUATION = ("keyword", "folds", "fold_seed", "eval_seed", "eval_hours_per_fold", "snrs_db", "placements",
                   "held_out_sources", "fold_info", "whole_sources")


def read_results(path: Path) -> dict:
    text = read_text_file(path, "results file", ConfigError, limit_bytes=200_000_000)
    try:
        results = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a results file (not JSON: {exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("models"), list):
        raise ConfigError(f"{path}: not a results file of python -m wakeword.train.evaluate")
    return results


def check_same_evaluation(earlier: dict, values: dict, where: Path) -> None:
    """ConfigError unless every key of `values` is stored in `earlier` with that value."""
    values = json.loads(json.dumps(values))  # compare as both are stored
    differ = [k for k, v in values.items() if earlier.get(k) != v]
    if differ:
        raise ConfigError(f"{where}: made with another evaluation ({', '.join(differ)} differ); "
                          "score every recipe in one run instead")


def add_to(earlier: dict, new: dict, where: Path) -> dict:
    """The earlier results with the new recipes and pairs added; ConfigError if the two were not
    made with the same evaluation or a name is in both."""
    check_same_evaluation(earlier, {k: new.get(k) for k in SAME_EVALUATION}, where)
    fresh = json.loads(json.dumps(new))
    names = {m["name"] for m in earlier["models"]} | {f["name"] for f in earlier.get("fusions", [])}
    clash = sorted(names & ({m["name"] for m in fresh["models"]} | {f["name"] for f in fresh.get("fusions", [])}))
    if clash:
        raise ConfigError(f"{where}: already has {', '.join(clash)}; give the new recipe another NAME=")
    merged = {**earlier, "models": earlier["models"] + fresh["models"],
              "fusions": earlier.get("fusions", []) + fresh.get("fusions", [])}
    merged["command"] = earlier.get("command", "") + "\n" + fresh["command"]
    merged.update({k: fresh[k] for k in ("created_utc", "machine", "data_root", "det_png")})
    merged["wall_time_s"] = earlier.get("wall_time_s", 0.0) + fresh["wall_time_s"]
    return merged


def main(argv=None, prog: str = PROG) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    try:
        if args.folds < 2:
            raise ConfigError(f"--folds must be at least 2, got {args.folds}")
        recipes = dict(parse_model_arg(m) for m in args.model)
        for name, folder in recipes.items():
            if not (folder / "fold0.tflite").is_file():
                raise ConfigError(f"{folder}: no fold0.tflite (train the recipe with --folds {args.folds} --out {folder})")
        earlier = None
        if args.add_to is not None:  # the settings at once; the fold plan once it is drawn (add_to)
            earlier = read_results(args.add_to)
            asked = {"keyword": args.keyword, "folds": args.folds, "fold_seed": args.fold_seed, "eval_seed": args.seed,
                     "eval_hours_per_fold": args.hours, "placements": args.placements,
                     "snrs_db": list(args.snr_db or DEFAULT_SNRS_DB), "held_out_sources": list(args.hold_out_source)}
            check_same_evaluation(earlier, asked, args.add_to)
        fusions = parse_fusions(args.fuse, list(recipes))
        fusions_all = parse_fusions(args.fuse_all, list(recipes), flag="--fuse-all")
        for combo in fusions_all:
            if len(combo) != 2:
                raise ConfigError(f"--fuse-all {'+'.join(combo)}: give two recipes (every pair of thresholds is tried; "
                                  "three would take hours)")
        if args.coincidence_ms is not None:
            if not fusions_all:
                raise ConfigError("--coincidence-ms applies only with --fuse-all")
            lo, hi = COINCIDENCE_MS_RANGE
            if not lo <= args.coincidence_ms <= hi:  # the daemon's trigger.coincidence_ms range (NaN fails too)
                raise ConfigError(f"--coincidence-ms must be between {lo} and {hi} (trigger.coincidence_ms's range), "
                                  f"got {args.coincidence_ms:g}")
        if args.fuse_refractory_ms is not None and not 0 < args.fuse_refractory_ms <= 60000:
            raise ConfigError(f"--fuse-refractory-ms must be between 0 and 60000, got {args.fuse_refractory_ms:g}")
        clips = datamod.load_corpus(args.data, args.keyword)
        plan = FoldPlan.make(clips, args.folds, args.fold_seed, args.hold_out_source, balance=(args.keyword,))
        results = cross_validate(recipes, plan, args.keyword, args.seed, args.hours,
                                 tuple(args.snr_db) if args.snr_db else DEFAULT_SNRS_DB, args.placements,
                                 args.cache_dir, args.hold_out_source, clips,
                                 fusions=fusions,
                                 fusion_refractory_s=None if args.fuse_refractory_ms is None else args.fuse_refractory_ms / 1000,
                                 fusions_all=fusions_all,
                                 coincidence_s=None if args.coincidence_ms is None else args.coincidence_ms / 1000)
        det_path = args.det or args.out.with_name(args.out.stem + "-det.png")
        results.update(
            created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            machine={"platform": platform.platform(), "python": platform.python_version(),
                     "processor": platform.processor() or platform.machine()},
            data_root=str(args.data),
            command=prog + " " + " ".join(shlex.quote(a) for a in argv),
            det_png=str(det_path),
            wall_time_s=time.perf_counter() - started,
        )
        if earlier is not None:
            results = add_to(earlier, results, args.add_to)
        plot_det(results, det_path)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print_report(results)
        print(f"wrote {args.out} and {det_path} in {results['wall_time_s']:.0f} s")
        if args.card is not None:
            from .card import write_card

            write_card(args.out, args.card)
            print(f"wrote {args.card}")
    except WakewordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from ..nativelog import run_filtered

    sys.exit(run_filtered(main))
