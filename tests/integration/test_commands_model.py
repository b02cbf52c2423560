"""The shipped command-word model (models/commands.tflite) and the README's example config for it.

Real model, real interpreter, real recordings: the tests/data clips are left out of every training
run (wakeword/train/data.py, RESERVED_CLIPS), so the model has never heard these speakers say these
words. Pins are gpiozero MockFactory pins.
"""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from gpiozero.pins.mock import MockFactory

from tests.conftest import ROOT, read_wav
from tests.integration.test_cli import MIXED, wakeword
from wakeword.actions import ActionRunner
from wakeword.config import load_config
from wakeword.detector import Pipeline, detect_in_file, load_setups
from wakeword.model import load_model
from wakeword.trigger import Detection

COMMANDS = ROOT / "models" / "commands.tflite"
WORDS = ("go", "stop", "up", "down", "left", "right", "on", "off", "yes", "no")
#: mixed_stop.wav's clips (tests/data/README.md): (start, end) of each one-second clip, and its word.
MIXED_WORDS = [((1.5, 2.5), "go"), ((4.0, 5.0), "stop"), ((6.5, 7.5), "up"), ((9.0, 10.0), "stop")]
SINGLE = {"go_0bac8a71.wav": "go", "off_5e3dde6b.wav": "off", "up_5c8af87a.wav": "up", "stop_1f653d27.wav": "stop",
          "stop_1fe4c891.wav": "stop", "stop_3f170018.wav": "stop"}
WAIT_S = 10.0
#: The README example's pins: left and right pulse outputs, stop lights the LED.
PINS = {"stop": 17, "left": 23, "right": 24}


def readme_example() -> str:
    """The README's command-word config: the yaml block that loads the commands model."""
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return next(b for b in blocks if "path: commands" in b)


def test_the_shipped_command_model_has_ten_words_a_threshold_each_and_fits_the_size_budget():
    model = load_model(COMMANDS)
    spec = model.spec
    assert set(spec.keywords) == set(WORDS) and set(spec.thresholds) == set(WORDS)
    assert all(0.0 < t < 1.0 for t in spec.thresholds.values())
    assert spec.input_dtype == "int8" and COMMANDS.stat().st_size <= 150 * 1024
    side = json.loads(COMMANDS.with_suffix(".json").read_text())
    labels = side["output"]["labels"]
    assert len(labels) == 12 and set(labels) == set(WORDS) | {"_unknown_", "_background_"}, labels
    assert spec.trigger.contest_s > 0  # two words crossing together: only the higher one fires
    assert side["training"]["crossval"]["results"].endswith("cv.json")


def test_dry_run_names_each_word_of_the_mixed_recording_where_it_is_said():
    r = wakeword("--model", COMMANDS, "--dry-run", MIXED, "--json")
    assert r.returncode == 0, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["keyword"] for d in found] == [w for _, w in MIXED_WORDS], found
    for d, ((start, end), _) in zip(found, MIXED_WORDS):
        assert start < d["time_s"] <= end + 1.0, d


@pytest.mark.parametrize("name,word", sorted(SINGLE.items()))
def test_a_single_word_is_never_named_as_another_nor_fires_twice(name, word):
    """The model misses many words (its card: left 64 % clean), so a miss is allowed here; a wrong
    word or a second detection of one word is not."""
    r = wakeword("--model", COMMANDS, "--dry-run", ROOT / "tests" / "data" / name, "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["keyword"] for line in r.stdout.splitlines()] in ([], [word])


def test_the_readmes_example_config_checks_and_drives_the_pins_it_names(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(readme_example())
    r = wakeword("--config", cfg, "--check-config", "--no-probe")
    assert r.returncode == 0, r.stderr
    for line in ("actions: led pin None, output pin None", "actions for left: led pin None, output pin 23",
                 "actions for right: led pin None, output pin 24", "actions for stop: led pin 17, output pin None"):
        assert line in r.stdout, r.stdout
    config = load_config(cfg)
    setups = load_setups(config)
    factory = MockFactory()
    runner = ActionRunner(config.actions, pin_factory=factory, stdout=io.StringIO(), keywords=list(WORDS))
    runner.start()
    try:
        x, rate = read_wav(MIXED)
        heard = detect_in_file(Pipeline(setups, rate), [x])
        assert [d.keyword for d in heard] == [w for _, w in MIXED_WORDS]
        # the recording has no "left" or "right": those two come as the detector would hand them over
        said = [*heard, Detection("left", 0.99, 0, rate), Detection("right", 0.99, 0, rate)]

        def rises(n):
            return sum(1 for s in factory.pin(n).states if s.state)

        def wait_for(ok, what):
            deadline = time.monotonic() + WAIT_S
            while not ok():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.005)

        expected = dict.fromkeys(PINS.values(), 0)
        for det in said:  # one at a time: go and up drive nothing (the default section has no pins)
            runner.submit(det)
            if det.keyword in PINS:
                expected[PINS[det.keyword]] += 1
            wait_for(lambda: all(rises(n) == k for n, k in expected.items()), f"the {det.keyword} actions")
            wait_for(lambda: not any(factory.pin(n).state for n in expected), "every pin back off")
        assert expected == {17: 2, 23: 1, 24: 1}
    finally:
        runner.close(timeout_s=2.0)
        factory.close()
