"""Training, export and evaluation of keyword models (the [train] extra: TensorFlow, soundfile, scipy).

The runtime package (wakeword/*.py) never imports from here. One module per stage:
data (corpus, speaker folds, noise classes), augment / rooms / channel / perturb / tts (what the
windows are made of), examples (augmented windows), featureset (per-fold banks of features),
models (architectures), fitting (stages and hard-negative mining), export (TFLite + sidecar),
evalsets (trials and negative streams), scoring (the one scorer), thresholds (DET and the rule),
crossval (fold models scored on their folds), report and card (figures and the model card),
common and runner (what both trainers share), mfcc_trainer and embedding_trainer, evaluate (the
evaluation command) and __main__ (wakeword-train, which only dispatches).
"""

from __future__ import annotations

import importlib.util
import sys

from ..errors import DependencyError

#: The modules each extra brings, by import name, and the extra that installs them.
EXTRA_OF_MODULE = {"tensorflow": "train", "soundfile": "train", "matplotlib": "train", "openwakeword": "embedding"}


def require(prog: str, *modules: str) -> None:
    """DependencyError, naming every missing module and the extras that install them, unless all
    of `modules` can be imported. Checked before a command imports its stages, so that running a
    training command on a runtime-only install is one line, not an ImportError traceback."""
    missing = [m for m in modules if not _importable(m)]
    if missing:
        extras = ",".join(dict.fromkeys(EXTRA_OF_MODULE[m] for m in missing))
        raise DependencyError(f"{prog} needs {', '.join(missing)}, which this install lacks: "
                              f"pip install 'wakeword[{extras}]'")


def require_or_exit(prog: str, *modules: str) -> None:
    """require(), for a module run as a script (python -m): the one line and exit status 2."""
    try:
        require(prog, *modules)
    except DependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _importable(module: str) -> bool:
    if module in sys.modules:  # imported already (None there means it was blocked)
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken package
        return False
