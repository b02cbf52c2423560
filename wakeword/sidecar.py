"""The JSON sidecar that travels with every .tflite: the model's front end and how to use it.

Training writes it (`save_sidecar`), the runtime reads it (`load_sidecar`). It holds the
sample rate and window, the MFCC parameters, the normalisation constants, the keyword labels
with their recommended thresholds, the recommended trigger settings, and the training data
and figures (free-form, for people).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelError
from .frontends import params_from_dict
from .settings import TriggerSettings
from .textfile import read_text_file

SIDECAR_FORMAT_VERSION = 1
INPUT_DTYPES = ("float32", "int8", "uint8")
#: "sigmoid": the model outputs probabilities. "logit": it outputs logits and the runtime applies
#: the sigmoid, because an int8 sigmoid output has a step of 1/256 and tops out at 0.9961, too
#: coarse for the thresholds that low false-accept rates need. "softmax_logit": it outputs one
#: logit per label (output.labels) and the runtime applies the softmax over them.
OUTPUT_ACTIVATIONS = ("sigmoid", "logit", "softmax_logit")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed sidecar.

    input_shape is the model's input shape with the batch dimension first (as 1);
    frontend is the front end's parameters (a frontends.FrontEndParams);
    labels are the model's outputs in order (the keywords when not given); keywords, the labels
    that trigger detections;
    the feature window (window_frames x feature_dim) is reshaped to input_shape[1:].
    mean/std are per-feature normalisation constants (feature_dim floats each): the model
    sees (features - mean) / std.
    """

    model_file: str
    keywords: tuple[str, ...]
    thresholds: dict
    frontend: object
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, ...]
    input_dtype: str
    trigger: TriggerSettings = field(default_factory=TriggerSettings)
    training: dict = field(default_factory=dict)
    name: str = "model"
    output_activation: str = "sigmoid"
    labels: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.labels:
            object.__setattr__(self, "labels", tuple(self.keywords))

    @property
    def sample_rate_hz(self) -> int:
        return self.frontend.sample_rate_hz

    @functools.cached_property
    def _mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        # built once: normalise() runs on every hop
        return np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)

    def normalise(self, feats: np.ndarray) -> np.ndarray:
        """float32 (..., feature_dim) features -> normalised float32 of the same shape."""
        mean, std = self._mean_std
        return (np.asarray(feats, np.float32) - mean) / std

    def to_dict(self) -> dict:
        return {
            "format_version": SIDECAR_FORMAT_VERSION,
            "name": self.name,
            "model_file": self.model_file,
            "keywords": list(self.keywords),
            "thresholds": dict(self.thresholds),
            "frontend": {"type": self.frontend.frontend_type, **self.frontend.to_dict()},
            "normalisation": {"mean": list(self.mean), "std": list(self.std)},
            "input": {"shape": list(self.input_shape), "dtype": self.input_dtype},
            "output": {"activation": self.output_activation,
                       **({"labels": list(self.labels)} if self.labels != self.keywords else {})},
            "trigger": asdict(self.trigger),
            "training": self.training,
        }


