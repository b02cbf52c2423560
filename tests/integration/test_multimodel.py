"""Several models at once (config.yaml's models list) and per-keyword actions (actions.keywords).

The second model is the shipped speech-embedding head under another keyword ("halt"): a real
model and a real interpreter, whose detections fall where the "stop" head's do, which is what
lets these tests tell the keywords' actions apart on one recording. Pins are gpiozero
MockFactory pins; the dry-run and the errors go through the real command line.
"""

from __future__ import annotations

import io
import json
import shutil
import time

import pytest
from gpiozero.pins.mock import MockFactory

from tests.conftest import ROOT, read_wav
from tests.integration.test_cli import MIXED, MIXED_STOPS_S, assert_one_line_error, wakeword
from wakeword.actions import ActionRunner, probe_pins
from wakeword.config import apply_overrides, load_config
from wakeword.detector import Pipeline, detect_in_file, load_setups
from wakeword.errors import ConfigError

EMBEDDING = ROOT / "models" / "stop-embedding.tflite"
WAIT_S = 10.0


@pytest.fixture
def halt_model(tmp_path):
    """stop-embedding.tflite with its sidecar relabelled: keyword "halt"."""
    pytest.importorskip("openwakeword")  # the [embedding] extra, which the README's test command installs
    dest = tmp_path / "halt.tflite"
    shutil.copyfile(EMBEDDING, dest)
    side = json.loads(EMBEDDING.with_suffix(".json").read_text())
    side.update(name="halt", model_file=dest.name, keywords=["halt"], thresholds={"halt": side["thresholds"]["stop"]})
    dest.with_suffix(".json").write_text(json.dumps(side))
    return dest


