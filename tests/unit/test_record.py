"""wakeword record with a fake microphone: takes found, trimmed, refused with reasons, never overwritten."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.conftest import DATA, read_wav
from wakeword.errors import AudioDeviceError, ConfigError
from wakeword.record import MANIFEST, record, refuse_reason
from wakeword.wavfile import WavFileSource

RATE = 44100


class ScriptedSource:
    """A started source that plays a prepared signal at 44.1 kHz in 50 ms blocks, then stops."""

    def __init__(self, signal: np.ndarray):
        self.sample_rate_hz = RATE
        self._x = signal.astype(np.float32)
        self._pos = 0

    def read(self, timeout_s):
        n = int(0.05 * RATE)
        if self._pos >= len(self._x):
            return None
        block = self._x[self._pos : self._pos + n]
        self._pos += n
        return block.reshape(-1, 1)


def at_44k(x16: np.ndarray) -> np.ndarray:
    from wakeword.resample import resample_signal

    return resample_signal(x16, 16000, RATE)


def room(seconds: float, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * 3e-4).astype(np.float32)


def script(*parts) -> np.ndarray:
    return np.concatenate(parts)


def stop_clip() -> np.ndarray:
    x, rate = read_wav(DATA / "stop_1f653d27.wav")
    return at_44k(x)


def test_takes_are_found_trimmed_and_written_at_16_khz_with_a_manifest(tmp_path):
    clip = stop_clip()
    signal = script(room(1.6), clip, room(2.0, 1), room(1.6, 2), clip * 0.8, room(2.0, 3), room(3.0, 4))
    said = []
    manifest = record(tmp_path, "stop", 2, 2.0, ScriptedSource(signal), "alice", say=said.append, meter=io.StringIO())
    assert [t["file"] for t in manifest["takes"]] == ["take_001.wav", "take_002.wav"]
    src = WavFileSource(tmp_path / "take_001.wav")
    assert (src.sample_rate_hz, src.channels, src.encoding) == (16000, 1, "pcm16")
    assert 0.3 < src.duration_s < 1.2  # the word and a margin, not the whole second of the clip plus silence
    assert json.loads((tmp_path / MANIFEST).read_text())["takes"][1]["speaker"] == "alice"
    assert manifest["background"] and (tmp_path / "background" / "background_001.wav").is_file()
    assert any("kept take_002.wav" in s for s in said)


def test_refused_takes_are_asked_for_again_and_existing_takes_are_never_overwritten(tmp_path):
    clip = stop_clip()
    (tmp_path / "take_001.wav").write_bytes(b"an earlier take")
    (tmp_path / MANIFEST).write_text(json.dumps({"phrase": "stop", "takes": [{"file": "take_001.wav"}], "background": []}))
    loud = np.clip(clip * 50, -1, 1)  # clipped
    signal = script(room(1.6), loud, room(2.0, 1), room(1.6, 2), clip, room(2.0, 3))
    said = []
    manifest = record(tmp_path, "stop", 1, 0, ScriptedSource(signal), say=said.append, meter=None)
    assert (tmp_path / "take_001.wav").read_bytes() == b"an earlier take"
    assert [t["file"] for t in manifest["takes"]] == ["take_001.wav", "take_002.wav"]
    assert any(s.startswith("  not kept: clipped") for s in said)


def test_silence_is_refused_with_a_reason_and_a_dead_microphone_is_an_error(tmp_path):
    with pytest.raises(AudioDeviceError, match="stopped delivering"):
        record(tmp_path / "a", "stop", 1, 0, ScriptedSource(room(3.0)), say=lambda s: None, meter=None)
    with pytest.raises(ConfigError, match="holds takes of 'go', not 'stop'"):
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / MANIFEST).write_text(json.dumps({"phrase": "go", "takes": []}))
        record(tmp_path / "b", "stop", 1, 0, ScriptedSource(room(1.0)), say=lambda s: None, meter=None)
    assert refuse_reason(np.zeros(16000, np.float32)).startswith("too quiet")
    assert refuse_reason(np.full(16000, 0.5, np.float32) * np.sign(np.sin(np.arange(16000)))) is None
    assert refuse_reason(np.ones(16000, np.float32)).startswith("clipped")
    assert refuse_reason(0.3 * np.sin(np.arange(5 * 16000, dtype=np.float32))).startswith("too long")


@pytest.mark.parametrize("args, needle", [
    (["--phrase", "1234"], "has no letters"),
    (["--phrase", "stop", "--takes", "0"], "--takes must be at least 1"),
    (["--phrase", "stop", "--background-s", "nan"], "--background-s"),
    (["--phrase", "stop", "--device", "no-such-microphone"], "no-such-microphone"),
    ([], "--phrase"),
])
def test_record_command_errors_are_one_line_and_exit_2(tmp_path, args, needle):
    from tests.integration.test_cli import assert_one_line_error, wakeword

    r = wakeword("record", "--out", tmp_path / "takes", *args, timeout=60)
    assert_one_line_error(r, needle)


def test_record_refuses_an_out_that_is_a_file(tmp_path):
    from tests.integration.test_cli import assert_one_line_error, wakeword

    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    r = wakeword("record", "--out", precious, "--phrase", "stop", "--device", "no-such-microphone", timeout=60)
    assert r.returncode == 2 and precious.read_text() == "mine"
    assert_one_line_error(r)
