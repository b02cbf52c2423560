"""Bad input as issue 11 lists it: one line on stderr, exit status 2, nothing changed, bounded memory.

- WAV headers claiming 10 MHz, 4 GHz or 2^31 Hz, 0 or 65,535 channels;
- NaN and +-inf in every numeric flag and every numeric config key (the keys are enumerated
  from settings.py, so a new one is covered without editing this file);
- a model path that is a directory;
- a device index that does not exist, for --check-config.
"""

from __future__ import annotations

import os
import struct
import subprocess
from dataclasses import fields

import pytest

from harness.measure import run_measured
from tests.conftest import DATA, ROOT
from tests.integration.test_cli import MIXED, assert_one_line_error, wakeword

NON_FINITE = {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}  # flag text -> YAML spelling


def snapshot(folder):
    """Every file under folder with its bytes and mtime: what "nothing changed" compares."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def wav_with_header(path, rate_hz=16000, channels=1, block_align=2, bits=16, data=b"\0" * 3000, data_size=None):
    fmt = struct.pack("<HHIIHH", 1, channels, rate_hz, 32000, block_align, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


# ------------------------------------------------------------------ WAV headers


@pytest.mark.parametrize("rate_hz", [10_000_000, 4_000_000_000, 2**31], ids=["10MHz", "4GHz", "2^31Hz"])
def test_a_wav_header_claiming_an_absurd_rate_is_one_line_and_exit_2(tmp_path, rate_hz):
    path = wav_with_header(tmp_path / "rate.wav", rate_hz=rate_hz)
    before = snapshot(tmp_path)
    assert_one_line_error(wakeword("--dry-run", path, timeout=60), str(path), f"{rate_hz} Hz", "outside")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("channels", [0, 65535])
def test_a_wav_header_claiming_0_or_65535_channels_is_one_line_and_exit_2(tmp_path, channels):
    path = wav_with_header(tmp_path / "ch.wav", channels=channels, block_align=max(channels, 1) * 2 % 65536 or 2)
    before = snapshot(tmp_path)
    assert_one_line_error(wakeword("--dry-run", path, timeout=60), str(path), f"{channels} channels")
    assert snapshot(tmp_path) == before


#: A dry-run on a lying header may use this much more memory than one on a real clip. The
#: unbounded reader peaked at 1.6 GB for a 3 KB file claiming 10 MHz.
LYING_HEADER_EXTRA_MB = 64


def peak_rss_mb(*args) -> tuple[float, subprocess.CompletedProcess]:
    mb, r = run_measured(args, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert mb is not None, r.stderr
    return mb, r


@pytest.mark.parametrize("rate_hz", [384000, 383999])
def test_a_dry_run_on_a_lying_header_stays_within_a_bounded_memory(tmp_path, rate_hz):
    baseline_mb, r = peak_rss_mb("--dry-run", DATA / "stop_1f653d27.wav")
    assert r.returncode == 0, r.stderr
    # the widest header allowed (384 kHz, 32 channels of float64) with its data size left unset
    # (read to the end of the file): 3 KB of audio, however much the header would allow; and a
    # rate with no common factor with the model's (383999 -> 16000 once planned a 685 MB kernel)
    fmt = struct.pack("<HHIIHH", 3, 32, rate_hz, rate_hz * 256, 256, 64)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF) + b"\0" * 3072
    lying = tmp_path / "lying.wav"
    lying.write_bytes(b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body)
    peak_mb, r = peak_rss_mb("--dry-run", lying)
    assert r.returncode == 0, r.stderr
    assert f"({rate_hz} Hz, 32 ch, float64)" in r.stdout
    assert peak_mb < baseline_mb + LYING_HEADER_EXTRA_MB, (peak_mb, baseline_mb)
    # and a data chunk claiming 4 GB in a 3 KB file is refused before anything is read
    claims = wav_with_header(tmp_path / "claims.wav", data_size=0xFFFFFFF0)
    peak_mb, r = peak_rss_mb("--dry-run", claims)
    assert_one_line_error(r, "truncated")
    assert peak_mb < baseline_mb + LYING_HEADER_EXTRA_MB


# ------------------------------------------------------------------ non-finite numbers


NUMERIC_FLAGS = {"--sample-rate": "audio.sample_rate_hz", "--threshold": "trigger.threshold",
                 "--hop-ms": "trigger.hop_ms", "--num-threads": "model.num_threads"}


@pytest.mark.parametrize("value", list(NON_FINITE))
@pytest.mark.parametrize("flag", list(NUMERIC_FLAGS))
def test_a_non_finite_number_in_a_numeric_flag_is_one_line_naming_the_flag(flag, value):
    r = wakeword("--dry-run", MIXED, f"{flag}={value}", timeout=60)  # "-inf" alone would read as an option
    assert_one_line_error(r, f"argument {flag}", repr(value))
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == "", r.stderr


def numeric_config_keys() -> list[str]:
    """Every numeric key of config.yaml, from the settings classes' field rules."""
    from wakeword.settings import (
        TRIGGER_CONFIG_KEYS,
        AudioSettings,
        HookSettings,
        LedSettings,
        ModelSettings,
        OutputSettings,
    )

    keys = ["trigger.threshold", "trigger.threshold.stop"] + [f"trigger.{k}" for k in TRIGGER_CONFIG_KEYS]
    for section, cls in (("audio", AudioSettings), ("model", ModelSettings), ("actions.led", LedSettings),
                         ("actions.output", OutputSettings), ("actions.hook", HookSettings)):
        keys += [f"{section}.{f.name}" for f in fields(cls) if f.metadata.get("kind") == "number"]
    return keys


