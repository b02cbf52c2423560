"""The model card: written from the results JSON alone, every figure taken from it."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("soundfile")
pytest.importorskip("matplotlib")

from tests.unit.test_train_evaluate import synthetic_sets_and_scores  # noqa: E402
from wakeword.train import evaluate as ev  # noqa: E402


def test_card_figures_come_from_the_results_file(tmp_path):
    from wakeword.train.card import write_card

    sets, ms = synthetic_sets_and_scores()
    curve = ev.det_curve(ms, sets)
    point = {"threshold": 0.5, "frr": {"clean": 0.123456}, "fa_count": 3, "fa_per_hour": 6.0,
             "fa_by_label": {"off": 2, "sentence": 1},
             "solo_fa": {"command": {"clips": 40, "fired": 3, "fa_pct": 7.5}}, "solo_fa_by_label": {"off": 3}}
    model = {"name": "ours", "path": "models/stop.tflite", "size_bytes": 20480, "params": 12345, "sample_rate_hz": 16000,
             "window_s": 0.995, "input": {"shape": [1, 98, 13, 1], "dtype": "int8"},
             "frontend": {"sample_rate_hz": 16000, "winlen_s": 0.025, "winstep_s": 0.01, "numcep": 13, "nfilt": 26,
                          "nfft": 512, "lowfreq_hz": 0.0, "highfreq_hz": None, "preemph": 0.97, "ceplifter": 22,
                          "append_energy": True, "winfunc": "rect", "window_frames": 98},
             "trigger": {"hop_s": 0.1, "smoothing_windows": 3, "patience_windows": 1, "refractory_s": 1.0, "threshold": 0.5},
             "training": {"command": "wakeword-train --out models/stop.tflite", "arch": "ours",
                          "figures": {"training_s": 600.0, "total_s": 900.0, "threshold": {"value": 0.5, "rule": "r"}}},
             "at_sidecar_threshold": point, "at_target_fa": None, "at_target_recall": None, "det": curve}
    results = {"created_utc": "2026-01-01T00:00:00Z", "machine": {"platform": "test", "python": "3"},
               "conditions": ["clean"], "audio_hours": 1.0, "wall_time_s": 42.0,
               "command": "python -m wakeword.train.evaluate --split test",
               "sets": {"split": "test", "split_seed": 0, "keyword": "stop", "keyword_clips": 20, "keyword_speakers": 9,
                        "placements": 3, "snrs_db": [], "held_out_noise": ["doing_the_dishes"], "data_root": str(tmp_path),
                        "negative_stream": {"hours": 2.0, "distinct_clips": 100, "clips_placed": 900, "passes": 9},
                        "split_counts": {"test": {"clips": 120, "speakers": 9, "by_kind": {"keyword": 20, "command": 100}}}},
               "models": [model]}
    results["det_png"] = str(tmp_path / "det.png")
    ev.plot_det(results, tmp_path / "det.png")
    (tmp_path / "r.json").write_text(json.dumps(results))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    card = (tmp_path / "README.md").read_text()
    assert "12.3 %" in card and "6.00 (3)" in card and "7.5 % (3/40)" in card and "10.0 min" in card and "15.0 min" in card
    assert "12,345" in card and "off 2" in card and "wakeword-train --out models/stop.tflite" in card
    assert "![DET curve](det.png)" in card and (tmp_path / "det.png").stat().st_size > 1000
    assert "CC BY 4.0" in card and "Warden" in card
    assert "## What was tried" not in card  # no experiments.json beside this card
    assert "pinned to" not in card
    assert "apt-get install" not in card  # no synthetic voices in this model's training
    model["training"]["data"] = {"tts": {"enabled": True, "voices": 189}}
    (tmp_path / "r.json").write_text(json.dumps(results))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    assert "# synthetic voices (--tts) need every engine and voice: apt-get install espeak-ng flite festival festvox-" in (
        tmp_path / "README.md").read_text()
    results["sets"]["pinned"] = {"felixchenfy": "train"}
    (tmp_path / "r.json").write_text(json.dumps(results))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    assert "### Split (by speaker, seed 0, felixchenfy pinned to train;" in (tmp_path / "README.md").read_text()
    (tmp_path / "experiments.json").write_text(json.dumps({"about": "one seed each", "experiments": [
        {"name": "TTS voices", "model": "ours", "kept": False, "change": "--tts", "val_split": "seed 0",
         "result": "84.0 % against 59.8 %", "train": "wakeword-train --tts --out runs/x"}]}))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    card = (tmp_path / "README.md").read_text()
    assert "## What was tried" in card and "**TTS voices** (ours; not kept)" in card
    assert "84.0 % against 59.8 %" in card and "`wakeword-train --tts --out runs/x`" in card
    from wakeword.train.card import main as card_main

    (tmp_path / "experiments.json").write_text('{"experiments": [{"result": "no name"}]}')
    assert card_main([str(tmp_path / "r.json"), "--out", str(tmp_path / "README.md")]) == 2
    assert (tmp_path / "README.md").read_text() == card  # the old card is kept


def test_the_card_names_the_copy_from_a_training_run_to_the_shipped_model():
    from wakeword.train.card import copy_step

    step = copy_step("wakeword-train --arch ours --out runs/ours-reg --runs runs", "models/stop.tflite")
    assert step == ("copy runs/ours-reg.tflite and runs/ours-reg.json to models/stop.tflite and models/stop.json, "
                    "setting the sidecar's model_file to stop.tflite")
    assert copy_step("wakeword-train --out models/stop", "models/stop.tflite") is None
    assert copy_step("wakeword-train --arch ours", "models/stop.tflite") is None
