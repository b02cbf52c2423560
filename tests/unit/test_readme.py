"""README.md's commands are the ones CI runs: the install paths cannot drift from what is tested."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CI = (ROOT / ".ci" / "run").read_text()


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readmes_older_system_install_word_for_word():
    commands = [line for block in sh_blocks(README) for line in block.splitlines() if "tflite-runtime" in line]
    assert commands == ['pip install "numpy<2" tflite-runtime python_speech_features scipy sounddevice gpiozero PyYAML '
                        '&& pip install --no-deps .'], commands
    assert commands[0] in CI


def test_the_readmes_test_command_updates_apt_installs_sox_and_does_not_assume_sudo():
    command = next(line for block in sh_blocks(README) for line in block.splitlines() if "python -m pytest" in line)
    assert command.startswith("apt-get update && apt-get install -y ")
    assert "sudo" not in command
    # every package the README installs for the tests, CI installs too
    packages = command.split("apt-get install -y ", 1)[1].split(" && ", 1)[0].split()
    ci_apt = CI[CI.index("apt-get install"):].split(">/dev/null", 1)[0]
    assert set(packages) <= set(ci_apt.replace("\\", " ").split()), (packages, ci_apt)
    assert 'pip install ".[train,test,embedding,wyoming,mqtt]"' in command and '".[train,test,embedding,wyoming,mqtt]"' in CI


def test_ci_starts_no_pulseaudio_of_its_own():
    """The live tests start their own private server; a global one in CI would hide a test that
    uses the wrong server."""
    code = "\n".join(line for line in CI.splitlines() if not line.lstrip().startswith("#"))
    assert "pulseaudio --" not in code and "pactl" not in code
    assert "WAKEWORD_REQUIRE_LIVE=1" in code


def test_the_readmes_two_model_example_loads_with_the_pairs_thresholds_from_the_card(tmp_path):
    import json

    import pytest
    import yaml

    pytest.importorskip("openwakeword")
    from wakeword.config import load_config
    from wakeword.detector import load_setups
    from wakeword.train.report import fmt_threshold

    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", README, flags=re.S)]
    (pair,) = [b for b in blocks if isinstance(b, dict) and [m.get("path") for m in b.get("models", []) if isinstance(m, dict)]
               == ["stop", "stop-embedding"]]
    results = json.loads((ROOT / "models" / "eval-results.json").read_text())
    # the recipes the shipped models come from (their sidecars name the cross-validation)
    runs = [str(Path(json.loads((ROOT / "models" / f"{n}.json").read_text())["training"]["crossval"]["results"]).parent)
            for n in ("stop", "stop-embedding")]
    names = [next(m["name"] for m in results["models"] if m["run_dir"] == r) for r in runs]
    mode = pair.get("trigger", {}).get("combine", "any")  # either fires, or both must (fusion "mode": "all")
    fusion = next(f for f in results["fusions"] if f["members"] == names and f.get("mode", "any") == mode)
    chosen = fusion["at_chosen"]["thresholds"]
    assert [fmt_threshold(m["threshold"]) for m in pair["models"]] == [fmt_threshold(chosen[n]) for n in names]
    assert pair.get("trigger", {}).get("refractory_ms") == (round(1000 * fusion["refractory_s"]) if fusion["refractory_set"] else None)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(pair))
    setups = load_setups(load_config(config))
    assert [s.thresholds["stop"] for s in setups] == [m["threshold"] for m in pair["models"]]