def _name(value, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ModelError(f"{where}: name must be a non-empty string, got {value!r}")
    return value


def spec_from_dict(data: dict, where: str = "sidecar") -> ModelSpec:
    """Validate a sidecar dict; raise ModelError naming `where` and the key at fault."""

    def need(key, kind):
        if key not in data:
            raise ModelError(f"{where}: missing key '{key}'")
        if not isinstance(data[key], kind) or (isinstance(data[key], bool) and kind is not bool):
            raise ModelError(f"{where}: '{key}' has the wrong type ({type(data[key]).__name__})")
        return data[key]

    if not isinstance(data, dict):
        raise ModelError(f"{where}: expected a JSON object")
    version = need("format_version", int)
    if version != SIDECAR_FORMAT_VERSION:
        raise ModelError(
            f"{where}: format_version {version} is not supported (this wakeword reads {SIDECAR_FORMAT_VERSION})"
        )
    keywords = tuple(need("keywords", list))
    if not keywords or not all(isinstance(k, str) and k for k in keywords) or len(set(keywords)) != len(keywords):
        raise ModelError(f"{where}: 'keywords' must be a non-empty list of distinct names")
    thresholds = need("thresholds", dict)
    for kw in keywords:
        t = thresholds.get(kw)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 < t < 1.0:
            raise ModelError(f"{where}: thresholds.{kw} must be a number between 0 and 1, got {t!r}")
    params = params_from_dict(need("frontend", dict), where)
    norm = need("normalisation", dict)
    mean, std = norm.get("mean"), norm.get("std")
    for key, vec in (("mean", mean), ("std", std)):
        if not isinstance(vec, list) or len(vec) != params.feature_dim:
            raise ModelError(f"{where}: normalisation.{key} must list {params.feature_dim} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in mean + std):
        raise ModelError(f"{where}: normalisation.mean and .std must be finite numbers")
    if any(s <= 0 for s in std):
        raise ModelError(f"{where}: normalisation.std must be positive")
    inp = need("input", dict)
    shape, dtype = inp.get("shape"), inp.get("dtype")
    if not isinstance(shape, list) or len(shape) < 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
        raise ModelError(f"{where}: input.shape must be a list of positive whole numbers like [1, frames, features, 1], "
                         f"got {shape!r}")
    if int(np.prod(shape[1:])) != params.window_frames * params.feature_dim:
        raise ModelError(
            f"{where}: input.shape {shape} does not hold window_frames x feature_dim = "
            f"{params.window_frames} x {params.feature_dim} features"
        )
    if dtype not in INPUT_DTYPES:
        raise ModelError(f"{where}: input.dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}")
    output = data.get("output", {"activation": "sigmoid"})
    activation = output.get("activation") if isinstance(output, dict) else None
    if activation not in OUTPUT_ACTIVATIONS:
        raise ModelError(f"{where}: output.activation must be one of {', '.join(OUTPUT_ACTIVATIONS)}, got {activation!r}")
    labels = output.get("labels", list(keywords))
    if not isinstance(labels, list) or not all(isinstance(k, str) and k for k in labels) or len(set(labels)) != len(labels):
        raise ModelError(f"{where}: output.labels must be a list of distinct names")
    missing = [k for k in keywords if k not in labels]
    if missing:
        raise ModelError(f"{where}: keywords {missing} are not among output.labels {labels}")
    if activation == "softmax_logit" and len(labels) < 2:
        raise ModelError(f"{where}: output.activation softmax_logit needs at least two output.labels")
    trig = data.get("trigger", {})
    if not isinstance(trig, dict):
        raise ModelError(f"{where}: trigger must be a mapping")
    unknown = sorted(set(trig) - {f.name for f in fields(TriggerSettings)})
    if unknown:
        raise ModelError(f"{where}: trigger.{unknown[0]} is not a trigger setting")
    try:
        trigger = TriggerSettings(**trig)
    except TypeError as exc:
        raise ModelError(f"{where}: trigger: {exc}") from None
    except ConfigError as exc:
        raise ModelError(f"{where}: {exc}") from None
    return ModelSpec(
        model_file=need("model_file", str),
        keywords=keywords,
        thresholds={k: float(thresholds[k]) for k in keywords},
        frontend=params,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        input_shape=tuple(int(v) for v in shape),
        input_dtype=dtype,
        trigger=trigger,
        training=data.get("training", {}),
        name=_name(data.get("name", "model"), where),
        output_activation=activation,
        labels=tuple(labels),
    )


def sidecar_path_for(model_path: Path) -> Path:
    """models/stop.tflite -> models/stop.json"""
    return Path(model_path).with_suffix(".json")


def load_sidecar(path: Path) -> ModelSpec:
    path = Path(path)
    text = read_text_file(path, "sidecar", ModelError,
                          missing="sidecar not found (every .tflite needs a .json beside it)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelError(f"{path}: not a sidecar (JSON nested too deeply)") from None
    return spec_from_dict(data, where=str(path))


def save_sidecar(spec: ModelSpec, path: Path) -> None:
    Path(path).write_text(json.dumps(spec.to_dict(), indent=2) + "\n", encoding="utf-8")
