"""The sidecar round-trips, and every malformed field is named in the error."""

import json

import pytest

from wakeword.errors import ModelError
from wakeword.frontends.mfcc import MfccParams
from wakeword.settings import TriggerSettings
from wakeword.sidecar import ModelSpec, load_sidecar, save_sidecar, spec_from_dict


def make_spec(**changes):
    p = MfccParams(numcep=13)
    base = dict(
        model_file="stop.tflite",
        keywords=("stop",),
        thresholds={"stop": 0.8},
        frontend=p,
        mean=tuple(float(i) for i in range(13)),
        std=tuple(1.0 + i for i in range(13)),
        input_shape=(1, 98, 13, 1),
        input_dtype="int8",
        trigger=TriggerSettings(hop_s=0.1, smoothing_windows=2, patience_windows=1, refractory_s=1.5),
        training={"data": "test"},
        name="stop",
    )
    base.update(changes)
    return ModelSpec(**base)


def test_sidecar_round_trips(tmp_path):
    spec = make_spec()
    save_sidecar(spec, tmp_path / "m.json")
    assert load_sidecar(tmp_path / "m.json") == spec


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d.pop("keywords"), "keywords"),
        # crafted values that once reached numpy or psf mid-pipeline as tracebacks
        (lambda d: d["frontend"].update(type=["mfcc"]), "frontend.type must be a name"),
        (lambda d: d["input"].update(shape=[1, "98", 13, 1]), "input.shape must be a list of positive whole numbers"),
        (lambda d: d["input"].update(shape=[1, None, 13, 1]), "input.shape must be a list of positive whole numbers"),
        (lambda d: d["frontend"].update(window_frames=98.0), "window_frames must be a whole number"),
        (lambda d: d["frontend"].update(nfft=512.0), "nfft must be a whole number"),
        (lambda d: d["frontend"].update(nfft=10**9), "nfft must be from a frame (400 samples) to 8192"),
        (lambda d: d["frontend"].update(nfilt=10**6), "nfilt must be 1-128"),
        (lambda d: d["frontend"].update(highfreq_hz=1e6), "0 <= lowfreq_hz < highfreq_hz <= 8000 Hz"),
        (lambda d: d["frontend"].update(highfreq_hz=-5.0), "0 <= lowfreq_hz < highfreq_hz"),
        (lambda d: d["frontend"].update(lowfreq_hz=7000.0, highfreq_hz=4000.0), "0 <= lowfreq_hz < highfreq_hz"),
        (lambda d: d["frontend"].update(winstep_s=1e-9), "is under one sample"),
        (lambda d: d["frontend"].update(ceplifter=-22), "ceplifter must be 0 (none) to 1000"),
        (lambda d: d["frontend"].update(sample_rate_hz=10**12), "sample_rate_hz must be 4000-48000"),
        (lambda d: d.update(keywords=["stop", "stop"]), "distinct names"),
        (lambda d: d.update(format_version=True), "'format_version' has the wrong type (bool)"),
        (lambda d: d.update(name=["x"]), "name must be a non-empty string"),
        (lambda d: d["trigger"].update(foo=1), "trigger.foo is not a trigger setting"),
        (lambda d: d["thresholds"].update(stop=1.5), "thresholds.stop"),
        (lambda d: d["normalisation"].update(mean=[0.0] * 12), "normalisation.mean"),
        (lambda d: d["input"].update(shape=[1, 99, 13, 1]), "input.shape"),
        (lambda d: d["input"].update(dtype="float16"), "input.dtype"),
        (lambda d: d["frontend"].update(type="spectrogram"), "frontend.type"),
        (lambda d: d["frontend"].update(winlen=0.025), "winlen"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d["normalisation"].update(std=[0.0] * 13), "normalisation.std must be positive"),
        (lambda d: d["normalisation"].update(std=[-1.0] + [1.0] * 12), "normalisation.std must be positive"),
        (lambda d: d["normalisation"].update(mean=[float("nan")] * 13), "must be finite numbers"),
        (lambda d: d["trigger"].update(smoothing_windows=0), "trigger.smoothing_windows"),
        (lambda d: d["trigger"].update(hop_s=float("inf")), "trigger.hop_s"),
        (lambda d: d["output"].update(labels=["go", "no"]), "not among output.labels"),
        (lambda d: d["output"].update(labels=["stop", "stop"]), "output.labels must be a list of distinct"),
        (lambda d: d["output"].update(activation="softmax_logit"), "softmax_logit needs at least two"),
    ],
)
def test_malformed_sidecar_names_the_key(mutate, key):
    data = make_spec().to_dict()
    mutate(data)
    with pytest.raises(ModelError) as err:
        spec_from_dict(json.loads(json.dumps(data)), where="m.json")
    assert key in str(err.value) and str(err.value).startswith("m.json")


def test_missing_and_corrupt_sidecars_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="sidecar not found"):
        load_sidecar(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_sidecar(tmp_path / "bad.json")


def test_labels_beside_the_keywords_round_trip(tmp_path):
    from dataclasses import replace

    spec = replace(make_spec(), labels=("stop", "go", "_unknown_"), output_activation="softmax_logit")
    save_sidecar(spec, tmp_path / "m.json")
    back = load_sidecar(tmp_path / "m.json")
    assert back == spec and back.labels == ("stop", "go", "_unknown_") and back.keywords == ("stop",)
    assert make_spec().labels == make_spec().keywords  # labels default to the keywords
    assert "labels" not in make_spec().to_dict()["output"]


def test_output_activation_defaults_to_sigmoid_and_is_validated():
    data = make_spec().to_dict()
    del data["output"]
    assert spec_from_dict(data).output_activation == "sigmoid"
    data["output"] = {"activation": "softmax"}
    with pytest.raises(ModelError, match="output.activation"):
        spec_from_dict(data)
    assert spec_from_dict(make_spec(output_activation="logit").to_dict()).output_activation == "logit"
