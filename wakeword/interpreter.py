"""The TFLite interpreter: which backend to use, and opening a .tflite file with it.

Prefers LiteRT (`ai_edge_litert`, the maintained successor, works with numpy 2) and falls back
to `tflite_runtime` (needs numpy<2). A backend that is installed but cannot import, for example
tflite_runtime under numpy 2, is skipped rather than fatal. Both the model wrapper (model.py)
and the speech-embedding front end open their files here, so neither imports the other.
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .errors import DependencyError, ModelError

log = logging.getLogger(__name__)

#: Interpreter modules in order of preference.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
INSTALL_HINT = "pip install ai-edge-litert (or tflite-runtime with numpy<2)"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_interpreter_class(preferred: tuple[str, ...] = INTERPRETER_MODULES):
    """Return (Interpreter class, backend description such as 'ai_edge_litert 2.3.0')."""
    return _load_interpreter_class(tuple(preferred))


@lru_cache(maxsize=4)
def _load_interpreter_class(preferred: tuple[str, ...]):
    failures = []
    for name in preferred:
        try:
            module = importlib.import_module(name)
            cls = module.Interpreter
        except Exception as exc:  # noqa: BLE001 - a broken optional backend must not be fatal
            failures.append(f"{name.split('.')[0]}: {type(exc).__name__}: {first_line(exc)}")
            continue
        package = name.split(".")[0]
        return cls, f"{package} {_package_version(package)}"
    raise DependencyError(f"no TFLite interpreter could be loaded ({'; '.join(failures)}); {INSTALL_HINT}")


def _package_version(package: str) -> str:
    for dist in (package.replace("_", "-"), package):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def open_interpreter(path: Path, num_threads: int = 1, what: str = "not a valid TFLite model"):
    """(interpreter, backend) for a .tflite file, tensors not yet allocated.

    Raises ModelError "<path>: <what> (<reason>)" if the backend refuses the file.
    """
    cls, backend = load_interpreter_class()
    try:
        return cls(model_path=str(path), num_threads=num_threads), backend
    except Exception as exc:  # noqa: BLE001 - every backend failure on a bad file means the same to the user
        raise ModelError(f"{path}: {what} ({first_line(exc)})") from None
