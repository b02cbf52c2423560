"""The interpreter wrapper: backends, quantisation, and checks against the sidecar."""

import json
import shutil

import numpy as np
import pytest

from tests.conftest import SHIPPED_MODEL
from wakeword.errors import ModelError
from wakeword.model import load_model


#: A shipped model with one output (a logit): stop.tflite has one per class (softmax).
ONE_OUTPUT_MODEL = SHIPPED_MODEL.with_name("baseline-stop.tflite")


def copy_model(tmp_path, source=SHIPPED_MODEL):
    shutil.copy(source, tmp_path / "m.tflite")
    data = json.loads(source.with_suffix(".json").read_text())
    data["model_file"] = "m.tflite"
    (tmp_path / "m.json").write_text(json.dumps(data))
    return tmp_path / "m.tflite", data


def test_shipped_model_loads_and_says_which_backend(shipped_model):
    assert shipped_model.backend.split()[0] in ("ai_edge_litert", "tflite_runtime")
    assert shipped_model.spec.keywords == ("stop",)


def test_predict_returns_probabilities_for_any_batch_size(shipped_model):
    shape = shipped_model.spec.input_shape[1:]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, *shape)).astype(np.float32)
    y7 = shipped_model.predict(x)
    assert y7.shape == (7, 1) and y7.dtype == np.float32
    assert ((y7 >= 0) & (y7 <= 1)).all()
    y1 = np.concatenate([shipped_model.predict(x[i : i + 1]) for i in range(7)])
    np.testing.assert_array_equal(y1, y7)  # batching changes nothing


def test_a_sidecar_with_the_wrong_input_shape_is_rejected(tmp_path):
    path, data = copy_model(tmp_path)
    frames = data["frontend"]["window_frames"]
    data["frontend"]["window_frames"] = frames // 2
    data["input"]["shape"] = [1, frames // 2, data["input"]["shape"][2], 1][: len(data["input"]["shape"])]
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="disagree: model input is"):
        load_model(path)


def test_a_sidecar_with_the_wrong_dtype_is_rejected(tmp_path):
    path, data = copy_model(tmp_path)
    data["input"]["dtype"] = "float32" if data["input"]["dtype"] != "float32" else "int8"
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="dtype"):
        load_model(path)


def test_a_sidecar_with_more_keywords_than_outputs_is_rejected(tmp_path):
    path, data = copy_model(tmp_path, ONE_OUTPUT_MODEL)
    data["keywords"] = ["stop", "go"]
    data["thresholds"] = {"stop": 0.5, "go": 0.5}
    (tmp_path / "m.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="output"):
        load_model(path)


def test_corrupt_and_missing_models_are_model_errors(tmp_path):
    path, _ = copy_model(tmp_path)
    path.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="not a valid TFLite model"):
        load_model(path)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "absent.tflite")


def test_a_logit_output_gets_the_sigmoid_applied_in_float(tmp_path):
    # the same graph read as emitting logits: the wrapper must map y -> 1 / (1 + e^-y)
    from dataclasses import replace

    from wakeword.model import TfliteModel

    shipped_model = load_model(ONE_OUTPUT_MODEL)
    assert shipped_model.spec.output_activation in ("sigmoid", "logit")

    as_logit = TfliteModel(shipped_model.path, replace(shipped_model.spec, output_activation="logit"))
    x = np.random.default_rng(1).normal(size=(5, *shipped_model.spec.input_shape[1:])).astype(np.float32)
    raw = shipped_model.predict(x)
    if shipped_model.spec.output_activation == "logit":
        raw = np.log(raw / (1 - raw))  # back to the model's own output
    np.testing.assert_allclose(as_logit.predict(x), 1 / (1 + np.exp(-raw)), atol=1e-6)


@pytest.fixture(scope="module")
def one_network_three_ways(tmp_path_factory):
    """The same tiny Keras network exported with float32, int8 and uint8 input/output."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    from wakeword.frontends.mfcc import MfccParams
    from wakeword.sidecar import ModelSpec

    tf.keras.utils.set_random_seed(0)
    params = MfccParams(window_frames=10, numcep=13)
    net = keras.Sequential([keras.Input((10, 13)), keras.layers.Conv1D(8, 3, activation="relu"),
                            keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid")])
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(50):
            yield [rng.normal(size=(1, 10, 13)).astype(np.float32)]

    out = tmp_path_factory.mktemp("quant")
    models = {}
    for dtype in ("float32", "int8", "uint8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(net)
        if dtype != "float32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = conv.inference_output_type = getattr(tf, dtype)
        path = out / f"{dtype}.tflite"
        path.write_bytes(conv.convert())
        spec = ModelSpec(path.name, ("stop",), {"stop": 0.5}, params, (0.0,) * 13, (1.0,) * 13, (1, 10, 13), dtype)
        models[dtype] = (path, spec)
    return models


def test_int8_and_uint8_models_give_the_float_models_scores(one_network_three_ways):
    from wakeword.model import TfliteModel

    x = np.random.default_rng(1).normal(size=(64, 10, 13)).astype(np.float32)
    scores = {k: TfliteModel(path, spec).predict(x) for k, (path, spec) in one_network_three_ways.items()}
    for dtype in ("int8", "uint8"):
        assert np.abs(scores[dtype] - scores["float32"]).max() < 0.05, dtype  # a few quantisation steps
    assert np.abs(scores["int8"] - scores["uint8"]).max() < 0.02
    assert scores["float32"].std() > 0.01  # the network is not constant, so agreement means something


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_committed_quantised_fixtures_need_both_zero_points_and_scales(dtype):
    """tests/data/tiny-<dtype>.tflite (tests/data/make_fixtures.py --models): one dense unit whose
    float weights the sidecar records, so the wrapper's dequantisation is checked without TF."""
    from dataclasses import replace as dc_replace

    from tests.conftest import DATA
    from wakeword.model import TfliteModel

    model = load_model(DATA / f"tiny-{dtype}.tflite")
    ref = model.spec.training["reference"]
    x = np.random.default_rng(3).uniform(*ref["input_range"], size=(200, *model.spec.input_shape[1:])).astype(np.float32)
    expected = 1 / (1 + np.exp(-(x.reshape(len(x), -1) @ np.array(ref["kernel"]) + ref["bias"])))
    got = model.predict(x)[:, 0]
    error = np.abs(got - expected)
    # a few quantisation steps; the largest sums go past the calibrated range and are clipped
    assert np.percentile(error, 95) < 0.01 and error.max() < 0.05
    assert model._in_q[1] != 0 and model._out_q[1] != 0  # the fixture exercises both zero points
    for broken in ("_in_q", "_out_q"):
        bad = TfliteModel(model.path, dc_replace(model.spec))
        scale, _ = getattr(bad, broken)
        setattr(bad, broken, (scale, 0))
        assert np.abs(bad.predict(x)[:, 0] - expected).max() > 0.1, broken
