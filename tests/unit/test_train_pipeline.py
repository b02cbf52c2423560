"""wakeword-train end to end on --tiny: a loadable int8 model and sidecar that the runtime's
Pipeline runs on audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("soundfile")

from wakeword.detector import ModelSetup, Pipeline  # noqa: E402
from wakeword.model import load_model  # noqa: E402
from wakeword.sidecar import load_sidecar, spec_from_dict  # noqa: E402

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

pytestmark = pytest.mark.train


def make_synthetic_corpus(root: Path) -> Path:
    """A folder-layout corpus of tones and noise: enough for the pipeline, not for a useful model."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    rate = 16000
    t = np.arange(int(0.5 * rate)) / rate

    def word(f0):
        x = np.zeros(rate, np.float32)
        x[4000 : 4000 + len(t)] = 0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(len(t))
        return x + 0.003 * rng.standard_normal(rate).astype(np.float32)

    for s in range(40):
        spk = f"{s:08x}"
        for label, f0 in (("stop", 300 + 5 * s), ("go", 600 + 5 * s), ("no", 900 + 3 * s)):
            path = root / label / f"{spk}_nohash_0.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, word(f0), rate)
        sil = root / "_silence_" / f"{spk}_nohash_0.wav"
        sil.parent.mkdir(parents=True, exist_ok=True)
        sf.write(sil, 0.01 * rng.standard_normal(rate).astype(np.float32), rate)
        sentence = root / "sentences" / "librispeech" / f"{100 + s}-1-0.wav"
        sentence.parent.mkdir(parents=True, exist_ok=True)
        sf.write(sentence, np.concatenate([word(400 + 40 * k) for k in range(4)]), rate)
    for name in ("white_noise", "doing_the_dishes"):
        path = root / "noise" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.05 * rng.standard_normal(20 * rate).astype(np.float32), rate)
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from wakeword.train.__main__ import main

    tmp = tmp_path_factory.mktemp("train")
    data = REAL_DATA if (REAL_DATA / "manifest.csv").is_file() else make_synthetic_corpus(tmp / "data")
    prefix = tmp / "models" / "stop"
    argv = ["--data", str(data), "--tiny", "--no-tts", "--out", str(prefix), "--runs", str(tmp / "runs"),
            "--cache", str(tmp / "cache"), "--workers", "1", "--seed", "0"]
    assert main(argv) == 0
    return prefix, tmp


def test_tiny_run_writes_an_int8_model_and_sidecar_that_round_trip(tiny_run):
    prefix, tmp = tiny_run
    model_path, sidecar = prefix.with_suffix(".tflite"), prefix.with_suffix(".json")
    assert model_path.stat().st_size < 100_000
    spec = load_sidecar(sidecar)
    assert spec.keywords == ("stop",) and spec.input_dtype == "int8"
    assert spec.input_shape[0] == 1
    assert spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert 0.0 < spec.thresholds["stop"] < 1.0
    data = spec.training["data"]
    assert set(data["counts"]) == {"train", "val", "test"}
    assert data["held_out_noise"] == ["doing_the_dishes"]
    assert (tmp / "runs" / "stop-float.tflite").is_file()  # the float model for comparison
    assert (tmp / "runs" / "stop-report.json").is_file()


def test_tiny_model_predicts_probabilities_for_a_batch(tiny_run):
    prefix, _ = tiny_run
    model = load_model(prefix.with_suffix(".tflite"))
    x = np.random.default_rng(1).standard_normal((5, *model.spec.input_shape[1:])).astype(np.float32)
    y = model.predict(x)
    assert y.shape == (5, 1) and y.dtype == np.float32
    assert np.all((y >= 0) & (y <= 1))


def test_tiny_model_runs_in_the_streaming_pipeline_on_audio(tiny_run):
    prefix, _ = tiny_run
    model = load_model(prefix.with_suffix(".tflite"))
    seen = []
    pipe = Pipeline(ModelSetup.recommended(model), 16000, on_scores=lambda ends, scores, _: seen.append(scores))
    audio = 0.05 * np.random.default_rng(2).standard_normal(3 * 16000).astype(np.float32)
    for start in range(0, len(audio), 1600):
        pipe.feed(audio[start : start + 1600])
    scores = np.concatenate(seen)
    # a 0.985 s window every 100 ms over 3 s of audio
    assert pipe.windows_scored == len(scores) >= 19
    assert np.all((scores >= 0) & (scores <= 1))


def test_same_seed_gives_the_same_bytes_and_an_ensemble_averages_its_members(tmp_path, tiny_run):
    """Two --tiny --ensemble 2 runs from one seed write byte-identical models; the ensemble is
    two networks (twice the parameters of the single run) whose logits are averaged."""
    from wakeword.train.__main__ import main

    data = make_synthetic_corpus(tmp_path / "data")
    outputs = []
    for run in ("a", "b"):
        prefix = tmp_path / run / "stop"
        argv = ["--data", str(data), "--tiny", "--no-tts", "--out", str(prefix), "--runs", str(tmp_path / run / "runs"),
                "--cache", str(tmp_path / run / "cache"), "--workers", "1", "--seed", "3", "--ensemble", "2"]
        assert main(argv) == 0
        outputs.append(prefix)
    a, b = (p.with_suffix(".tflite").read_bytes() for p in outputs)
    assert a == b
    spec = load_sidecar(outputs[0].with_suffix(".json"))
    single = load_sidecar(tiny_run[0].with_suffix(".json"))
    assert spec.training["settings"]["ensemble"] == 2
    assert spec.training["figures"]["params"] == 2 * single.training["figures"]["params"]
    assert {"member0_stage1", "member1_stage1"} <= set(spec.training["figures"]["losses"])
    model = load_model(outputs[0].with_suffix(".tflite"))
    x = np.random.default_rng(4).standard_normal((3, *model.spec.input_shape[1:])).astype(np.float32)
    assert model.predict(x).shape == (3, 1)
    assert main(["--ensemble", "0", "--data", str(data), "--out", str(tmp_path / "x")]) == 2


def test_ensemble_model_outputs_the_mean_of_its_members_logits():
    import keras

    from wakeword.train.models import ensemble_models

    members = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input(shape=(4, 3))
        x = keras.layers.Flatten()(inputs)
        members.append(keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.Dense(5)(x))))
    probability, exported = ensemble_models(members)
    x = np.random.default_rng(0).standard_normal((6, 4, 3)).astype(np.float32)
    logits = [np.log(p / (1 - p)) for p in (m.predict(x, verbose=0) for m in members)]
    mean = (logits[0] + logits[1]) / 2
    assert not np.allclose(logits[0], logits[1], atol=1e-3)
    np.testing.assert_allclose(exported.predict(x, verbose=0), mean, atol=1e-4)
    np.testing.assert_allclose(probability.predict(x, verbose=0), 1 / (1 + np.exp(-mean)), atol=1e-5)
