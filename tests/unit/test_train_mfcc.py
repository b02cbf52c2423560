"""wakeword-train end to end on --tiny: fold models, cross-validation, the final model, the
multi-class variants, the evaluation command and shipping. Runs on a synthetic corpus of tones."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("soundfile")

from tests.synthetic_corpus import make_synthetic_corpus  # noqa: E402
from wakeword.detector import ModelSetup, Pipeline  # noqa: E402
from wakeword.model import load_model  # noqa: E402
from wakeword.sidecar import load_sidecar, spec_from_dict  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_synthetic_corpus(tmp_path_factory.mktemp("data"))


def train(*argv) -> int:
    from wakeword.train.__main__ import main

    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def tiny_cv(corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cv")
    run = tmp / "cv" / "ours"
    assert train("--data", corpus, "--tiny", "--folds", "2", "--out", run, "--runs", tmp / "runs", "--workers", "1") == 0
    return run, tmp


def test_cross_validation_writes_fold_models_results_and_a_final_model_with_the_chosen_threshold(tiny_cv):
    run, _ = tiny_cv
    results = json.loads((run / "cv.json").read_text())
    entry = results["models"][0]
    assert results["folds"] == 2 and entry["conditions"] == ["clean", "snr10db", "snr5db", "room"]
    for fold in (0, 1):
        spec = load_sidecar(run / f"fold{fold}.json")
        plan = spec.training["data"]["plan"]
        assert (plan["folds"], plan["fold"]) == (2, fold)
        assert spec.input_dtype == "int8" and spec.output_activation == "logit"
    final = load_sidecar(run / "final.json")
    assert final.training["data"]["plan"]["fold"] is None
    assert final.training["data"]["plan"]["speakers"] > load_sidecar(run / "fold0.json").training["data"]["plan"]["speakers"]
    assert final.thresholds["stop"] == pytest.approx(entry["threshold_choice"]["threshold"])
    assert final.trigger.smoothing_windows == entry["trigger"]["smoothing_windows"]
    assert final.training["crossval"]["threshold_choice"] == entry["threshold_choice"]
    assert spec_from_dict(json.loads(json.dumps(final.to_dict()))) == final
    point = entry["at_chosen"]
    assert len(point["frr_by_fold"]["clean"]) == 2 and point["hours"] > 0
    # the runtime runs the final model in the streaming pipeline
    model = load_model(run / "final.tflite")
    seen = []
    pipe = Pipeline(ModelSetup.recommended(model), 16000, on_scores=lambda e, s, _: seen.append(s))
    audio = 0.05 * np.random.default_rng(2).standard_normal(3 * 16000).astype(np.float32)
    for start in range(0, len(audio), 1600):
        pipe.feed(audio[start : start + 1600])
    scores = np.concatenate(seen)
    assert pipe.windows_scored == len(scores) >= 19 and np.all((scores >= 0) & (scores <= 1))


def test_evaluate_scores_fold_models_on_their_folds_and_writes_the_card(tiny_cv, corpus, tmp_path):
    run, tmp = tiny_cv
    out = tmp_path / "models" / "eval-results.json"
    cmd = [sys.executable, "-m", "wakeword.train.evaluate", "--data", str(corpus), "--folds", "2", "--model", f"ours={run}",
           "--hours", "0.02", "--cache-dir", str(tmp / "runs" / "eval-cache"), "--out", str(out), "--card", str(tmp_path / "models" / "README.md")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())
    assert [m["name"] for m in results["models"]] == ["ours"]
    card = (tmp_path / "models" / "README.md").read_text()
    p = results["models"][0]["at_chosen"]
    assert f"| FRR clean (fold range) | {100 * p['frr']['clean']:.1f} %" in card
    assert "2-fold speaker cross-validation" in card and "wakeword-train --data" in card
    # a fold model scored on a fold it trained on is refused, in one line
    r = subprocess.run(cmd + ["--fold-seed", "5"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "could test it on its own training speakers" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_same_seed_gives_the_same_bytes_and_an_ensemble_averages_its_members(corpus, tmp_path, tiny_cv):
    outputs = []
    for run in ("a", "b"):
        prefix = tmp_path / run / "stop"
        assert train("--data", corpus, "--tiny", "--out", prefix, "--runs", tmp_path / "runs", "--workers", "1",
                     "--seed", "3", "--ensemble", "2") == 0
        outputs.append(prefix)
    a, b = (p.with_suffix(".tflite").read_bytes() for p in outputs)
    assert a == b
    spec = load_sidecar(outputs[0].with_suffix(".json"))
    single = load_sidecar(tiny_cv[0] / "final.json")
    assert spec.thresholds["stop"] == 0.5  # provisional: no cross-validation chose it
    assert spec.training["figures"]["params"] == 2 * single.training["figures"]["params"]
    assert {"member0_stage1", "member1_stage1"} <= set(spec.training["figures"]["losses"])
    assert train("--ensemble", "0", "--data", corpus, "--out", tmp_path / "x") == 2


def test_a_multiclass_network_reads_the_keyword_from_a_softmax_over_every_class(corpus, tmp_path):
    prefix = tmp_path / "mc" / "stop"
    assert train("--data", corpus, "--tiny", "--keyword", "stop", "--classes", "go,no", "--out", prefix,
                 "--runs", tmp_path / "runs", "--workers", "1") == 0
    spec = load_sidecar(prefix.with_suffix(".json"))
    assert spec.keywords == ("stop",) and spec.labels == ("stop", "go", "no", "_unknown_", "_background_")
    assert spec.output_activation == "softmax_logit"
    model = load_model(prefix.with_suffix(".tflite"))
    y = model.predict(np.random.default_rng(4).standard_normal((3, *spec.input_shape[1:])).astype(np.float32))
    assert y.shape == (3, 1) and np.all((y >= 0) & (y <= 1))
    several = tmp_path / "cmd" / "commands"
    assert train("--data", corpus, "--tiny", "--keyword", "go,no", "--out", several, "--runs", tmp_path / "runs", "--workers", "1") == 0
    spec = load_sidecar(several.with_suffix(".json"))
    assert spec.keywords == ("go", "no") and spec.labels[:2] == ("go", "no")
    assert load_model(several.with_suffix(".tflite")).predict(np.zeros((2, *spec.input_shape[1:]), np.float32)).shape == (2, 2)


def test_ship_copies_a_model_under_a_new_name_and_points_its_sidecar_at_it(tiny_cv, tmp_path):
    run, _ = tiny_cv
    assert train("ship", run / "final.tflite", tmp_path / "stop.tflite") == 0
    assert (tmp_path / "stop.tflite").read_bytes() == (run / "final.tflite").read_bytes()
    spec = load_sidecar(tmp_path / "stop.json")
    assert spec.model_file == "stop.tflite" and spec.name == "stop" and load_model(tmp_path / "stop.tflite").spec == spec
    assert train("ship", run / "final.tflite", run / "final.tflite") == 2


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


def test_a_rerun_of_the_same_recipe_keeps_its_fold_models(tiny_cv, corpus, capsys):
    run, tmp = tiny_cv
    before = {p.name: p.stat().st_mtime_ns for p in run.glob("fold*.tflite")}
    assert train("--data", corpus, "--tiny", "--folds", "2", "--out", run, "--runs", tmp / "runs", "--workers", "1", "--no-final") == 0
    assert "fold0.tflite was trained by this recipe; kept" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in run.glob("fold*.tflite")} == before
    from wakeword.train.runner import recipe_of

    assert recipe_of("wakeword-train --folds 5 --no-final --out x") == recipe_of("wakeword-train --folds 5 --out x")
    assert recipe_of("wakeword-train --folds 5 --seed 1") != recipe_of("wakeword-train --folds 5 --seed 2")


def test_captured_false_accepts_are_trained_on_as_negatives(corpus, tmp_path):
    """--false-accepts DIR takes the clips the user moved into DIR/false; the sidecar counts them."""
    from wakeword.wavfile import write_wav

    captures = tmp_path / "captures"
    (captures / "false").mkdir(parents=True)
    rng = np.random.default_rng(9)
    for i in range(3):
        write_wav(captures / "false" / f"capture-{i}.wav", 0.1 * rng.standard_normal(40000), 16000)
    write_wav(captures / "capture-kept.wav", 0.1 * rng.standard_normal(40000), 16000)  # not reviewed: not used
    prefix = tmp_path / "fa" / "stop"
    assert train("--data", corpus, "--tiny", "--false-accepts", captures, "--out", prefix,
                 "--runs", tmp_path / "runs", "--workers", "1") == 0
    side = json.loads(prefix.with_suffix(".json").read_text())
    assert side["training"]["data"]["false_accepts"] == 3
    r = subprocess.run([sys.executable, "-m", "wakeword.train", "--data", str(corpus), "--tiny", "--false-accepts",
                        str(tmp_path / "fa"), "--out", str(tmp_path / "x" / "stop"), "--runs", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=300)
    errors = [line for line in r.stderr.splitlines() if line.startswith("wakeword-train")]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(errors) == 1 and "--false-accepts" in errors[0] and "/false" in errors[0], r.stderr


def test_a_several_keyword_run_is_cross_validated_per_word_and_gets_its_card(corpus, tmp_path):
    from wakeword.train.commands_cv import main as card_main

    run = tmp_path / "cv" / "commands"
    assert train("--data", corpus, "--tiny", "--keyword", "go,no", "--folds", "2", "--out", run,
                 "--runs", tmp_path / "runs", "--workers", "1") == 0
    results = json.loads((run / "cv.json").read_text())
    assert results["kind"] == "commands" and results["keywords"] == ["go", "no"]
    a = results["at_chosen"]
    assert set(a["frr"]) == {"clean", "snr10db"} and set(a["frr"]["clean"]) == {"go", "no"}
    for cond, counts in a["confusion"].items():
        for kw, row in counts.items():  # every trial counted once at least: the word(s) that fired, or (none)
            trials = a["trials"][cond][kw]
            assert trials > 0 and sum(row.values()) >= trials
            assert a["frr"][cond][kw] == pytest.approx(1 - row[kw] / trials)
    ww = a["wrong_word"]["clean"]
    wrong = sum(v for kw, row in a["confusion"]["clean"].items() for k, v in row.items() if k not in (kw, "(none)"))
    assert ww["wrong"] == wrong and ww["detections"] == wrong + sum(row[kw] for kw, row in a["confusion"]["clean"].items())
    spec = load_sidecar(run / "final.json")
    assert spec.keywords == ("go", "no") and set(spec.thresholds) == {"go", "no"}
    assert spec.thresholds == pytest.approx(results["thresholds"]) and spec.trigger.contest_s == pytest.approx(0.3)
    # the first rule's even split, scored the same way, for comparison; never a lower worst-word FRR
    ev = results["even_split"]
    assert set(ev["thresholds"]) == {"go", "no"} and set(ev["frr"]["clean"]) == {"go", "no"}
    assert max(a["frr"]["clean"].values()) <= max(ev["frr"]["clean"].values()) + 0.02 + 1e-9  # + the margin's cost
    card, png = tmp_path / "card.md", tmp_path / "confusion.png"
    (tmp_path / "commands-experiments.json").write_text(json.dumps(
        {"about": "tried here", "experiments": [{"name": "C9: a recipe", "kept": False, "result": "no better"}]}))
    assert card_main(["--run", str(run), "--card", str(card), "--confusion", str(png), "--model", str(run / "final.tflite")]) == 0
    text = card.read_text()
    assert "| go |" in text and "FA in streams" in text and png.read_bytes()[:4] == b"\x89PNG"
    assert "Thresholds: one budget of 1 FA/h for all keywords" in text and "The first rule, an even split" in text
    assert "## What was tried" in text and "**C9: a recipe**" in text


def test_window_mean_removal_ignores_a_fixed_channel_but_not_the_level():
    """ours_cmn's first op: a constant added to cepstra 1.. (a fixed microphone response) changes
    nothing, while the log energy (coefficient 0) and the shape over time still reach the network."""
    from keras import ops

    from wakeword.train.models import window_mean_removal

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 49, 20)).astype(np.float32)
    channel = np.r_[0.0, rng.uniform(-2, 2, 19)].astype(np.float32)
    a, b = (ops.convert_to_numpy(window_mean_removal(ops.convert_to_tensor(v))) for v in (x, x + channel))
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(a.mean(axis=1)[:, 1:], 0.0, atol=1e-5)
    np.testing.assert_allclose(a[..., 0], x[..., 0])  # the log energy is kept as it is
    louder = x.copy()
    louder[..., 0] += 1.0
    assert not np.allclose(ops.convert_to_numpy(window_mean_removal(ops.convert_to_tensor(louder))), a)
    # wired into ours_cmn (and not into ours): the network's logit ignores the channel
    import keras

    from wakeword.train.models import ARCHITECTURES, logit_model

    moved = {}
    for name in ("ours_cmn", "ours"):
        keras.utils.set_random_seed(1)
        net = logit_model(ARCHITECTURES[name].build((49, 20)))
        base = net.predict(x, verbose=0)
        moved[name] = float(np.abs(net.predict(x + channel, verbose=0) - base).max() / np.ptp(base))
    assert moved["ours_cmn"] < 1e-4 and moved["ours"] > 1e-2, moved


def test_the_cmn_architecture_trains_and_exports_an_int8_model_the_runtime_runs(corpus, tmp_path):
    prefix = tmp_path / "cmn" / "stop"
    assert train("--data", corpus, "--tiny", "--arch", "ours_cmn", "--out", prefix, "--runs", tmp_path / "runs",
                 "--workers", "1") == 0
    spec = load_sidecar(prefix.with_suffix(".json"))
    assert spec.training["arch"] == "ours_cmn" and spec.input_dtype == "int8"
    assert load_model(prefix.with_suffix(".tflite")).predict(np.zeros((2, *spec.input_shape[1:]), np.float32)).shape == (2, 1)


def test_evaluate_adds_a_recipe_to_an_earlier_comparison_of_the_same_evaluation_only(tiny_cv, corpus, tmp_path):
    run, tmp = tiny_cv
    first, merged = tmp_path / "first.json", tmp_path / "merged.json"
    base = [sys.executable, "-m", "wakeword.train.evaluate", "--data", str(corpus), "--folds", "2",
            "--cache-dir", str(tmp / "runs" / "eval-cache")]
    r = subprocess.run(base + ["--model", f"ours={run}", "--hours", "0.02", "--out", str(first)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + ["--model", f"again={run}", "--hours", "0.02", "--add-to", str(first), "--out", str(merged),
                               "--card", str(tmp_path / "README.md")], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    a, m = json.loads(first.read_text()), json.loads(merged.read_text())
    assert [x["name"] for x in m["models"]] == ["ours", "again"]
    assert m["models"][0] == a["models"][0]  # kept as it was scored
    assert m["models"][1]["at_chosen"] == a["models"][0]["at_chosen"]  # the same fold models, the same figures
    assert m["command"].splitlines()[0] == a["command"] and "--add-to" in m["command"].splitlines()[1]
    assert "| FRR clean (fold range) |" in (tmp_path / "README.md").read_text()
    # another evaluation (a longer negative stream) or a name already there: one line, exit 2, nothing written
    for extra, message in ((["--model", f"third={run}", "--hours", "0.03"], "made with another evaluation (eval_hours_per_fold"),
                           (["--model", f"ours={run}", "--hours", "0.02"], "already has ours")):
        out = tmp_path / "refused.json"
        r = subprocess.run(base + extra + ["--add-to", str(first), "--out", str(out)], capture_output=True, text=True, timeout=600)
        # (the tiny corpus's threshold warnings come first: the error is the one last line)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith("error: ") and message in last and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()


def test_evaluate_figures_a_pair_that_must_agree_and_a_model_agreeing_with_itself_is_the_model_alone(tiny_cv, corpus, tmp_path):
    run, tmp = tiny_cv
    out = tmp_path / "pair.json"
    base = [sys.executable, "-m", "wakeword.train.evaluate", "--data", str(corpus), "--folds", "2",
            "--cache-dir", str(tmp / "runs" / "eval-cache"), "--model", f"ours={run}", "--model", f"again={run}",
            "--hours", "0.02", "--out", str(out)]
    r = subprocess.run(base + ["--fuse-all", "ours+again", "--coincidence-ms", "500"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    results = json.loads(out.read_text())
    (pair,) = results["fusions"]
    assert pair["mode"] == "all" and pair["members"] == ["ours", "again"] and pair["coincidence_s"] == 0.5
    # the same scores twice agree at every detection: the pair at its best is the model at its best
    # (the tiny corpus may leave no threshold within 0.5 FA/h: then neither meets it)
    alone = pair["nested_members"]["ours"]
    assert pair["nested"]["met"] == alone["met"]
    if alone["met"]:
        assert pair["nested"]["frr"] == alone["frr"] and pair["nested"]["fa_count"] == alone["fa_count"]
    for bad, message in ((["--fuse-all", "ours+nope"], "--fuse-all ours+nope"),
                         (["--fuse-all", "ours+again", "--coincidence-ms", "nan"], "--coincidence-ms must be between 50 and 10000"),
                         (["--fuse-all", "ours+again", "--coincidence-ms", "20"], "--coincidence-ms must be between 50 and 10000"),
                         (["--coincidence-ms", "500"], "--coincidence-ms applies only with --fuse-all"),
                         (["--model", f"third={run}", "--fuse-all", "ours+again+third"], "give two recipes")):
        r = subprocess.run(base + bad, capture_output=True, text=True, timeout=600)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith("error: ") and message in last and "Traceback" not in r.stderr, r.stderr


def test_keywords_is_the_same_flag_as_keyword():
    from wakeword.train.mfcc_trainer import parse_args

    a = parse_args(["--keywords", "yes,no,up", "--out", "x"])
    b = parse_args(["--keyword", "yes,no,up", "--out", "x"])
    assert a.keyword == b.keyword == "yes,no,up"