def yaml_setting(key: str, value: str) -> str:
    """'actions.led.on_s', '.nan' -> nested YAML."""
    parts = key.split(".")
    lines = [f"{'  ' * i}{part}:" for i, part in enumerate(parts[:-1])]
    return "\n".join(lines + [f"{'  ' * (len(parts) - 1)}{parts[-1]}: {value}"]) + "\n"


def test_every_numeric_config_key_is_enumerated():
    keys = numeric_config_keys()
    assert {"audio.buffer_s", "audio.stall_timeout_s", "audio.reconnect_interval_s", "trigger.refractory_ms",
            "actions.hook.timeout_s", "model.num_threads"} <= set(keys)
    assert len(keys) == len(set(keys)) >= 18


@pytest.mark.parametrize("value", list(NON_FINITE.values()))
@pytest.mark.parametrize("key", numeric_config_keys())
def test_a_non_finite_number_in_any_numeric_config_key_is_one_line_naming_the_key(tmp_path, capsys, key, value):
    """In-process (cli.main), so that all the keys x values stay fast; the subprocess tests
    above and test_cli.py check the same path end to end."""
    from wakeword import cli

    config = tmp_path / "config.yaml"
    config.write_text(yaml_setting(key, value))
    before = snapshot(tmp_path)
    status = cli.main(["--config", str(config), "--check-config", "--no-probe"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"wakeword: {config}: {key} must be") and "Traceback" not in err, lines[0]
    assert snapshot(tmp_path) == before


def test_a_non_finite_config_value_fails_the_dry_run_too(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml_setting("audio.reconnect_interval_s", ".nan"))
    assert_one_line_error(wakeword("--config", tmp_path / "c.yaml", "--dry-run", MIXED),
                          "audio.reconnect_interval_s must be a finite number, got nan")


# ------------------------------------------------------------------ model path, device index


def test_a_model_path_that_is_a_directory_is_reported_as_one(tmp_path):
    folder = tmp_path / "x.tflite"
    folder.mkdir()
    (tmp_path / "c.yaml").write_text("model:\n  path: x.tflite\n")
    before = snapshot(tmp_path)
    assert_one_line_error(wakeword("--dry-run", MIXED, "--model", folder), str(folder), "is a directory")
    assert_one_line_error(wakeword("--config", tmp_path / "c.yaml", "--check-config", "--no-probe"),
                          str(folder), "is a directory")
    assert snapshot(tmp_path) == before
    assert folder.is_dir() and not any(folder.iterdir())


def test_check_config_with_a_device_index_that_does_not_exist_is_one_line(tmp_path):
    pytest.importorskip("sounddevice")
    config = tmp_path / "c.yaml"
    config.write_text("audio:\n  device: 999\nactions:\n  led:\n    pin: null\n")
    before = snapshot(tmp_path)
    assert_one_line_error(wakeword("--config", config, "--check-config", timeout=60),
                          "audio device 999 does not exist", "--list-devices")
    assert snapshot(tmp_path) == before
