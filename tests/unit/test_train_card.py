"""The model card: written from the cross-validation results JSON alone, every figure taken from it."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("matplotlib")

from wakeword.train.report import plot_det  # noqa: E402
from wakeword.train.thresholds import THRESHOLD_GRID  # noqa: E402

CONDS = ["clean", "snr10db", "snr5db", "room"]


def point(threshold, frr, fa_count, hours=50.0):
    return {"threshold": threshold, "frr": dict(zip(CONDS, frr)), "frr_by_fold": {c: [v - 0.01, v + 0.02] for c, v in zip(CONDS, frr)},
            "frr_without_single_speaker": dict(zip(CONDS, [f / 2 for f in frr])), "fa_count": fa_count, "hours": hours,
            "fa_per_hour": fa_count / hours, "fa_per_hour_by_fold": [0.1, 0.7], "fa_by_label": {"off": 2, "sentence": 1},
            "fa_by_source": {"speech_commands_v0.02_test": 2, "librispeech": 1},
            "held_out_corpora": {"source:precise_community_data": {"fa_count": 3, "hours": 20.0, "fa_per_hour": 0.15}},
            "solo_fa": {"command": {"clips": 400, "fired": 3, "fa_pct": 0.75}, "wakeword": {"clips": 200, "fired": 0, "fa_pct": 0.0}},
            "solo_fa_by_label": {"off": 3}, "latency_s": {"median": 0.123, "p90": 0.234, "detections": 900}}


def results(tmp_path, run_dir):
    n = len(THRESHOLD_GRID)
    det = {"thresholds": list(THRESHOLD_GRID), "fa_count": [max(0, 100 - i) for i in range(n)],
           "fa_per_hour": [max(0, 100 - i) / 50 for i in range(n)], "frr": {c: [i / n for i in range(n)] for c in CONDS}}
    model = {"name": "ours", "run_dir": str(run_dir), "keyword": "stop", "folds": 5, "conditions": CONDS,
             "trigger": {"hop_s": 0.1, "smoothing_windows": 2, "patience_windows": 1, "refractory_s": 1.0},
             "threshold_choice": {"threshold": 0.97, "rule": "r", "met": True},
             "trigger_grid": [{"smoothing_windows": 2, "patience_windows": 1, "threshold": 0.97, "met": True, "mean_frr": 0.2}],
             "at_chosen": point(0.97, [0.061234, 0.12, 0.2, 0.3], 20), "at_target_fa": point(0.95, [0.05, 0.1, 0.18, 0.28], 25),
             "at_target_recall": point(0.5, [0.03, 0.07, 0.1, 0.2], 400), "det": det, "window_s": 0.985, "hop_s": 0.1,
             "frontend": {"type": "mfcc"}, "input": {"shape": [1, 49, 20], "dtype": "int8"}, "output_activation": "logit",
             "training": {"command": "wakeword-train --folds 5 --out runs/cv/ours", "data": {"windows": {"trained": 88000}},
                          "figures": {"params": 26433, "training_s": 480.0, "size_bytes": 53000}}}
    return {"keyword": "stop", "folds": 5, "fold_seed": 0, "eval_seed": 0, "eval_hours_per_fold": 10.0, "snrs_db": [10.0, 5.0],
            "placements": 3, "held_out_sources": [], "targets": {"fa_per_hour": 0.5, "frr": 0.03},
            "fold_info": [{"fold": f, "keyword_clips": 80, "keyword_speakers": 21, "negative_stream": {"hours": 10.0, "distinct_clips": 900},
                           "rooms": {"rt60_s": [0.55, 0.7], "distance_m": [1.0, 4.9]}} for f in range(5)],
            "models": [model], "created_utc": "2026-01-01T00:00:00Z", "data_root": str(tmp_path), "det_png": str(tmp_path / "det.png"),
            "command": "python -m wakeword.train.evaluate --folds 5 --model ours=runs/cv/ours"}


def test_card_figures_come_from_the_results_file(tmp_path):
    from wakeword.train.card import main as card_main
    from wakeword.train.card import write_card

    res = results(tmp_path, tmp_path / "runs" / "cv" / "ours")
    plot_det(res, tmp_path / "det.png")
    (tmp_path / "r.json").write_text(json.dumps(res))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    card = (tmp_path / "README.md").read_text()
    assert "| FRR clean (fold range) | 6.1 % (5-8 %) |" in card
    assert "0.40 (20 in 50 h)" in card and "0.8 % (3/400)" in card and "123 / 234 ms" in card
    assert "| FA/h on the held-out corpus precise_community_data | 0.15 |" in card
    assert "clean 6.1 % against <= 4 % (missed by 2.1 points)" in card
    assert "off 2" in card and "librispeech 1" in card and "26,433" in card
    assert "5-fold speaker cross-validation" in card and "400 'stop' clips from 105 speakers" in card
    assert "![DET curve](det.png)" in card and (tmp_path / "det.png").stat().st_size > 1000
    assert "ESC-10" in card and "Warden" in card
    assert "| shipped as | not shipped |" in card and "## What was tried" not in card
    assert "apt-get install" not in card  # no synthetic voices in this recipe
    # a shipped model beside the card, whose sidecar names this cross-validation, is found
    (tmp_path / "stop.tflite").write_bytes(b"x" * 2048)
    (tmp_path / "stop.json").write_text(json.dumps({"model_file": "stop.tflite", "thresholds": {"stop": 0.97},
                                                    "training": {"command": "wakeword-train --folds 5 --out runs/cv/ours --final",
                                                                 "crossval": {"results": str(tmp_path / "runs" / "cv" / "ours" / "cv.json")}}}))
    res["models"][0]["training"]["data"]["tts"] = {"enabled": True}
    (tmp_path / "r.json").write_text(json.dumps(res))
    (tmp_path / "experiments.json").write_text(json.dumps({"about": "cross-validated", "experiments": [
        {"name": "TTS voices", "model": "ours", "kept": False, "change": "--tts", "basis": "5-fold CV",
         "result": "84.0 % against 59.8 %", "train": "wakeword-train --tts --folds 5 --out runs/cv/x"}]}))
    write_card(tmp_path / "r.json", tmp_path / "README.md")
    card = (tmp_path / "README.md").read_text()
    assert "| shipped as | `stop.tflite` |" in card and "| size | 2 KiB |" in card
    assert f"wakeword-train ship {tmp_path / 'runs' / 'cv' / 'ours'}/final.tflite {tmp_path / 'stop.tflite'}" in card
    # the reproduce section gives the shipped model's own command (it trains the final model too)
    assert "wakeword-train --folds 5 --out runs/cv/ours --final\n" in card
    assert "apt-get install espeak-ng flite festival festvox-" in card
    assert "**TTS voices** (ours; not kept)" in card and "84.0 % against 59.8 %" in card
    (tmp_path / "experiments.json").write_text('{"experiments": [{"result": "no name"}]}')
    assert card_main([str(tmp_path / "r.json"), "--out", str(tmp_path / "README.md")]) == 2
    assert (tmp_path / "README.md").read_text() == card  # the old card is kept


def test_a_fused_pair_gets_its_pooled_and_nested_rows(tmp_path):
    from wakeword.train.card import render_card

    res = results(tmp_path, tmp_path / "runs" / "cv" / "ours")
    chosen = point(0.99, [0.231, 0.525, 0.6, 0.61], 24)
    chosen["thresholds"] = {"ours": 0.99, "emb": 0.995}

    def nested(frr, fa):
        return {"met": True, **{k: v for k, v in point(0.0, frr, fa).items() if k in ("frr", "frr_by_fold", "fa_count", "hours", "fa_per_hour")}}

    res["fusions"] = [{"name": "ours + emb", "members": ["ours", "emb"], "conditions": CONDS, "at_chosen": chosen,
                       "nested": nested([0.25, 0.52, 0.6, 0.61], 27),
                       "nested_members": {"ours": nested([0.47, 0.65, 0.72, 0.64], 21), "emb": {"met": False}}}]
    card = render_card(res, tmp_path / "r.json", tmp_path / "README.md")
    assert "### Two models at once" in card
    assert "| **ours + emb**, pooled choice | ours 0.9900, emb 0.99500 | 23.1 % (22-25 %) | 52.5 % (52-55 %) |" in card
    assert "| **ours + emb**, nested | per fold | 25.0 % (24-27 %) |" in card and "0.54 (27 in 50 h)" in card
    assert "| ours alone, nested | per fold | 47.0 % (46-49 %) |" in card and "| emb alone, nested | not met |" in card
    assert "models: [{path:" not in card  # neither member is shipped beside the card
    del res["fusions"]
    assert "Two models at once" not in render_card(res, tmp_path / "r.json", tmp_path / "README.md")


def test_a_pair_that_must_agree_gets_its_own_section_and_no_either_fires_config(tmp_path):
    from wakeword.train.card import render_card

    res = results(tmp_path, tmp_path / "runs" / "cv" / "ours")
    chosen = point(0.5, [0.081, 0.3, 0.4, 0.35], 20)
    chosen["thresholds"] = {"ours": 0.5, "emb": 0.9}
    nested = {"met": True, **{k: v for k, v in point(0.0, [0.1, 0.32, 0.41, 0.37], 23).items()
                              if k in ("frr", "frr_by_fold", "fa_count", "hours", "fa_per_hour")}}
    res["fusions"] = [{"name": "ours & emb", "mode": "all", "members": ["ours", "emb"], "conditions": CONDS,
                       "coincidence_s": 1.0, "at_chosen": chosen, "nested": nested,
                       "nested_members": {"ours": {"met": False}, "emb": nested}}]
    card = render_card(res, tmp_path / "r.json", tmp_path / "README.md")
    assert "### Two models that must agree" in card and "### Two models at once" not in card
    assert "| **ours & emb** (within 1 s), pooled choice | ours 0.500, emb 0.900 | 8.1 % (7-10 %) |" in card
    assert "| **ours & emb**, nested | per fold | 10.0 % (9-12 %) |" in card and "| ours alone, nested | not met |" in card


def test_the_card_gives_the_per_speaker_misses_when_the_results_have_them(tmp_path):
    from wakeword.train.card import render_card

    res = results(tmp_path, tmp_path / "runs" / "cv" / "ours")
    label = "FRR clean per speaker: mean / median / share missed half the time or more"
    assert label not in render_card(res, tmp_path / "r.json", tmp_path / "README.md")  # older results: no row
    for key in ("at_chosen", "at_target_fa"):
        res["models"][0][key]["frr_by_speaker"] = {"clean": {"speakers": 107, "mean": 0.235, "median": 0.0,
                                                             "half_or_more": 0.22, "all": 0.15}}
    card = render_card(res, tmp_path / "r.json", tmp_path / "README.md")
    assert f"| {label} | 23.5 % / 0.0 % / 22.0 % of 107 |" in card
