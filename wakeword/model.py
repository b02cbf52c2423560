"""The TFLite model wrapper: load a model with its sidecar, check they agree, score windows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import ModelError
from .interpreter import first_line, open_interpreter
from .sidecar import ModelSpec, load_sidecar, sidecar_path_for

log = logging.getLogger(__name__)

_NP_DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}


class TfliteModel:
    """A .tflite model checked against its sidecar.

    predict(float32 (n, *input_shape[1:]) normalised features) -> float32 (n, len(keywords))
    probabilities in [0, 1], one column per keyword. Quantised (int8/uint8) inputs and outputs
    are converted with the tensors' own scale and zero point; logit outputs get their sigmoid
    (or, over all the sidecar's labels, their softmax) in float.
    """

    def __init__(self, model_path: Path, spec: ModelSpec, num_threads: int = 1):
        self.path = Path(model_path)
        self.spec = spec
        if self.path.is_dir():
            raise ModelError(f"{self.path}: is a directory, not a .tflite model file")
        if not self.path.is_file():
            raise ModelError(f"{self.path}: model file not found")
        self._interp, self.backend = open_interpreter(self.path, num_threads)
        try:
            self._interp.allocate_tensors()
        except Exception as exc:  # noqa: BLE001 - the backend's error types vary; all mean a bad file
            raise ModelError(f"{self.path}: not a valid TFLite model ({first_line(exc)})") from None
        inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(
                f"{self.path}: expected one input and one output tensor, found {len(inputs)} and {len(outputs)}"
            )
        self._in, self._out = inputs[0], outputs[0]
        self._check_against_sidecar()
        self._batch = int(self._in["shape"][0])
        self._in_q = self._quant(self._in)
        self._out_q = self._quant(self._out)
        self._in_np_dtype = _NP_DTYPES[self.input_dtype]
        self._in_range = None if self._in_q is None else (np.iinfo(self._in_np_dtype).min, np.iinfo(self._in_np_dtype).max)
        self._columns = np.array([spec.labels.index(k) for k in spec.keywords], np.int64)
        self._all_columns = len(self._columns) == len(spec.labels) and bool(np.all(self._columns == np.arange(len(self._columns))))
        log.info("loaded %s with %s (%s input, %d thread(s))", self.path, self.backend, self.input_dtype, num_threads)

    @property
    def input_dtype(self) -> str:
        return np.dtype(self._in["dtype"]).name

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.spec.keywords

    def _check_against_sidecar(self) -> None:
        spec, where = self.spec, f"{self.path} and its sidecar disagree"
        model_shape = [int(v) for v in self._in["shape"]][1:]
        if model_shape != list(spec.input_shape[1:]):
            raise ModelError(f"{where}: model input is {model_shape}, sidecar says {list(spec.input_shape[1:])}")
        if self.input_dtype != spec.input_dtype:
            raise ModelError(f"{where}: model input dtype is {self.input_dtype}, sidecar says {spec.input_dtype}")
        n_out = int(np.prod(self._out["shape"][1:]))
        if n_out != len(spec.labels):
            raise ModelError(
                f"{where}: model has {n_out} output(s), sidecar lists {len(spec.labels)} label(s) {list(spec.labels)}"
            )

    @staticmethod
    def _quant(detail) -> tuple[float, int] | None:
        if np.dtype(detail["dtype"]) == np.float32:
            return None
        scale, zero = detail["quantization"]
        if scale == 0:
            raise ModelError(f"quantised tensor {detail['name']} has no scale")
        return float(scale), int(zero)

    def _resize(self, n: int) -> None:
        if n == self._batch:
            return
        self._interp.resize_tensor_input(self._in["index"], [n, *self.spec.input_shape[1:]])
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        self._batch = n

    def predict(self, x: np.ndarray) -> np.ndarray:
        n = int(x.shape[0])
        if n == 0:
            return np.zeros((0, len(self.spec.keywords)), dtype=np.float32)
        x = x.reshape((n, *self.spec.input_shape[1:]))
        if self._in_q is not None:
            scale, zero = self._in_q
            lo, hi = self._in_range
            # round(x / scale + zero), clipped to the integer range, in float32 and in place:
            # ufuncs rather than np.clip's wrapper, which costs more than the arithmetic here
            q = np.divide(x, np.float32(scale), dtype=np.float32)
            q += np.float32(zero)
            np.rint(q, out=q)
            np.maximum(q, np.float32(lo), out=q)
            np.minimum(q, np.float32(hi), out=q)
            x = q.astype(self._in_np_dtype)
        else:
            x = x.astype(np.float32, copy=False)
        self._resize(n)
        self._interp.set_tensor(self._in["index"], x)
        self._interp.invoke()
        y = self._interp.get_tensor(self._out["index"]).reshape(n, -1)
        if self._out_q is not None:
            scale, zero = self._out_q
            y = (y.astype(np.float32) - zero) * scale
        activation = self.spec.output_activation
        if activation == "logit":
            y = 1.0 / (1.0 + np.exp(-y))
        elif activation == "softmax_logit":
            y = np.exp(y - y.max(axis=1, keepdims=True))
            y /= y.sum(axis=1, keepdims=True)
        if not self._all_columns:
            y = y[:, self._columns]
        return y.astype(np.float32, copy=False)


def resolve_model_paths(path: Path) -> tuple[Path, Path]:
    """Accept either the .tflite or the .json; return (tflite path, sidecar path)."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not a .tflite model file")
    if path.suffix == ".json":
        spec = load_sidecar(path)
        return path.parent / spec.model_file, path
    return path, sidecar_path_for(path)


def load_model(path: Path, num_threads: int = 1) -> TfliteModel:
    """Load a model and its sidecar from the .tflite or .json path; raise ModelError if unusable."""
    model_path, sidecar_path = resolve_model_paths(path)
    if not model_path.is_file():
        raise ModelError(f"{model_path}: model file not found")
    spec = load_sidecar(sidecar_path)
    return TfliteModel(model_path, spec, num_threads=num_threads)
