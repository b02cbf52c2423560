"""wakeword-train: train keyword models and, with --folds, cross-validate them. Only dispatches.

    wakeword-train [options]                          MFCC models (mfcc_trainer.py; --help lists them)
    wakeword-train --frontend speech_embedding ...    heads on the speech embedding (embedding_trainer.py)
    wakeword-train custom --phrase TEXT --positives DIR --out PATH.tflite   your own wake word (custom.py)
    wakeword-train report --model PATH --positives DIR [--negatives DIR]    a model on your recordings
    wakeword-train ship MODEL.tflite DEST.tflite      copy a trained model and its sidecar under a new name
    wakeword-train evaluate --folds K --model NAME=RUN_DIR ...   cross-validated figures (evaluate.py)

Each command first checks that the extras it needs are installed (require), so that on a
runtime-only install it is one line and exit status 2, not an ImportError traceback.
"""

from __future__ import annotations

import argparse
import sys

from . import require_or_exit

FRONTENDS = ("mfcc", "speech_embedding")

#: What each command imports beyond the runtime.
TRAINING = ("tensorflow", "soundfile")
NEEDS = {"custom": (*TRAINING, "openwakeword"), "report": ("soundfile",), "evaluate": ("soundfile", "matplotlib"),
         "mfcc": TRAINING, "speech_embedding": (*TRAINING, "openwakeword")}
SUBCOMMANDS = ("custom", "report", "evaluate")


def _ship(argv) -> int:
    from ..errors import WakewordError
    from .export import ship

    p = argparse.ArgumentParser(prog="wakeword-train ship", description="Copy a trained model and its sidecar under a new name.")
    p.add_argument("model", help="the trained .tflite (its .json beside it)")
    p.add_argument("dest", help="the new .tflite path (its sidecar is written beside it, model_file set)")
    args = p.parse_args(argv)
    try:
        dest, sidecar = ship(args.model, args.dest)
    except (WakewordError, ValueError, OSError) as exc:
        print(f"wakeword-train ship: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {dest} and {sidecar}")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "ship":
        return _ship(argv[1:])
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--frontend", choices=FRONTENDS, default="mfcc")
    known, rest = pre.parse_known_args(argv)
    sub = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    needs = NEEDS[sub or known.frontend] + (("matplotlib",) if sub == "report" and "--det" in argv else ())
    # also for --help: a command's help is made by its module, which imports them
    require_or_exit(f"wakeword-train {sub}" if sub else "wakeword-train", *needs)
    if argv and argv[0] == "evaluate":
        from .evaluate import main as evaluate_main

        return evaluate_main(argv[1:], prog="wakeword-train evaluate")
    if argv and argv[0] == "custom":
        from .custom import main as custom_main

        return custom_main(argv[1:])
    if argv and argv[0] == "report":
        from .takes_report import main as report_main

        return report_main(argv[1:])
    if known.frontend == "speech_embedding":
        from .embedding_trainer import main as embedding_main

        return embedding_main(rest)
    from .mfcc_trainer import main as mfcc_main

    return mfcc_main(rest)


def run() -> None:
    """The wakeword-train command: main() with TFLite's native stderr noise filtered."""
    from ..nativelog import run_filtered

    sys.exit(run_filtered(main))


if __name__ == "__main__":
    run()
