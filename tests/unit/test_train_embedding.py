"""The speech-embedding trainer on --tiny: a head the runtime runs, and its plan of heads."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("soundfile")
pytest.importorskip("openwakeword")

from tests.conftest import DATA, read_wav  # noqa: E402
from tests.synthetic_corpus import make_synthetic_corpus  # noqa: E402
from wakeword.frontends.embedding import complete_embeddings  # noqa: E402

pytestmark = pytest.mark.train


def test_head_trainer_tiny_run_writes_a_model_the_runtime_runs(tmp_path):
    from wakeword.detector import ModelSetup, Pipeline
    from wakeword.model import load_model
    from wakeword.train.__main__ import main

    corpus = make_synthetic_corpus(tmp_path / "data", speakers=16)
    out = tmp_path / "out" / "stop-embedding"
    assert main(["--frontend", "speech_embedding", "--tiny", "--no-tts", "--data", str(corpus), "--out", str(out),
                 "--runs", str(tmp_path / "runs"), "--workers", "1", "--head-seeds", "2"]) == 0
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sorted(sidecar["training"]["figures"]["losses"]) == ["conv", "conv_1", "dense", "dense_1"]
    assert sidecar["frontend"]["type"] == "speech_embedding"
    assert sidecar["output"]["activation"] == "logit"
    assert sidecar["trigger"]["hop_s"] == pytest.approx(0.08)
    assert len(sidecar["normalisation"]["mean"]) == 96
    model = load_model(out.with_suffix(".tflite"))
    mixed, _ = read_wav(DATA / "mixed_stop.wav")
    scores = []
    pipe = Pipeline(ModelSetup.recommended(model), 16000, on_scores=lambda e, s, _: scores.append(s))
    pipe.feed(mixed)
    scores = np.concatenate(scores)
    assert scores.shape == (complete_embeddings(len(mixed), model.spec.frontend) - 15, 1)
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))


def test_a_multiclass_head_reads_the_keyword_from_a_softmax_over_every_class(tmp_path):
    from wakeword.model import load_model
    from wakeword.sidecar import load_sidecar
    from wakeword.train.__main__ import main

    corpus = make_synthetic_corpus(tmp_path / "data", speakers=16)
    out = tmp_path / "out" / "stop-embedding"
    assert main(["--frontend", "speech_embedding", "--tiny", "--no-tts", "--data", str(corpus), "--out", str(out),
                 "--runs", str(tmp_path / "runs"), "--workers", "1", "--head-seeds", "1", "--classes", "go,no"]) == 0
    spec = load_sidecar(out.with_suffix(".json"))
    assert spec.keywords == ("stop",) and spec.labels == ("stop", "go", "no", "_unknown_", "_background_")
    assert spec.output_activation == "softmax_logit"
    bank = spec.training["data"]["windows"]["bank"]["main"]
    assert list(bank) == list(spec.labels) and bank["go"] == bank["no"] > 0
    model = load_model(out.with_suffix(".tflite"))
    y = model.predict(np.random.default_rng(4).standard_normal((3, *spec.input_shape[1:])).astype(np.float32))
    assert y.shape == (3, 1) and np.all((y >= 0) & (y <= 1))


def test_wakeword_train_frontend_flag_hands_over_to_the_embedding_trainer(monkeypatch):
    from wakeword.train import __main__ as train_main
    from wakeword.train import embedding_trainer

    seen = []
    monkeypatch.setattr(embedding_trainer, "main", lambda argv=None: seen.append(list(argv)) or 0)
    assert train_main.main(["--frontend", "speech_embedding", "--tiny", "--out", "x/stop"]) == 0
    assert seen == [["--tiny", "--out", "x/stop"]]


def test_head_seeds_repeat_each_head_with_new_seeds_and_keep_the_old_plan():
    from wakeword.train.embedding_trainer import head_plan, main

    assert head_plan("ensemble", 1, 0) == [("dense", "dense", 0), ("conv", "conv", 100)]
    assert head_plan("ensemble", 2, 5) == [("dense", "dense", 5), ("conv", "conv", 105),
                                           ("dense_1", "dense", 1005), ("conv_1", "conv", 1105)]
    assert head_plan("conv", 3, 0) == [("conv", "conv", 0), ("conv_1", "conv", 1000), ("conv_2", "conv", 2000)]
    assert main(["--head-seeds", "0", "--data", "/nonexistent", "--out", "x"]) == 2
