"""The TFLite interpreter: which backend to use, and opening a .tflite file with it.

Prefers LiteRT (`ai_edge_litert`, the maintained successor, works with numpy 2) and falls back
to `tflite_runtime` (needs numpy<2). A backend that is installed but broken is skipped rather
than fatal, whether it fails to import or only when it makes an interpreter (tflite_runtime
built for numpy 1 imports under numpy 2, then raises SystemError "_ARRAY_API not found" from
its constructor). Only ValueError/RuntimeError from a working backend mean a bad model file.
Both the model wrapper (model.py) and the speech-embedding front end open their files here, so
neither imports the other.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from .errors import DependencyError, ModelError

log = logging.getLogger(__name__)

#: Interpreter modules in order of preference.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
INSTALL_HINT = "pip install ai-edge-litert (or tflite-runtime with numpy<2)"
#: What a working backend raises for a file it cannot read; anything else means the backend is broken.
BAD_FILE_ERRORS = (ValueError, RuntimeError)
#: numpy 1.x's warning when it first works out a float type's limits while the CPU flushes
#: subnormals to zero, which aarch64 tflite_runtime turns on: one line per run, about nothing.
FLUSH_TO_ZERO_WARNING = r"The value of the smallest subnormal for <class 'numpy\.(float16|float32|float64|longdouble)'> type is zero\."


def _quiet_numpy_under_flush_to_zero() -> None:
    """numpy caches each float type's limits the first time they are asked for; ask now, before
    any interpreter runs, so they are worked out with subnormals intact. Should another type be
    asked for later, ignore that one warning (by its text), and nothing else."""
    for dtype in (np.float16, np.float32, np.float64):
        np.finfo(dtype)
    warnings.filterwarnings("ignore", message=FLUSH_TO_ZERO_WARNING, category=UserWarning, module="numpy")


_quiet_numpy_under_flush_to_zero()


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_interpreter_class(preferred: tuple[str, ...] = INTERPRETER_MODULES):
    """Return (Interpreter class, backend description such as 'ai_edge_litert 2.3.0') of the
    first of `preferred` that imports; DependencyError naming why each failed."""
    failures = []
    for name in preferred:
        found = _import_backend(name)
        if isinstance(found, str):
            failures.append(found)
            continue
        return found
    raise DependencyError(f"no TFLite interpreter could be loaded ({'; '.join(failures)}); {INSTALL_HINT}")


@lru_cache(maxsize=8)
def _import_backend(name: str):
    """(Interpreter class, backend description), or why `name` cannot be imported (a str)."""
    try:
        module = importlib.import_module(name)
        cls = module.Interpreter
    except Exception as exc:  # noqa: BLE001 - a broken optional backend must not be fatal
        return f"{name.split('.')[0]}: {type(exc).__name__}: {first_line(exc)}"
    package = name.split(".")[0]
    return cls, f"{package} {_package_version(package)}"


def _package_version(package: str) -> str:
    for dist in (package.replace("_", "-"), package):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def open_interpreter(path: Path, num_threads: int = 1, what: str = "not a valid TFLite model"):
    """(interpreter, backend) for a .tflite file, tensors not yet allocated.

    Tries the backends in order of preference; one that fails other than by refusing the file
    is skipped (and remembered). Raises ModelError "<path>: <what> (<reason>)" if a working
    backend refuses the file, DependencyError if no backend works.
    """
    failures = []
    for name in INTERPRETER_MODULES:
        if name in _broken_backends:
            failures.append(_broken_backends[name])
            continue
        found = _import_backend(name)
        if isinstance(found, str):
            failures.append(found)
            continue
        cls, backend = found
        # a backend built for another numpy prints pages (with a "Traceback") on sys.stderr
        # before it fails: keep that for --debug, the user gets the one line below
        noise = io.StringIO()
        try:
            with contextlib.redirect_stderr(noise):
                return cls(model_path=str(path), num_threads=num_threads), backend
        except BAD_FILE_ERRORS as exc:
            raise ModelError(f"{path}: {what} ({first_line(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - SystemError, ImportError...: this backend is broken
            _broken_backends[name] = f"{backend}: {type(exc).__name__}: {first_line(exc)}"
            failures.append(_broken_backends[name])
            log.debug("the %s interpreter is broken (%s); trying the next; it said: %s",
                      backend, _broken_backends[name], noise.getvalue().strip())
    raise DependencyError(f"no TFLite interpreter works ({'; '.join(failures)}); {INSTALL_HINT}")


#: module -> why its interpreter could not be made (found broken once, not tried again)
_broken_backends: dict[str, str] = {}
