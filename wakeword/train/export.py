"""Export a trained Keras model to TFLite (int8 and float) and write its sidecar.

With Keras 3, TFLiteConverter.from_keras_model and from_concrete_functions trip over resource
variables during int8 calibration ("READ_VARIABLE failed to invoke"). Exporting a SavedModel
with `model.export(..., format="tf_saved_model")` and converting that works, and declaring the
batch dimension as None there keeps it resizable at runtime (the detector batches windows).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from ..settings import TriggerSettings
from ..sidecar import ModelSpec, save_sidecar

log = logging.getLogger(__name__)

#: Windows fed to the int8 calibrator; a few hundred covers the activation ranges.
REPRESENTATIVE_WINDOWS = 500


def to_tflite(model, input_shape: tuple[int, ...], representative: np.ndarray | None) -> bytes:
    """Keras model -> TFLite flatbuffer. With `representative` (float32 (n, *input_shape), already
    normalised) the model is fully int8 (int8 input and output); without, it stays float32."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="wakeword-export-") as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(
            str(saved),
            format="tf_saved_model",
            input_signature=[tf.TensorSpec([None, *input_shape], tf.float32, name="mfcc")],
            verbose=False,
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if representative is not None:
            rep = np.asarray(representative, dtype=np.float32)

            def gen():
                for i in range(len(rep)):
                    yield [rep[i : i + 1]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = gen
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()


def representative_windows(X_norm: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A balanced calibration sample: up to REPRESENTATIVE_WINDOWS windows, half of them keywords."""
    pos, neg = np.flatnonzero(y > 0.5), np.flatnonzero(y <= 0.5)
    half = REPRESENTATIVE_WINDOWS // 2
    pick = np.concatenate(
        (rng.choice(pos, size=min(half, len(pos)), replace=False), rng.choice(neg, size=min(half, len(neg)), replace=False))
    )
    return X_norm[np.sort(pick)]


def write_model(
    tflite_bytes: bytes,
    out_prefix: Path,
    keywords: tuple[str, ...],
    params,  # the front end's parameters (a frontends.FrontEndParams)
    mean: np.ndarray,
    std: np.ndarray,
    input_shape: tuple[int, ...],
    input_dtype: str,
    thresholds: dict,
    trigger: TriggerSettings,
    training: dict,
    name: str,
    output_activation: str = "logit",
    labels: tuple[str, ...] = (),
) -> tuple[Path, Path]:
    """Write PREFIX.tflite and PREFIX.json (the sidecar); return both paths.

    labels: every output in order when the model has more outputs than keywords (a softmax over
    classes, output_activation "softmax_logit")."""
    out_prefix = Path(out_prefix)
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    model_path = out_prefix.with_name(out_prefix.name + ".tflite")
    sidecar = out_prefix.with_name(out_prefix.name + ".json")
    model_path.write_bytes(tflite_bytes)
    spec = ModelSpec(
        model_file=model_path.name,
        keywords=tuple(keywords),
        thresholds={k: float(thresholds[k]) for k in keywords},
        frontend=params,
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        input_shape=(1, *input_shape),
        input_dtype=input_dtype,
        trigger=trigger,
        training=training,
        name=name,
        output_activation=output_activation,
        labels=tuple(labels),
    )
    save_sidecar(spec, sidecar)
    log.info("wrote %s (%d bytes) and %s", model_path, len(tflite_bytes), sidecar)
    return model_path, sidecar


def ship(model_path: Path, dest: Path) -> tuple[Path, Path]:
    """Copy a trained model and its sidecar to dest (a .tflite path), setting the sidecar's
    model_file and name to the new ones; refuses to overwrite the source."""
    import dataclasses
    import shutil

    from ..sidecar import load_sidecar, sidecar_path_for

    model_path, dest = Path(model_path), Path(dest).with_suffix(".tflite")
    if model_path.resolve() == dest.resolve():
        raise ValueError(f"{dest} is the model itself")
    spec = load_sidecar(sidecar_path_for(model_path))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, dest)
    save_sidecar(dataclasses.replace(spec, model_file=dest.name, name=dest.stem), sidecar_path_for(dest))
    return dest, sidecar_path_for(dest)
