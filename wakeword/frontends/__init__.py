"""Front ends: what turns audio into the feature frames a model's window is made of.

A sidecar names its front end by `frontend.type` and gives its parameters. Each front end is one
module here whose `PARAMS` class implements `FrontEndParams`; `params_class(type)` finds it by
the sidecar's type, importing the module only then (the speech embedding needs an extra).

Adding a front end means adding a module with a PARAMS class and a line in FRONTEND_MODULES.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ..errors import DependencyError, ModelError

#: sidecar frontend.type -> module in this package that holds its PARAMS class
FRONTEND_MODULES = {"mfcc": "mfcc", "speech_embedding": "embedding"}
EMBEDDING_INSTALL_HINT = "pip install 'wakeword[embedding]'"
#: A model window of more frames than this is not a wake-word window (99 MFCC frames are 1 s).
MAX_WINDOW_FRAMES = 1000


def check_field_types(params, what: str) -> None:
    """ModelError unless every field of the dataclass `params` has its annotated type: an int
    field an int (49.0 would reach range() and numpy shapes mid-stream), a float field a finite
    number, a str a str, a bool a bool; "X | None" also allows None."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        kinds = [k.strip() for k in str(f.type).split("|")]
        if value is None and "None" in kinds:
            continue
        kind = kinds[0]
        if kind == "bool":
            ok = isinstance(value, bool)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif kind == "str":
            ok = isinstance(value, str)
        else:  # pragma: no cover - a new field type needs a rule here
            raise TypeError(f"{type(params).__name__}.{f.name}: no type rule for {f.type}")
        if not ok:
            expected = {"int": "a whole number", "float": "a finite number", "str": "a string", "bool": "true or false"}
            raise ModelError(f"{what}: {f.name} must be {expected[kind]}, got {value!r}")


@runtime_checkable
class FrameStream(Protocol):
    """Incremental features: push float32 samples (any block length) at the front end's rate and
    get float32 (new_frames, feature_dim) back. Each frame is computed once, whatever the blocks."""

    frames_emitted: int

    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


@runtime_checkable
class FrontEndParams(Protocol):
    """A front end's parameters: everything needed to turn audio into a model's input window.

    frame_end_samples(i) gives, for int array i of exclusive frame indices, one past the last
    sample that frame i-1 depends on. band_hz is (lowest, highest) frequency in Hz that the
    features look at: audio from a source whose Nyquist frequency is below the highest lacks
    part of what the model was trained on. default_block_ms is the capture block when config.yaml's
    audio.block_ms is null. check_available() raises DependencyError when an optional package the
    front end needs is missing, so --check-config and --dry-run fail before any audio is read.
    """

    frontend_type: ClassVar[str]
    default_block_ms: ClassVar[int]
    sample_rate_hz: int
    window_frames: int

    @property
    def feature_dim(self) -> int: ...

    @property
    def frame_step_samples(self) -> int: ...

    @property
    def frame_step_s(self) -> float: ...

    @property
    def window_samples(self) -> int: ...

    @property
    def band_hz(self) -> tuple[float, float]: ...

    def frame_end_samples(self, ends: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict: ...

    def check_available(self) -> None: ...

    def open_stream(self) -> FrameStream: ...


def params_class(frontend_type: str, where: str = "sidecar"):
    """The PARAMS class of the front end named `frontend_type`; ModelError if unknown,
    DependencyError if its module cannot be imported."""
    module = FRONTEND_MODULES.get(frontend_type)
    if module is None:
        raise ModelError(
            f"{where}: frontend.type {frontend_type!r} is not supported (expected one of {', '.join(FRONTEND_MODULES)})"
        )
    try:
        return importlib.import_module(f"{__name__}.{module}").PARAMS
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise DependencyError(f"the {frontend_type} front end is not available ({exc}); {EMBEDDING_INSTALL_HINT}") from None


def params_from_dict(data: dict, where: str):
    """A sidecar's `frontend` mapping -> that front end's parameters; ModelError if malformed."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: frontend must be a mapping")
    data = dict(data)
    frontend_type = data.pop("type", None)
    if not isinstance(frontend_type, str):
        raise ModelError(f"{where}: frontend.type must be a name such as \"mfcc\", got {frontend_type!r}")
    cls = params_class(frontend_type, where)
    try:
        return cls.from_dict(data)
    except (TypeError, ModelError) as exc:
        raise ModelError(f"{where}: frontend: {exc}") from None