def write_config(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_a_models_list_runs_every_model_and_the_dry_run_reports_every_keyword(tmp_path, halt_model):
    cfg = write_config(tmp_path, f"models:\n  - stop.tflite\n  - path: {halt_model}\n    threshold: 0.9\n"
                                 "actions:\n  led:\n    pin: null\n")
    r = wakeword("--config", cfg, "--dry-run", MIXED, "--json")
    assert r.returncode == 0, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    by_word = {kw: [d["time_s"] for d in found if d["keyword"] == kw] for kw in ("stop", "halt")}
    for kw, times in by_word.items():  # each model finds both stops of the recording, and nothing else
        assert len(times) == 2, (kw, found)
        assert all(lo - 0.5 <= t <= hi + 1.0 for t, (lo, hi) in zip(sorted(times), MIXED_STOPS_S)), (kw, times)
    r = wakeword("--config", cfg, "--dry-run", MIXED)
    assert "thresholds stop=" in r.stdout and "thresholds halt=0.900" in r.stdout


def test_two_embedding_heads_share_one_front_end_and_give_the_scores_they_give_alone(tmp_path, halt_model):
    config = load_config(write_config(tmp_path, f"models:\n  - stop-embedding\n  - {halt_model}\n"))
    both = load_setups(config)
    pipeline = Pipeline(both, 16000)
    assert len(pipeline._groups) == 1 and len(pipeline._groups[0][1]) == 1  # one resampler, one embedding stream
    x, rate = read_wav(MIXED)
    shared = []
    pipeline.on_scores = lambda ends, scores, setup: shared.append((setup.keywords[0], ends.copy(), scores.copy()))
    detect_in_file(pipeline, [x])
    alone = []
    solo = Pipeline([both[1]], 16000)
    solo.on_scores = lambda ends, scores, setup: alone.append((ends.copy(), scores.copy()))
    detect_in_file(solo, [x])
    halt_shared = [(e, s) for kw, e, s in shared if kw == "halt"]
    assert sum(len(e) for e, _ in halt_shared) == sum(len(e) for e, _ in alone) > 100
    import numpy as np

    np.testing.assert_allclose(np.concatenate([s for _, s in halt_shared]), np.concatenate([s for _, s in alone]), atol=1e-6)


def _stop_times(config_path, block_s=None):
    """The recording between 2 s of quiet on each side, fed straight to a Pipeline (the same
    stream for every model list, so the models' window grids line up)."""
    import numpy as np

    pipeline = Pipeline(load_setups(load_config(config_path)), 16000)
    x, rate = read_wav(MIXED)
    assert rate == 16000
    quiet = (np.random.default_rng(0).standard_normal(2 * rate) * 1e-4).astype(np.float32)
    x = np.concatenate([quiet, x, quiet])
    step = len(x) if block_s is None else int(block_s * rate)
    found = [d for i in range(0, len(x), step) for d in pipeline.feed(x[i:i + step])] + pipeline.flush()
    return [d.time_s - 2.0 for d in found if d.keyword == "stop"], [d.model for d in found if d.keyword == "stop"]


def test_two_models_of_one_keyword_fire_once_per_word_whichever_hears_it_first(tmp_path):
    pytest.importorskip("openwakeword")
    mfcc, alone = _stop_times(write_config(tmp_path, "models: [stop.tflite]\n"))
    emb, _ = _stop_times(write_config(tmp_path, "models: [stop-embedding.tflite]\n"))
    assert len(mfcc) == len(emb) == 2, (mfcc, emb)  # each alone hears both stops of the recording
    assert alone == [None, None]  # a keyword no other model has: no model named
    both = write_config(tmp_path, "models:\n  - {path: stop.tflite, threshold: 0.98}\n"
                                  "  - {path: stop-embedding.tflite, threshold: 0.99206}\n")
    for block_s in (None, 0.1):  # one call for the file, or the daemon's 100 ms blocks
        fused, models = _stop_times(both, block_s)
        assert len(fused) == 2, (block_s, fused, mfcc, emb)  # not four: one detection per spoken word
        for t, a, b, model in zip(fused, mfcc, emb, models):
            assert t in (a, b) and abs(a - b) < 1.0
            assert model == ("stop.tflite" if t == a else "stop-embedding.tflite"), (t, a, b, model)  # the one that heard it
        if block_s is None:  # all in one call: the earlier of the two
            assert fused == [min(a, b) for a, b in zip(mfcc, emb)]
    r = wakeword("--config", both, "--dry-run", MIXED, "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["keyword"] for d in lines] == ["stop", "stop"]
    assert all(d["model"] in ("stop.tflite", "stop-embedding.tflite") for d in lines), lines


def test_two_models_that_must_agree_fire_once_per_word_when_the_later_one_hears_it(tmp_path):
    pytest.importorskip("openwakeword")
    mfcc, _ = _stop_times(write_config(tmp_path, "models: [stop.tflite]\n"))
    emb, _ = _stop_times(write_config(tmp_path, "models: [stop-embedding.tflite]\n"))
    pair = ("models:\n  - {path: stop.tflite, threshold: 0.98}\n  - {path: stop-embedding.tflite, threshold: %s}\n"
            "trigger: {combine: all%s}\n")
    for block_s in (None, 0.1):
        agreed, models = _stop_times(write_config(tmp_path, pair % (0.99206, "")), block_s)
        assert agreed == [max(a, b) for a, b in zip(mfcc, emb)], (block_s, agreed, mfcc, emb)  # when both have heard it
        assert models == ["stop.tflite+stop-embedding.tflite"] * 2
    # a partner that never fires silences the keyword, which either model alone would fire on
    deaf, _ = _stop_times(write_config(tmp_path, pair % (0.99999, "")))
    assert deaf == [] and _stop_times(write_config(tmp_path, pair.replace("combine: all", "combine: any") % (0.99999, "")))[0] == mfcc
    # a window shorter than the gap between the two models' detections of each word: no agreement
    gaps = [abs(a - b) for a, b in zip(mfcc, emb)]
    assert min(gaps) > 0.05, gaps  # the two front ends' windows end at different times
    assert _stop_times(write_config(tmp_path, pair % (0.99206, ", coincidence_ms: 50")))[0] == []
    r = wakeword("--config", write_config(tmp_path, pair % (0.99206, "")), "--dry-run", MIXED, "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["model"] for line in r.stdout.splitlines()] == ["stop.tflite+stop-embedding.tflite"] * 2


def test_a_command_line_trigger_override_keeps_the_agreement_settings_and_check_config_shows_them(tmp_path):
    pytest.importorskip("openwakeword")
    cfg = write_config(tmp_path, PAIR + "trigger: {combine: all, coincidence_ms: 400}\n")
    config = apply_overrides(load_config(cfg), {"trigger.hop_ms": 80})  # what --hop-ms does
    assert config.trigger.combine == "all" and config.trigger.coincidence_s == pytest.approx(0.4)
    assert [s.agree_within_s for s in load_setups(config)] == [pytest.approx(0.4)] * 2
    r = wakeword("--config", cfg, "--check-config", "--no-probe")
    assert r.returncode == 0 and "shared: stop fires only when all its models fire within 400 ms" in r.stdout, r.stdout + r.stderr
    plain = apply_overrides(load_config(write_config(tmp_path, PAIR)), {"trigger.hop_ms": 80})
    assert plain.trigger.combine == "any" and {s.agree_within_s for s in load_setups(plain)} == {None}


def test_one_model_from_the_command_line_runs_alone_under_a_config_whose_models_must_agree(tmp_path):
    pytest.importorskip("openwakeword")
    cfg = write_config(tmp_path, PAIR + "trigger: {combine: all, coincidence_ms: 400}\n")
    alone = apply_overrides(load_config(cfg), {"model.path": str(ROOT / "models" / "stop.tflite")})  # what --model does
    assert alone.trigger.combine == "any" and [s.agree_within_s for s in load_setups(alone)] == [None]
    r = wakeword("--config", cfg, "--model", str(ROOT / "models" / "stop.tflite"), "--dry-run", MIXED, "--json")
    assert r.returncode == 0, r.stderr  # was: "trigger.combine: all needs a keyword that two or more models detect"
    plain = wakeword("--dry-run", MIXED, "--json", "--model", str(ROOT / "models" / "stop.tflite"))
    assert r.stdout == plain.stdout and len(r.stdout.splitlines()) == 2


@pytest.mark.parametrize("text, needles", [
    ("trigger: {combine: both}\n", ("trigger.combine must be one of any, all", "'both'")),
    ("trigger: {combine: 1}\n", ("trigger.combine must be one of any, all",)),
    ("trigger: {combine: all}\n", ("trigger.combine: all needs a keyword that two or more models detect",)),
    ("trigger: {coincidence_ms: 500}\n", ("trigger.coincidence_ms applies only with trigger.combine: all",)),
    ("trigger: {combine: all, coincidence_ms: .nan}\n", ("trigger.coincidence_ms must be a finite number",)),
    ("trigger: {combine: all, coincidence_ms: 20}\n", ("trigger.coincidence_ms must be between 50 and 10000",)),
])
def test_bad_agreement_settings_are_one_line_errors(tmp_path, text, needles):
    r = wakeword("--config", write_config(tmp_path, text), "--check-config", "--no-probe")
    assert_one_line_error(r, *needles)


PAIR = "models:\n  - {path: stop.tflite, threshold: 0.99}\n  - {path: stop-embedding.tflite, threshold: 0.994}\n"


@pytest.mark.parametrize("text, flags, needles", [
    (PAIR + "trigger:\n  threshold: {stop: 0.9}\n", (), ("trigger.threshold.stop", "models[0] (stop.tflite)",
                                                           "models[1] (stop-embedding.tflite)", "its own threshold")),
    (PAIR + "trigger:\n  threshold: 0.9\n", (), ("trigger.threshold (or --threshold)", "'stop'", "not on one scale")),
    (PAIR, ("--threshold", "0.9"), ("trigger.threshold (or --threshold)", "'stop'")),
    ("models:\n  - {path: stop.tflite, threshold: 0.99}\n  - stop-embedding.tflite\n", (),
     ("models[1] (stop-embedding.tflite) shares 'stop' with models[0] (stop.tflite)", "models[1].threshold")),
])
def test_a_keyword_two_models_share_needs_a_threshold_of_each_models_own(tmp_path, text, flags, needles):
    pytest.importorskip("openwakeword")
    r = wakeword("--config", write_config(tmp_path, text), "--check-config", "--no-probe", *flags)
    assert_one_line_error(r, *needles)
    assert wakeword("--config", write_config(tmp_path, PAIR), "--check-config", "--no-probe").returncode == 0


def test_the_wyoming_info_names_a_shared_keyword_once(tmp_path):
    pytest.importorskip("openwakeword")
    pytest.importorskip("wyoming")
    from wakeword.wyoming_server import build_info

    cfg = write_config(tmp_path, PAIR)
    info = build_info(load_setups(load_config(cfg)), ("en",))
    (entry,) = info.wake[0].models
    assert entry.name == "stop"
    assert "stop.tflite" in entry.description and "stop-embedding.tflite" in entry.description
    assert "threshold 0.99)" in entry.description and "threshold 0.994)" in entry.description


@pytest.mark.parametrize("text, needles", [
    ("model:\n  path: stop.tflite\nmodels: [stop.tflite]\n", ("either model", "or models")),
    ("models: []\n", ("models must be a list",)),
    ("models:\n  - threshold: 0.5\n", ("models[0].path is missing",)),
    ("models:\n  - path: stop.tflite\n    threshold: 1.5\n", ("models[0].threshold must be between 0 and 1",)),
    ("models:\n  - path: stop.tflite\n    threshold: {go: 0.5}\n", ("models[0].threshold.go", "stop.tflite does not have")),
    ("models:\n  - stop.tflite\n  - models/stop.tflite\n", ("models[1].path names the same model as models[0]",)),
    ("models:\n  - path: stop.tflite\n    colour: red\n", ("models[0].colour is not a known setting",)),
    ("trigger:\n  threshold: {halt: 0.5}\n", ("trigger.threshold.halt names a keyword no model has",)),
    ("actions:\n  keywords:\n    halt:\n      led: {pin: 22}\n", ("actions.keywords.halt names a keyword no model has", "stop")),
    ("actions:\n  keywords:\n    stop:\n      buzzer: {pin: 22}\n", ("actions.keywords.stop.buzzer is not a known setting",)),
    ("actions:\n  keywords:\n    stop:\n      led: {pin: 99}\n", ("actions.keywords.stop.led.pin must be a BCM pin",)),
    ("actions:\n  keywords:\n    stop:\n      output: {pin: 17}\n",
     ("actions.keywords.stop.output.pin is the same pin as actions.led.pin", "either an LED or an output")),
    ("actions:\n  keywords:\n    stop:\n      led: {active_high: false}\n", ("active_high false here and true at actions.led.pin",)),
])
def test_bad_models_and_keyword_sections_are_one_line_errors(tmp_path, text, needles):
    r = wakeword("--config", write_config(tmp_path, text), "--check-config", "--no-probe")
    assert_one_line_error(r, *needles)


def test_the_threshold_flag_overrides_every_models_own_threshold(tmp_path):
    config = load_config(write_config(tmp_path, "models:\n  - path: stop.tflite\n    threshold: 0.3\n"))
    assert load_setups(config)[0].thresholds == {"stop": 0.3}
    config = apply_overrides(config, {"trigger.threshold": 0.7})
    assert load_setups(config)[0].thresholds == {"stop": 0.7}


def wait_for(predicate, what):
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_each_keyword_drives_its_own_pins_and_hook_and_the_rest_use_the_default(tmp_path, halt_model):
    marker = tmp_path / "halt-hook"
    hook = ["/bin/sh", "-c", f'echo "$WAKEWORD_KEYWORD" >> {marker}']
    cfg = write_config(tmp_path, f"models:\n  - stop.tflite\n  - {halt_model}\n"
                       "actions:\n  log_json: false\n  led: {pin: 17}\n  output: {pin: 22, pulse_s: 0.05}\n"
                       "  keywords:\n    halt:\n      led: {pin: null}\n      output: {pin: 23}\n"
                       f"      hook: {{command: {json.dumps(hook)}}}\n")
    config = load_config(cfg)
    setups = load_setups(config)
    assert config.actions.for_keyword("halt").output.pulse_s == 0.05  # merged over the default section
    factory = MockFactory()
    keywords = [kw for s in setups for kw in s.keywords]
    assert probe_pins(config.actions, pin_factory=factory, keywords=keywords) == ["GPIO17 (LED)", "GPIO22 (output)", "GPIO23 (output)"]
    runner = ActionRunner(config.actions, pin_factory=factory, stdout=io.StringIO(), keywords=keywords)
    runner.start()
    try:
        x, rate = read_wav(MIXED)
        found = detect_in_file(Pipeline(setups, rate), [x])
        assert sorted({d.keyword for d in found}) == ["halt", "stop"]
        pin = factory.pin
        def rises(n):
            return sum(1 for s in pin(n).states if s.state)

        blinks = config.actions.led.blink_count
        expected = {17: 0, 22: 0, 23: 0}
        for det in found:  # one at a time, as a speaker would: a pulse running when the next comes is restarted
            runner.submit(det)
            if det.keyword == "stop":
                expected[17] += blinks
                expected[22] += 1
            else:
                expected[23] += 1
            wait_for(lambda: all(rises(n) == k for n, k in expected.items()), f"the {det.keyword} actions")
            wait_for(lambda: not pin(17).state and not pin(22).state and not pin(23).state, "every pin back off")
        wait_for(lambda: marker.exists() and len(marker.read_text().split()) == 2, "the halt hook, twice")
        assert marker.read_text().split() == ["halt", "halt"]  # stop has no hook: the default has none
        stops = sum(d.keyword == "stop" for d in found)
        assert rises(22) == stops and rises(23) == len(found) - stops  # each output pulsed by its keyword only
        assert rises(17) == blinks * stops  # the LED blinks for stop, never for halt
    finally:
        runner.close(timeout_s=2.0)
        factory.close()


def test_check_config_lists_each_keywords_actions(tmp_path, halt_model):
    cfg = write_config(tmp_path, f"models:\n  - stop.tflite\n  - {halt_model}\n"
                       "actions:\n  led: {pin: 17}\n  keywords:\n    halt:\n      led: {pin: 27}\n")
    r = wakeword("--config", cfg, "--check-config", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert "actions: led pin 17" in r.stdout and "actions for halt: led pin 27" in r.stdout
    assert r.stdout.count("model: ") == 2


def test_unknown_keyword_sections_fail_in_code_too(tmp_path):
    config = load_config(write_config(tmp_path, "actions:\n  keywords:\n    go:\n      led: {pin: 5}\n"))
    with pytest.raises(ConfigError, match="actions.keywords.go names a keyword no model has"):
        load_setups(config)
